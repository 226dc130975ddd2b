//! The loop every worker runs: one consumer with its own checkpoint, one process at a time
//! (an advisory lock; a second process waits as a standby), events in order, transient
//! failures retried with backoff, permanent ones parked where operators see them.

use std::future::Future;
use std::time::Duration;

use eventstore::{EventStore, Position, RecordedEvent, SubscriptionFilter};
use futures_util::StreamExt as _;
use tokio::sync::watch;

use app::retry::backoff;

/// Why an event's effect did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Try again later (a provider or the data plane is down); later events wait.
    #[error("transient: {0}")]
    Transient(String),
    /// Trying again cannot help; the event is parked and the worker moves on.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl From<app::AppError> for Failure {
    /// By type: a refusal by the rules or bad data is permanent (parked), a store or
    /// network failure transient (retried).
    fn from(e: app::AppError) -> Self {
        if e.is_transient() {
            Failure::Transient(e.to_string())
        } else {
            Failure::Permanent(e.to_string())
        }
    }
}

/// A worker's reaction to events.
pub trait Handler: Send + Sync {
    /// Its consumer name (checkpoint and lock).
    fn name(&self) -> &'static str;
    /// The events it reads.
    fn filter(&self) -> SubscriptionFilter;
    /// Acts on one event; must be safe to run again for the same event.
    fn handle(&self, event: &RecordedEvent) -> impl Future<Output = Result<(), Failure>> + Send;
}

/// First wait after a transient failure, and the longest.
const RETRY_BASE: Duration = Duration::from_millis(200);
const RETRY_CAP: Duration = Duration::from_secs(30);

/// Runs `handler` until `stop` turns true.
pub async fn run<H: Handler>(store: EventStore, handler: H, stop: watch::Receiver<bool>) {
    run_concurrent(store, handler, stop, 1).await;
}

/// Runs `handler` until `stop` turns true, handling the events of up to `width` streams at
/// once: a stream's events stay in order, and the checkpoint passes a batch only when all
/// of it is done (after a crash a batch is handled again, which handlers allow).
pub async fn run_concurrent<H: Handler>(
    store: EventStore,
    handler: H,
    mut stop: watch::Receiver<bool>,
    width: usize,
) {
    let width = width.max(1);
    let name = handler.name();
    // Held for as long as this process is the consumer; another process waits here.
    let _lease = loop {
        match try_lease(&store, name).await {
            Ok(Some(conn)) => break conn,
            Ok(None) => {}
            Err(e) => tracing::warn!(worker = name, error = %e, "cannot take the worker lease"),
        }
        if stopped_within(&mut stop, Duration::from_secs(1)).await {
            return;
        }
    };
    tracing::info!(worker = name, "worker started");
    loop {
        let after = match store.checkpoint(name).await {
            Ok(p) => p.unwrap_or(Position::START),
            Err(e) => {
                tracing::error!(worker = name, error = %e, "cannot read the checkpoint");
                if stopped_within(&mut stop, Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        let mut subscription = store.subscribe(handler.filter(), after);
        loop {
            let next = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                next = subscription.next() => next,
            };
            let first = match next {
                Ok(event) => event,
                Err(e) => {
                    tracing::error!(worker = name, error = %e, "reading events failed");
                    break;
                }
            };
            let mut batch = vec![first];
            if width > 1 {
                batch.extend(subscription.take_buffered(width * 8));
            }
            let Some(last) = batch.last().map(|e| e.position) else {
                continue;
            };
            if !handle_batch(&store, &handler, batch, &stop, width).await {
                return;
            }
            if let Err(e) = store.save_checkpoint(name, last).await {
                // Next time these events are handled again, which handlers allow.
                tracing::error!(worker = name, error = %e, "cannot save the checkpoint");
                break;
            }
        }
        if stopped_within(&mut stop, Duration::from_secs(1)).await {
            return;
        }
    }
}

/// Handles a batch, each stream's events in order, up to `width` streams at once; false if
/// stopped before all were done.
async fn handle_batch<H: Handler>(
    store: &EventStore,
    handler: &H,
    batch: Vec<RecordedEvent>,
    stop: &watch::Receiver<bool>,
    width: usize,
) -> bool {
    let mut streams: Vec<Vec<RecordedEvent>> = Vec::new();
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for event in batch {
        let i = *at.entry(event.stream_name.clone()).or_insert_with(|| {
            streams.push(Vec::new());
            streams.len() - 1
        });
        streams[i].push(event);
    }
    let done = futures_util::stream::iter(streams.into_iter().map(|events| {
        let mut stop = stop.clone();
        async move {
            for event in &events {
                if !handle_until_done(store, handler, event, &mut stop).await {
                    return false;
                }
            }
            true
        }
    }))
    .buffer_unordered(width);
    futures_util::StreamExt::all(done, |ok| async move { ok }).await
}

/// Handles every event available now, then returns how many (tests, and one-shot runs).
/// A transient failure is returned instead of waited out.
pub async fn drain<H: Handler>(store: &EventStore, handler: &H) -> Result<usize, Failure> {
    let name = handler.name();
    let internal = |e: eventstore::Error| Failure::Transient(e.to_string());
    let mut after = store
        .checkpoint(name)
        .await
        .map_err(internal)?
        .unwrap_or(Position::START);
    let mut total = 0;
    loop {
        let batch = store
            .read_filtered(&handler.filter(), after, 100)
            .await
            .map_err(internal)?;
        if batch.is_empty() {
            return Ok(total);
        }
        for event in &batch {
            match handler.handle(event).await {
                Ok(()) => {}
                Err(Failure::Permanent(reason)) => park(store, name, event, &reason).await,
                Err(transient) => return Err(transient),
            }
            store
                .save_checkpoint(name, event.position)
                .await
                .map_err(internal)?;
            after = event.position;
            total += 1;
        }
    }
}

/// Retries transient failures until the effect happened or was parked; false if stopped.
async fn handle_until_done<H: Handler>(
    store: &EventStore,
    handler: &H,
    event: &RecordedEvent,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let name = handler.name();
    let mut attempt = 0;
    loop {
        match handler.handle(event).await {
            Ok(()) => return true,
            Err(Failure::Permanent(reason)) => {
                park(store, name, event, &reason).await;
                return true;
            }
            Err(Failure::Transient(reason)) => {
                let wait = backoff(attempt, RETRY_BASE, RETRY_CAP);
                tracing::warn!(worker = name, event_id = %event.event_id, attempt, ?wait, %reason, "will retry");
                attempt += 1;
                if stopped_within(stop, wait).await {
                    return false;
                }
            }
        }
    }
}

/// Records an event that cannot be handled, so it is visible and never blocks the rest.
async fn park(store: &EventStore, consumer: &str, event: &RecordedEvent, reason: &str) {
    tracing::error!(worker = consumer, event_id = %event.event_id, event_type = %event.event_type, %reason, "event parked");
    let parked = sqlx::query(
        "INSERT INTO parked_events (consumer, event_id, stream_name, event_type, position, reason)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (consumer, event_id) DO UPDATE SET reason = $6",
    )
    .bind(consumer)
    .bind(event.event_id)
    .bind(&event.stream_name)
    .bind(&event.event_type)
    .bind(event.position.to_string())
    .bind(reason)
    .execute(store.pool())
    .await;
    if let Err(e) = parked {
        tracing::error!(worker = consumer, error = %e, "cannot park an event");
    }
}

/// A connection holding the consumer's advisory lock, or None while another process has it.
pub(crate) async fn try_lease(
    store: &EventStore,
    name: &str,
) -> Result<Option<sqlx::PgConnection>, sqlx::Error> {
    let mut conn = store.pool().acquire().await?;
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
        .bind(format!("mailplane:{name}"))
        .fetch_one(&mut *conn)
        .await?;
    if taken {
        // Out of the pool: the lock lives exactly as long as this connection.
        Ok(Some(conn.detach()))
    } else {
        Ok(None)
    }
}

/// Sleeps `wait`; true if `stop` turned true meanwhile.
pub(crate) async fn stopped_within(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = stop.wait_for(|s| *s) => true,
        () = tokio::time::sleep(wait) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::AppError;
    use domain::DomainError;

    #[test]
    fn refusals_are_parked_and_outages_retried() {
        let refused = Failure::from(AppError::Refused(DomainError::MemberNotAuthorized));
        assert!(matches!(refused, Failure::Permanent(_)), "{refused}");
        let forbidden = Failure::from(AppError::Forbidden);
        assert!(matches!(forbidden, Failure::Permanent(_)));
        let down = Failure::from(AppError::Database(sqlx::Error::PoolTimedOut));
        assert!(matches!(down, Failure::Transient(_)), "{down}");
        let busy = Failure::from(AppError::Conflict("concurrent writes".into()));
        assert!(matches!(busy, Failure::Transient(_)));
    }
}
