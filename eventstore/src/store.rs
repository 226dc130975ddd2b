use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::types::Json;
use sqlx::Row;
use tokio::sync::watch;

use crate::append;
use crate::error::Error;
use crate::event::{Metadata, RecordedEvent};
use crate::input;
use crate::personal::Keyring;
use crate::position::Position;
use crate::subscription::{Subscription, SubscriptionFilter};
use crate::transaction::StoreTransaction;
use crate::NewEvent;

/// The channel of PostgreSQL notifications that wake subscribers in other processes.
pub(crate) const NOTIFY_CHANNEL: &str = "mailplane_events";

/// Most attempts of a single-stream append when transactions keep overtaking it.
const MAX_APPEND_ATTEMPTS: u32 = 20;

/// What the caller believes about a stream before appending, as in EventStoreDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedRevision {
    /// Append whatever the stream holds.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must exist.
    StreamExists,
    /// The stream's last revision must be exactly this.
    Exact(u64),
}

impl ExpectedRevision {
    pub(crate) fn to_sql(self) -> (&'static str, i64) {
        match self {
            ExpectedRevision::Any => ("any", -1),
            ExpectedRevision::NoStream => ("no_stream", -1),
            ExpectedRevision::StreamExists => ("stream_exists", -1),
            ExpectedRevision::Exact(r) => ("exact", r as i64),
        }
    }
}

/// Where a stream read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamPosition {
    Start,
    End,
    Revision(u64),
}

/// Which way a stream is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forwards,
    Backwards,
}

/// The outcome of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// The stream's last revision after the append: the next `Exact` expectation.
    pub next_expected: u64,
    /// The global position of the last event appended (or found, for a repeated append).
    pub position: Position,
    /// False when every event was already there (an idempotent retry) and nothing was written.
    pub written: bool,
}

/// The event store: a PostgreSQL pool plus the wake-up signal for local subscribers.
#[derive(Clone)]
pub struct EventStore {
    pool: PgPool,
    inner: Arc<Inner>,
    /// Seals and opens personal data; without it such events can be neither written nor read.
    keyring: Option<Arc<Keyring>>,
}

struct Inner {
    /// Bumped after every local commit that appended events.
    appended: watch::Sender<u64>,
    /// Bumped on every NOTIFY from any process (and when the listener reconnects, since
    /// notifications may have been missed meanwhile).
    notified: Arc<watch::Sender<u64>>,
    /// The one LISTEN connection of this store starts with the first subscription.
    listening: std::sync::Once,
    poll_interval: Duration,
}

impl EventStore {
    /// An event store over an already migrated database. Starts a background task that
    /// tells other processes (via NOTIFY) when this one appended, at most every 5 ms.
    pub fn new(pool: PgPool) -> Self {
        let (appended, _) = watch::channel(0);
        let (notified, _) = watch::channel(0);
        let store = EventStore {
            pool,
            inner: Arc::new(Inner {
                appended,
                notified: Arc::new(notified),
                listening: std::sync::Once::new(),
                poll_interval: Duration::from_secs(1),
            }),
            keyring: None,
        };
        store.spawn_notifier();
        store
    }

    /// The same store (its wake-ups shared) over another pool of the same database: the
    /// background work gets a pool of its own, so requests never wait behind it.
    pub fn on_pool(&self, pool: PgPool) -> EventStore {
        EventStore {
            pool,
            inner: self.inner.clone(),
            keyring: self.keyring.clone(),
        }
    }

    /// The same store sealing and opening personal data with `keyring`.
    pub fn with_keyring(mut self, keyring: Keyring) -> Self {
        self.keyring = Some(Arc::new(keyring));
        self
    }

    /// Whether this store can seal and open personal data.
    pub fn has_keyring(&self) -> bool {
        self.keyring.is_some()
    }

    pub(crate) fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_deref()
    }

    /// Recorded rows as events, their personal fields opened (or shown erased).
    pub(crate) async fn events_of(&self, rows: &[PgRow]) -> Result<Vec<RecordedEvent>, Error> {
        let mut events = rows
            .iter()
            .map(recorded_event)
            .collect::<Result<Vec<_>, _>>()?;
        crate::personal::open(&self.pool, self.keyring(), &mut events).await?;
        Ok(events)
    }

    /// Applies the embedded migrations to the database.
    pub async fn migrate(pool: &PgPool) -> Result<(), Error> {
        crate::MIGRATOR.run(pool).await?;
        Ok(())
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn poll_interval(&self) -> Duration {
        self.inner.poll_interval
    }

    pub(crate) fn appended_signal(&self) -> watch::Receiver<u64> {
        self.inner.appended.subscribe()
    }

    /// Wake-ups from other processes. However many subscriptions and long-polls wait, the
    /// process holds one LISTEN connection, not one each (they would drain the pool).
    pub(crate) fn notified_signal(&self) -> watch::Receiver<u64> {
        let receiver = self.inner.notified.subscribe();
        self.inner.listening.call_once(|| self.spawn_listener());
        receiver
    }

    fn spawn_listener(&self) {
        crate::listener::spawn(self.pool.clone(), Arc::downgrade(&self.inner.notified));
    }

    pub(crate) fn signal_appended(&self) {
        self.inner.appended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Coalesces local appends into few NOTIFYs. NOTIFY takes a cluster-wide lock at commit,
    /// so sending one per append would serialize writers; subscribers in this process are
    /// woken directly and never wait for it.
    fn spawn_notifier(&self) {
        let mut rx = self.appended_signal();
        let pool = self.pool.clone();
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        handle.spawn(async move {
            while rx.changed().await.is_ok() {
                if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
                    .bind(NOTIFY_CHANNEL)
                    .execute(&pool)
                    .await
                {
                    tracing::debug!(error = %e, "could not notify subscribers");
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }

    /// Appends events to one stream in their own transaction. Retries by itself when a
    /// transaction that started later wrote the stream first.
    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: &[NewEvent],
    ) -> Result<AppendResult, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = self.pool.acquire().await?;
            match append::sealed_append(
                &mut conn,
                self.keyring(),
                stream,
                expected,
                events,
                append::Mode::Autocommit,
            )
            .await
            {
                Err(Error::Conflict { .. }) if attempt < MAX_APPEND_ATTEMPTS => continue,
                Ok((result, learned)) => {
                    if let Some(keyring) = self.keyring() {
                        keyring.cache().remember(learned);
                    }
                    if result.written {
                        self.signal_appended();
                    }
                    return Ok(result);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts a transaction that can append to several streams and claim keys, all or nothing.
    pub async fn begin(&self) -> Result<StoreTransaction, Error> {
        let tx = self.pool.begin().await?;
        Ok(StoreTransaction::new(self.clone(), tx))
    }

    /// Reads up to `limit` events of one stream from `from`, forwards or backwards.
    pub async fn read_stream(
        &self,
        stream: &str,
        direction: Direction,
        from: StreamPosition,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, Error> {
        input::stream_name(stream)?;
        let limit = input::limit(limit)?;
        let from = match from {
            StreamPosition::Start => 0,
            StreamPosition::End => i64::MAX,
            StreamPosition::Revision(r) => i64::try_from(r).unwrap_or(i64::MAX),
        };
        let sql = match direction {
            Direction::Forwards => {
                "SELECT * FROM events WHERE stream_name = $1 AND stream_revision >= $2
                 ORDER BY stream_revision LIMIT $3"
            }
            Direction::Backwards => {
                "SELECT * FROM events WHERE stream_name = $1 AND stream_revision <= $2
                 ORDER BY stream_revision DESC LIMIT $3"
            }
        };
        let rows = sqlx::query(sql)
            .bind(stream)
            .bind(from)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        self.events_of(&rows).await
    }

    /// The last revision of a stream, `None` when it does not exist.
    pub async fn stream_revision(&self, stream: &str) -> Result<Option<u64>, Error> {
        input::stream_name(stream)?;
        let mut conn = self.pool.acquire().await?;
        append::last_revision(&mut conn, stream).await
    }

    /// Reads up to `limit` events of `$all` after `after`, in global order, never past an
    /// event whose transaction may still commit.
    pub async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, Error> {
        self.read_filtered(&SubscriptionFilter::All, after, limit)
            .await
    }

    /// Reads up to `limit` events of one category after `after`, in global order.
    pub async fn read_category(
        &self,
        category: &str,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, Error> {
        self.read_filtered(&SubscriptionFilter::categories([category]), after, limit)
            .await
    }

    /// Reads up to `limit` events after `after` that pass `filter`, in global order.
    pub async fn read_filtered(
        &self,
        filter: &SubscriptionFilter,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, Error> {
        let limit = input::limit(limit)?;
        // One statement, one snapshot: the xmin horizon and the rows come from the same one.
        let rows = match filter {
            SubscriptionFilter::All => {
                sqlx::query(
                    "SELECT * FROM events
                     WHERE (tx_id, seq) > ($1, $2)
                       AND tx_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
                     ORDER BY tx_id, seq LIMIT $3",
                )
                .bind(after.tx_id)
                .bind(after.seq)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            SubscriptionFilter::Categories(categories) => {
                // Each category from its own (category, position) index range, as row
                // comparisons: given `category = x` the planner may walk the whole log tail.
                sqlx::query(
                    "SELECT e.* FROM (SELECT DISTINCT unnest($4::text[])) AS c(category)
                     CROSS JOIN LATERAL (
                         SELECT * FROM events
                         WHERE (category, tx_id, seq) > (c.category, $1, $2)
                           AND (category, tx_id, seq)
                               < (c.category, pg_snapshot_xmin(pg_current_snapshot())::text::bigint, 0)
                         ORDER BY category, tx_id, seq LIMIT $3
                     ) e
                     ORDER BY e.tx_id, e.seq LIMIT $3",
                )
                .bind(after.tx_id)
                .bind(after.seq)
                .bind(limit)
                .bind(categories)
                .fetch_all(&self.pool)
                .await?
            }
        };
        self.events_of(&rows).await
    }

    /// A subscription to `$all` (or some categories) from `after`: catches up, then goes live.
    pub fn subscribe(&self, filter: SubscriptionFilter, after: Position) -> Subscription {
        Subscription::new(self.clone(), filter, after)
    }
}

pub(crate) fn recorded_event(row: &PgRow) -> Result<RecordedEvent, Error> {
    let Json(metadata): Json<Metadata> = row.try_get("metadata")?;
    let Json(data): Json<serde_json::Value> = row.try_get("data")?;
    let revision: i64 = row.try_get("stream_revision")?;
    let recorded_at: DateTime<Utc> = row.try_get("recorded_at")?;
    Ok(RecordedEvent {
        event_id: row.try_get("event_id")?,
        stream_name: row.try_get("stream_name")?,
        stream_revision: revision as u64,
        position: Position {
            tx_id: row.try_get("tx_id")?,
            seq: row.try_get("seq")?,
        },
        event_type: row.try_get("event_type")?,
        data,
        metadata,
        recorded_at,
    })
}
