//! Gap-safe global order: a reader tailing `$all` or a category while writers commit
//! concurrently sees every committed event exactly once, in per-stream order, and never
//! skips an event whose transaction commits late.
//!
//! These tests hold transactions open on purpose. The xmin horizon is cluster-wide, so
//! they live in their own test binary, which gets its own private cluster.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventstore::testkit::fresh_database;
use eventstore::{
    Error, EventStore, ExpectedRevision, NewEvent, Position, RecordedEvent, SubscriptionFilter,
};
use serde_json::json;
use uuid::Uuid;

/// The tests here would hold each other's reads back: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn event() -> NewEvent {
    NewEvent::new("Happened", json!({}))
}

#[tokio::test]
async fn an_event_that_commits_late_is_not_skipped() {
    let _serial = SERIAL.lock().await;
    let db = fresh_database().await;
    let store = EventStore::new(db.pool(5).await);
    store
        .append("member-0", ExpectedRevision::Any, &[event()])
        .await
        .unwrap();
    let seen = store.read_all(Position::START, 100).await.unwrap();
    assert_eq!(seen.len(), 1);
    let cursor = seen[0].position;

    // `slow` takes a transaction id first, then `fast` commits a higher one.
    let mut slow = store.begin().await.unwrap();
    slow.append("member-slow", ExpectedRevision::Any, &[event()])
        .await
        .unwrap();
    store
        .append("member-fast", ExpectedRevision::Any, &[event()])
        .await
        .unwrap();
    // The reader must not move past `fast` while `slow` may still commit below it.
    assert!(store.read_all(cursor, 100).await.unwrap().is_empty());
    assert!(store
        .read_category("member", cursor, 100)
        .await
        .unwrap()
        .is_empty());
    slow.commit().await.unwrap();

    let after: Vec<String> = store
        .read_all(cursor, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.stream_name)
        .collect();
    assert_eq!(after, vec!["member-slow", "member-fast"]);
}

#[tokio::test]
async fn a_transaction_overtaken_on_its_stream_must_retry() {
    let _serial = SERIAL.lock().await;
    let db = fresh_database().await;
    let store = EventStore::new(db.pool(5).await);
    // `older` gets its transaction id first, by writing another stream.
    let mut older = store.begin().await.unwrap();
    older
        .append("member-a", ExpectedRevision::Any, &[event()])
        .await
        .unwrap();
    // A younger transaction writes member-b and commits.
    store
        .append("member-b", ExpectedRevision::Any, &[event()])
        .await
        .unwrap();
    // Were `older` to append to member-b now, its event would sort before the younger one
    // in $all although it comes after it in the stream.
    let r = older
        .append("member-b", ExpectedRevision::Any, &[event()])
        .await;
    assert!(matches!(r, Err(Error::Conflict { .. })), "{r:?}");
    drop(older);
    let retried = store
        .append("member-b", ExpectedRevision::Any, &[event()])
        .await
        .unwrap();
    assert_eq!(retried.next_expected, 1);
}

/// Small deterministic generator: the test needs variety, not quality.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

const WRITERS: u64 = 8;
const STREAMS: u64 = 1_000;

fn rounds() -> u32 {
    std::env::var("MAILPLANE_STRESS_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(4)
}

fn appends_per_writer() -> u64 {
    std::env::var("MAILPLANE_STRESS_APPENDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_500)
}

/// One writer: mostly single appends, sometimes a two-stream transaction held open a
/// little, so commits finish out of transaction-id order all the time.
async fn write(
    store: EventStore,
    seed: u64,
    category: &'static str,
    written: Arc<Mutex<Vec<Uuid>>>,
) {
    let mut rng = XorShift(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
    for _ in 0..appends_per_writer() {
        let a = format!("{category}-{}", rng.next(STREAMS));
        if rng.next(4) == 0 {
            let b = format!("{category}-{}", rng.next(STREAMS));
            let pause = rng.next(3);
            loop {
                let (ea, eb) = (event(), event());
                let attempt = async {
                    let mut tx = store.begin().await?;
                    tx.append(&a, ExpectedRevision::Any, std::slice::from_ref(&ea))
                        .await?;
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    tx.append(&b, ExpectedRevision::Any, std::slice::from_ref(&eb))
                        .await?;
                    tx.commit().await
                };
                match attempt.await {
                    Ok(()) => {
                        written.lock().unwrap().extend([ea.event_id, eb.event_id]);
                        break;
                    }
                    Err(Error::Conflict { .. }) => continue,
                    Err(e) => panic!("writer failed: {e}"),
                }
            }
        } else {
            let e = event();
            store
                .append(&a, ExpectedRevision::Any, std::slice::from_ref(&e))
                .await
                .unwrap();
            written.lock().unwrap().push(e.event_id);
        }
    }
}

/// Runs one round: writers and a tailing subscription at once, then checks what it saw.
async fn round(
    store: &EventStore,
    filter: SubscriptionFilter,
    category: &'static str,
    start: Position,
) -> Position {
    let written = Arc::new(Mutex::new(Vec::new()));
    let mut sub = store
        .subscribe(filter, start)
        .with_poll_interval(Duration::from_millis(200));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(write(
                store.clone(),
                w + 1 + u64::from(start.seq as u32),
                category,
                written.clone(),
            ))
        })
        .collect();

    let mut seen: Vec<RecordedEvent> = Vec::new();
    let expected_total = WRITERS * appends_per_writer();
    let mut writers = Some(writers);
    let mut idle = Duration::ZERO;
    loop {
        if writers
            .as_ref()
            .is_some_and(|ws| ws.iter().all(|w| w.is_finished()))
        {
            for w in writers.take().unwrap() {
                w.await.unwrap();
            }
        }
        // A writer records an id only after its append returns, so the reader may be
        // ahead of `written` for a moment: finish only once every writer is done.
        let target = written.lock().unwrap().len();
        if writers.is_none() && seen.len() >= target {
            break;
        }
        // `next` is cancel-safe: a timed-out call loses nothing.
        match tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
            Ok(e) => {
                seen.push(e.unwrap());
                idle = Duration::ZERO;
            }
            Err(_) => {
                idle += Duration::from_millis(100);
                assert!(
                    idle < Duration::from_secs(30),
                    "reader stalled: saw {} of {} written events",
                    seen.len(),
                    target
                );
            }
        }
    }
    let written = written.lock().unwrap().clone();
    assert!(written.len() as u64 >= expected_total);

    // Nothing repeated.
    let mut ids = HashSet::new();
    for e in &seen {
        assert!(
            ids.insert(e.event_id),
            "event {} delivered twice",
            e.event_id
        );
    }
    // Nothing missing, nothing foreign.
    let want: HashSet<Uuid> = written.iter().copied().collect();
    assert_eq!(
        ids.len(),
        want.len(),
        "delivered {} of {}",
        ids.len(),
        want.len()
    );
    assert_eq!(ids, want);
    // Global order strictly increasing; per-stream revisions gap-free and in order.
    let mut next_revision: HashMap<&str, u64> = HashMap::new();
    for pair in seen.windows(2) {
        assert!(pair[0].position < pair[1].position);
    }
    for e in &seen {
        let next = next_revision.entry(e.stream_name.as_str()).or_default();
        assert_eq!(
            e.stream_revision, *next,
            "stream {} out of order or skipped",
            e.stream_name
        );
        *next += 1;
    }
    sub.position()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_and_a_tailing_reader_of_all() {
    let _serial = SERIAL.lock().await;
    let db = fresh_database().await;
    let store = EventStore::new(db.pool(24).await);
    let mut start = Position::START;
    for _ in 0..rounds() {
        // A fresh category per round keeps per-stream revisions starting at 0.
        let category: &'static str = Box::leak(format!("r{}", start.seq).into_boxed_str());
        start = round(&store, SubscriptionFilter::All, category, start).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_and_a_tailing_reader_of_a_category() {
    let _serial = SERIAL.lock().await;
    let db = fresh_database().await;
    let store = EventStore::new(db.pool(24).await);
    // Noise in another category runs beside the writers the reader follows.
    let noise_store = store.clone();
    let noise = tokio::spawn(async move {
        for n in 0..2_000 {
            noise_store
                .append(
                    &format!("noise-{}", n % 50),
                    ExpectedRevision::Any,
                    &[event()],
                )
                .await
                .unwrap();
        }
    });
    let mut start = Position::START;
    for r in 0..rounds() {
        let category: &'static str = Box::leak(format!("cat{r}").into_boxed_str());
        start = round(
            &store,
            SubscriptionFilter::categories([category]),
            category,
            start,
        )
        .await;
    }
    noise.await.unwrap();
}
