//! Process managers: what an event in one stream asks of other streams (rules in
//! `domain::policy`). A deleted or revoked member's mailbox is closed, a replaced domain's
//! mailboxes are renamed, an ended subscription's mailboxes are closed (and given back when
//! it is renewed in time); a domain verified by one organization ends every other claim to
//! its name, and a dissolved organization's mailboxes are purged and its domains release
//! their names.

use app::{read, App, Request};
use domain::maildomain::{ClaimEnd, MailDomainEvent};
use domain::member::MemberEvent;
use domain::organization::OrganizationEvent;
use domain::policy;
use domain::subscription::SubscriptionEvent;
use eventstore::{RecordedEvent, SubscriptionFilter};
use projections::{Projection, Runner};
use uuid::Uuid;

use crate::consumer::{Failure, Handler};

/// Reacts to member, mail domain and subscription events.
pub struct ProcessManager {
    app: App,
    runner: Runner,
}

/// Which mailboxes an event concerns.
#[derive(Clone, Copy)]
enum Affected {
    OpenOfMember,
    OnDomain,
    OpenOfSubscription,
}

impl ProcessManager {
    /// A manager running operations of `app`, finding mailboxes in `runner`'s read models.
    pub fn new(app: App, runner: Runner) -> Self {
        ProcessManager { app, runner }
    }

    /// The mailboxes concerned, once the read models have folded everything up to the
    /// event being handled: that event is visible, so a (gap-safe) catch-up passes it.
    async fn mailboxes(&self, affected: Affected, key: Uuid) -> Result<Vec<Uuid>, Failure> {
        self.caught_up().await?;
        let pool = self.app.pool();
        let found = match affected {
            Affected::OpenOfMember => read::open_mailboxes_of_member(pool, key).await,
            Affected::OnDomain => read::mailbox_ids_on_domain(pool, key).await,
            Affected::OpenOfSubscription => read::open_mailboxes_of_subscription(pool, key).await,
        };
        found.map_err(|e| app::AppError::from(e).into())
    }

    async fn caught_up(&self) -> Result<(), Failure> {
        for p in [Projection::Organizations, Projection::Mailboxes] {
            self.runner
                .catch_up(p)
                .await
                .map_err(|e| Failure::Transient(e.to_string()))?;
        }
        Ok(())
    }

    /// Ends the claims of `domains` for `reason`, once the domain read model is current.
    async fn end_claims(
        &self,
        request: &Request,
        reason: ClaimEnd,
        domains: impl std::future::Future<Output = Result<Vec<Uuid>, sqlx::Error>>,
    ) -> Result<(), Failure> {
        for domain_id in domains.await.map_err(app::AppError::from)? {
            app::maildomain::end_claim(&self.app, request, domain_id, reason).await?;
        }
        Ok(())
    }

    async fn domains_caught_up(&self) -> Result<(), Failure> {
        self.runner
            .catch_up(Projection::MailDomains)
            .await
            .map(|_| ())
            .map_err(|e| Failure::Transient(e.to_string()))
    }

    /// A renewal gives back the mailboxes the expiry closed, to members still allowed mail.
    async fn restore_after_renewal(
        &self,
        request: &Request,
        subscription_id: Uuid,
    ) -> Result<(), Failure> {
        self.caught_up().await?;
        let closed = read::closed_mailboxes_of_subscription(self.app.pool(), subscription_id)
            .await
            .map_err(app::AppError::from)?;
        for id in closed {
            app::mailbox::restore_after_renewal(&self.app, request, id).await?;
        }
        Ok(())
    }
}

impl Handler for ProcessManager {
    fn name(&self) -> &'static str {
        "worker:process-manager"
    }

    fn filter(&self) -> SubscriptionFilter {
        SubscriptionFilter::categories(["member", "maildomain", "subscription", "organization"])
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), Failure> {
        let bad = |e: eventstore::Error| Failure::Permanent(e.to_string());
        let id = crate::stream_id(event)?;
        let request = Request::worker("process-manager", event);
        let (command, affected) = match event.category() {
            "member" => (
                policy::mailbox_command_for_member_event(
                    &eventstore::decode_serde::<MemberEvent>(event).map_err(bad)?,
                ),
                Affected::OpenOfMember,
            ),
            "maildomain" => {
                let e = eventstore::decode_serde::<MailDomainEvent>(event).map_err(bad)?;
                if let MailDomainEvent::DomainVerified { name, .. } = &e {
                    self.domains_caught_up().await?;
                    let others = read::other_claims_to_domain(self.app.pool(), name, id);
                    return self
                        .end_claims(&request, ClaimEnd::VerifiedElsewhere, others)
                        .await;
                }
                (
                    policy::mailbox_command_for_domain_event(&e),
                    Affected::OnDomain,
                )
            }
            "organization" => {
                let e = eventstore::decode_serde::<OrganizationEvent>(event).map_err(bad)?;
                if !matches!(e, OrganizationEvent::OrganizationDissolved { .. }) {
                    return Ok(());
                }
                // Its mailboxes go at once, mail and all, so their addresses are free; then
                // its domains' names.
                self.caught_up().await?;
                let mailboxes = read::mailboxes_kept_of_organization(self.app.pool(), id)
                    .await
                    .map_err(app::AppError::from)?;
                for mailbox in mailboxes {
                    app::mailbox::purge_for_dissolution(&self.app, &request, mailbox).await?;
                }
                self.domains_caught_up().await?;
                let domains = read::domain_ids_of_organization(self.app.pool(), id);
                return self
                    .end_claims(&request, ClaimEnd::OrganizationDissolved, domains)
                    .await;
            }
            "subscription" => {
                let e = eventstore::decode_serde::<SubscriptionEvent>(event).map_err(bad)?;
                if policy::reopens_mailboxes(&e) {
                    return self.restore_after_renewal(&request, id).await;
                }
                (
                    policy::mailbox_command_for_subscription_event(&e),
                    Affected::OpenOfSubscription,
                )
            }
            _ => return Ok(()),
        };
        let Some(command) = command else {
            return Ok(());
        };
        for mailbox in self.mailboxes(affected, id).await? {
            app::mailbox::follow_policy(&self.app, &request, mailbox, command.clone()).await?;
        }
        Ok(())
    }
}
