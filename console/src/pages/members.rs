//! An organization's departments tree beside its members table: search, filters, paging,
//! "select all N matching", bulk authorize / disable / enable; adding departments and
//! members with each refusal shown beside its field.

use std::sync::Arc;

use app::AppError;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::org::OrgPage;
use crate::read::{self, DepartmentRow, MemberFilter, MemberRow, OrganizationRow};
use crate::reply::{self, Caller, FieldErrors};
use crate::words::Words;
use crate::Console;

/// Most members one command of a bulk action touches.
pub(super) const MAX_BULK: i64 = domain::member::MAX_BATCH_IDS as i64;
/// Most members "select all N matching" acts on, a batch of `MAX_BULK` at a time; more
/// is refused whole with the count, never cut short in silence.
pub(super) const MAX_ALL_MATCHING: i64 = 20_000;
const PAGE_SIZES: [i64; 3] = [20, 50, 100];

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    w: Words,
    tab: &'static str,
    account: String,
    csrf: String,
    organization: OrganizationRow,
    seats: Option<(i32, i32)>,
    tree: Vec<TreeLine>,
    /// Verified domains, for opening mailboxes.
    domains: Vec<(Uuid, String)>,
    members: Vec<MemberRow>,
    matching: i64,
    query: ListQuery,
    next: Option<String>,
    /// The query string of this view, kept by bulk actions and paging.
    here: String,
    form: MemberForm,
    errors: FieldErrors,
    department_errors: FieldErrors,
    notice: Option<String>,
}

/// A department in the tree, indented by depth.
struct TreeLine {
    id: Uuid,
    name: String,
    depth: usize,
}

/// The table's filters and paging, as they come in the query string.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    authorized: String,
    #[serde(default)]
    size: Option<i64>,
    #[serde(default)]
    after: String,
    #[serde(default)]
    notice: String,
    /// After a bulk action: how many were done and refused, and the first refusal's code.
    #[serde(default)]
    ok: usize,
    #[serde(default)]
    refused: usize,
    #[serde(default)]
    reason: String,
}

impl ListQuery {
    pub(super) fn filter(&self) -> MemberFilter {
        MemberFilter {
            text: Some(self.q.trim().to_owned()).filter(|t| !t.is_empty()),
            status: ["ACTIVE", "DISABLED"]
                .contains(&self.status.as_str())
                .then(|| self.status.clone()),
            department_id: self.department.parse().ok(),
            authorized: match self.authorized.as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            },
        }
    }

    fn size(&self) -> i64 {
        self.size.filter(|s| PAGE_SIZES.contains(s)).unwrap_or(20)
    }

    fn after(&self) -> Option<(DateTime<Utc>, Uuid)> {
        let (at, id) = self.after.split_once('_')?;
        let at = DateTime::from_timestamp_micros(at.parse().ok()?)?;
        Some((at, id.parse().ok()?))
    }

    /// The query string of the same filters (no cursor, no notice).
    fn query_string(&self) -> String {
        let mut parts = vec![];
        for (k, v) in [
            ("q", self.q.as_str()),
            ("status", &self.status),
            ("department", &self.department),
            ("authorized", &self.authorized),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", crate::form::encode(v)));
            }
        }
        parts.push(format!("size={}", self.size()));
        parts.join("&")
    }

    /// Template helpers: whether an option is the chosen one.
    pub fn is(&self, field: &str, value: &str) -> bool {
        match field {
            "status" => self.status == value,
            "department" => self.department == value,
            "authorized" => self.authorized == value,
            "size" => self.size().to_string() == value,
            _ => false,
        }
    }
}

/// The add-member form as typed (kept when a refusal shows it again).
#[derive(Debug, Clone, Default)]
pub(super) struct MemberForm {
    pub(super) name: String,
    pub(super) account: String,
    pub(super) phone: String,
    pub(super) email: String,
    pub(super) department: String,
}

impl MemberForm {
    /// The text inputs as (name, type, value kept); the password is never echoed.
    fn inputs(&self) -> Vec<(&'static str, &'static str, &str)> {
        vec![
            ("name", "text", self.name.as_str()),
            ("account", "text", self.account.as_str()),
            ("phone", "tel", self.phone.as_str()),
            ("email", "email", self.email.as_str()),
            ("password", "password", ""),
        ]
    }
}

fn tree(departments: &[DepartmentRow]) -> Vec<TreeLine> {
    fn walk(all: &[DepartmentRow], parent: Option<Uuid>, depth: usize, out: &mut Vec<TreeLine>) {
        // Depth is bounded by the rules; the guard keeps a corrupt read model from looping.
        if depth > 32 {
            return;
        }
        for d in all.iter().filter(|d| d.parent_id == parent) {
            out.push(TreeLine {
                id: d.id,
                name: d.name.clone(),
                depth,
            });
            walk(all, Some(d.id), depth + 1, out);
        }
    }
    let mut out = Vec::new();
    walk(departments, None, 0, &mut out);
    out
}

pub(super) struct Extra {
    pub(super) form: MemberForm,
    pub(super) errors: FieldErrors,
    pub(super) department_errors: FieldErrors,
    pub(super) status: StatusCode,
}

pub(super) async fn render(
    console: &Console,
    caller: Caller,
    organization: OrganizationRow,
    query: ListQuery,
    extra: Extra,
) -> Response {
    let pool = console.app.pool();
    let filter = query.filter();
    let loaded = async {
        let departments = read::departments(pool, organization.id).await?;
        let members = read::members(
            pool,
            organization.id,
            &filter,
            query.after(),
            query.size() + 1,
        )
        .await?;
        let (matching, _) = read::matching_members(pool, organization.id, &filter, 0).await?;
        let domains = read::verified_domains(pool, organization.id).await?;
        let seats = match organization.subscription_id {
            Some(s) => read::seats(pool, s).await?,
            None => None,
        };
        Ok::<_, sqlx::Error>((departments, members, matching, seats, domains))
    }
    .await;
    let (departments, mut members, matching, seats, domains) = match loaded {
        Ok(l) => l,
        Err(e) => return reply::failure(caller.w, &AppError::Database(e)),
    };
    let next = if members.len() as i64 > query.size() {
        members.truncate(query.size() as usize);
        members
            .last()
            .map(|m| format!("{}_{}", m.created_at.timestamp_micros(), m.id))
    } else {
        None
    };
    let notice = match query.notice.as_str() {
        "member" => Some(caller.w.t("saved_member").to_owned()),
        "department" => Some(caller.w.t("saved_department").to_owned()),
        "done" if query.refused > 0 => Some(bulk_summary(caller.w, &query)),
        "done" => Some(caller.w.t("done").to_owned()),
        _ => None,
    };
    let mut r = reply::page(&MembersPage {
        w: caller.w,
        tab: "members",
        csrf: caller.session.csrf(),
        account: caller.session.account.clone(),
        tree: tree(&departments),
        domains,
        members,
        matching,
        here: query.query_string(),
        next,
        query,
        seats,
        organization,
        form: extra.form,
        errors: extra.errors,
        department_errors: extra.department_errors,
        notice,
    });
    *r.status_mut() = extra.status;
    r
}

/// "3 done, 2 refused: <the first refusal's sentence>".
fn bulk_summary(w: Words, query: &ListQuery) -> String {
    let reason = app::ErrorCode::ALL
        .iter()
        .find(|c| c.as_str() == query.reason)
        .map(|c| w.error(*c, ""))
        .unwrap_or_default();
    format!(
        "{} {}, {} {}: {reason}",
        query.ok,
        w.t("done_count"),
        query.refused,
        w.t("refused_count")
    )
}

/// `GET /console/organizations/{id}`.
pub async fn show(
    State(console): State<Arc<Console>>,
    OrgPage {
        caller,
        organization,
    }: OrgPage,
    Query(query): Query<ListQuery>,
) -> Response {
    let extra = Extra {
        form: MemberForm::default(),
        errors: FieldErrors::default(),
        department_errors: FieldErrors::default(),
        status: StatusCode::OK,
    };
    render(&console, caller, organization, query, extra).await
}
