//! Reading streams, `$all` and categories; subscriptions and checkpoints.

use std::time::Duration;

use eventstore::testkit::fresh_database;
use eventstore::{
    Direction, EventStore, ExpectedRevision, NewEvent, Position, StreamPosition, SubscriptionFilter,
};
use serde_json::json;

/// `$all` reads stop below the oldest open transaction of the whole cluster, and tests here
/// open transactions: one test at a time keeps "everything is visible" assertions exact.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn store() -> EventStore {
    let db = fresh_database().await;
    EventStore::new(db.pool(10).await)
}

fn event(n: u64) -> NewEvent {
    NewEvent::new("Happened", json!({ "n": n }))
}

fn ns(events: &[eventstore::RecordedEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.data["n"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_stream_reads_forwards_and_backwards_from_a_revision() {
    let _serial = SERIAL.lock().await;
    let store = store().await;
    let batch: Vec<NewEvent> = (0..10).map(event).collect();
    store
        .append("member-1", ExpectedRevision::NoStream, &batch)
        .await
        .unwrap();
    let read = |dir, from, limit| {
        let store = store.clone();
        async move {
            ns(&store
                .read_stream("member-1", dir, from, limit)
                .await
                .unwrap())
        }
    };
    assert_eq!(
        read(Direction::Forwards, StreamPosition::Start, 3).await,
        vec![0, 1, 2]
    );
    assert_eq!(
        read(Direction::Forwards, StreamPosition::Revision(7), 10).await,
        vec![7, 8, 9]
    );
    assert_eq!(
        read(Direction::Backwards, StreamPosition::End, 3).await,
        vec![9, 8, 7]
    );
    assert_eq!(
        read(Direction::Backwards, StreamPosition::Revision(2), 10).await,
        vec![2, 1, 0]
    );
    assert!(read(Direction::Forwards, StreamPosition::Revision(10), 10)
        .await
        .is_empty());
    assert!(store
        .read_stream(
            "member-none",
            Direction::Forwards,
            StreamPosition::Start,
            10
        )
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn all_and_categories_read_in_commit_order_from_a_position() {
    let _serial = SERIAL.lock().await;
    let store = store().await;
    for n in 0..10 {
        let stream = if n % 2 == 0 { "member-1" } else { "mailbox-1" };
        store
            .append(stream, ExpectedRevision::Any, &[event(n)])
            .await
            .unwrap();
    }
    let all = store.read_all(Position::START, 100).await.unwrap();
    assert_eq!(ns(&all), (0..10).collect::<Vec<_>>());
    let page = store.read_all(all[3].position, 4).await.unwrap();
    assert_eq!(ns(&page), vec![4, 5, 6, 7]);
    let members = store
        .read_category("member", Position::START, 100)
        .await
        .unwrap();
    assert_eq!(ns(&members), vec![0, 2, 4, 6, 8]);
    let after = store
        .read_category("member", members[2].position, 100)
        .await
        .unwrap();
    assert_eq!(ns(&after), vec![6, 8]);
    assert!(store
        .read_category("organization", Position::START, 100)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_subscription_catches_up_then_goes_live() {
    let _serial = SERIAL.lock().await;
    let store = store().await;
    for n in 0..5 {
        store
            .append("member-1", ExpectedRevision::Any, &[event(n)])
            .await
            .unwrap();
    }
    let mut sub = store
        .subscribe(SubscriptionFilter::All, Position::START)
        .with_batch_size(2);
    for n in 0..5 {
        assert_eq!(sub.next().await.unwrap().data["n"], n);
    }
    let writer = store.clone();
    tokio::spawn(async move {
        for n in 5..10 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            writer
                .append("member-1", ExpectedRevision::Any, &[event(n)])
                .await
                .unwrap();
        }
    });
    for n in 5..10 {
        let e = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("live event within 5 s")
            .unwrap();
        assert_eq!(e.data["n"], n);
    }
}

#[tokio::test]
async fn a_subscription_in_another_process_is_woken_by_notify() {
    let _serial = SERIAL.lock().await;
    let db = fresh_database().await;
    // Two stores over two pools stand for two processes: no local wake-up is shared.
    let writer = EventStore::new(db.pool(2).await);
    let reader = EventStore::new(db.pool(2).await);
    let mut sub = reader
        .subscribe(SubscriptionFilter::All, Position::START)
        .with_poll_interval(Duration::from_secs(30));
    let started = tokio::spawn(async move {
        let e = sub.next().await.unwrap();
        e.data["n"].as_u64().unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    writer
        .append("member-1", ExpectedRevision::Any, &[event(42)])
        .await
        .unwrap();
    // The poll interval is 30 s: only NOTIFY can deliver within 5 s.
    let n = tokio::time::timeout(Duration::from_secs(5), started)
        .await
        .expect("woken by NOTIFY")
        .unwrap();
    assert_eq!(n, 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_waiting_subscriptions_share_one_listen_connection_and_leave_the_pool_free() {
    let _serial = SERIAL.lock().await;
    let db = fresh_database().await;
    let writer = EventStore::new(db.pool(2).await);
    let pool = db.pool(4).await;
    let reader = EventStore::new(pool.clone());
    // 32 long-polls and GraphQL subscriptions of one process, caught up and waiting.
    let mut waiting = Vec::new();
    for _ in 0..32 {
        let mut sub = reader
            .subscribe(SubscriptionFilter::All, Position::START)
            .with_poll_interval(Duration::from_secs(30));
        waiting.push(tokio::spawn(async move {
            sub.next().await.unwrap().data["n"].as_u64().unwrap()
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The pool (4) still serves requests: the waiting hold one connection between them.
    let conn = tokio::time::timeout(Duration::from_secs(2), pool.acquire())
        .await
        .expect("a connection is free while 32 subscriptions wait")
        .unwrap();
    drop(conn);
    assert!(pool.size() <= 4);
    writer
        .append("member-1", ExpectedRevision::Any, &[event(7)])
        .await
        .unwrap();
    for w in waiting {
        let n = tokio::time::timeout(Duration::from_secs(5), w)
            .await
            .expect("every waiting subscription is woken by the one listener")
            .unwrap();
        assert_eq!(n, 7);
    }
}

#[tokio::test]
async fn a_category_subscription_skips_other_categories() {
    let _serial = SERIAL.lock().await;
    let store = store().await;
    store
        .append("member-1", ExpectedRevision::Any, &[event(0)])
        .await
        .unwrap();
    store
        .append("subscription-1", ExpectedRevision::Any, &[event(1)])
        .await
        .unwrap();
    store
        .append("mailbox-1", ExpectedRevision::Any, &[event(2)])
        .await
        .unwrap();
    let mut sub = store.subscribe(
        SubscriptionFilter::categories(["subscription", "mailbox"]),
        Position::START,
    );
    assert_eq!(sub.next().await.unwrap().data["n"], 1);
    assert_eq!(sub.next().await.unwrap().data["n"], 2);
}

#[tokio::test]
async fn checkpoints_are_kept_per_consumer() {
    let _serial = SERIAL.lock().await;
    let store = store().await;
    for n in 0..6 {
        store
            .append("member-1", ExpectedRevision::Any, &[event(n)])
            .await
            .unwrap();
    }
    assert_eq!(store.checkpoint("projection:members").await.unwrap(), None);
    let mut sub = store
        .subscribe_from_checkpoint("projection:members", SubscriptionFilter::All)
        .await
        .unwrap();
    for _ in 0..3 {
        sub.next().await.unwrap();
    }
    store
        .save_checkpoint("projection:members", sub.position())
        .await
        .unwrap();
    // Checkpoints written in a transaction commit with it.
    let mut tx = store.begin().await.unwrap();
    tx.save_checkpoint("worker:sms", sub.position())
        .await
        .unwrap();
    drop(tx);
    assert_eq!(store.checkpoint("worker:sms").await.unwrap(), None);

    let mut resumed = store
        .subscribe_from_checkpoint("projection:members", SubscriptionFilter::All)
        .await
        .unwrap();
    assert_eq!(resumed.next().await.unwrap().data["n"], 3);
    assert!(store.checkpoint("has space").await.is_err());
}
