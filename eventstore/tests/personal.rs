//! Crypto-shredding: personal fields are sealed at rest, open for readers while the person's
//! key exists, read as "[erased]" after, and never written in clear again.

use eventstore::testkit::fresh_database;
use eventstore::{
    Direction, Error, EventStore, ExpectedRevision, Keyring, NewEvent, Personal, StreamPosition,
    SubscriptionFilter, ERASED,
};
use serde_json::{json, Value};
use sqlx::PgPool;

async fn store() -> (EventStore, PgPool) {
    let db = fresh_database().await;
    let pool = db.pool(5).await;
    (
        EventStore::new(pool.clone()).with_keyring(Keyring::new([7; 32])),
        pool,
    )
}

fn added(subject: &str, name: &str, phone: Option<&str>) -> NewEvent {
    let mut e = NewEvent::new(
        "MemberAdded",
        json!({"member_id": subject, "name": name, "phone": phone, "role": "MEMBER"}),
    );
    e.metadata.personal = Some(Personal {
        subject: subject.into(),
        group: Some("org-1".into()),
        fields: vec!["name".into(), "phone".into(), "email".into()],
    });
    e
}

async fn raw_data(pool: &PgPool) -> String {
    sqlx::query_scalar::<_, String>(
        "SELECT string_agg(data::text || metadata::text, ' ') FROM events",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn read(store: &EventStore, stream: &str) -> Vec<Value> {
    store
        .read_stream(stream, Direction::Forwards, StreamPosition::Start, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.data)
        .collect()
}

#[tokio::test]
async fn personal_fields_are_sealed_at_rest_and_open_for_readers() {
    let (store, pool) = store().await;
    store
        .append(
            "member-a",
            ExpectedRevision::NoStream,
            &[added("member-a", "张三", Some("13800000001"))],
        )
        .await
        .unwrap();
    let raw = raw_data(&pool).await;
    assert!(
        !raw.contains("张三") && !raw.contains("13800000001"),
        "{raw}"
    );
    assert!(
        raw.contains("MEMBER"),
        "non-personal fields stay in clear: {raw}"
    );
    let data = read(&store, "member-a").await;
    assert_eq!(data[0]["name"], "张三");
    assert_eq!(data[0]["phone"], "13800000001");
    // `email` was absent: nothing was sealed for it, nothing comes back.
    assert!(data[0].get("email").is_none());
    assert!(data[0].get("_sealed").is_none());
    // Category reads open it too (once no older transaction of the shared cluster can
    // still commit before it).
    let mut all = vec![];
    for _ in 0..200 {
        all = store
            .read_filtered(
                &SubscriptionFilter::categories(["member"]),
                Default::default(),
                10,
            )
            .await
            .unwrap();
        if !all.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(all[0].data["name"], "张三");
}

#[tokio::test]
async fn erasing_a_person_leaves_placeholders_and_the_others_intact() {
    let (store, pool) = store().await;
    store
        .append(
            "member-a",
            ExpectedRevision::Any,
            &[added("member-a", "张三", None)],
        )
        .await
        .unwrap();
    store
        .append(
            "member-b",
            ExpectedRevision::Any,
            &[added("member-b", "李四", Some("13800000002"))],
        )
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.erase_personal(&["member-a".into()]).await.unwrap(), 1);
    tx.commit().await.unwrap();
    let a = read(&store, "member-a").await;
    assert_eq!(a[0]["name"], ERASED);
    // null was never personal data: it stays null.
    assert_eq!(a[0]["phone"], Value::Null);
    assert_eq!(a[0]["role"], "MEMBER");
    assert_eq!(read(&store, "member-b").await[0]["name"], "李四");
    // A later event about the erased person is written with placeholders, never sealed
    // under a new key.
    store
        .append(
            "member-a",
            ExpectedRevision::Any,
            &[added("member-a", "张三", None)],
        )
        .await
        .unwrap();
    assert!(!raw_data(&pool).await.contains("张三"));
    assert_eq!(read(&store, "member-a").await[1]["name"], ERASED);
    let keys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM personal_keys WHERE wrapped_key IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(keys, 1);
}

#[tokio::test]
async fn erasing_a_group_erases_everyone_in_it() {
    let (store, _) = store().await;
    for s in ["member-a", "member-b"] {
        store
            .append(s, ExpectedRevision::Any, &[added(s, "王五", None)])
            .await
            .unwrap();
    }
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.erase_personal_group("org-1").await.unwrap(), 2);
    tx.commit().await.unwrap();
    for s in ["member-a", "member-b"] {
        assert_eq!(read(&store, s).await[0]["name"], ERASED);
    }
}

#[tokio::test]
async fn an_erasure_rolled_back_erases_nothing() {
    let (store, _) = store().await;
    store
        .append(
            "member-a",
            ExpectedRevision::Any,
            &[added("member-a", "张三", None)],
        )
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.erase_personal(&["member-a".into()]).await.unwrap();
    drop(tx);
    assert_eq!(read(&store, "member-a").await[0]["name"], "张三");
}

#[tokio::test]
async fn without_the_keyring_personal_data_is_neither_written_nor_read() {
    let (store, pool) = store().await;
    store
        .append(
            "member-a",
            ExpectedRevision::Any,
            &[added("member-a", "张三", None)],
        )
        .await
        .unwrap();
    let bare = EventStore::new(pool.clone());
    assert!(matches!(
        bare.read_stream("member-a", Direction::Forwards, StreamPosition::Start, 10)
            .await,
        Err(Error::Personal(_))
    ));
    assert!(matches!(
        bare.append(
            "member-b",
            ExpectedRevision::Any,
            &[added("member-b", "李四", None)]
        )
        .await,
        Err(Error::Personal(_))
    ));
    // Another key opens nothing: a wrong secret key is an error, never garbage.
    let other = EventStore::new(pool).with_keyring(Keyring::new([8; 32]));
    assert!(matches!(
        other
            .read_stream("member-a", Direction::Forwards, StreamPosition::Start, 10)
            .await,
        Err(Error::Personal(_))
    ));
}

async fn key_rows(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), count(wrapped_key) FROM personal_keys")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A person's first event (their own stream, expected new) brings its key in the same
/// statement; when the person has a key or a tombstone already, that one is used instead.
#[tokio::test]
async fn a_persons_first_event_finds_a_key_made_before_it() {
    let (store, pool) = store().await;
    // In a transaction and in autocommit: the key is made with the event.
    let mut tx = store.begin().await.unwrap();
    tx.append(
        "member-a",
        ExpectedRevision::NoStream,
        &[added("member-a", "张三", None)],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    store
        .append(
            "member-b",
            ExpectedRevision::NoStream,
            &[added("member-b", "李四", None)],
        )
        .await
        .unwrap();
    assert_eq!(key_rows(&pool).await, (2, 2));
    // member-c's key exists before its own stream does (an event about it elsewhere).
    store
        .append(
            "mailbox-c",
            ExpectedRevision::NoStream,
            &[added("member-c", "王五", None)],
        )
        .await
        .unwrap();
    store
        .append(
            "member-c",
            ExpectedRevision::NoStream,
            &[added("member-c", "王五", None)],
        )
        .await
        .unwrap();
    assert_eq!(key_rows(&pool).await, (3, 3));
    // One key seals both: erasing it erases both.
    let mut tx = store.begin().await.unwrap();
    tx.erase_personal(&["member-c".into(), "member-d".into()])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(read(&store, "mailbox-c").await[0]["name"], ERASED);
    assert_eq!(read(&store, "member-c").await[0]["name"], ERASED);
    // An erased person's first event on their stream, in a transaction and in autocommit:
    // placeholders, no new key.
    let mut tx = store.begin().await.unwrap();
    tx.append(
        "member-d",
        ExpectedRevision::NoStream,
        &[added("member-d", "赵六", None)],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(read(&store, "member-d").await[0]["name"], ERASED);
    assert!(!raw_data(&pool).await.contains("赵六"));
    assert_eq!(key_rows(&pool).await, (4, 2));
    // A wrong expectation is still reported as one, and writes nothing.
    let refused = store
        .append(
            "member-a",
            ExpectedRevision::NoStream,
            &[added("member-a", "张三", None)],
        )
        .await;
    assert!(
        matches!(refused, Err(Error::WrongExpectedVersion { .. })),
        "{refused:?}"
    );
    assert_eq!(read(&store, "member-a").await.len(), 1);
    assert_eq!(read(&store, "member-a").await[0]["name"], "张三");
    // Several events of a new person in one append: one key, made with them.
    store
        .append(
            "member-e",
            ExpectedRevision::NoStream,
            &[
                added("member-e", "孙七", None),
                added("member-e", "孙七七", None),
            ],
        )
        .await
        .unwrap();
    let e = read(&store, "member-e").await;
    assert_eq!(
        (e[0]["name"].as_str(), e[1]["name"].as_str()),
        (Some("孙七"), Some("孙七七"))
    );
    assert_eq!(key_rows(&pool).await, (5, 3));
}

/// Keys are cached for writing only once committed; an erasure, here or in another process,
/// leaves nothing readable.
#[tokio::test]
async fn cached_keys_never_outlive_a_rollback_or_an_erasure() {
    let (store, pool) = store().await;
    // A key made in a transaction that rolls back is not used afterwards.
    let mut tx = store.begin().await.unwrap();
    tx.append(
        "member-z",
        ExpectedRevision::NoStream,
        &[added("member-z", "周八", None)],
    )
    .await
    .unwrap();
    drop(tx);
    store
        .append(
            "mailbox-z",
            ExpectedRevision::NoStream,
            &[added("member-z", "周八", None)],
        )
        .await
        .unwrap();
    assert_eq!(read(&store, "mailbox-z").await[0]["name"], "周八");
    // Another process (its own keyring, so its own cache) erases the person; this one
    // still writes about them from its cache: nobody can read it.
    let other = EventStore::new(pool.clone()).with_keyring(Keyring::new([7; 32]));
    let mut tx = other.begin().await.unwrap();
    tx.erase_personal(&["member-z".into()]).await.unwrap();
    tx.commit().await.unwrap();
    store
        .append(
            "mailbox-z",
            ExpectedRevision::Any,
            &[added("member-z", "周八", Some("13800000008"))],
        )
        .await
        .unwrap();
    for s in [&store, &other] {
        let z = read(s, "mailbox-z").await;
        assert_eq!(
            (z[0]["name"].as_str(), z[1]["name"].as_str()),
            (Some(ERASED), Some(ERASED))
        );
        assert_eq!(z[1]["phone"], ERASED);
    }
    assert!(!raw_data(&pool).await.contains("13800000008"));
}
