//! Several streams and uniqueness claims in one transaction: all or nothing.

use eventstore::testkit::fresh_database;
use eventstore::{Error, EventStore, ExpectedRevision, NewEvent};
use serde_json::json;
use sqlx::PgPool;

async fn store() -> (EventStore, PgPool) {
    let db = fresh_database().await;
    let pool = db.pool(30).await;
    (EventStore::new(pool.clone()), pool)
}

fn event(t: &str) -> NewEvent {
    NewEvent::new(t, json!({}))
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn appends_and_claims_commit_together() {
    let (store, pool) = store().await;
    let mut tx = store.begin().await.unwrap();
    tx.append(
        "organization-1",
        ExpectedRevision::NoStream,
        &[event("OrganizationCreated")],
    )
    .await
    .unwrap();
    tx.append(
        "subscription-1",
        ExpectedRevision::Any,
        &[event("AppBound")],
    )
    .await
    .unwrap();
    tx.claim("organization_identifier", "acme", "organization-1")
        .await
        .unwrap();
    // Claiming again for the same stream is fine.
    tx.claim("organization_identifier", "acme", "organization-1")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(count(&pool, "events").await, 2);
    assert_eq!(count(&pool, "claims").await, 1);
}

#[tokio::test]
async fn a_taken_claim_names_its_holder_and_nothing_commits() {
    let (store, pool) = store().await;
    let mut tx = store.begin().await.unwrap();
    tx.append(
        "organization-1",
        ExpectedRevision::NoStream,
        &[event("OrganizationCreated")],
    )
    .await
    .unwrap();
    tx.claim("organization_identifier", "acme", "organization-1")
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    tx.append(
        "organization-2",
        ExpectedRevision::NoStream,
        &[event("OrganizationCreated")],
    )
    .await
    .unwrap();
    match tx
        .claim("organization_identifier", "acme", "organization-2")
        .await
    {
        Err(Error::ClaimTaken { scope, key, holder }) => {
            assert_eq!(scope, "organization_identifier");
            assert_eq!(key, "acme");
            assert_eq!(holder, "organization-1");
        }
        other => panic!("{other:?}"),
    }
    drop(tx);
    assert_eq!(count(&pool, "events").await, 1);
    assert_eq!(store.stream_revision("organization-2").await.unwrap(), None);
}

#[tokio::test]
async fn a_failed_append_in_a_transaction_rolls_back_the_others() {
    let (store, pool) = store().await;
    store
        .append(
            "member-1",
            ExpectedRevision::NoStream,
            &[event("MemberAdded")],
        )
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.append("seats-1", ExpectedRevision::Any, &[event("SeatTaken")])
        .await
        .unwrap();
    tx.claim("member_account", "o1/zhang", "member-1")
        .await
        .unwrap();
    let r = tx
        .append(
            "member-1",
            ExpectedRevision::NoStream,
            &[event("MemberAdded")],
        )
        .await;
    assert!(matches!(r, Err(Error::WrongExpectedVersion { .. })));
    drop(tx);
    assert_eq!(count(&pool, "events").await, 1);
    assert_eq!(count(&pool, "claims").await, 0);
}

#[tokio::test]
async fn released_claims_can_be_taken_again() {
    let (store, pool) = store().await;
    let mut tx = store.begin().await.unwrap();
    tx.claim("mailbox_address", "zhangwei@acme.cn", "mailbox-1")
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    // Only the holder releases.
    assert!(!tx
        .release("mailbox_address", "zhangwei@acme.cn", "mailbox-2")
        .await
        .unwrap());
    assert!(tx
        .release("mailbox_address", "zhangwei@acme.cn", "mailbox-1")
        .await
        .unwrap());
    tx.claim("mailbox_address", "zhangwei@acme.cn", "mailbox-2")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let holder: String = sqlx::query_scalar("SELECT stream_name FROM claims")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(holder, "mailbox-2");
}

#[tokio::test]
async fn concurrent_claims_of_one_key_let_exactly_one_stream_win() {
    let (store, pool) = store().await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let stream = format!("organization-{i}");
            let mut tx = store.begin().await?;
            tx.append(
                &stream,
                ExpectedRevision::NoStream,
                &[event("OrganizationCreated")],
            )
            .await?;
            tx.claim("organization_identifier", "acme", &stream).await?;
            tx.commit().await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(Error::ClaimTaken { .. }) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(count(&pool, "events").await, 1);
    assert_eq!(count(&pool, "claims").await, 1);
}

#[tokio::test]
async fn bad_claims_are_refused() {
    let (store, pool) = store().await;
    let mut tx = store.begin().await.unwrap();
    let long = "k".repeat(513);
    for (scope, key, stream) in [
        ("", "k", "member-1"),
        ("s", "", "member-1"),
        ("s", long.as_str(), "member-1"),
        ("s", "k", ""),
        ("s", "k", "has space"),
    ] {
        assert!(
            matches!(tx.claim(scope, key, stream).await, Err(Error::Invalid(_))),
            "{scope:?} {key:?} {stream:?}"
        );
    }
    tx.commit().await.unwrap();
    assert_eq!(count(&pool, "claims").await, 0);
}

#[tokio::test]
async fn crossing_transactions_that_deadlock_get_a_conflict_to_retry() {
    let (store, pool) = store().await;
    let mut t1 = store.begin().await.unwrap();
    let mut t2 = store.begin().await.unwrap();
    t1.append("member-a", ExpectedRevision::Any, &[event("A1")])
        .await
        .unwrap();
    t2.append("member-b", ExpectedRevision::Any, &[event("B2")])
        .await
        .unwrap();
    // Each now appends to the stream the other holds: PostgreSQL detects the deadlock.
    let first = tokio::spawn(async move {
        let r = t1
            .append("member-b", ExpectedRevision::Any, &[event("B1")])
            .await;
        assert!(
            r.is_ok() || matches!(r, Err(Error::Conflict { .. })),
            "{r:?}"
        );
        (r.is_ok(), t1)
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let second = t2
        .append("member-a", ExpectedRevision::Any, &[event("A2")])
        .await;
    let (first_ok, t1) = first.await.unwrap();
    match (first_ok, &second) {
        (true, Err(Error::Conflict { .. })) => {
            drop(t2);
            t1.commit().await.unwrap();
        }
        (false, Ok(_)) => {
            drop(t1);
            t2.commit().await.unwrap();
        }
        other => panic!("expected one conflict, got {:?}", other.1),
    }
    assert_eq!(count(&pool, "events").await, 2);
}
