//! Organizations in GraphQL: the `Organization` type (its lists delegate to the concept
//! modules) and creating, binding and dissolving.

use async_graphql::{Context, InputObject, Object, ID};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::audit::{self, AuditEntry};
use super::connection::Connection;
use super::context::{once, pool, request, require_reader, services};
use super::departments::{self, DepartmentRow};
use super::enums::{parse_id, MailboxStatus, MemberStatus};
use super::error::{not_found, Gql};
use super::invitations::{self, InvitationRow};
use super::mail_subscription::{subscription_row, Seats, SubscriptionRow};
use super::mailbox::{self, MailboxRow};
use super::maildomain::{self, DomainRow};
use super::member::{self, MemberRow};

#[derive(sqlx::FromRow, Clone, Debug)]
// The row mirrors its table; not every column is served.
#[allow(dead_code)]
pub struct OrganizationRow {
    pub id: Uuid,
    pub name: String,
    pub identifier: String,
    pub creator_account: String,
    pub as_reseller: bool,
    pub subscription_id: Option<Uuid>,
    pub dissolved: bool,
    pub created_at: DateTime<Utc>,
}

/// The organization's row in the read model.
pub async fn organization_row(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Option<OrganizationRow>> {
    sqlx::query_as("SELECT * FROM organizations WHERE id = $1")
        .bind(id)
        .fetch_optional(pool(ctx)?)
        .await
        .gql()
}

async fn answer(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<OrganizationRow> {
    organization_row(ctx, id)
        .await?
        .ok_or_else(|| not_found("organization"))
}

/// An organization using the mail app.
#[Object(name = "Organization")]
impl OrganizationRow {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn identifier(&self) -> &str {
        &self.identifier
    }
    async fn as_reseller(&self) -> bool {
        self.as_reseller
    }
    /// The account holding the creator role (transferable with `transferCreator`).
    async fn creator_account(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        require_reader(ctx, self.id).await?;
        Ok(&self.creator_account)
    }
    /// The accounts that administer the organization, by account.
    async fn admins(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        require_reader(ctx, self.id).await?;
        super::admins::of(ctx, self.id).await
    }
    async fn dissolved(&self) -> bool {
        self.dissolved
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    async fn subscription(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<SubscriptionRow>> {
        require_reader(ctx, self.id).await?;
        let Some(id) = self.subscription_id else {
            return Ok(None);
        };
        subscription_row(ctx, id).await
    }
    async fn seats(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Seats>> {
        require_reader(ctx, self.id).await?;
        let Some(id) = self.subscription_id else {
            return Ok(None);
        };
        Ok(subscription_row(ctx, id).await?.map(|s| s.seat_counts()))
    }
    /// Every department, by name (`departmentsConnection` pages them).
    #[graphql(complexity = "super::connection::WHOLE_LIST * child_complexity")]
    async fn departments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DepartmentRow>> {
        require_reader(ctx, self.id).await?;
        departments::all(ctx, self.id).await
    }
    /// The departments, a page at a time, by id.
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn departments_connection(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<DepartmentRow>> {
        require_reader(ctx, self.id).await?;
        departments::page(ctx, self.id, first, after).await
    }
    /// Members, filtered by department and status, in the order they were added.
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        department_id: Option<ID>,
        status: Option<MemberStatus>,
    ) -> async_graphql::Result<Connection<MemberRow>> {
        require_reader(ctx, self.id).await?;
        member::page(ctx, self.id, first, after, department_id, status).await
    }
    #[graphql(complexity = "super::connection::WHOLE_LIST * child_complexity")]
    async fn domains(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DomainRow>> {
        require_reader(ctx, self.id).await?;
        maildomain::of_organization(ctx, self.id).await
    }
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn mailboxes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<MailboxStatus>,
    ) -> async_graphql::Result<Connection<MailboxRow>> {
        require_reader(ctx, self.id).await?;
        mailbox::page(ctx, self.id, first, after, status).await
    }
    /// Closed mailboxes waiting to be purged, soonest first (`recycleBinConnection` pages
    /// them).
    #[graphql(complexity = "super::connection::WHOLE_LIST * child_complexity")]
    async fn recycle_bin(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<MailboxRow>> {
        require_reader(ctx, self.id).await?;
        mailbox::recycle_bin(ctx, self.id).await
    }
    /// The recycle bin, a page at a time, by id.
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn recycle_bin_connection(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<MailboxRow>> {
        require_reader(ctx, self.id).await?;
        mailbox::page(ctx, self.id, first, after, Some(MailboxStatus::Closed)).await
    }
    /// Every invitation, newest expiry first (`invitationsConnection` pages them).
    #[graphql(complexity = "super::connection::WHOLE_LIST * child_complexity")]
    async fn invitations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<InvitationRow>> {
        require_reader(ctx, self.id).await?;
        invitations::all(ctx, self.id).await
    }
    /// The invitations, a page at a time, by id.
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn invitations_connection(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<InvitationRow>> {
        require_reader(ctx, self.id).await?;
        invitations::page(ctx, self.id, first, after).await
    }
    /// Who did what, newest first.
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<AuditEntry>> {
        require_reader(ctx, self.id).await?;
        audit::page(ctx, self.id, first, after).await
    }
}

#[derive(InputObject, Serialize)]
pub struct CreateOrganizationInput {
    pub name: String,
    pub identifier: String,
    #[graphql(default)]
    pub as_reseller: bool,
    /// The creator's mobile phone: where the SMS code that confirms dissolving goes (an
    /// invited admin's phone comes from the invitation). Kept outside the event log.
    pub creator_phone: Option<String>,
}

/// Where the SMS code that confirms dissolving went.
#[derive(async_graphql::SimpleObject)]
pub struct DissolutionCode {
    /// The phone, masked (`138****8000`).
    pub sent_to: String,
    /// The code is refused from then on.
    pub expires_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct OrganizationMutation;

#[Object]
impl OrganizationMutation {
    /// Account: create an organization (the creator administers it, or, as a reseller,
    /// manages it until the first invited admin accepts).
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<OrganizationRow> {
        let (s, r) = (services(ctx)?, request(ctx)?);
        let new = app::organization::NewOrganization {
            name: input.name.clone(),
            identifier: input.identifier.clone(),
            as_reseller: input.as_reseller,
            creator_phone: input.creator_phone.clone(),
        };
        let id = once(ctx, idempotency_key, "createOrganization", &input, async {
            Ok(s.settle(app::organization::create(&s.app, r, &new).await?)
                .await)
        })
        .await?;
        answer(ctx, id).await
    }

    /// Buyer and organization manager: bind the mail app (subscription) to the organization.
    async fn bind_app(
        &self,
        ctx: &Context<'_>,
        subscription_id: ID,
        organization_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<OrganizationRow> {
        let sub = parse_id("subscriptionId", &subscription_id)?;
        let org = parse_id("organizationId", &organization_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(ctx, idempotency_key, "bindApp", &(sub, org), async {
            s.settle(app::organization::bind_app(&s.app, r, sub, org).await?)
                .await;
            Ok(())
        })
        .await?;
        answer(ctx, org).await
    }

    /// Admin: ask for the one-time code that confirms dissolving, sent by SMS to your own
    /// phone and valid 10 minutes (a new request replaces it). Refused while departments
    /// or members are left.
    async fn request_dissolution_code(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<DissolutionCode> {
        let org = parse_id("organizationId", &organization_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        let sent = once(
            ctx,
            idempotency_key,
            "requestDissolutionCode",
            &org,
            async {
                let done = app::organization::request_dissolution_code(&s.app, r, org).await?;
                Ok(s.settle(done).await)
            },
        )
        .await?;
        Ok(DissolutionCode {
            sent_to: sent.sent_to,
            expires_at: sent.expires_at,
        })
    }

    /// Admin: dissolve an empty organization, typing its identifier and the SMS code
    /// (`requestDissolutionCode`) to confirm. Everyone's personal data is erased, the mail
    /// app unbound (the subscription can be bound to another organization), the mailboxes
    /// purged with their mail and the identifier, addresses and domains freed.
    async fn dissolve_organization(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        confirm_identifier: String,
        code: String,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<OrganizationRow> {
        let org = parse_id("organizationId", &organization_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        // The code is not part of the remembered arguments: it is a secret.
        let arguments = (org, &confirm_identifier);
        once(
            ctx,
            idempotency_key,
            "dissolveOrganization",
            &arguments,
            async {
                let done =
                    app::organization::dissolve(&s.app, r, org, &confirm_identifier, &code).await?;
                s.settle(done).await;
                Ok(())
            },
        )
        .await?;
        answer(ctx, org).await
    }
}
