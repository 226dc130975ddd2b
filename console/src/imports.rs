//! Imports run in the background so the page can show a live count: a row in
//! `console_imports` says how far one is, the rows themselves (passwords included) live
//! only in the importing task's memory. A page reload finds the import by its id.

use app::member::NewMember;
use app::{AppError, Request};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Console;

/// Rows per `app::member::import` call: small enough that the count moves often.
const CHUNK: usize = 25;
/// An unfinished import whose task has not reported for this long was interrupted (the
/// process stopped); the rows it had not reached were not imported.
const STALE_SECONDS: i64 = 120;

/// One line's outcome in the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub line: usize,
    pub account: String,
    /// `IMPORTED`, or the refusal's code.
    pub code: String,
    pub message: String,
}

/// An import as its page shows it.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct Import {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub total: i32,
    pub done: i32,
    pub results: sqlx::types::Json<Vec<Outcome>>,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Import {
    /// Still being worked on (and its task alive).
    pub fn running(&self, now: DateTime<Utc>) -> bool {
        self.finished_at.is_none() && (now - self.heartbeat_at).num_seconds() < STALE_SECONDS
    }

    /// Stopped before the end by a stopped process.
    pub fn interrupted(&self, now: DateTime<Utc>) -> bool {
        self.finished_at.is_none() && !self.running(now)
    }

    pub fn imported(&self) -> usize {
        self.results.iter().filter(|o| o.code == "IMPORTED").count()
    }

    pub fn refused(&self) -> usize {
        self.results.len() - self.imported()
    }

    /// The per-line report as CSV (UTF-8 with a BOM, so Excel shows Chinese).
    pub fn report_csv(&self) -> String {
        let mut out = String::from("\u{feff}line,account,result,message\r\n");
        let mut results = self.results.0.clone();
        results.sort_by_key(|o| o.line);
        for o in results {
            let cells = [o.line.to_string(), o.account, o.code, o.message];
            let cells: Vec<String> = cells.iter().map(|c| quote(c)).collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
        out
    }
}

/// A CSV cell, quoted; a leading `=`, `+`, `-` or `@` is defused so a spreadsheet never
/// runs it as a formula.
fn quote(cell: &str) -> String {
    let cell = if cell.starts_with(['=', '+', '-', '@']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    };
    format!("\"{}\"", cell.replace('"', "\"\""))
}

/// One import of this organization.
pub async fn find(
    pool: &PgPool,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<Import>, sqlx::Error> {
    sqlx::query_as("SELECT id, organization_id, total, done, results, started_at, heartbeat_at, finished_at FROM console_imports WHERE id = $1 AND organization_id = $2")
        .bind(id)
        .bind(organization_id)
        .fetch_optional(pool)
        .await
}

/// The organization's latest imports.
pub async fn recent(pool: &PgPool, organization_id: Uuid) -> Result<Vec<Import>, sqlx::Error> {
    sqlx::query_as("SELECT id, organization_id, total, done, results, started_at, heartbeat_at, finished_at FROM console_imports WHERE organization_id = $1 ORDER BY started_at DESC LIMIT 10")
        .bind(organization_id)
        .fetch_all(pool)
        .await
}

/// Starts importing `rows` (line number, row) with `refused` already decided (lines the
/// file could not express); answers the import's id at once.
pub async fn start(
    console: &Console,
    request: Request,
    organization_id: Uuid,
    rows: Vec<(usize, NewMember)>,
    refused: Vec<Outcome>,
) -> Result<Uuid, AppError> {
    let id = Uuid::now_v7();
    let now = console.app.now();
    let total = (rows.len() + refused.len()) as i32;
    sqlx::query(
        "INSERT INTO console_imports (id, organization_id, account, total, done, results, started_at, heartbeat_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(id)
    .bind(organization_id)
    .bind(request.principal().map(|p| p.id.clone()).unwrap_or_default())
    .bind(total)
    .bind(refused.len() as i32)
    .bind(sqlx::types::Json(&refused))
    .bind(now)
    .execute(console.app.pool())
    .await?;
    let console = console.clone();
    tokio::spawn(async move {
        let outcome = run(&console, &request, organization_id, id, rows).await;
        if let Err(e) = outcome {
            tracing::error!(import = %id, error = %e, "a console import stopped");
        }
    });
    Ok(id)
}

async fn run(
    console: &Console,
    request: &Request,
    organization_id: Uuid,
    id: Uuid,
    rows: Vec<(usize, NewMember)>,
) -> Result<(), AppError> {
    let pool = console.app.pool();
    for chunk in rows.chunks(CHUNK) {
        let members: Vec<NewMember> = chunk.iter().map(|(_, m)| m.clone()).collect();
        let mut outcomes = Vec::with_capacity(chunk.len());
        match app::member::import(&console.app, request, organization_id, &members).await {
            Ok(report) => {
                console.runner.settle(&report.written).await;
                for (row, _) in report.imported {
                    outcomes.push(outcome(chunk[row].0, &chunk[row].1, None));
                }
                for (row, e) in report.failed {
                    outcomes.push(outcome(chunk[row].0, &chunk[row].1, Some(&e)));
                }
            }
            Err(e) => {
                for (line, member) in chunk {
                    outcomes.push(outcome(*line, member, Some(&e)));
                }
            }
        }
        sqlx::query(
            "UPDATE console_imports SET done = done + $2, results = results || $3, heartbeat_at = $4
             WHERE id = $1",
        )
        .bind(id)
        .bind(chunk.len() as i32)
        .bind(sqlx::types::Json(&outcomes))
        .bind(console.app.now())
        .execute(pool)
        .await?;
    }
    sqlx::query("UPDATE console_imports SET finished_at = $2 WHERE id = $1")
        .bind(id)
        .bind(console.app.now())
        .execute(pool)
        .await?;
    Ok(())
}

fn outcome(line: usize, member: &NewMember, error: Option<&AppError>) -> Outcome {
    Outcome {
        line,
        account: member.account.clone(),
        code: error.map_or("IMPORTED", |e| e.code().as_str()).to_owned(),
        message: error.map(|e| e.public_message()).unwrap_or_default(),
    }
}
