//! Process managers: what an event in one stream asks of other streams (rules in
//! `domain::policy`). A deleted or revoked member's mailbox is closed, a replaced domain's
//! mailboxes are renamed, an ended subscription's mailboxes are closed (and given back when
//! it is renewed in time); and, when an
//! expired subscription's data is due, every mailbox is purged before the purge is recorded.

use api::command::{CommandContext, CommandError, CommandHandler};
use api::operations::{self, streams};
use chrono::{DateTime, Utc};
use domain::mailbox::{CloseReason, Mailbox, MailboxCommand};
use domain::maildomain::MailDomainEvent;
use domain::member::{Member, MemberEvent};
use domain::policy;
use domain::subscription::{Subscription, SubscriptionCommand, SubscriptionEvent};
use eventstore::{RecordedEvent, SubscriptionFilter};
use projections::{Projection, Runner};
use std::sync::Arc;
use uuid::Uuid;

use crate::clock::Clock;
use crate::consumer::{Failure, Handler};

/// Reacts to member, mail domain and subscription events.
pub struct ProcessManager {
    handler: CommandHandler,
    runner: Runner,
    clock: Arc<dyn Clock>,
}

fn transient(e: impl std::fmt::Display) -> Failure {
    Failure::Transient(e.to_string())
}

impl ProcessManager {
    /// A manager running commands through `handler`, finding mailboxes in `runner`'s read models.
    pub fn new(handler: CommandHandler, runner: Runner, clock: Arc<dyn Clock>) -> Self {
        ProcessManager {
            handler,
            runner,
            clock,
        }
    }

    /// The mailboxes a query selects, once the read models have folded everything up to
    /// the event being handled: that event is visible, so a (gap-safe) catch-up passes it.
    async fn mailboxes(&self, sql: &str, key: Uuid) -> Result<Vec<Uuid>, Failure> {
        for p in [Projection::Organizations, Projection::Mailboxes] {
            self.runner.catch_up(p).await.map_err(transient)?;
        }
        sqlx::query_scalar(sql)
            .bind(key)
            .fetch_all(self.handler.store().pool())
            .await
            .map_err(transient)
    }

    /// A renewal gives back the mailboxes the expiry closed, to members still allowed mail.
    async fn restore_after_renewal(
        &self,
        event: &RecordedEvent,
        subscription_id: Uuid,
    ) -> Result<(), Failure> {
        let context = crate::context("process-manager", event);
        for id in self
            .mailboxes(CLOSED_OF_SUBSCRIPTION, subscription_id)
            .await?
        {
            let mailbox = self
                .handler
                .load_state::<Mailbox>(&streams::mailbox(id))
                .await
                .map_err(transient)?;
            if !policy::restored_on_renewal(&mailbox) {
                continue;
            }
            let member = self
                .handler
                .load_state::<Member>(&streams::member(mailbox.member_id))
                .await
                .map_err(transient)?;
            let restore = MailboxCommand::Restore {
                member_may_use_mail: member.may_use_mail(),
            };
            match operations::run_mailbox(&self.handler, &context, id, restore, self.clock.now())
                .await
            {
                Ok(_) => {}
                // Refused (the member lost the seat, the purge is due): it stays closed.
                Err(CommandError::Domain(reason)) => {
                    tracing::info!(mailbox = %id, %reason, "not restored after renewal");
                }
                Err(e) => return Err(transient(e)),
            }
        }
        Ok(())
    }

    async fn each(
        &self,
        context: &CommandContext,
        mailboxes: &[Uuid],
        command: &MailboxCommand,
    ) -> Result<(), Failure> {
        for id in mailboxes {
            operations::run_mailbox(
                &self.handler,
                context,
                *id,
                command.clone(),
                self.clock.now(),
            )
            .await
            .map_err(transient)?;
        }
        Ok(())
    }
}

const OPEN_OF_MEMBER: &str =
    "SELECT id FROM mailboxes WHERE member_id = $1 AND status NOT IN ('CLOSED', 'PURGED')";
const ON_DOMAIN: &str = "SELECT id FROM mailboxes WHERE domain_id = $1 AND status <> 'PURGED'";
const OPEN_OF_SUBSCRIPTION: &str =
    "SELECT m.id FROM mailboxes m JOIN organizations o ON o.id = m.organization_id
     WHERE o.subscription_id = $1 AND m.status NOT IN ('CLOSED', 'PURGED')";
const CLOSED_OF_SUBSCRIPTION: &str =
    "SELECT m.id FROM mailboxes m JOIN organizations o ON o.id = m.organization_id
     WHERE o.subscription_id = $1 AND m.status = 'CLOSED'";
const KEPT_OF_SUBSCRIPTION: &str =
    "SELECT m.id FROM mailboxes m JOIN organizations o ON o.id = m.organization_id
     WHERE o.subscription_id = $1 AND m.status <> 'PURGED'";

impl Handler for ProcessManager {
    fn name(&self) -> &'static str {
        "worker:process-manager"
    }

    fn filter(&self) -> SubscriptionFilter {
        SubscriptionFilter::categories(["member", "maildomain", "subscription"])
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), Failure> {
        let bad = |e: eventstore::Error| Failure::Permanent(e.to_string());
        let id = crate::stream_id(event)?;
        let (command, query) = match event.category() {
            "member" => (
                policy::mailbox_command_for_member_event(
                    &eventstore::decode_serde::<MemberEvent>(event).map_err(bad)?,
                ),
                OPEN_OF_MEMBER,
            ),
            "maildomain" => (
                policy::mailbox_command_for_domain_event(
                    &eventstore::decode_serde::<MailDomainEvent>(event).map_err(bad)?,
                ),
                ON_DOMAIN,
            ),
            "subscription" => {
                let e = eventstore::decode_serde::<SubscriptionEvent>(event).map_err(bad)?;
                if policy::reopens_mailboxes(&e) {
                    return self.restore_after_renewal(event, id).await;
                }
                (
                    policy::mailbox_command_for_subscription_event(&e),
                    OPEN_OF_SUBSCRIPTION,
                )
            }
            _ => (None, ""),
        };
        let Some(command) = command else {
            return Ok(());
        };
        let mailboxes = self.mailboxes(query, id).await?;
        self.each(
            &crate::context("process-manager", event),
            &mailboxes,
            &command,
        )
        .await
    }
}

/// An expired subscription's data is due: close and purge every mailbox of its
/// organization, then record the purge (which the decider refuses before it is due).
pub async fn purge_subscription_data(
    handler: &CommandHandler,
    context: &CommandContext,
    subscription_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let stream = streams::subscription(subscription_id);
    let state = handler
        .load_state::<Subscription>(&stream)
        .await
        .map_err(transient)?;
    let due = state.data_delete_due.is_some_and(|d| now >= d) && !state.data_purged;
    if !due {
        return Ok(());
    }
    let mailboxes: Vec<Uuid> = sqlx::query_scalar(KEPT_OF_SUBSCRIPTION)
        .bind(subscription_id)
        .fetch_all(handler.store().pool())
        .await
        .map_err(transient)?;
    for id in mailboxes {
        let close = MailboxCommand::Close {
            reason: CloseReason::SubscriptionExpired,
        };
        operations::run_mailbox(handler, context, id, close, now)
            .await
            .map_err(transient)?;
        operations::run_mailbox(handler, context, id, MailboxCommand::Purge, now)
            .await
            .map_err(transient)?;
    }
    operations::run_decider::<Subscription>(
        handler,
        context,
        &stream,
        SubscriptionCommand::PurgeData,
        now,
        operations::no_claims,
    )
    .await
    .map(|_| ())
    .map_err(transient)
}
