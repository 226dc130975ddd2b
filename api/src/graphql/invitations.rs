//! Admin invitations in GraphQL: the `Invitation` type, its lists and inviting, accepting
//! and revoking.

use async_graphql::{ComplexObject, Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::connection::{self, Connection};
use super::context::{once, pool, request, services};
use super::enums::{count_arg, label, parse_id, InvitationStatus};
use super::error::{not_found, Gql};
use super::organization::{organization_row, OrganizationRow};

#[derive(sqlx::FromRow, Clone, Debug, SimpleObject)]
#[graphql(name = "Invitation", complex)]
// The row mirrors its table; not every column is served.
#[allow(dead_code)]
pub struct InvitationRow {
    #[graphql(skip)]
    pub id: Uuid,
    #[graphql(skip)]
    pub organization_id: Uuid,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub expires_at: DateTime<Utc>,
    #[graphql(skip)]
    pub status: String,
    pub accepted_by: Option<String>,
}

#[ComplexObject]
impl InvitationRow {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn status(&self) -> async_graphql::Result<InvitationStatus> {
        label(
            &self.status,
            domain::organization::InvitationStatus::from_label,
        )
    }
}

/// Every invitation of an organization, newest expiry first.
pub async fn all(
    ctx: &Context<'_>,
    organization_id: Uuid,
) -> async_graphql::Result<Vec<InvitationRow>> {
    sqlx::query_as(
        "SELECT * FROM invitations WHERE organization_id = $1 ORDER BY expires_at DESC, id",
    )
    .bind(organization_id)
    .fetch_all(pool(ctx)?)
    .await
    .gql()
}

/// A page of an organization's invitations, by id.
pub async fn page(
    ctx: &Context<'_>,
    organization_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Connection<InvitationRow>> {
    connection::of_organization(
        ctx,
        "invitations",
        organization_id,
        first,
        after,
        |i: &InvitationRow| i.id,
    )
    .await
}

async fn answer(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<InvitationRow> {
    sqlx::query_as("SELECT * FROM invitations WHERE id = $1")
        .bind(id)
        .fetch_optional(pool(ctx)?)
        .await
        .gql()?
        .ok_or_else(|| not_found("invitation"))
}

#[derive(InputObject, Serialize)]
pub struct InviteAdminInput {
    pub organization_id: ID,
    pub name: String,
    pub phone: String,
    pub email: String,
    /// Hours the invitation stays valid: 1 to 168 (a week).
    pub valid_hours: i32,
}

#[derive(Default)]
pub struct InvitationMutation;

#[Object]
impl InvitationMutation {
    /// Manager: invite an admin; the one-time token goes to the invitee by SMS/e-mail.
    async fn invite_admin(
        &self,
        ctx: &Context<'_>,
        input: InviteAdminInput,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<InvitationRow> {
        let org = parse_id("organizationId", &input.organization_id)?;
        let invitee = app::organization::Invitee {
            name: input.name.clone(),
            phone: input.phone.clone(),
            email: input.email.clone(),
            valid_hours: count_arg("validHours", input.valid_hours)?,
        };
        let (s, r) = (services(ctx)?, request(ctx)?);
        let id = once(ctx, idempotency_key, "inviteAdmin", &input, async {
            let done = app::organization::invite_admin(&s.app, r, org, &invitee).await?;
            Ok(s.settle(done).await)
        })
        .await?;
        answer(ctx, id).await
    }

    /// Account: accept an admin invitation with the token from its link.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        invitation_id: ID,
        token: String,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<OrganizationRow> {
        let id = parse_id("invitationId", &invitation_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        // The token itself stays out of the idempotency record; its hash counts.
        let arguments = (id, domain::organization::token_hash(&token));
        let org = once(
            ctx,
            idempotency_key,
            "acceptInvitation",
            &arguments,
            async {
                let done = app::organization::accept_invitation(&s.app, r, id, &token).await?;
                Ok(s.settle(done).await)
            },
        )
        .await?;
        organization_row(ctx, org)
            .await?
            .ok_or_else(|| not_found("organization"))
    }

    /// Manager: revoke a pending invitation; its link stops working.
    async fn revoke_invitation(
        &self,
        ctx: &Context<'_>,
        invitation_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<InvitationRow> {
        let id = parse_id("invitationId", &invitation_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(ctx, idempotency_key, "revokeInvitation", &id, async {
            s.settle(app::organization::revoke_invitation(&s.app, r, id).await?)
                .await;
            Ok(())
        })
        .await?;
        answer(ctx, id).await
    }
}
