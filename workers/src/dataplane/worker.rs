//! The data plane worker: mailbox events become data plane operations, in order, keyed by
//! mailbox id so a repeat (after a crash) changes nothing. Provisioning's outcome is an
//! event: MailboxProvisioned, or MailboxProvisioningFailed while the data plane is down
//! (the work is retried until it succeeds, then MailboxProvisioned follows).

use std::sync::Arc;

use app::{read, streams, App, Request};
use domain::mailbox::{Mailbox, MailboxEvent, MailboxStatus};
use domain::member::{Member, MemberEvent};
use domain::organization::Organization;
use eventstore::{RecordedEvent, SubscriptionFilter};
use projections::{Projection, Runner};
use uuid::Uuid;

use super::{DataPlane, DataPlaneError, NewMailbox};
use crate::consumer::{Failure, Handler};

/// Follows the mailbox category (and members' password resets) and drives a data plane.
pub struct DataPlaneWorker {
    app: App,
    plane: Arc<dyn DataPlane>,
    /// Finds a member's mailboxes (the mailboxes read model).
    runner: Runner,
    quota_mb: u64,
}

impl DataPlaneWorker {
    /// A worker driving `plane`.
    pub fn new(app: App, plane: Arc<dyn DataPlane>, runner: Runner) -> Self {
        DataPlaneWorker {
            app,
            plane,
            runner,
            quota_mb: super::DEFAULT_QUOTA_MB,
        }
    }

    /// The second login of `member_id`'s mailbox: their account at the organization
    /// identifier (what the credentials message names).
    async fn login_alias(&self, member_id: Uuid) -> Result<Option<String>, Failure> {
        let member = self.app.load::<Member>(&streams::member(member_id)).await?;
        let organization = self
            .app
            .load::<Organization>(&streams::organization(member.organization_id))
            .await?;
        Ok(domain::mailbox::login_alias(
            &member.account,
            &organization.identifier,
        ))
    }

    /// A member's password was reset: every mailbox of the member takes the new hash (an
    /// update of the mailbox, which keeps its mail and any suspension).
    async fn new_password(&self, event: &RecordedEvent) -> Result<(), Failure> {
        let transient = |e: &dyn std::fmt::Display| Failure::Transient(e.to_string());
        let member_id = crate::stream_id(event)?;
        let Some(password_hash) = app::member::mailbox_password_hash(&self.app, member_id).await?
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
        let mailboxes = read::provisioned_mailboxes_of_member(self.app.pool(), member_id)
            .await
            .map_err(|e| transient(&e))?;
        for mailbox_id in mailboxes {
            let state = self
                .app
                .load::<Mailbox>(&streams::mailbox(mailbox_id))
                .await?;
            let mailbox = NewMailbox {
                mailbox_id,
                address: state.address,
                login_alias: self.login_alias(member_id).await?,
                password_hash: password_hash.clone(),
                quota_mb: self.quota_mb,
            };
            self.plane.create_mailbox(&mailbox).await.map_err(failure)?;
        }
        Ok(())
    }

    /// A mailbox given to another member takes that member's password.
    async fn reassigned(&self, mailbox_id: Uuid, member_id: Uuid) -> Result<(), Failure> {
        let state = self
            .app
            .load::<Mailbox>(&streams::mailbox(mailbox_id))
            .await?;
        if state.status == MailboxStatus::Purged {
            return Ok(());
        }
        let Some(password_hash) = app::member::mailbox_password_hash(&self.app, member_id).await?
        else {
            return Err(Failure::Permanent(
                "the new member's mail password is not kept; reset the member's password".into(),
            ));
        };
        let mailbox = NewMailbox {
            mailbox_id,
            address: state.address,
            login_alias: self.login_alias(member_id).await?,
            password_hash,
            quota_mb: self.quota_mb,
        };
        self.plane.create_mailbox(&mailbox).await.map_err(failure)
    }

    async fn provision(&self, event: &RecordedEvent) -> Result<(), Failure> {
        let state = self.app.load::<Mailbox>(&event.stream_name).await?;
        let Some(mailbox_id) = state.id else {
            return Err(Failure::Permanent("no such mailbox".into()));
        };
        // Purged meanwhile: nothing to create. Otherwise create with today's address; the
        // events after this one (close, rename…) bring the data plane up to date.
        if state.status == MailboxStatus::Purged {
            return Ok(());
        }
        let request = Request::worker("dataplane", event);
        let hash = app::member::mailbox_password_hash(&self.app, state.member_id).await?;
        let Some(password_hash) = hash else {
            let reason =
                "the member's mail password is not kept; reset the member's password".to_owned();
            app::mailbox::record_provisioning_failed(&self.app, &request, mailbox_id, &reason)
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
            login_alias: self.login_alias(state.member_id).await?,
            password_hash,
            quota_mb: self.quota_mb,
        };
        let done = async {
            self.plane.ensure_domain(&domain).await?;
            self.plane.create_mailbox(&mailbox).await
        }
        .await;
        // Suspended before (or while) it was made: it never takes a login.
        let done = match done {
            Ok(()) if state.suspended => self.plane.suspend(mailbox_id).await,
            other => other,
        };
        match done {
            Ok(()) => {
                app::mailbox::record_provisioned(&self.app, &request, mailbox_id).await?;
                Ok(())
            }
            Err(e) => {
                // Shown as FAILED with the reason while the data plane is down; the decider
                // records it once (only from PROVISIONING), and success later clears it.
                app::mailbox::record_provisioning_failed(
                    &self.app,
                    &request,
                    mailbox_id,
                    &e.to_string(),
                )
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
            MailboxEvent::MailboxSuspended {} => {
                self.plane.suspend(mailbox_id).await.map_err(failure)
            }
            MailboxEvent::MailboxResumed {} => {
                self.plane.restore(mailbox_id).await.map_err(failure)
            }
            // The mailbox takes its new member's password (and login); it stays suspended
            // until the MailboxRestored that follows.
            MailboxEvent::MailboxReassigned { member_id, .. } => {
                self.reassigned(mailbox_id, member_id).await
            }
            MailboxEvent::MailboxProvisioned {}
            | MailboxEvent::MailboxProvisioningFailed { .. } => Ok(()),
        }
    }
}
