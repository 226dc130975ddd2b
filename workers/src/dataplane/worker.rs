//! The data plane worker: mailbox events become data plane operations, in order, keyed by
//! mailbox id so a repeat (after a crash) changes nothing. Provisioning's outcome is an
//! event: MailboxProvisioned, or MailboxProvisioningFailed while the data plane is down
//! (the work is retried until it succeeds, then MailboxProvisioned follows).

use std::sync::Arc;

use api::command::CommandHandler;
use api::operations::{self, streams};
use api::secrets::{Purpose, SecretStore};
use domain::mailbox::{Mailbox, MailboxCommand, MailboxEvent, MailboxStatus};
use domain::member::MemberEvent;
use eventstore::{RecordedEvent, SubscriptionFilter};
use projections::{Projection, Runner};

use super::{DataPlane, DataPlaneError, NewMailbox};
use crate::clock::Clock;
use crate::consumer::{Failure, Handler};

/// Follows the mailbox category (and members' password resets) and drives a data plane.
pub struct DataPlaneWorker {
    handler: CommandHandler,
    secrets: SecretStore,
    plane: Arc<dyn DataPlane>,
    clock: Arc<dyn Clock>,
    /// Finds a member's mailboxes (the mailboxes read model).
    runner: Runner,
    quota_mb: u64,
}

impl DataPlaneWorker {
    /// A worker driving `plane`.
    pub fn new(
        handler: CommandHandler,
        secrets: SecretStore,
        plane: Arc<dyn DataPlane>,
        clock: Arc<dyn Clock>,
        runner: Runner,
    ) -> Self {
        DataPlaneWorker {
            handler,
            secrets,
            plane,
            clock,
            runner,
            quota_mb: super::DEFAULT_QUOTA_MB,
        }
    }

    /// A member's password was reset: every mailbox of the member takes the new hash (an
    /// update of the mailbox, which keeps its mail and any suspension).
    async fn new_password(&self, event: &RecordedEvent) -> Result<(), Failure> {
        let transient = |e: &dyn std::fmt::Display| Failure::Transient(e.to_string());
        let member_id = crate::stream_id(event)?;
        let Some(password_hash) = self
            .secrets
            .get(Purpose::MailboxPasswordHash, member_id)
            .await
            .map_err(|e| transient(&e))?
        else {
            return Err(Failure::Permanent(
                "the member's new password is not kept".into(),
            ));
        };
        // The reset is visible, so a catch-up folds every mailbox opened before it; one
        // opened later reads the new hash when it is provisioned.
        self.runner
            .catch_up(Projection::Mailboxes)
            .await
            .map_err(|e| transient(&e))?;
        let mailboxes: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT id FROM mailboxes WHERE member_id = $1 AND status NOT IN ('PURGED', 'PROVISIONING', 'FAILED')",
        )
        .bind(member_id)
        .fetch_all(self.handler.store().pool())
        .await
        .map_err(|e| transient(&e))?;
        for mailbox_id in mailboxes {
            let state = self
                .handler
                .load_state::<Mailbox>(&streams::mailbox(mailbox_id))
                .await
                .map_err(|e| transient(&e))?;
            let mailbox = NewMailbox {
                mailbox_id,
                address: state.address,
                password_hash: password_hash.clone(),
                quota_mb: self.quota_mb,
            };
            self.plane.create_mailbox(&mailbox).await.map_err(failure)?;
        }
        Ok(())
    }

    async fn provision(&self, event: &RecordedEvent) -> Result<(), Failure> {
        let transient = |e: &dyn std::fmt::Display| Failure::Transient(e.to_string());
        let state = self
            .handler
            .load_state::<Mailbox>(&event.stream_name)
            .await
            .map_err(|e| transient(&e))?;
        let Some(mailbox_id) = state.id else {
            return Err(Failure::Permanent("no such mailbox".into()));
        };
        // Purged meanwhile: nothing to create. Otherwise create with today's address; the
        // events after this one (close, rename…) bring the data plane up to date.
        if state.status == MailboxStatus::Purged {
            return Ok(());
        }
        let context = crate::context("dataplane", event);
        let record = |command: MailboxCommand| {
            let context = context.clone();
            async move {
                operations::run_mailbox(
                    &self.handler,
                    &context,
                    mailbox_id,
                    command,
                    self.clock.now(),
                )
                .await
                .map(|_| ())
                .map_err(|e| Failure::Transient(e.to_string()))
            }
        };
        let hash = self
            .secrets
            .get(Purpose::MailboxPasswordHash, state.member_id)
            .await
            .map_err(|e| transient(&e))?;
        let Some(password_hash) = hash else {
            let reason =
                "the member's mail password is not kept; reset the member's password".to_owned();
            record(MailboxCommand::RecordProvisioningFailed {
                reason: reason.clone(),
            })
            .await?;
            return Err(Failure::Permanent(reason));
        };
        let domain = state
            .address
            .rsplit('@')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mailbox = NewMailbox {
            mailbox_id,
            address: state.address.clone(),
            password_hash,
            quota_mb: self.quota_mb,
        };
        let done = async {
            self.plane.ensure_domain(&domain).await?;
            self.plane.create_mailbox(&mailbox).await
        }
        .await;
        match done {
            Ok(()) => record(MailboxCommand::RecordProvisioned).await,
            Err(e) => {
                // Shown as FAILED with the reason while the data plane is down; the decider
                // records it once (only from PROVISIONING), and success later clears it.
                record(MailboxCommand::RecordProvisioningFailed {
                    reason: e.to_string(),
                })
                .await?;
                Err(failure(e))
            }
        }
    }
}

fn failure(e: DataPlaneError) -> Failure {
    match e {
        DataPlaneError::Unavailable(r) => Failure::Transient(r),
        DataPlaneError::Refused(r) => Failure::Permanent(r),
    }
}

impl Handler for DataPlaneWorker {
    fn name(&self) -> &'static str {
        "worker:dataplane"
    }

    fn filter(&self) -> SubscriptionFilter {
        SubscriptionFilter::categories(["mailbox", "member"])
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), Failure> {
        if event.category() == "member" {
            let e: MemberEvent =
                eventstore::decode_serde(event).map_err(|e| Failure::Permanent(e.to_string()))?;
            return match e {
                MemberEvent::MemberPasswordReset {} => self.new_password(event).await,
                _ => Ok(()),
            };
        }
        let e: MailboxEvent =
            eventstore::decode_serde(event).map_err(|e| Failure::Permanent(e.to_string()))?;
        let mailbox_id = crate::stream_id(event)?;
        match e {
            MailboxEvent::MailboxOpened { .. } | MailboxEvent::MailboxProvisioningRetried {} => {
                self.provision(event).await
            }
            MailboxEvent::MailboxClosed { .. } => {
                self.plane.suspend(mailbox_id).await.map_err(failure)
            }
            MailboxEvent::MailboxRestored {} => {
                self.plane.restore(mailbox_id).await.map_err(failure)
            }
            MailboxEvent::MailboxPurged { .. } => {
                self.plane.purge(mailbox_id).await.map_err(failure)
            }
            MailboxEvent::MailboxRenamed { address, .. } => self
                .plane
                .rename(mailbox_id, &address)
                .await
                .map_err(failure),
            MailboxEvent::MailboxProvisioned {}
            | MailboxEvent::MailboxProvisioningFailed { .. } => Ok(()),
        }
    }
}
