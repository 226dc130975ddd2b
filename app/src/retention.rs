//! Retention of operational records: webhook delivery logs, parked events and idempotency
//! records are kept for `Settings::retention` and then deleted, so they do not hold what
//! people sent us (answers, failure reasons) for longer than they are of use.

use crate::error::AppError;
use crate::App;

/// How many rows one pruning deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Webhook delivery attempts.
    pub webhook_deliveries: u64,
    /// Events a worker parked.
    pub parked_events: u64,
    /// Idempotency records (answered, or whose request's lease ran out).
    pub idempotency_keys: u64,
}

/// Deletes records older than the retention period (at the application's clock). Several
/// workers may run it at once: each row is deleted once, by whichever gets it.
pub async fn prune(app: &App) -> Result<Pruned, AppError> {
    let before = app.now() - app.settings().retention;
    let pool = app.pool();
    let webhook_deliveries = sqlx::query("DELETE FROM webhook_deliveries WHERE attempted_at < $1")
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected();
    let parked_events = sqlx::query("DELETE FROM parked_events WHERE parked_at < $1")
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected();
    // A request still running under its key (a live lease) keeps its record, however old.
    let idempotency_keys = sqlx::query(
        "DELETE FROM idempotency_keys
         WHERE created_at < $1 AND (answer IS NOT NULL OR lease_until < $2)",
    )
    .bind(before)
    .bind(app.now())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(Pruned {
        webhook_deliveries,
        parked_events,
        idempotency_keys,
    })
}
