//! The timer worker: fires due rows of the timers table (filled by the timers projection).
//! Rows are taken with `FOR UPDATE SKIP LOCKED`, so several workers share the work and
//! never fire one row twice; a row is removed (or rescheduled) in the same transaction
//! that locked it. The commands fired are idempotent and check due-ness themselves, so a
//! crash between a command and the removal at worst fires a harmless repeat.

use std::sync::Arc;
use std::time::Duration;

use api::command::{CommandContext, CommandHandler};
use api::dns::DnsLookup;
use api::operations::{self, streams};
use chrono::{DateTime, Utc};
use domain::mailbox::MailboxCommand;
use domain::maildomain::{DomainStatus, MailDomain, MailDomainCommand, Provider};
use domain::organization::{Organization, OrganizationCommand};
use domain::subscription::{Subscription, SubscriptionCommand};
use projections::TimerKind;
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use crate::clock::Clock;
use crate::consumer::stopped_within;

/// Rows fired per transaction.
const BATCH: i64 = 20;
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
    handler: CommandHandler,
    pool: PgPool,
    dns: DnsLookup,
    provider: Provider,
    clock: Arc<dyn Clock>,
}

impl TimerWorker {
    /// A worker acting at `clock`'s time, looking up DNS through `dns`.
    pub fn new(
        handler: CommandHandler,
        dns: DnsLookup,
        provider: Provider,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let pool = handler.store().pool().clone();
        TimerWorker {
            handler,
            pool,
            dns,
            provider,
            clock,
        }
    }

    /// Fires every timer due now; answers how many fired.
    pub async fn fire_due(&self) -> Result<usize, TimerError> {
        let mut fired = 0;
        loop {
            let now = self.clock.now();
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
        loop {
            if let Err(e) = self.fire_due().await {
                tracing::error!(error = %e, "firing timers failed");
            }
            if stopped_within(&mut stop, every).await {
                return;
            }
        }
    }

    /// Runs one timer's command; answers when to fire it again, if ever.
    async fn fire(&self, row: &Due, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
        let context = CommandContext {
            actor: "worker:timers".into(),
            correlation_id: Uuid::now_v7(),
            causation_id: None,
        };
        let h = &self.handler;
        let Some(kind) = TimerKind::named(&row.kind) else {
            return Err(format!("unknown timer kind {}", row.kind));
        };
        tracing::info!(kind = %row.kind, subject = %row.subject, due_at = %row.due_at, "timer fired");
        match kind {
            TimerKind::SubscriptionExpiry => {
                operations::run_decider::<Subscription>(
                    h,
                    &context,
                    &row.stream,
                    SubscriptionCommand::Expire,
                    now,
                    operations::no_claims,
                )
                .await
                .map_err(|e| e.to_string())?;
            }
            TimerKind::SubscriptionDataPurge => {
                crate::managers::purge_subscription_data(h, &context, row.subject, now)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            TimerKind::InvitationExpiry => {
                let command = OrganizationCommand::ExpireInvitation {
                    invitation_id: row.subject,
                };
                operations::run_decider::<Organization>(
                    h,
                    &context,
                    &row.stream,
                    command,
                    now,
                    operations::no_claims,
                )
                .await
                .map_err(|e| e.to_string())?;
            }
            TimerKind::MailboxPurge => {
                operations::run_mailbox(h, &context, row.subject, MailboxCommand::PurgeIfDue, now)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            TimerKind::DnsRecheck => return self.recheck(&context, row, now).await,
        }
        Ok(None)
    }

    /// Looks an unverified domain's records up again; again in ten minutes while it is
    /// unverified and the 48 hours have not passed.
    async fn recheck(
        &self,
        context: &CommandContext,
        row: &Due,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, String> {
        let stream = streams::maildomain(row.subject);
        let state = self
            .handler
            .load_state::<MailDomain>(&stream)
            .await
            .map_err(|e| e.to_string())?;
        // FAILED only says the last look found something wrong: still unverified.
        if state.id.is_none() || state.removed || state.status == DomainStatus::Verified {
            return Ok(None);
        }
        let answers = self.dns.answers(&state.name, &state.records).await;
        let checked = operations::run_mail_domain(
            &self.handler,
            context,
            row.subject,
            MailDomainCommand::Check {
                answers,
                provider: self.provider.clone(),
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        let next = now + projections::DNS_RECHECK_EVERY;
        Ok(match checked.answer.status {
            DomainStatus::Pending | DomainStatus::Failed
                if row.not_after.is_none_or(|end| next <= end) =>
            {
                Some(next)
            }
            _ => None,
        })
    }
}
