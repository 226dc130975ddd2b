//! Lists as Relay connections (the cursor connections spec that Relay, Apollo and urql
//! expect): `edges { cursor node }`, `pageInfo { hasNextPage hasPreviousPage startCursor
//! endCursor }`, the `nodes` beside them as GitHub's API has them, and `totalCount`.

use async_graphql::{Context, OutputType, SimpleObject};
use uuid::Uuid;

use super::audit::AuditEntry;
use super::departments::DepartmentRow;
use super::error::validation;
use super::events::EventNode;
use super::invitations::InvitationRow;
use super::mail_subscription::SubscriptionRow;
use super::mailbox::MailboxRow;
use super::member::MemberRow;
use super::migration::{AccountRow as MigrationAccountRow, MigrationRow};
use super::organization::OrganizationRow;
use super::webhooks::WebhookDelivery;

/// A page of a list.
#[derive(SimpleObject)]
#[graphql(concrete(name = "MemberConnection", params(MemberRow)))]
#[graphql(concrete(name = "MailboxConnection", params(MailboxRow)))]
#[graphql(concrete(name = "OrganizationConnection", params(OrganizationRow)))]
#[graphql(concrete(name = "MailSubscriptionConnection", params(SubscriptionRow)))]
#[graphql(concrete(name = "AuditEntryConnection", params(AuditEntry)))]
#[graphql(concrete(name = "EventConnection", params(EventNode)))]
#[graphql(concrete(name = "DepartmentConnection", params(DepartmentRow)))]
#[graphql(concrete(name = "InvitationConnection", params(InvitationRow)))]
#[graphql(concrete(name = "WebhookDeliveryConnection", params(WebhookDelivery)))]
#[graphql(concrete(name = "MigrationConnection", params(MigrationRow)))]
#[graphql(concrete(name = "MigrationAccountConnection", params(MigrationAccountRow)))]
pub struct Connection<T: OutputType + Clone>
where
    Edge<T>: OutputType,
{
    /// The nodes with their cursors.
    pub edges: Vec<Edge<T>>,
    /// The nodes alone, in order.
    pub nodes: Vec<T>,
    pub page_info: PageInfo,
    /// Nodes in the whole list (with the same filters), not only this page.
    pub total_count: i32,
}

/// A node and the cursor to continue after it.
#[derive(SimpleObject)]
#[graphql(concrete(name = "MemberEdge", params(MemberRow)))]
#[graphql(concrete(name = "MailboxEdge", params(MailboxRow)))]
#[graphql(concrete(name = "OrganizationEdge", params(OrganizationRow)))]
#[graphql(concrete(name = "MailSubscriptionEdge", params(SubscriptionRow)))]
#[graphql(concrete(name = "AuditEntryEdge", params(AuditEntry)))]
#[graphql(concrete(name = "EventEdge", params(EventNode)))]
#[graphql(concrete(name = "DepartmentEdge", params(DepartmentRow)))]
#[graphql(concrete(name = "InvitationEdge", params(InvitationRow)))]
#[graphql(concrete(name = "WebhookDeliveryEdge", params(WebhookDelivery)))]
#[graphql(concrete(name = "MigrationEdge", params(MigrationRow)))]
#[graphql(concrete(name = "MigrationAccountEdge", params(MigrationAccountRow)))]
pub struct Edge<T: OutputType + Clone> {
    pub cursor: String,
    pub node: T,
}

/// Where a page sits in its list.
#[derive(SimpleObject, Clone)]
pub struct PageInfo {
    pub has_next_page: bool,
    /// Whether nodes come before this page (true when it was asked for `after` a cursor).
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// Page size: `first`, 1–100, default 50.
pub fn page_size(first: Option<i32>) -> async_graphql::Result<i64> {
    match first {
        None => Ok(50),
        Some(n) if (1..=100).contains(&n) => Ok(i64::from(n)),
        Some(_) => Err(validation("first", "must be 1 to 100")),
    }
}

/// What a page costs in the complexity limit: each of its rows costs what one row's fields
/// cost, so `first: 100` of a nested list counts 100 times, not once.
pub fn list_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let rows = first.unwrap_or(50).clamp(1, 1000) as usize;
    rows.saturating_mul(child_complexity).saturating_add(1)
}

/// Rows assumed of a list that is answered whole (departments, domains, the recycle bin).
pub const WHOLE_LIST: usize = 100;

/// Rows assumed of a short list only operators read (webhook endpoints).
pub const FEW: usize = 10;

/// Cursors of id-ordered lists are the rows' ids (UUIDv7: time-ordered).
pub fn cursor(after: Option<&str>) -> async_graphql::Result<Uuid> {
    match after {
        None => Ok(Uuid::nil()),
        Some(c) => c
            .parse()
            .map_err(|_| validation("after", "is not a cursor of this list")),
    }
}

/// Whether the client asked for `totalCount` (so the count query runs only then).
pub fn wants_total(ctx: &Context<'_>) -> bool {
    ctx.look_ahead().field("totalCount").exists()
}

/// A page from rows fetched one beyond its size.
pub struct Paged<T> {
    pub rows: Vec<T>,
    pub size: i64,
    /// The page was asked for after a cursor.
    pub after: bool,
    pub total: i64,
}

impl<T: OutputType + Clone> Paged<T>
where
    Edge<T>: OutputType,
{
    /// The connection, each row's cursor from `cursor`.
    pub fn connection(mut self, cursor: impl Fn(&T) -> String) -> Connection<T> {
        let has_next_page = self.rows.len() as i64 > self.size;
        self.rows.truncate(usize::try_from(self.size).unwrap_or(0));
        let edges: Vec<Edge<T>> = self
            .rows
            .iter()
            .map(|r| Edge {
                cursor: cursor(r),
                node: r.clone(),
            })
            .collect();
        Connection {
            page_info: PageInfo {
                has_next_page,
                has_previous_page: self.after,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            nodes: self.rows,
            total_count: i32::try_from(self.total).unwrap_or(i32::MAX),
        }
    }
}

/// The connection of an id-ordered page.
pub fn by_id<T: OutputType + Clone>(
    rows: Vec<T>,
    size: i64,
    after: Option<&str>,
    total: i64,
    id: impl Fn(&T) -> Uuid,
) -> Connection<T>
where
    Edge<T>: OutputType,
{
    Paged {
        rows,
        size,
        after: after.is_some(),
        total,
    }
    .connection(|r| id(r).to_string())
}

/// Counts rows with `sql` (one bound uuid) when the client asked for `totalCount`.
pub async fn total(ctx: &Context<'_>, sql: &str, key: Uuid) -> async_graphql::Result<i64> {
    if !wants_total(ctx) {
        return Ok(0);
    }
    use super::error::Gql;
    sqlx::query_scalar(sql)
        .bind(key)
        .fetch_one(super::context::pool(ctx)?)
        .await
        .gql()
}

/// A page of one organization's rows of a read model (`table`), by id, with their total.
pub async fn of_organization<T>(
    ctx: &Context<'_>,
    table: &'static str,
    organization_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
    id: impl Fn(&T) -> Uuid,
) -> async_graphql::Result<Connection<T>>
where
    T: OutputType + Clone + Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    Edge<T>: OutputType,
{
    use super::error::Gql;
    let size = page_size(first)?;
    let from = cursor(after.as_deref())?;
    let rows = sqlx::query_as(&format!(
        "SELECT * FROM {table} WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(organization_id)
    .bind(from)
    .bind(size + 1)
    .fetch_all(super::context::pool(ctx)?)
    .await
    .gql()?;
    let count = format!("SELECT count(*) FROM {table} WHERE organization_id = $1");
    let total = total(ctx, &count, organization_id).await?;
    Ok(by_id(rows, size, after.as_deref(), total, id))
}
