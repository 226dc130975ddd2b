//! Mail migration (邮箱搬家): the organization's tasks and a new one; a task's page with
//! the connection check, the accounts file, start / retry / re-run / cancel, and the
//! accounts' rows, polled live while the task runs; its results file.

use std::sync::Arc;

use app::AppError;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use domain::migration::{MailProtocol, MailSource};
use uuid::Uuid;

use super::domains::Notice;
use super::org::{back, status_of, OrgForm, OrgPage};
use crate::read::OrganizationRow;
use crate::reply::{self, FieldErrors};
use crate::words::Words;
use crate::Console;

/// A task as the pages show it.
#[derive(sqlx::FromRow)]
struct TaskRow {
    id: Uuid,
    host: String,
    port: i32,
    protocol: String,
    tls: bool,
    status: String,
    reachable: Option<bool>,
    connection_error: Option<String>,
    run: i32,
    expires_at: chrono::DateTime<chrono::Utc>,
    accounts: i64,
    succeeded: i64,
    failed: i64,
    copied: i64,
    total: i64,
}

/// One account's row.
#[derive(sqlx::FromRow)]
struct AccountRow {
    line: i32,
    old_account: String,
    address: String,
    status: String,
    attempts: i32,
    failure: Option<String>,
    failure_reason: Option<String>,
    messages_total: i64,
    copied: i64,
    bytes: i64,
}

#[derive(Template)]
#[template(path = "migrations.html")]
struct ListPage {
    w: Words,
    tab: &'static str,
    account: String,
    csrf: String,
    organization: OrganizationRow,
    tasks: Vec<TaskRow>,
    errors: FieldErrors,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "migration.html")]
struct TaskPage {
    w: Words,
    tab: &'static str,
    account: String,
    csrf: String,
    organization: OrganizationRow,
    task: TaskRow,
    accounts: Vec<AccountRow>,
    refused: Vec<app::migration::RowRefusal>,
    errors: FieldErrors,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "migration_rows.html")]
struct Rows {
    w: Words,
    organization: OrganizationRow,
    task: TaskRow,
    accounts: Vec<AccountRow>,
}

const TASKS: &str = "SELECT m.id, m.host, m.port, m.protocol, m.tls, m.status, m.reachable, m.connection_error,
        m.run, m.expires_at,
        (SELECT count(*) FROM migration_accounts a WHERE a.migration_id = m.id) AS accounts,
        (SELECT count(*) FROM migration_accounts a WHERE a.migration_id = m.id AND a.status = 'SUCCEEDED') AS succeeded,
        (SELECT count(*) FROM migration_accounts a WHERE a.migration_id = m.id AND a.status = 'FAILED') AS failed,
        COALESCE((SELECT sum(p.copied) FROM migration_progress p JOIN migration_accounts a ON a.id = p.account_id
                  WHERE a.migration_id = m.id), 0)::bigint AS copied,
        COALESCE((SELECT sum(a.messages_total) FROM migration_accounts a WHERE a.migration_id = m.id), 0)::bigint AS total
     FROM migrations m WHERE m.organization_id = $1";

async fn tasks(console: &Console, organization: Uuid) -> Result<Vec<TaskRow>, AppError> {
    Ok(
        sqlx::query_as(&format!("{TASKS} ORDER BY m.created_at DESC"))
            .bind(organization)
            .fetch_all(console.app.pool())
            .await?,
    )
}

/// The task, when it belongs to the organization (another's answers None, like a missing one).
async fn task(
    console: &Console,
    organization: Uuid,
    id: Uuid,
) -> Result<Option<(TaskRow, Vec<AccountRow>)>, AppError> {
    let row: Option<TaskRow> = sqlx::query_as(&format!("{TASKS} AND m.id = $2"))
        .bind(organization)
        .bind(id)
        .fetch_optional(console.app.pool())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let accounts = sqlx::query_as(
        "SELECT a.line, a.old_account, a.address, a.status, a.attempts, a.failure, a.failure_reason,
                a.messages_total, COALESCE(sum(p.copied), 0)::bigint AS copied,
                COALESCE(sum(p.bytes), 0)::bigint AS bytes
         FROM migration_accounts a LEFT JOIN migration_progress p ON p.account_id = a.id
         WHERE a.migration_id = $1 GROUP BY a.id ORDER BY a.line LIMIT 1000",
    )
    .bind(id)
    .fetch_all(console.app.pool())
    .await?;
    Ok(Some((row, accounts)))
}

fn notice_of(w: Words, notice: &str) -> Option<String> {
    match notice {
        "migration_created"
        | "migration_checked"
        | "accounts_added"
        | "migration_started"
        | "migration_retried"
        | "migration_rerun"
        | "migration_cancelled" => Some(w.t(notice).to_owned()),
        _ => None,
    }
}

/// `GET /console/organizations/{id}/migrations`.
pub async fn list(
    State(console): State<Arc<Console>>,
    page: OrgPage,
    Query(notice): Query<Notice>,
) -> Response {
    let w = page.caller.w;
    match tasks(&console, page.organization.id).await {
        Ok(tasks) => reply::page(&ListPage {
            w,
            tab: "migrations",
            csrf: page.caller.session.csrf(),
            account: page.caller.session.account.clone(),
            organization: page.organization,
            tasks,
            errors: FieldErrors::default(),
            notice: notice_of(w, &notice.notice),
        }),
        Err(e) => reply::failure(w, &e),
    }
}

/// `POST /console/organizations/{id}/migrations`: a new task (`host`, `port`, `protocol`,
/// `tls`).
pub async fn create(State(console): State<Arc<Console>>, form: OrgForm) -> Response {
    let (app, request, w) = (&console.app, form.caller.request(), form.caller.w);
    let protocol = match form.one("protocol") {
        Some("POP3") => MailProtocol::Pop3,
        _ => MailProtocol::Imap,
    };
    let tls = form.one("tls") == Some("on");
    let port = match form.one("port").map(str::trim).filter(|p| !p.is_empty()) {
        None => Ok(MailSource::default_port(protocol, tls)),
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| AppError::invalid("port", "a port from 1 to 65535")),
    };
    let source = |port| MailSource {
        host: form.text("host").trim().to_ascii_lowercase(),
        port,
        protocol,
        tls,
    };
    let outcome = match port {
        Ok(port) => app::migration::create(app, &request, form.organization.id, source(port)).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(done) => {
            console.runner.settle(&done.written).await;
            let page = format!("migrations/{}", done.answer);
            back(form.organization.id, &page, None, "migration_created")
        }
        Err(e) if e.is_transient() => reply::failure(w, &e),
        Err(e) => {
            let tasks = tasks(&console, form.organization.id)
                .await
                .unwrap_or_default();
            let mut r = reply::page(&ListPage {
                w,
                tab: "migrations",
                csrf: form.caller.session.csrf(),
                account: form.caller.session.account.clone(),
                organization: form.organization,
                tasks,
                errors: FieldErrors::from_error(w, &e),
                notice: None,
            });
            *r.status_mut() = status_of(&e);
            r
        }
    }
}

/// `GET /console/organizations/{id}/migrations/{task}`.
pub async fn show(
    State(console): State<Arc<Console>>,
    page: OrgPage,
    Path((_, id)): Path<(String, Uuid)>,
    Query(notice): Query<Notice>,
) -> Response {
    let w = page.caller.w;
    let notice = notice_of(w, &notice.notice);
    render(
        &console,
        page,
        id,
        vec![],
        FieldErrors::default(),
        notice,
        StatusCode::OK,
    )
    .await
}

async fn render(
    console: &Console,
    page: OrgPage,
    id: Uuid,
    refused: Vec<app::migration::RowRefusal>,
    errors: FieldErrors,
    notice: Option<String>,
    status: StatusCode,
) -> Response {
    let w = page.caller.w;
    match task(console, page.organization.id, id).await {
        Ok(Some((task, accounts))) => {
            let mut r = reply::page(&TaskPage {
                w,
                tab: "migrations",
                csrf: page.caller.session.csrf(),
                account: page.caller.session.account.clone(),
                organization: page.organization,
                task,
                accounts,
                refused,
                errors,
                notice,
            });
            *r.status_mut() = status;
            r
        }
        Ok(None) => reply::failure(w, &AppError::not_found("migration")),
        Err(e) => reply::failure(w, &e),
    }
}

/// `GET …/migrations/{task}/rows`: the live part of the task page (htmx polls it).
pub async fn rows(
    State(console): State<Arc<Console>>,
    page: OrgPage,
    Path((_, id)): Path<(String, Uuid)>,
) -> Response {
    let w = page.caller.w;
    match task(&console, page.organization.id, id).await {
        Ok(Some((task, accounts))) => reply::page(&Rows {
            w,
            organization: page.organization,
            task,
            accounts,
        }),
        Ok(None) => reply::failure(w, &AppError::not_found("migration")),
        Err(e) => reply::failure(w, &e),
    }
}

/// `GET …/migrations/{task}/results.csv`.
pub async fn results(
    State(console): State<Arc<Console>>,
    page: OrgPage,
    Path((_, id)): Path<(String, Uuid)>,
) -> Response {
    let w = page.caller.w;
    if !matches!(task(&console, page.organization.id, id).await, Ok(Some(_))) {
        return reply::failure(w, &AppError::not_found("migration"));
    }
    match app::migration::results_csv(&console.app, &page.caller.request(), id).await {
        Ok(csv) => super::import::csv_file(&format!("migration-{id}.csv"), csv),
        Err(e) => reply::failure(w, &e),
    }
}

/// `POST …/migrations/{task}`: `action` is `check`, `add` (with `csv`), `start`, `retry`,
/// `rerun` or `cancel`.
pub async fn act(
    State(console): State<Arc<Console>>,
    Path((_, id)): Path<(String, Uuid)>,
    form: OrgForm,
) -> Response {
    let (app, request, w) = (&console.app, form.caller.request(), form.caller.w);
    let organization_id = form.organization.id;
    // A task of another organization is refused here and by the operation's access check.
    if !matches!(task(&console, organization_id, id).await, Ok(Some(_))) {
        return reply::failure(w, &AppError::not_found("migration"));
    }
    let outcome = match form.one("action") {
        Some("check") => app::migration::check_connection(app, &request, id)
            .await
            .map(|d| (d.written, vec![], "migration_checked")),
        Some("add") => app::migration::add_accounts(app, &request, id, &form.text("csv"))
            .await
            .map(|d| (d.written, d.answer.refused, "accounts_added")),
        Some("start") => app::migration::start(app, &request, id)
            .await
            .map(|d| (d.written, vec![], "migration_started")),
        Some("retry") => app::migration::retry_failed(app, &request, id)
            .await
            .map(|d| (d.written, vec![], "migration_retried")),
        Some("rerun") => app::migration::rerun(app, &request, id)
            .await
            .map(|d| (d.written, vec![], "migration_rerun")),
        Some("cancel") => app::migration::cancel(app, &request, id)
            .await
            .map(|d| (d.written, vec![], "migration_cancelled")),
        _ => Err(AppError::invalid("action", "choose an action")),
    };
    let page = OrgPage {
        caller: form.caller,
        organization: form.organization,
    };
    match outcome {
        Ok((_, refused, _)) if !refused.is_empty() => {
            let status = StatusCode::BAD_REQUEST;
            render(
                &console,
                page,
                id,
                refused,
                FieldErrors::default(),
                None,
                status,
            )
            .await
        }
        Ok((written, _, notice)) => {
            console.runner.settle(&written).await;
            back(organization_id, &format!("migrations/{id}"), None, notice)
        }
        Err(e) if e.is_transient() => reply::failure(w, &e),
        Err(e) => {
            let (status, errors) = (status_of(&e), FieldErrors::from_error(w, &e));
            render(&console, page, id, vec![], errors, None, status).await
        }
    }
}
