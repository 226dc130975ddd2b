//! Mail domains: the records to publish (with copy buttons), verify now, each record's
//! verdict from the last check (OK / MISSING / MISMATCH / CONFLICT), the next automatic
//! re-check; adding and removing a domain.

use std::sync::Arc;

use app::AppError;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::maildomain::{RecordResult, RequiredRecord, VerificationMode};
use uuid::Uuid;

use super::org::{back, status_of, OrgForm, OrgPage};
use crate::read::OrganizationRow;
use crate::reply::{self, Caller, FieldErrors};
use crate::words::Words;
use crate::Console;

#[derive(Template)]
#[template(path = "domains.html")]
struct DomainsPage {
    w: Words,
    tab: &'static str,
    account: String,
    csrf: String,
    organization: OrganizationRow,
    domains: Vec<DomainView>,
    typed: String,
    errors: FieldErrors,
    notice: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DomainRow {
    id: Uuid,
    display_name: String,
    mode: String,
    status: String,
    records: serde_json::Value,
    results: serde_json::Value,
    next_check: Option<DateTime<Utc>>,
}

/// A domain as the page shows it.
struct DomainView {
    id: Uuid,
    name: String,
    mode: String,
    status: String,
    records: Vec<RecordView>,
    next_check: Option<String>,
}

/// A record to publish and the last check's verdict on it.
struct RecordView {
    kind: String,
    host: String,
    value: String,
    priority: String,
    verdict: Option<String>,
    found: String,
}

impl From<DomainRow> for DomainView {
    fn from(row: DomainRow) -> Self {
        let records: Vec<RequiredRecord> = serde_json::from_value(row.records).unwrap_or_default();
        let results: Vec<RecordResult> = serde_json::from_value(row.results).unwrap_or_default();
        let records = records
            .into_iter()
            .map(|r| {
                let result = results.iter().find(|x| x.record == r);
                RecordView {
                    kind: label(&r.record_type),
                    host: r.host.clone(),
                    value: r.value.clone(),
                    priority: r.priority.map(|p| p.to_string()).unwrap_or_default(),
                    verdict: result.map(|x| label(&x.status)),
                    found: result.map(|x| x.found.join(", ")).unwrap_or_default(),
                }
            })
            .collect();
        DomainView {
            id: row.id,
            name: row.display_name,
            mode: row.mode,
            status: row.status,
            records,
            next_check: row
                .next_check
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
        }
    }
}

/// An enum value as its JSON name (`MX`, `MISSING`): the words the page shows.
fn label(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[derive(serde::Deserialize, Default)]
pub struct Notice {
    #[serde(default)]
    pub notice: String,
}

async fn render(
    console: &Console,
    caller: Caller,
    organization: OrganizationRow,
    typed: String,
    errors: FieldErrors,
    notice: &str,
    status: StatusCode,
) -> Response {
    let rows: Vec<DomainRow> = match sqlx::query_as(
        "SELECT d.id, d.display_name, d.mode, d.status, d.records, d.results,
                (SELECT t.due_at FROM timers t WHERE t.kind = 'dns_recheck' AND t.subject = d.id
                   AND (t.not_after IS NULL OR t.due_at <= t.not_after)) AS next_check
         FROM mail_domains d WHERE d.organization_id = $1 AND NOT d.removed ORDER BY d.name",
    )
    .bind(organization.id)
    .fetch_all(console.app.pool())
    .await
    {
        Ok(r) => r,
        Err(e) => return reply::failure(caller.w, &AppError::Database(e)),
    };
    let notice = match notice {
        "added" | "checked" | "removed" => Some(caller.w.t(notice).to_owned()),
        _ => None,
    };
    let mut r = reply::page(&DomainsPage {
        w: caller.w,
        tab: "domains",
        csrf: caller.session.csrf(),
        account: caller.session.account.clone(),
        organization,
        domains: rows.into_iter().map(DomainView::from).collect(),
        typed,
        errors,
        notice,
    });
    *r.status_mut() = status;
    r
}

/// `GET /console/organizations/{id}/domains`.
pub async fn show(
    State(console): State<Arc<Console>>,
    OrgPage {
        caller,
        organization,
    }: OrgPage,
    Query(notice): Query<Notice>,
) -> Response {
    let errors = FieldErrors::default();
    let (typed, notice) = (String::new(), &notice.notice);
    render(
        &console,
        caller,
        organization,
        typed,
        errors,
        notice,
        StatusCode::OK,
    )
    .await
}

/// `POST /console/organizations/{id}/domains`: `action` is `add` (with `name`, `mode`),
/// or `verify` / `remove` (with `domain`, one of this organization's).
pub async fn act(State(console): State<Arc<Console>>, form: OrgForm) -> Response {
    let (app, request) = (&console.app, form.caller.request());
    let domain = form.one("domain").and_then(|d| d.parse::<Uuid>().ok());
    let typed = form.text("name");
    // A domain id of another organization is refused by the operation's own access check.
    let outcome = match (form.one("action"), domain) {
        (Some("add"), _) => {
            let mode = match form.one("mode") {
                Some("OWNERSHIP") => VerificationMode::Ownership,
                _ => VerificationMode::Full,
            };
            app::maildomain::add(app, &request, form.organization.id, &typed, mode)
                .await
                .map(|d| (d.written, "added"))
        }
        (Some("verify"), Some(d)) => app::maildomain::verify(app, &request, d)
            .await
            .map(|d| (d.written, "checked")),
        (Some("remove"), Some(d)) => app::maildomain::remove(app, &request, d)
            .await
            .map(|d| (d.written, "removed")),
        _ => Err(AppError::invalid("domain", "choose a domain and an action")),
    };
    let (w, organization_id) = (form.caller.w, form.organization.id);
    match outcome {
        Ok((written, notice)) => {
            console.runner.settle(&written).await;
            back(organization_id, "domains", None, notice)
        }
        Err(e) if e.is_transient() => reply::failure(w, &e),
        Err(e) => {
            let (status, errors) = (status_of(&e), FieldErrors::from_error(w, &e));
            let (caller, organization) = (form.caller, form.organization);
            render(&console, caller, organization, typed, errors, "", status).await
        }
    }
}
