//! GraphQL object types over the read-model rows.

use async_graphql::dataloader::DataLoader;
use async_graphql::{ComplexObject, Context, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::access::services;
use super::error::Gql;
use super::loaders::{DepartmentKey, Loaders, MailboxOfMember};

/// Parses an `ID` argument; a malformed id is a VALIDATION error on that field.
pub fn parse_id(field: &'static str, id: &ID) -> async_graphql::Result<Uuid> {
    id.parse::<Uuid>()
        .map_err(|_| super::error::validation(field, "is not a valid id"))
}

macro_rules! string_enum {
    ($name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        #[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
        pub enum $name { $($variant),+ }
        impl $name {
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
    };
}

string_enum!(SubscriptionStatus { Trial = "TRIAL", Active = "ACTIVE", Expired = "EXPIRED", Unsubscribed = "UNSUBSCRIBED" });
string_enum!(MemberStatus { Active = "ACTIVE", Disabled = "DISABLED", Deleted = "DELETED" });
string_enum!(DomainStatus { Pending = "PENDING", Verified = "VERIFIED", Failed = "FAILED" });
string_enum!(MailboxStatus { Provisioning = "PROVISIONING", Active = "ACTIVE", Failed = "FAILED", Closed = "CLOSED", Purged = "PURGED" });
string_enum!(VerificationMode { Full = "FULL", Ownership = "OWNERSHIP" });
string_enum!(InvitationStatus { Pending = "PENDING", Accepted = "ACCEPTED", Revoked = "REVOKED", Expired = "EXPIRED" });
string_enum!(Role { Member = "MEMBER", Admin = "ADMIN" });
string_enum!(EmploymentType { FullTime = "FULL_TIME", Intern = "INTERN", Dispatched = "DISPATCHED", Outsourced = "OUTSOURCED" });

fn status<T>(text: &str, parse: fn(&str) -> Option<T>) -> async_graphql::Result<T> {
    parse(text)
        .ok_or_else(|| super::error::internal(format!("unknown status {text:?} in a read model")))
}

#[derive(sqlx::FromRow, Clone, Debug)]
pub struct SubscriptionRow {
    pub id: Uuid,
    pub order_id: String,
    pub buyer_account_id: String,
    pub edition: String,
    pub seats: i32,
    pub authorized: i32,
    pub status: String,
    pub trial_ends_at: Option<DateTime<Utc>>,
    pub activated_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub paid: i64,
    pub currency: String,
    pub organization_id: Option<Uuid>,
}

/// Seats of a subscription.
#[derive(SimpleObject, Clone, Copy)]
pub struct Seats {
    pub purchased: i32,
    pub authorized: i32,
    pub available: i32,
}

/// A purchase or trial of the mail app.
#[Object(name = "MailSubscription")]
impl SubscriptionRow {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn order_id(&self) -> &str {
        &self.order_id
    }
    async fn buyer_account_id(&self) -> &str {
        &self.buyer_account_id
    }
    async fn edition(&self) -> &str {
        &self.edition
    }
    /// Seats purchased.
    async fn seats(&self) -> i32 {
        self.seats
    }
    async fn seat_usage(&self) -> Seats {
        Seats {
            purchased: self.seats,
            authorized: self.authorized,
            available: (self.seats - self.authorized).max(0),
        }
    }
    async fn status(&self) -> async_graphql::Result<SubscriptionStatus> {
        status(&self.status, SubscriptionStatus::parse)
    }
    async fn trial_ends_at(&self) -> Option<DateTime<Utc>> {
        self.trial_ends_at
    }
    async fn activated_at(&self) -> Option<DateTime<Utc>> {
        self.activated_at
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }
    /// Everything charged so far, in minor units of `currency`.
    async fn paid(&self) -> String {
        self.paid.to_string()
    }
    async fn currency(&self) -> &str {
        &self.currency
    }
    async fn organization(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<OrganizationRow>> {
        let Some(id) = self.organization_id else {
            return Ok(None);
        };
        organization_row(ctx, id).await
    }
}

pub async fn subscription_row(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Option<SubscriptionRow>> {
    sqlx::query_as("SELECT * FROM subscriptions WHERE id = $1")
        .bind(id)
        .fetch_optional(&services(ctx)?.pool)
        .await
        .gql()
}

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

pub async fn organization_row(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Option<OrganizationRow>> {
    sqlx::query_as("SELECT * FROM organizations WHERE id = $1")
        .bind(id)
        .fetch_optional(&services(ctx)?.pool)
        .await
        .gql()
}

/// A page of a list: its nodes in order and where to continue (`pageInfo.endCursor`).
#[derive(SimpleObject)]
#[graphql(concrete(name = "MemberConnection", params(MemberRow)))]
#[graphql(concrete(name = "MailboxConnection", params(MailboxRow)))]
#[graphql(concrete(name = "OrganizationConnection", params(OrganizationRow)))]
#[graphql(concrete(name = "MailSubscriptionConnection", params(SubscriptionRow)))]
#[graphql(concrete(name = "AuditEntryConnection", params(AuditEntry)))]
#[graphql(concrete(name = "EventConnection", params(EventNode)))]
pub struct Page<T: async_graphql::OutputType + Clone> {
    pub nodes: Vec<T>,
    pub page_info: PageInfo,
}

/// An event of the log, as the billing system and operators read it.
#[derive(SimpleObject, Clone)]
#[graphql(name = "Event")]
pub struct EventNode {
    /// The event's id, the same in every channel (a webhook's `webhook-id`).
    pub id: async_graphql::ID,
    /// Opaque cursor: pass it as `after` to continue.
    pub position: String,
    pub stream: String,
    #[graphql(name = "type")]
    pub event_type: String,
    pub data: async_graphql::Json<serde_json::Value>,
    pub metadata: async_graphql::Json<serde_json::Value>,
    pub recorded_at: DateTime<Utc>,
}

impl From<crate::feed::FeedEvent> for EventNode {
    fn from(e: crate::feed::FeedEvent) -> Self {
        EventNode {
            id: async_graphql::ID(e.id.to_string()),
            position: e.position,
            stream: e.stream,
            event_type: e.event_type,
            data: async_graphql::Json(e.data),
            metadata: async_graphql::Json(e.metadata),
            recorded_at: e.recorded_at,
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

/// Page size: `first`, 1–100, default 50.
pub fn page_size(first: Option<i32>) -> async_graphql::Result<i64> {
    match first {
        None => Ok(50),
        Some(n) if (1..=100).contains(&n) => Ok(i64::from(n)),
        Some(_) => Err(super::error::validation("first", "must be 1 to 100")),
    }
}

/// Cursors are the ids of rows (UUIDv7: time-ordered).
pub fn cursor(after: Option<&str>) -> async_graphql::Result<Uuid> {
    match after {
        None => Ok(Uuid::nil()),
        Some(c) => c
            .parse()
            .map_err(|_| super::error::validation("after", "is not a cursor of this list")),
    }
}

pub fn page<T: async_graphql::OutputType + Clone>(
    rows: Vec<T>,
    size: i64,
    id: impl Fn(&T) -> Uuid,
) -> Page<T> {
    page_with(rows, size, |r| id(r).to_string())
}

/// A page from rows fetched one beyond its size, with the cursor of its last row.
pub fn page_with<T: async_graphql::OutputType + Clone>(
    mut rows: Vec<T>,
    size: i64,
    cursor: impl Fn(&T) -> String,
) -> Page<T> {
    let has_next_page = rows.len() as i64 > size;
    rows.truncate(size as usize);
    let end_cursor = rows.last().map(cursor);
    Page {
        nodes: rows,
        page_info: PageInfo {
            has_next_page,
            end_cursor,
        },
    }
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
        let Some(id) = self.subscription_id else {
            return Ok(None);
        };
        subscription_row(ctx, id).await
    }
    async fn seats(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Seats>> {
        let Some(id) = self.subscription_id else {
            return Ok(None);
        };
        Ok(subscription_row(ctx, id).await?.map(|s| Seats {
            purchased: s.seats,
            authorized: s.authorized,
            available: (s.seats - s.authorized).max(0),
        }))
    }
    async fn departments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DepartmentRow>> {
        sqlx::query_as("SELECT * FROM departments WHERE organization_id = $1 ORDER BY name, id")
            .bind(self.id)
            .fetch_all(&services(ctx)?.pool)
            .await
            .gql()
    }
    /// Members, filtered by department and status, in the order they were added.
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        department_id: Option<ID>,
        status: Option<MemberStatus>,
    ) -> async_graphql::Result<Page<MemberRow>> {
        let size = page_size(first)?;
        let after = cursor(after.as_deref())?;
        let department = department_id
            .as_ref()
            .map(|d| parse_id("departmentId", d))
            .transpose()?;
        let rows: Vec<MemberRow> = sqlx::query_as(
            "SELECT * FROM members WHERE organization_id = $1 AND id > $2
               AND ($3::uuid IS NULL OR department_id = $3)
               AND ($4::text IS NULL OR status = $4)
               AND ($4::text IS NOT NULL OR status <> 'DELETED')
             ORDER BY id LIMIT $5",
        )
        .bind(self.id)
        .bind(after)
        .bind(department)
        .bind(status.map(MemberStatus::as_str))
        .bind(size + 1)
        .fetch_all(&services(ctx)?.pool)
        .await
        .gql()?;
        Ok(page(rows, size, |m| m.id))
    }
    async fn domains(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DomainRow>> {
        sqlx::query_as(
            "SELECT * FROM mail_domains WHERE organization_id = $1 AND NOT removed ORDER BY name",
        )
        .bind(self.id)
        .fetch_all(&services(ctx)?.pool)
        .await
        .gql()
    }
    async fn mailboxes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<MailboxStatus>,
    ) -> async_graphql::Result<Page<MailboxRow>> {
        let size = page_size(first)?;
        let after = cursor(after.as_deref())?;
        let rows: Vec<MailboxRow> = sqlx::query_as(
            "SELECT * FROM mailboxes WHERE organization_id = $1 AND id > $2
               AND ($3::text IS NULL OR status = $3)
             ORDER BY id LIMIT $4",
        )
        .bind(self.id)
        .bind(after)
        .bind(status.map(MailboxStatus::as_str))
        .bind(size + 1)
        .fetch_all(&services(ctx)?.pool)
        .await
        .gql()?;
        Ok(page(rows, size, |m| m.id))
    }
    /// Closed mailboxes waiting to be purged.
    async fn recycle_bin(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<MailboxRow>> {
        sqlx::query_as("SELECT * FROM mailboxes WHERE organization_id = $1 AND status = 'CLOSED' ORDER BY purge_after, id")
            .bind(self.id)
            .fetch_all(&services(ctx)?.pool)
            .await
            .gql()
    }
    async fn invitations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<InvitationRow>> {
        sqlx::query_as(
            "SELECT * FROM invitations WHERE organization_id = $1 ORDER BY expires_at DESC, id",
        )
        .bind(self.id)
        .fetch_all(&services(ctx)?.pool)
        .await
        .gql()
    }
    /// Who did what, newest first.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<AuditEntry>> {
        let size = page_size(first)?;
        let (tx, seq) = match after.as_deref() {
            None => (i64::MAX, i64::MAX),
            Some(c) => {
                let p: eventstore::Position = c.parse().map_err(|_| {
                    super::error::validation("after", "is not a cursor of this list")
                })?;
                (p.tx_id, p.seq)
            }
        };
        let rows: Vec<AuditEntry> = sqlx::query_as(
            "SELECT tx_id, seq, stream_name, event_type, actor, correlation_id, recorded_at FROM audit_log
             WHERE organization_id = $1 AND (tx_id, seq) < ($2, $3)
             ORDER BY tx_id DESC, seq DESC LIMIT $4",
        )
        .bind(self.id)
        .bind(tx)
        .bind(seq)
        .bind(size + 1)
        .fetch_all(&services(ctx)?.pool)
        .await
        .gql()?;
        Ok(page_with(rows, size, |r| {
            eventstore::Position {
                tx_id: r.tx_id,
                seq: r.seq,
            }
            .to_string()
        }))
    }
}

#[derive(sqlx::FromRow, Clone, Debug)]
// The row mirrors its table; not every column is served.
#[allow(dead_code)]
pub struct DepartmentRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub parent_id: Option<Uuid>,
    pub authorized: bool,
}

#[Object(name = "Department")]
impl DepartmentRow {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn parent_id(&self) -> Option<ID> {
        self.parent_id.map(|p| ID(p.to_string()))
    }
    /// Its members count as authorized for the mail app.
    async fn authorized(&self) -> bool {
        self.authorized
    }
}

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
        status(&self.status, MemberStatus::parse)
    }
    async fn authorized(&self) -> bool {
        self.authorized
    }
    async fn role(&self) -> async_graphql::Result<Role> {
        status(&self.role, Role::parse)
    }
    async fn employment_type(&self) -> async_graphql::Result<EmploymentType> {
        status(&self.employment_type, EmploymentType::parse)
    }
    async fn hire_date(&self) -> Option<NaiveDate> {
        self.hire_date
    }
    /// None: the organization root.
    async fn department(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DepartmentRow>> {
        let Some(id) = self.department_id else {
            return Ok(None);
        };
        ctx.data::<DataLoader<Loaders>>()?
            .load_one(DepartmentKey(id))
            .await
            .map_err(super::error::internal)
    }
    /// The member's mailbox (not purged), if any.
    async fn mailbox(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<MailboxRow>> {
        ctx.data::<DataLoader<Loaders>>()?
            .load_one(MailboxOfMember(self.id))
            .await
            .map_err(super::error::internal)
    }
}

pub async fn member_row(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<MemberRow>> {
    sqlx::query_as("SELECT * FROM members WHERE id = $1")
        .bind(id)
        .fetch_optional(&services(ctx)?.pool)
        .await
        .gql()
}

#[derive(sqlx::FromRow, Clone, Debug)]
// The row mirrors its table; not every column is served.
#[allow(dead_code)]
pub struct DomainRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub display_name: String,
    pub mode: String,
    pub status: String,
    pub records: serde_json::Value,
    pub results: serde_json::Value,
    pub removed: bool,
}

/// A DNS record to publish, with the last check's verdict.
#[derive(SimpleObject, Clone)]
pub struct DnsRecord {
    #[graphql(name = "type")]
    pub record_type: String,
    pub host: String,
    pub value: String,
    pub priority: Option<i32>,
    /// OK, MISSING, MISMATCH, CONFLICT; None before the first check.
    pub status: Option<String>,
    pub found: Vec<String>,
}

#[Object(name = "MailDomain")]
impl DomainRow {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// ASCII (punycode) form.
    async fn name(&self) -> &str {
        &self.name
    }
    /// Unicode form, for display.
    async fn display_name(&self) -> &str {
        &self.display_name
    }
    async fn status(&self) -> async_graphql::Result<DomainStatus> {
        status(&self.status, DomainStatus::parse)
    }
    async fn mode(&self) -> async_graphql::Result<VerificationMode> {
        status(&self.mode, VerificationMode::parse)
    }
    async fn records(&self) -> Vec<DnsRecord> {
        let results = self.results.as_array().cloned().unwrap_or_default();
        self.records
            .as_array()
            .map(|records| {
                records
                    .iter()
                    .map(|r| {
                        let text = |k: &str| {
                            r.get(k)
                                .and_then(|v| v.as_str())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        let result = results.iter().find(|x| {
                            x.get("type") == r.get("type")
                                && x.get("host") == r.get("host")
                                && x.get("value") == r.get("value")
                        });
                        DnsRecord {
                            record_type: text("type"),
                            host: text("host"),
                            value: text("value"),
                            priority: r.get("priority").and_then(|p| p.as_i64()).map(|p| p as i32),
                            status: result
                                .and_then(|x| x.get("status"))
                                .and_then(|s| s.as_str())
                                .map(str::to_owned),
                            found: result
                                .and_then(|x| x.get("found"))
                                .and_then(|f| f.as_array())
                                .map(|f| {
                                    f.iter()
                                        .filter_map(|v| v.as_str().map(str::to_owned))
                                        .collect()
                                })
                                .unwrap_or_default(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

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
        status(&self.status, MailboxStatus::parse)
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
        member_row(ctx, self.member_id).await
    }
}

pub async fn mailbox_row(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<MailboxRow>> {
    sqlx::query_as("SELECT * FROM mailboxes WHERE id = $1")
        .bind(id)
        .fetch_optional(&services(ctx)?.pool)
        .await
        .gql()
}

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
        status(&self.status, InvitationStatus::parse)
    }
}

#[derive(sqlx::FromRow, Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct AuditEntry {
    #[graphql(skip)]
    pub tx_id: i64,
    #[graphql(skip)]
    pub seq: i64,
    pub stream_name: String,
    pub event_type: String,
    pub actor: Option<String>,
    pub correlation_id: Option<Uuid>,
    pub recorded_at: DateTime<Utc>,
}

#[ComplexObject]
impl AuditEntry {
    /// The event's position in the log.
    async fn position(&self) -> String {
        eventstore::Position {
            tx_id: self.tx_id,
            seq: self.seq,
        }
        .to_string()
    }
}

/// Who is calling.
#[derive(SimpleObject)]
pub struct Viewer {
    pub id: String,
    pub kind: String,
    pub scope: Option<String>,
}
