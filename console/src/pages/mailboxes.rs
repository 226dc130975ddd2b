//! Mailboxes and the recycle bin: each mailbox's status (PROVISIONING / ACTIVE / FAILED with
//! its reason), a live count while the data plane creates them, closing into the recycle
//! bin, and there the days left, restoring and purging.

use std::sync::Arc;

use app::AppError;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::org::{back, settle, OrgForm, OrgPage};
use crate::form::one;
use crate::jobs::{self, Job, Kind};
use crate::read::OrganizationRow;
use crate::reply;
use crate::words::Words;
use crate::Console;

const PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "mailboxes.html")]
struct MailboxesPage {
    w: Words,
    tab: &'static str,
    account: String,
    csrf: String,
    organization: OrganizationRow,
    mailboxes: Vec<MailboxRow>,
    progress: Progress,
    next: Option<String>,
    notice: Option<String>,
    now: DateTime<Utc>,
}

#[derive(Template)]
#[template(path = "mailbox_progress.html")]
struct Progress {
    w: Words,
    organization_id: Uuid,
    provisioning: i64,
    active: i64,
    failed: i64,
    /// The latest opening of many mailboxes, while it runs or after it refused some.
    opening: Option<Job>,
    opening_running: bool,
}

impl Progress {
    /// htmx polls while mailboxes are being decided or created.
    fn live(&self) -> bool {
        self.provisioning > 0 || self.opening_running
    }
}

#[derive(sqlx::FromRow)]
struct MailboxRow {
    id: Uuid,
    address: String,
    member: String,
    status: String,
    failure: Option<String>,
    closed_at: Option<DateTime<Utc>>,
    purge_after: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl MailboxRow {
    /// Whole days until the recycle bin empties it (a started day counts).
    fn days_left(&self, now: &DateTime<Utc>) -> i64 {
        self.purge_after
            .map(|p| {
                ((p - *now).num_seconds() + 86_399)
                    .div_euclid(86_400)
                    .max(0)
            })
            .unwrap_or(0)
    }

    fn closed_on(&self) -> String {
        self.closed_at
            .map(|c| c.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    }
}

#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    after: String,
    #[serde(default)]
    notice: String,
}

async fn progress(
    console: &Console,
    w: Words,
    organization_id: Uuid,
) -> Result<Progress, AppError> {
    let (provisioning, active, failed): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'PROVISIONING'), count(*) FILTER (WHERE status = 'ACTIVE'),
                count(*) FILTER (WHERE status = 'FAILED')
         FROM mailboxes WHERE organization_id = $1",
    )
    .bind(organization_id)
    .fetch_one(console.app.pool())
    .await?;
    let now = console.app.now();
    let opening = jobs::recent(console.app.pool(), organization_id, Kind::OpenMailboxes, 1)
        .await?
        .into_iter()
        .next()
        .filter(|j| j.running(now) || j.refused() > 0 || j.interrupted(now));
    Ok(Progress {
        w,
        organization_id,
        provisioning,
        active,
        failed,
        opening_running: opening.as_ref().is_some_and(|j| j.running(now)),
        opening,
    })
}

async fn page(
    console: &Console,
    OrgPage {
        caller,
        organization,
    }: OrgPage,
    query: ListQuery,
    bin: bool,
) -> Result<Response, Response> {
    let fail = |e: AppError| reply::failure(caller.w, &e);
    let after = query.after.split_once('_').and_then(|(t, id)| {
        Some((
            DateTime::from_timestamp_micros(t.parse().ok()?)?,
            id.parse::<Uuid>().ok()?,
        ))
    });
    let statuses: &[&str] = if bin {
        &["CLOSED"]
    } else {
        &["PROVISIONING", "ACTIVE", "SUSPENDED", "FAILED"]
    };
    let mut mailboxes: Vec<MailboxRow> = sqlx::query_as(
        "SELECT b.id, b.address, m.name AS member, b.status, b.failure, b.closed_at, b.purge_after, b.created_at
         FROM mailboxes b JOIN members m ON m.id = b.member_id
         WHERE b.organization_id = $1 AND b.status = ANY($2)
           AND ($3::timestamptz IS NULL OR (b.created_at, b.id) > ($3, $4))
         ORDER BY b.created_at, b.id LIMIT $5",
    )
    .bind(organization.id)
    .bind(statuses)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(PAGE + 1)
    .fetch_all(console.app.pool())
    .await
    .map_err(|e| fail(e.into()))?;
    let next = (mailboxes.len() as i64 > PAGE).then(|| {
        mailboxes.truncate(PAGE as usize);
        mailboxes
            .last()
            .map(|b| format!("{}_{}", b.created_at.timestamp_micros(), b.id))
            .unwrap_or_default()
    });
    let progress = progress(console, caller.w, organization.id)
        .await
        .map_err(fail)?;
    let notice = match query.notice.as_str() {
        "opened" | "closed" | "restored" | "reassigned" | "purged" => {
            Some(caller.w.t(&query.notice).to_owned())
        }
        _ => None,
    };
    Ok(reply::page(&MailboxesPage {
        w: caller.w,
        tab: if bin { "recycle_bin" } else { "mailboxes" },
        csrf: caller.session.csrf(),
        account: caller.session.account.clone(),
        organization,
        mailboxes,
        progress,
        next,
        notice,
        now: console.app.now(),
    }))
}

/// `GET /console/organizations/{id}/mailboxes`.
pub async fn show(
    State(console): State<Arc<Console>>,
    org: OrgPage,
    Query(query): Query<ListQuery>,
) -> Response {
    page(&console, org, query, false)
        .await
        .unwrap_or_else(|r| r)
}

/// `GET /console/organizations/{id}/recycle_bin`.
pub async fn recycle_bin(
    State(console): State<Arc<Console>>,
    org: OrgPage,
    Query(query): Query<ListQuery>,
) -> Response {
    page(&console, org, query, true).await.unwrap_or_else(|r| r)
}

/// `GET /console/organizations/{id}/mailboxes/progress`: the live count alone (htmx polls
/// it while mailboxes are being created, and stops when none are).
pub async fn live_progress(
    State(console): State<Arc<Console>>,
    OrgPage {
        caller,
        organization,
    }: OrgPage,
) -> Response {
    match progress(&console, caller.w, organization.id).await {
        Ok(p) => reply::page(&p),
        Err(e) => reply::failure(caller.w, &e),
    }
}

/// The member of the organization (not deleted) with this account.
async fn member_by_account(
    console: &Console,
    organization_id: Uuid,
    account: &str,
) -> Result<Option<Uuid>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM members WHERE organization_id = $1 AND account = $2 AND status <> 'DELETED'",
    )
    .bind(organization_id)
    .bind(account)
    .fetch_optional(console.app.pool())
    .await?)
}

/// `POST /console/organizations/{id}/mailboxes`: `action` is `close`, `restore`,
/// `reassign` (to the member with `account`), `purge` or `retry` on `mailbox` (an id of
/// this organization; the operation checks it too).
pub async fn act(
    State(console): State<Arc<Console>>,
    OrgForm {
        caller,
        organization,
        fields,
    }: OrgForm,
) -> Response {
    let (app, request) = (&console.app, caller.request());
    let Some(mailbox) = one(&fields, "mailbox").and_then(|m| m.parse::<Uuid>().ok()) else {
        return reply::failure(caller.w, &AppError::invalid("mailbox", "choose a mailbox"));
    };
    let (outcome, page, notice) = match one(&fields, "action") {
        Some("close") => (
            app::mailbox::close(app, &request, mailbox).await,
            "mailboxes",
            "closed",
        ),
        Some("retry") => (
            app::mailbox::retry_provisioning(app, &request, mailbox).await,
            "mailboxes",
            "opened",
        ),
        Some("restore") => (
            app::mailbox::restore(app, &request, mailbox).await,
            "recycle_bin",
            "restored",
        ),
        Some("reassign") => {
            let account = one(&fields, "account").unwrap_or_default().trim();
            let member = match member_by_account(&console, organization.id, account).await {
                Ok(Some(m)) => m,
                Ok(None) => {
                    let refusal = AppError::invalid(
                        "account",
                        "no member of the organization has this account",
                    );
                    return reply::failure(caller.w, &refusal);
                }
                Err(e) => return reply::failure(caller.w, &e),
            };
            (
                app::mailbox::reassign(app, &request, mailbox, member).await,
                "mailboxes",
                "reassigned",
            )
        }
        Some("purge") => (
            app::mailbox::purge(app, &request, mailbox).await,
            "recycle_bin",
            "purged",
        ),
        _ => return reply::failure(caller.w, &AppError::invalid("action", "choose an action")),
    };
    match outcome {
        Ok(done) => {
            settle(&console, done).await;
            back(organization.id, page, None, notice)
        }
        Err(e) => reply::failure(caller.w, &e),
    }
}
