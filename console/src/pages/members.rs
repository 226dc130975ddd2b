//! An organization's departments tree beside its members table: search, filters, paging,
//! "select all N matching", bulk authorize / disable / enable; adding departments and
//! members with each refusal shown beside its field.

use std::sync::Arc;

use app::member::NewMember;
use app::{AppError, Executed};
use askama::Template;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::read::{self, DepartmentRow, MemberFilter, MemberRow, OrganizationRow};
use crate::reply::{self, Caller, FieldErrors};
use crate::words::Words;
use crate::Console;

/// Most members one bulk action touches ("select all N matching" included).
const MAX_BULK: i64 = domain::member::MAX_BATCH_IDS as i64;
const PAGE_SIZES: [i64; 3] = [20, 50, 100];

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    w: Words,
    account: String,
    csrf: String,
    organization: OrganizationRow,
    seats: Option<(i32, i32)>,
    tree: Vec<TreeLine>,
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
}

impl ListQuery {
    fn filter(&self) -> MemberFilter {
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
                parts.push(format!("{k}={}", encode(v)));
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

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The add-member form as typed (kept when a refusal shows it again).
#[derive(Debug, Clone, Default)]
struct MemberForm {
    name: String,
    account: String,
    phone: String,
    email: String,
    department: String,
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

/// The organization, after checking the caller manages it (the same rule as GraphQL:
/// another organization's id answers FORBIDDEN, an unknown one too).
async fn managed(
    console: &Console,
    caller: &Caller,
    id: &str,
) -> Result<OrganizationRow, Response> {
    let Ok(id) = id.parse::<Uuid>() else {
        return Err(reply::failure(
            caller.w,
            &AppError::not_found("organization"),
        ));
    };
    let request = caller.request();
    app::access::require_reader(console.app.pool(), &request, id)
        .await
        .map_err(|e| reply::failure(caller.w, &e))?;
    match read::organization(console.app.pool(), id).await {
        Ok(Some(o)) => Ok(o),
        Ok(None) => Err(reply::failure(
            caller.w,
            &AppError::not_found("organization"),
        )),
        Err(e) => Err(reply::failure(caller.w, &AppError::Database(e))),
    }
}

struct Extra {
    form: MemberForm,
    errors: FieldErrors,
    department_errors: FieldErrors,
    status: StatusCode,
}

async fn render(
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
        let seats = match organization.subscription_id {
            Some(s) => read::seats(pool, s).await?,
            None => None,
        };
        Ok::<_, sqlx::Error>((departments, members, matching, seats))
    }
    .await;
    let (departments, mut members, matching, seats) = match loaded {
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
        "done" => Some(caller.w.t("done").to_owned()),
        _ => None,
    };
    let mut r = reply::page(&MembersPage {
        w: caller.w,
        csrf: caller.session.csrf(),
        account: caller.session.account.clone(),
        tree: tree(&departments),
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

/// `GET /console/organizations/{id}`.
pub async fn show(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Response {
    let caller = match reply::caller(&console, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let organization = match managed(&console, &caller, &id).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let extra = Extra {
        form: MemberForm::default(),
        errors: FieldErrors::default(),
        department_errors: FieldErrors::default(),
        status: StatusCode::OK,
    };
    render(&console, caller, organization, query, extra).await
}

/// A posted form's fields (repeated names, like `member`, are all kept).
fn fields(raw: &[u8]) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{}", String::from_utf8_lossy(raw))
            .parse()
            .unwrap_or_default(),
    )
    .map(|q| q.0)
    .unwrap_or_default()
}

fn one<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Signs the caller in, finds the organization they manage, checks the form's CSRF token.
async fn posted(
    console: &Console,
    headers: &HeaderMap,
    id: &str,
    fields: &[(String, String)],
) -> Result<(Caller, OrganizationRow), Response> {
    let caller = reply::caller(console, headers).await?;
    caller.check_csrf(one(fields, "csrf"))?;
    let organization = managed(console, &caller, id).await?;
    Ok((caller, organization))
}

fn back(organization: Uuid, here: Option<&str>, notice: &str) -> Response {
    let here = here
        .filter(|h| !h.contains(['\r', '\n', '#']))
        .unwrap_or("");
    reply::see_other(&format!(
        "/console/organizations/{organization}?{here}&notice={notice}"
    ))
}

/// `POST /console/organizations/{id}/departments`.
pub async fn create_department(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawForm(raw): RawForm,
) -> Response {
    let fields = fields(&raw);
    let (caller, organization) = match posted(&console, &headers, &id, &fields).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let name = one(&fields, "name").unwrap_or("");
    let parent = one(&fields, "parent").and_then(|p| p.parse().ok());
    match app::organization::create_department(
        &console.app,
        &caller.request(),
        organization.id,
        name,
        parent,
    )
    .await
    {
        Ok(done) => {
            settle(&console, done).await;
            back(organization.id, one(&fields, "here"), "department")
        }
        Err(e) => {
            let extra = Extra {
                form: MemberForm::default(),
                errors: FieldErrors::default(),
                department_errors: FieldErrors::from_error(caller.w, &e),
                status: status_of(&e),
            };
            render(&console, caller, organization, ListQuery::default(), extra).await
        }
    }
}

fn status_of(e: &AppError) -> StatusCode {
    StatusCode::from_u16(e.code().http_status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
}

async fn settle<T>(console: &Console, done: Executed<T>) -> T {
    console.runner.settle(&done.written).await;
    done.answer
}

/// `POST /console/organizations/{id}/members`: adds one member; a refusal shows the form
/// again with the sentence beside its field, the password never echoed.
pub async fn add_member(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawForm(raw): RawForm,
) -> Response {
    let fields = fields(&raw);
    let (caller, organization) = match posted(&console, &headers, &id, &fields).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let text = |name: &str| one(&fields, name).unwrap_or("").trim().to_owned();
    let optional = |name: &str| Some(text(name)).filter(|t| !t.is_empty());
    let form = MemberForm {
        name: text("name"),
        account: text("account"),
        phone: text("phone"),
        email: text("email"),
        department: text("department"),
    };
    let new = NewMember {
        name: form.name.clone(),
        account: form.account.clone(),
        phone: optional("phone"),
        email: optional("email"),
        password: one(&fields, "password").unwrap_or("").to_owned(),
        department_id: form.department.parse().ok(),
        role: None,
        employment_type: None,
        hire_date: None,
    };
    match app::member::add(&console.app, &caller.request(), organization.id, &new).await {
        Ok(done) => {
            settle(&console, done).await;
            back(organization.id, one(&fields, "here"), "member")
        }
        Err(e) => {
            let extra = Extra {
                errors: FieldErrors::from_error(caller.w, &e),
                form,
                department_errors: FieldErrors::default(),
                status: status_of(&e),
            };
            render(&console, caller, organization, ListQuery::default(), extra).await
        }
    }
}

/// `POST /console/organizations/{id}/members/bulk`: authorize, disable or enable the
/// selected members, or every member the filters match (at most 1,000).
pub async fn bulk(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawForm(raw): RawForm,
) -> Response {
    let fields = fields(&raw);
    let (caller, organization) = match posted(&console, &headers, &id, &fields).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let here = one(&fields, "here").unwrap_or("");
    let mut ids: Vec<Uuid> = fields
        .iter()
        .filter(|(k, _)| k == "member")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    if one(&fields, "all_matching") == Some("yes") {
        let query: ListQuery =
            Query::try_from_uri(&format!("/?{here}").parse().unwrap_or_default())
                .map(|q| q.0)
                .unwrap_or_default();
        match read::matching_members(
            console.app.pool(),
            organization.id,
            &query.filter(),
            MAX_BULK,
        )
        .await
        {
            Ok((_, all)) => ids = all,
            Err(e) => return reply::failure(caller.w, &AppError::Database(e)),
        }
    }
    if ids.is_empty() {
        return reply::refusal(
            caller.w,
            StatusCode::UNPROCESSABLE_ENTITY,
            app::ErrorCode::Validation,
            caller.w.t("nothing_selected"),
        );
    }
    let request = caller.request();
    let app = &console.app;
    let mut written = Vec::new();
    let outcome: Result<(), AppError> = async {
        match one(&fields, "action") {
            Some("authorize") => {
                written.extend(
                    app::member::authorize(app, &request, organization.id, &ids, &[])
                        .await?
                        .written,
                );
            }
            Some(action @ ("disable" | "enable")) => {
                for id in &ids {
                    let done = if action == "disable" {
                        app::member::disable(app, &request, *id).await
                    } else {
                        app::member::enable(app, &request, *id).await
                    };
                    written.extend(done?.written);
                }
            }
            _ => {
                return Err(AppError::invalid(
                    "action",
                    "choose authorize, disable or enable",
                ))
            }
        }
        Ok(())
    }
    .await;
    console.runner.settle(&written).await;
    match outcome {
        Ok(()) => back(organization.id, Some(here), "done"),
        Err(e) => reply::failure(caller.w, &e),
    }
}
