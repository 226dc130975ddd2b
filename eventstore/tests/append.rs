//! Appending: expected revisions, idempotent retries, event ids across streams, bad input.

use eventstore::testkit::fresh_database;
use eventstore::{
    Direction, Error, EventStore, ExpectedRevision, InputError, NewEvent, StreamPosition,
};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

async fn store() -> (EventStore, PgPool) {
    let db = fresh_database().await;
    let pool = db.pool(10).await;
    (EventStore::new(pool.clone()), pool)
}

fn event(n: u32) -> NewEvent {
    NewEvent::new("Happened", json!({ "n": n }))
}

async fn count_events(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn appends_with_each_expectation() {
    let (store, _) = store().await;
    let s = "member-1";
    let r = store
        .append(s, ExpectedRevision::NoStream, &[event(0), event(1)])
        .await
        .unwrap();
    assert_eq!(r.next_expected, 1);
    assert!(r.written);
    let r = store
        .append(s, ExpectedRevision::Exact(1), &[event(2)])
        .await
        .unwrap();
    assert_eq!(r.next_expected, 2);
    let r = store
        .append(s, ExpectedRevision::StreamExists, &[event(3)])
        .await
        .unwrap();
    assert_eq!(r.next_expected, 3);
    let r = store
        .append(s, ExpectedRevision::Any, &[event(4)])
        .await
        .unwrap();
    assert_eq!(r.next_expected, 4);
    let r = store
        .append("member-2", ExpectedRevision::Any, &[event(0)])
        .await
        .unwrap();
    assert_eq!(r.next_expected, 0);

    let read = store
        .read_stream(s, Direction::Forwards, StreamPosition::Start, 100)
        .await
        .unwrap();
    let ns: Vec<u64> = read.iter().map(|e| e.data["n"].as_u64().unwrap()).collect();
    assert_eq!(ns, vec![0, 1, 2, 3, 4]);
    let revs: Vec<u64> = read.iter().map(|e| e.stream_revision).collect();
    assert_eq!(revs, vec![0, 1, 2, 3, 4]);
    assert_eq!(store.stream_revision(s).await.unwrap(), Some(4));
    assert_eq!(store.stream_revision("member-9").await.unwrap(), None);
}

#[tokio::test]
async fn a_wrong_expectation_carries_the_actual_revision_and_writes_nothing() {
    let (store, pool) = store().await;
    let s = "organization-1";
    store
        .append(s, ExpectedRevision::NoStream, &[event(0), event(1)])
        .await
        .unwrap();
    let cases = [
        (ExpectedRevision::NoStream, Some(1)),
        (ExpectedRevision::Exact(0), Some(1)),
        (ExpectedRevision::Exact(7), Some(1)),
    ];
    for (expected, actual_want) in cases {
        match store.append(s, expected, &[event(9)]).await {
            Err(Error::WrongExpectedVersion { actual, stream, .. }) => {
                assert_eq!(actual, actual_want);
                assert_eq!(stream, s);
            }
            other => panic!("{expected:?}: {other:?}"),
        }
    }
    for expected in [ExpectedRevision::StreamExists, ExpectedRevision::Exact(0)] {
        match store
            .append("organization-none", expected, &[event(9)])
            .await
        {
            Err(Error::WrongExpectedVersion { actual: None, .. }) => {}
            other => panic!("{expected:?}: {other:?}"),
        }
    }
    assert_eq!(count_events(&pool).await, 2);
    assert_eq!(
        store.stream_revision("organization-none").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn re_appending_the_same_event_ids_is_a_no_op_success() {
    let (store, pool) = store().await;
    let s = "mailbox-1";
    let batch = [event(0), event(1)];
    let first = store
        .append(s, ExpectedRevision::NoStream, &batch)
        .await
        .unwrap();
    // The retry carries the same expectation as the first try, which is now stale.
    let again = store
        .append(s, ExpectedRevision::NoStream, &batch)
        .await
        .unwrap();
    assert!(!again.written);
    assert_eq!(again.next_expected, first.next_expected);
    assert_eq!(again.position, first.position);
    let any = store
        .append(s, ExpectedRevision::Any, &batch)
        .await
        .unwrap();
    assert!(!any.written);
    assert_eq!(count_events(&pool).await, 2);

    // Some old ids with some new ones is not a retry.
    let mixed = [batch[1].clone(), event(2)];
    assert!(matches!(
        store.append(s, ExpectedRevision::Any, &mixed).await,
        Err(Error::PartialDuplicate { .. })
    ));
    assert_eq!(count_events(&pool).await, 2);
}

#[tokio::test]
async fn one_event_id_in_two_streams_is_an_error() {
    let (store, pool) = store().await;
    let e = event(0);
    store
        .append("member-a", ExpectedRevision::Any, std::slice::from_ref(&e))
        .await
        .unwrap();
    match store.append("member-b", ExpectedRevision::Any, &[e]).await {
        Err(Error::EventIdInOtherStream { other_stream, .. }) => {
            assert_eq!(other_stream, "member-a")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(count_events(&pool).await, 1);
    assert_eq!(store.stream_revision("member-b").await.unwrap(), None);
}

#[tokio::test]
async fn concurrent_identical_retries_write_once() {
    let (store, pool) = store().await;
    let batch = vec![event(0), event(1), event(2)];
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let batch = batch.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append("member-race", ExpectedRevision::Any, &batch)
                .await
        }));
    }
    let mut written = 0;
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        written += usize::from(r.written);
        assert_eq!(r.next_expected, 2);
    }
    assert_eq!(written, 1);
    assert_eq!(count_events(&pool).await, 3);
}

#[tokio::test]
async fn concurrent_exact_appends_to_one_stream_let_exactly_one_win() {
    let (store, pool) = store().await;
    store
        .append("seats-1", ExpectedRevision::NoStream, &[event(0)])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append("seats-1", ExpectedRevision::Exact(0), &[event(i)])
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(Error::WrongExpectedVersion {
                actual: Some(1), ..
            }) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(count_events(&pool).await, 2);
}

#[tokio::test]
async fn bad_input_is_refused_and_writes_nothing() {
    let (store, pool) = store().await;
    let long = "m".repeat(201);
    let bad_names = ["", " ", "member 1", "member-1\t", long.as_str(), "$all"];
    for name in bad_names {
        let r = store.append(name, ExpectedRevision::Any, &[event(0)]).await;
        assert!(matches!(r, Err(Error::Invalid(_))), "{name:?}: {r:?}");
    }
    let r = store.append("member-1", ExpectedRevision::Any, &[]).await;
    assert!(matches!(r, Err(Error::Invalid(InputError::NoEvents))));
    for data in [json!([1, 2]), json!("text"), json!(null), json!(1)] {
        let r = store
            .append(
                "member-1",
                ExpectedRevision::Any,
                &[event(0), NewEvent::new("X", data)],
            )
            .await;
        assert!(
            matches!(
                r,
                Err(Error::Invalid(InputError::DataNotObject { index: 1 }))
            ),
            "{r:?}"
        );
    }
    let r = store
        .append(
            "member-1",
            ExpectedRevision::Any,
            &[NewEvent::new("", json!({}))],
        )
        .await;
    assert!(matches!(
        r,
        Err(Error::Invalid(InputError::InvalidEventType(_)))
    ));
    let id = Uuid::new_v4();
    let r = store
        .append(
            "member-1",
            ExpectedRevision::Any,
            &[event(0).with_id(id), event(1).with_id(id)],
        )
        .await;
    assert!(matches!(
        r,
        Err(Error::Invalid(InputError::RepeatedEventId(_)))
    ));
    assert!(matches!(
        store
            .read_stream("", Direction::Forwards, StreamPosition::Start, 10)
            .await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        store
            .read_stream("member-1", Direction::Forwards, StreamPosition::Start, 0)
            .await,
        Err(Error::Invalid(_))
    ));
    assert_eq!(count_events(&pool).await, 0);
}

#[tokio::test]
async fn metadata_is_kept() {
    let (store, _) = store().await;
    let mut m = eventstore::Metadata::new();
    m.correlation_id = Some(Uuid::new_v4());
    m.causation_id = Some(Uuid::new_v4());
    m.actor = Some("account:buyer-1".into());
    m.extra.insert("ip".into(), json!("127.0.0.1"));
    store
        .append(
            "member-1",
            ExpectedRevision::Any,
            &[event(0).with_metadata(m.clone())],
        )
        .await
        .unwrap();
    let read = store
        .read_stream("member-1", Direction::Forwards, StreamPosition::Start, 1)
        .await
        .unwrap();
    assert_eq!(read[0].metadata, m);
    assert_eq!(read[0].category(), "member");
}
