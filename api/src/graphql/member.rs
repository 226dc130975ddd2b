//! Members in GraphQL: the `Member` type and its list.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, ID};
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::connection::{self, Connection};
use super::context::{pool, require_reader};
use super::departments::DepartmentRow;
use super::enums::{label, parse_id, EmploymentType, MemberStatus, Role};
use super::error::{loader_error, Gql};
use super::loaders::{DepartmentKey, Loaders, MailboxOfMember};
use super::mailbox::MailboxRow;

#[derive(sqlx::FromRow, Clone, Debug)]
// The row mirrors its table; not every column is served.
#[allow(dead_code)]
pub struct MemberRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub account: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub department_id: Option<Uuid>,
    pub role: String,
    pub employment_type: String,
    pub hire_date: Option<NaiveDate>,
    pub status: String,
    pub authorized: bool,
    pub created_at: DateTime<Utc>,
}

#[Object(name = "Member")]
impl MemberRow {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn account(&self) -> &str {
        &self.account
    }
    async fn phone(&self) -> Option<&str> {
        self.phone.as_deref()
    }
    async fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
    async fn status(&self) -> async_graphql::Result<MemberStatus> {
        label(&self.status, domain::member::MemberStatus::from_label)
    }
    async fn authorized(&self) -> bool {
        self.authorized
    }
    async fn role(&self) -> async_graphql::Result<Role> {
        label(&self.role, domain::member::RoleLabel::from_label)
    }
    async fn employment_type(&self) -> async_graphql::Result<EmploymentType> {
        label(
            &self.employment_type,
            domain::member::EmploymentType::from_label,
        )
    }
    async fn hire_date(&self) -> Option<NaiveDate> {
        self.hire_date
    }
    /// None: the organization root.
    async fn department(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DepartmentRow>> {
        require_reader(ctx, self.organization_id).await?;
        let Some(id) = self.department_id else {
            return Ok(None);
        };
        ctx.data::<DataLoader<Loaders>>()?
            .load_one(DepartmentKey(id))
            .await
            .map_err(loader_error)
    }
    /// The member's mailbox (not purged), if any.
    async fn mailbox(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<MailboxRow>> {
        require_reader(ctx, self.organization_id).await?;
        ctx.data::<DataLoader<Loaders>>()?
            .load_one(MailboxOfMember(self.id))
            .await
            .map_err(loader_error)
    }
}

/// The member's row in the read model.
pub async fn member_row(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<MemberRow>> {
    sqlx::query_as("SELECT * FROM members WHERE id = $1")
        .bind(id)
        .fetch_optional(pool(ctx)?)
        .await
        .gql()
}

const DELETED: &str = domain::member::MemberStatus::Deleted.as_str();

/// A page of an organization's members, filtered by department and status (deleted ones
/// only when asked for), in the order they were added.
pub async fn page(
    ctx: &Context<'_>,
    organization_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
    department_id: Option<ID>,
    status: Option<MemberStatus>,
) -> async_graphql::Result<Connection<MemberRow>> {
    let size = connection::page_size(first)?;
    let from = connection::cursor(after.as_deref())?;
    let department = department_id
        .as_ref()
        .map(|d| parse_id("departmentId", d))
        .transpose()?;
    let status = status.map(|s| domain::member::MemberStatus::from(s).as_str());
    const FILTER: &str = "organization_id = $1
           AND ($2::uuid IS NULL OR department_id = $2)
           AND ($3::text IS NULL OR status = $3)
           AND ($3::text IS NOT NULL OR status <> $4)";
    let rows: Vec<MemberRow> = sqlx::query_as(&format!(
        "SELECT * FROM members WHERE {FILTER} AND id > $5 ORDER BY id LIMIT $6"
    ))
    .bind(organization_id)
    .bind(department)
    .bind(status)
    .bind(DELETED)
    .bind(from)
    .bind(size + 1)
    .fetch_all(pool(ctx)?)
    .await
    .gql()?;
    let total: i64 = if connection::wants_total(ctx) {
        sqlx::query_scalar(&format!("SELECT count(*) FROM members WHERE {FILTER}"))
            .bind(organization_id)
            .bind(department)
            .bind(status)
            .bind(DELETED)
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
        |m: &MemberRow| m.id,
    ))
}
