//! Long work runs in the background so its page can show a live count: importing members
//! and opening mailboxes for many members. A row in `console_jobs` says how far a job is and
//! what each line came to; an import's rows themselves (passwords included) live only in
//! the working task's memory. A page reload finds the job again by its organization.

use app::member::NewMember;
use app::{AppError, Request};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Console;

/// Rows per `app` call: small enough that the count moves often.
const CHUNK: usize = 25;
/// An unfinished job whose task has not reported for this long was interrupted (the
/// process stopped); what it had not reached was not done.
const STALE_SECONDS: i64 = 120;

/// Why `open_many` left a member out (it decides each on its own and answers the opened).
const NOT_OPENED: &str = "no mailbox opened: not authorized, disabled, or one is open already";

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Import,
    OpenMailboxes,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Import => "IMPORT",
            Kind::OpenMailboxes => "OPEN_MAILBOXES",
        }
    }
}

/// One line's outcome in the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub line: usize,
    pub account: String,
    /// `DONE`, or the refusal's code.
    pub code: String,
    pub message: String,
}

/// A job as its page shows it.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct Job {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub total: i32,
    pub done: i32,
    pub results: sqlx::types::Json<Vec<Outcome>>,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Job {
    /// Still being worked on (and its task alive).
    pub fn running(&self, now: DateTime<Utc>) -> bool {
        self.finished_at.is_none() && (now - self.heartbeat_at).num_seconds() < STALE_SECONDS
    }

    /// Stopped before the end by a stopped process.
    pub fn interrupted(&self, now: DateTime<Utc>) -> bool {
        self.finished_at.is_none() && !self.running(now)
    }

    pub fn succeeded(&self) -> usize {
        self.results.iter().filter(|o| o.code == "DONE").count()
    }

    pub fn refused(&self) -> usize {
        self.results.len() - self.succeeded()
    }

    /// The per-line report as CSV (UTF-8 with a BOM, so Excel shows Chinese).
    pub fn report_csv(&self) -> String {
        let mut out = String::from("\u{feff}line,account,result,message\r\n");
        let mut results = self.results.0.clone();
        results.sort_by_key(|o| o.line);
        for o in results {
            let cells = [o.line.to_string(), o.account, o.code, o.message];
            let cells: Vec<String> = cells.iter().map(|c| crate::import_csv::cell(c)).collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
        out
    }
}

const COLUMNS: &str =
    "id, organization_id, total, done, results, started_at, heartbeat_at, finished_at";

/// One job of this organization.
pub async fn find(
    pool: &PgPool,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<Job>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM console_jobs WHERE id = $1 AND organization_id = $2"
    ))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(pool)
    .await
}

/// The organization's latest jobs of a kind, newest first.
pub async fn recent(
    pool: &PgPool,
    organization_id: Uuid,
    kind: Kind,
    limit: i64,
) -> Result<Vec<Job>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM console_jobs WHERE organization_id = $1 AND kind = $2
         ORDER BY started_at DESC LIMIT $3"
    ))
    .bind(organization_id)
    .bind(kind.as_str())
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Records a job of `total` lines with `decided` outcomes known before it starts.
async fn create(
    console: &Console,
    request: &Request,
    organization_id: Uuid,
    kind: Kind,
    total: usize,
    decided: &[Outcome],
) -> Result<Uuid, AppError> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO console_jobs (id, organization_id, account, kind, total, done, results, started_at, heartbeat_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(id)
    .bind(organization_id)
    .bind(request.principal().map(|p| p.id.clone()).unwrap_or_default())
    .bind(kind.as_str())
    .bind(total as i32)
    .bind(decided.len() as i32)
    .bind(sqlx::types::Json(decided))
    .bind(console.app.now())
    .execute(console.app.pool())
    .await?;
    Ok(id)
}

/// Adds a chunk's outcomes (and a heartbeat).
async fn record(console: &Console, id: Uuid, outcomes: &[Outcome]) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE console_jobs SET done = done + $2, results = results || $3, heartbeat_at = $4
         WHERE id = $1",
    )
    .bind(id)
    .bind(outcomes.len() as i32)
    .bind(sqlx::types::Json(outcomes))
    .bind(console.app.now())
    .execute(console.app.pool())
    .await?;
    Ok(())
}

async fn finish(console: &Console, id: Uuid) -> Result<(), AppError> {
    sqlx::query("UPDATE console_jobs SET finished_at = $2 WHERE id = $1")
        .bind(id)
        .bind(console.app.now())
        .execute(console.app.pool())
        .await?;
    Ok(())
}

fn outcome(line: usize, account: &str, error: Option<&AppError>) -> Outcome {
    Outcome {
        line,
        account: account.to_owned(),
        code: error.map_or("DONE", |e| e.code().as_str()).to_owned(),
        message: error.map(|e| e.public_message()).unwrap_or_default(),
    }
}

/// Runs `work` on its own task, logging how it ended.
fn spawn(id: Uuid, work: impl std::future::Future<Output = Result<(), AppError>> + Send + 'static) {
    tokio::spawn(async move {
        if let Err(e) = work.await {
            tracing::error!(job = %id, error = %e, "a console job stopped");
        }
    });
}

/// Starts importing `rows` (line number, row), with `refused` lines already decided;
/// answers the job's id at once.
pub async fn start_import(
    console: &Console,
    request: Request,
    organization_id: Uuid,
    rows: Vec<(usize, NewMember)>,
    refused: Vec<Outcome>,
) -> Result<Uuid, AppError> {
    let total = rows.len() + refused.len();
    let id = create(
        console,
        &request,
        organization_id,
        Kind::Import,
        total,
        &refused,
    )
    .await?;
    let console = console.clone();
    spawn(id, async move {
        for chunk in rows.chunks(CHUNK) {
            let members: Vec<NewMember> = chunk.iter().map(|(_, m)| m.clone()).collect();
            let mut outcomes = Vec::with_capacity(chunk.len());
            match app::member::import(&console.app, &request, organization_id, &members).await {
                Ok(report) => {
                    console.runner.settle(&report.written).await;
                    for (row, _) in report.imported {
                        outcomes.push(outcome(chunk[row].0, &chunk[row].1.account, None));
                    }
                    for (row, e) in report.failed {
                        outcomes.push(outcome(chunk[row].0, &chunk[row].1.account, Some(&e)));
                    }
                }
                Err(e) => {
                    for (line, member) in chunk {
                        outcomes.push(outcome(*line, &member.account, Some(&e)));
                    }
                }
            }
            record(&console, id, &outcomes).await?;
        }
        finish(&console, id).await
    });
    Ok(id)
}

/// Starts opening mailboxes on `domain_id` for `members` (id, account), a chunk at a time
/// so the first ones are being created while the rest are still decided.
pub async fn start_opening(
    console: &Console,
    request: Request,
    organization_id: Uuid,
    domain_id: Uuid,
    members: Vec<(Uuid, String)>,
) -> Result<Uuid, AppError> {
    let total = members.len();
    let kind = Kind::OpenMailboxes;
    let id = create(console, &request, organization_id, kind, total, &[]).await?;
    let console = console.clone();
    spawn(id, async move {
        for (n, chunk) in members.chunks(CHUNK).enumerate() {
            let ids: Vec<Uuid> = chunk.iter().map(|(id, _)| *id).collect();
            let outcomes: Vec<Outcome> =
                match app::mailbox::open_many(&console.app, &request, &ids, domain_id).await {
                    Ok(done) => {
                        // The next chunk's addresses are chosen knowing these.
                        console.runner.settle(&done.written).await;
                        let opened: Vec<Uuid> = sqlx::query_scalar(
                            "SELECT member_id FROM mailboxes WHERE id = ANY($1)",
                        )
                        .bind(&done.answer)
                        .fetch_all(console.app.pool())
                        .await?;
                        chunk
                            .iter()
                            .enumerate()
                            .map(|(i, (member, account))| {
                                let mut line = outcome(n * CHUNK + i + 1, account, None);
                                if !opened.contains(member) {
                                    line.code = "REFUSED".into();
                                    line.message = NOT_OPENED.into();
                                }
                                line
                            })
                            .collect()
                    }
                    Err(e) => chunk
                        .iter()
                        .enumerate()
                        .map(|(i, (_, account))| outcome(n * CHUNK + i + 1, account, Some(&e)))
                        .collect(),
                };
            record(&console, id, &outcomes).await?;
        }
        finish(&console, id).await
    });
    Ok(id)
}
