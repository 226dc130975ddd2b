//! Mail domains: the records to publish (with copy buttons), verify now, each record's
//! verdict from the last check (OK / MISSING / MISMATCH / CONFLICT), the next automatic
//! re-check; adding and removing a domain.

use std::sync::Arc;

use app::AppError;
use askama::Template;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::maildomain::{RecordResult, RequiredRecord, VerificationMode};
use uuid::Uuid;

use super::org::{back, posted, settle, status_of, visit};
use crate::form::{fields, one};
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
    notice: String,
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
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(notice): Query<Notice>,
) -> Response {
    match visit(&console, &headers, &id).await {
        Ok((caller, organization)) => {
            let errors = FieldErrors::default();
            let notice = &notice.notice;
            render(
                &console,
                caller,
                organization,
                String::new(),
                errors,
                notice,
                StatusCode::OK,
            )
            .await
        }
        Err(r) => r,
    }
}

/// `POST /console/organizations/{id}/domains`: `action` is `add` (with `name`, `mode`),
/// or `verify` / `remove` (with `domain`, one of this organization's).
pub async fn act(
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
    let (app, request) = (&console.app, caller.request());
    let domain = one(&fields, "domain").and_then(|d| d.parse::<Uuid>().ok());
    let typed = one(&fields, "name").unwrap_or("").trim().to_owned();
    // A domain id of another organization is refused by the operation's own access check.
    let outcome = match (one(&fields, "action"), domain) {
        (Some("add"), _) => {
            let mode = match one(&fields, "mode") {
                Some("OWNERSHIP") => VerificationMode::Ownership,
                _ => VerificationMode::Full,
            };
            app::maildomain::add(app, &request, organization.id, &typed, mode)
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
    match outcome {
        Ok((written, notice)) => {
            settle(
                &console,
                app::Executed {
                    answer: (),
                    written,
                },
            )
            .await;
            back(organization.id, "domains", None, notice)
        }
        Err(e) if e.is_transient() => reply::failure(caller.w, &e),
        Err(e) => {
            let status = status_of(&e);
            let errors = FieldErrors::from_error(caller.w, &e);
            render(&console, caller, organization, typed, errors, "", status).await
        }
    }
}
