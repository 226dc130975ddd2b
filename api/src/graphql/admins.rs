//! An organization's admins in GraphQL: who they are, an admin leaving, the creator role
//! changing hands.

use async_graphql::{Context, Object, ID};

use super::context::{once, pool, request, services};
use super::enums::parse_id;
use super::error::{not_found, Gql};
use super::organization::{organization_row, OrganizationRow};

/// The accounts that administer an organization, by account.
pub async fn of(
    ctx: &Context<'_>,
    organization_id: uuid::Uuid,
) -> async_graphql::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT account FROM organization_admins WHERE organization_id = $1 ORDER BY account LIMIT 1000",
    )
    .bind(organization_id)
    .fetch_all(pool(ctx)?)
    .await
    .gql()
}

#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Admin: remove an admin of the organization (never the last one, never the creator:
    /// transfer the creator role first). An admin may remove themselves while another
    /// remains; the removed account manages nothing from then on.
    async fn remove_admin(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        account: String,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<OrganizationRow> {
        let org = parse_id("organizationId", &organization_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(
            ctx,
            idempotency_key,
            "removeAdmin",
            &(org, &account),
            async {
                let done = app::organization::remove_admin(&s.app, r, org, &account).await?;
                s.settle(done).await;
                Ok(())
            },
        )
        .await?;
        organization_row(ctx, org)
            .await?
            .ok_or_else(|| not_found("organization"))
    }

    /// Creator: make another admin the organization's creator; the previous creator stays
    /// an admin.
    async fn transfer_creator(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        account: String,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<OrganizationRow> {
        let org = parse_id("organizationId", &organization_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(
            ctx,
            idempotency_key,
            "transferCreator",
            &(org, &account),
            async {
                let done = app::organization::transfer_creator(&s.app, r, org, &account).await?;
                s.settle(done).await;
                Ok(())
            },
        )
        .await?;
        organization_row(ctx, org)
            .await?
            .ok_or_else(|| not_found("organization"))
    }
}
