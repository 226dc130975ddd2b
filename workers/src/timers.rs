//! The timer worker: fires due rows of the timers table (filled by the timers projection).
//! Rows are taken with `FOR UPDATE SKIP LOCKED`, so several workers share the work and
//! never fire one row twice; a row is removed (or rescheduled) in the same transaction
//! that locked it. The commands fired are idempotent and check due-ness themselves, so a
//! crash between a command and the removal at worst fires a harmless repeat.

use std::time::Duration;

use app::{App, Request};
use chrono::{DateTime, Utc};
use domain::maildomain::DomainStatus;
use projections::TimerKind;
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use crate::consumer::stopped_within;

/// Rows fired per transaction.
const BATCH: i64 = 20;
/// How often records past their retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// A timer whose command failed is tried again this much later.
const RETRY_AFTER: chrono::Duration = chrono::Duration::minutes(1);

/// Why firing timers failed.
#[derive(Debug, thiserror::Error)]
#[error("timers: {0}")]
pub struct TimerError(#[from] sqlx::Error);

/// One due row.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Due {
    kind: String,
    subject: Uuid,
    stream: String,
    due_at: DateTime<Utc>,
    not_after: Option<DateTime<Utc>>,
}

/// Fires due timers.
pub struct TimerWorker {
    app: App,
    pool: PgPool,
}

impl TimerWorker {
    /// A worker running `app`'s operations at its clock's time.
    pub fn new(app: App) -> Self {
        let pool = app.pool().clone();
        TimerWorker { app, pool }
    }

    /// Fires every timer due now; answers how many fired.
    pub async fn fire_due(&self) -> Result<usize, TimerError> {
        let mut fired = 0;
        loop {
            let now = self.app.now();
            let mut tx = self.pool.begin().await?;
            let due: Vec<Due> = sqlx::query_as(
                "SELECT kind, subject, stream, due_at, not_after FROM timers WHERE due_at <= $1
                 ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            )
            .bind(now)
            .bind(BATCH)
            .fetch_all(&mut *tx)
            .await?;
            if due.is_empty() {
                tx.commit().await?;
                return Ok(fired);
            }
            for row in &due {
                let next = match self.fire(row, now).await {
                    Ok(next) => next,
                    Err(reason) => {
                        tracing::warn!(kind = %row.kind, subject = %row.subject, %reason, "timer failed; retrying later");
                        Some(now + RETRY_AFTER)
                    }
                };
                let q = match next {
                    Some(at) => sqlx::query(
                        "UPDATE timers SET due_at = $3 WHERE kind = $1 AND subject = $2",
                    )
                    .bind(&row.kind)
                    .bind(row.subject)
                    .bind(at),
                    None => sqlx::query("DELETE FROM timers WHERE kind = $1 AND subject = $2")
                        .bind(&row.kind)
                        .bind(row.subject),
                };
                q.execute(&mut *tx).await?;
                fired += 1;
            }
            tx.commit().await?;
        }
    }

    /// Fires due timers every `every` until `stop`.
    pub async fn run(self, every: Duration, mut stop: watch::Receiver<bool>) {
        let mut pruned_at: Option<std::time::Instant> = None;
        loop {
            if let Err(e) = self.fire_due().await {
                tracing::error!(error = %e, "firing timers failed");
            }
            if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                pruned_at = Some(std::time::Instant::now());
                match app::retention::prune(&self.app).await {
                    Ok(p) => tracing::info!(
                        webhook_deliveries = p.webhook_deliveries,
                        parked_events = p.parked_events,
                        idempotency_keys = p.idempotency_keys,
                        "records past their retention deleted"
                    ),
                    Err(e) => tracing::error!(error = %e, "pruning records failed"),
                }
            }
            if stopped_within(&mut stop, every).await {
                return;
            }
        }
    }

    /// Runs one timer's command; answers when to fire it again, if ever.
    async fn fire(&self, row: &Due, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
        let request = Request::system("timers");
        let app = &self.app;
        let Some(kind) = TimerKind::named(&row.kind) else {
            return Err(format!("unknown timer kind {}", row.kind));
        };
        tracing::info!(kind = %row.kind, subject = %row.subject, due_at = %row.due_at, "timer fired");
        let failed = |e: app::AppError| e.to_string();
        match kind {
            TimerKind::SubscriptionExpiry => {
                app::subscription::expire(app, &request, row.subject)
                    .await
                    .map_err(failed)?;
            }
            TimerKind::SubscriptionDataPurge => {
                app::subscription::purge_data(app, &request, row.subject)
                    .await
                    .map_err(failed)?;
            }
            TimerKind::InvitationExpiry => {
                let organization = app::streams::StreamName::parse(&row.stream)
                    .map(|(_, id)| id)
                    .ok_or_else(|| format!("bad stream {}", row.stream))?;
                app::organization::expire_invitation(app, &request, organization, row.subject)
                    .await
                    .map_err(failed)?;
            }
            TimerKind::MigrationExpiry => {
                app::migration::expire_if_due(app, &request, row.subject)
                    .await
                    .map_err(failed)?;
            }
            TimerKind::MailboxPurge => {
                app::mailbox::purge_if_due(app, &request, row.subject)
                    .await
                    .map_err(failed)?;
            }
            TimerKind::DnsRecheck => {
                // Again in ten minutes while it is unverified and the 48 hours have not
                // passed.
                let status = app::maildomain::recheck(app, &request, row.subject)
                    .await
                    .map_err(failed)?;
                let next = now + projections::DNS_RECHECK_EVERY;
                return Ok(match status {
                    Some(DomainStatus::Pending | DomainStatus::Failed)
                        if row.not_after.is_none_or(|end| next <= end) =>
                    {
                        Some(next)
                    }
                    _ => None,
                });
            }
        }
        Ok(None)
    }
}
