//! Mailboxes in GraphQL: the `Mailbox` type, its lists (the recycle bin among them) and
//! opening, closing, restoring, purging and retrying.

use std::future::Future;

use async_graphql::{Context, Object, ID};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::connection::{self, Connection};
use super::context::{once, pool, request, require_reader, services};
use super::enums::{label, parse_id, MailboxStatus};
use super::error::{not_found, Gql};
use super::member::{member_row, MemberRow};

#[derive(sqlx::FromRow, Clone, Debug)]
// The row mirrors its table; not every column is served.
#[allow(dead_code)]
pub struct MailboxRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub member_id: Uuid,
    pub domain_id: Uuid,
    pub address: String,
    pub status: String,
    pub failure: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub purge_after: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[Object(name = "Mailbox")]
impl MailboxRow {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn address(&self) -> &str {
        &self.address
    }
    async fn status(&self) -> async_graphql::Result<MailboxStatus> {
        label(&self.status, domain::mailbox::MailboxStatus::from_label)
    }
    /// Why provisioning failed, when it did.
    async fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.closed_at
    }
    async fn purge_after(&self) -> Option<DateTime<Utc>> {
        self.purge_after
    }
    async fn member(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<MemberRow>> {
        require_reader(ctx, self.organization_id).await?;
        member_row(ctx, self.member_id).await
    }
}

pub async fn mailbox_row(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<MailboxRow>> {
    sqlx::query_as("SELECT * FROM mailboxes WHERE id = $1")
        .bind(id)
        .fetch_optional(pool(ctx)?)
        .await
        .gql()
}

/// A page of an organization's mailboxes (of one status when given), by id.
pub async fn page(
    ctx: &Context<'_>,
    organization_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
    status: Option<MailboxStatus>,
) -> async_graphql::Result<Connection<MailboxRow>> {
    let size = connection::page_size(first)?;
    let from = connection::cursor(after.as_deref())?;
    let status = status.map(|s| domain::mailbox::MailboxStatus::from(s).as_str());
    let rows: Vec<MailboxRow> = sqlx::query_as(
        "SELECT * FROM mailboxes WHERE organization_id = $1 AND id > $2
           AND ($3::text IS NULL OR status = $3)
         ORDER BY id LIMIT $4",
    )
    .bind(organization_id)
    .bind(from)
    .bind(status)
    .bind(size + 1)
    .fetch_all(pool(ctx)?)
    .await
    .gql()?;
    let total: i64 = if connection::wants_total(ctx) {
        sqlx::query_scalar(
            "SELECT count(*) FROM mailboxes WHERE organization_id = $1
               AND ($2::text IS NULL OR status = $2)",
        )
        .bind(organization_id)
        .bind(status)
        .fetch_one(pool(ctx)?)
        .await
        .gql()?
    } else {
        0
    };
    Ok(connection::by_id(
        rows,
        size,
        after.as_deref(),
        total,
        |m: &MailboxRow| m.id,
    ))
}

/// The organization's recycle bin, soonest purge first.
pub async fn recycle_bin(
    ctx: &Context<'_>,
    organization_id: Uuid,
) -> async_graphql::Result<Vec<MailboxRow>> {
    sqlx::query_as(
        "SELECT * FROM mailboxes WHERE organization_id = $1 AND status = $2 ORDER BY purge_after, id",
    )
    .bind(organization_id)
    .bind(domain::mailbox::MailboxStatus::Closed.as_str())
    .fetch_all(pool(ctx)?)
    .await
    .gql()
}

async fn answer(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<MailboxRow> {
    mailbox_row(ctx, id)
        .await?
        .ok_or_else(|| not_found("mailbox"))
}

/// One mailbox operation, once per idempotency key; answers the mailbox.
async fn on_mailbox<F, Fut>(
    ctx: &Context<'_>,
    mailbox_id: &ID,
    idempotency_key: Option<String>,
    operation: &str,
    run: F,
) -> async_graphql::Result<MailboxRow>
where
    F: FnOnce(Uuid) -> Fut,
    Fut: Future<Output = Result<app::Executed<domain::mailbox::MailboxState>, app::AppError>>,
{
    let id = parse_id("mailboxId", mailbox_id)?;
    let s = services(ctx)?;
    once(ctx, idempotency_key, operation, &id, async {
        s.settle(run(id).await?).await;
        Ok(())
    })
    .await?;
    answer(ctx, id).await
}

#[derive(Default)]
pub struct MailboxMutation;

#[Object]
impl MailboxMutation {
    /// Manager: open a mailbox for an authorized member on a verified domain. Without a
    /// local part, the pinyin of the member's name (a taken one gets 1, 2, 3…).
    async fn open_mailbox(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        domain_id: ID,
        local_part: Option<String>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MailboxRow> {
        let member = parse_id("memberId", &member_id)?;
        let domain = parse_id("domainId", &domain_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        let arguments = (member, domain, &local_part);
        let id = once(ctx, idempotency_key, "openMailbox", &arguments, async {
            let done = app::mailbox::open(&s.app, r, member, domain, local_part.clone()).await?;
            Ok(s.settle(done).await)
        })
        .await?;
        answer(ctx, id).await
    }

    /// Manager: open mailboxes with default addresses; each member decided on its own
    /// (failures are left out of the answer).
    async fn open_mailboxes(
        &self,
        ctx: &Context<'_>,
        member_ids: Vec<ID>,
        domain_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Vec<MailboxRow>> {
        let domain = parse_id("domainId", &domain_id)?;
        let members = member_ids
            .iter()
            .map(|m| parse_id("memberIds", m))
            .collect::<async_graphql::Result<Vec<_>>>()?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        let arguments = (domain, &members);
        let ids: Vec<Uuid> = once(ctx, idempotency_key, "openMailboxes", &arguments, async {
            let done = app::mailbox::open_many(&s.app, r, &members, domain).await?;
            Ok(s.settle(done).await)
        })
        .await?;
        let mut opened = Vec::with_capacity(ids.len());
        for id in ids {
            opened.push(answer(ctx, id).await?);
        }
        Ok(opened)
    }

    /// Manager: close a mailbox into the recycle bin (purged after 30 days).
    async fn close_mailbox(
        &self,
        ctx: &Context<'_>,
        mailbox_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MailboxRow> {
        let (a, r) = (&services(ctx)?.app, request(ctx)?);
        on_mailbox(ctx, &mailbox_id, idempotency_key, "closeMailbox", |id| {
            app::mailbox::close(a, r, id)
        })
        .await
    }

    /// Manager: restore a mailbox from the recycle bin (its member must be authorized).
    async fn restore_mailbox(
        &self,
        ctx: &Context<'_>,
        mailbox_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MailboxRow> {
        let (a, r) = (&services(ctx)?.app, request(ctx)?);
        on_mailbox(ctx, &mailbox_id, idempotency_key, "restoreMailbox", |id| {
            app::mailbox::restore(a, r, id)
        })
        .await
    }

    /// Manager: give a mailbox in the recycle bin (a deleted member's, say) to another
    /// active, authorized member of the organization who holds no mailbox, and restore it;
    /// the old mail stays and the new member logs in with their own password.
    async fn reassign_mailbox(
        &self,
        ctx: &Context<'_>,
        mailbox_id: ID,
        member_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MailboxRow> {
        let id = parse_id("mailboxId", &mailbox_id)?;
        let member = parse_id("memberId", &member_id)?;
        let s = services(ctx)?;
        let r = request(ctx)?;
        once(
            ctx,
            idempotency_key,
            "reassignMailbox",
            &(id, member),
            async {
                let done = app::mailbox::reassign(&s.app, r, id, member).await?;
                s.settle(done).await;
                Ok(())
            },
        )
        .await?;
        answer(ctx, id).await
    }

    /// Manager: empty a mailbox from the recycle bin now; its address becomes free.
    async fn purge_mailbox(
        &self,
        ctx: &Context<'_>,
        mailbox_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MailboxRow> {
        let (a, r) = (&services(ctx)?.app, request(ctx)?);
        on_mailbox(ctx, &mailbox_id, idempotency_key, "purgeMailbox", |id| {
            app::mailbox::purge(a, r, id)
        })
        .await
    }

    /// Manager: have the data plane try a FAILED mailbox again.
    async fn retry_mailbox_provisioning(
        &self,
        ctx: &Context<'_>,
        mailbox_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MailboxRow> {
        let (a, r) = (&services(ctx)?.app, request(ctx)?);
        on_mailbox(
            ctx,
            &mailbox_id,
            idempotency_key,
            "retryMailboxProvisioning",
            |id| app::mailbox::retry_provisioning(a, r, id),
        )
        .await
    }
}
