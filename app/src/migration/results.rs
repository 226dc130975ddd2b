//! A task's results as CSV, one line per account, for the admin to download and keep.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::access::{self, Owned};
use crate::error::AppError;
use crate::{App, Request};

#[derive(sqlx::FromRow)]
struct Line {
    line: i32,
    old_account: String,
    address: String,
    status: String,
    failure: Option<String>,
    failure_reason: Option<String>,
    messages_total: i64,
    copied: Option<i64>,
    bytes: Option<i64>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

/// The results file of a task (a manager of its organization or an operator).
pub async fn results_csv(
    app: &App,
    request: &Request,
    migration_id: Uuid,
) -> Result<String, AppError> {
    let organization_id = access::organization_of(app.pool(), Owned::Migration, migration_id)
        .await?
        .ok_or(AppError::Forbidden)?;
    access::require_reader(app.pool(), request, organization_id).await?;
    let lines: Vec<Line> = sqlx::query_as(
        "SELECT a.line, a.old_account, a.address, a.status, a.failure, a.failure_reason, a.messages_total,
                p.copied, p.bytes, a.started_at, a.finished_at
         FROM migration_accounts a
         LEFT JOIN (SELECT account_id, sum(copied)::bigint AS copied, sum(bytes)::bigint AS bytes
                    FROM migration_progress GROUP BY account_id) p ON p.account_id = a.id
         WHERE a.migration_id = $1 ORDER BY a.line, a.id",
    )
    .bind(migration_id)
    .fetch_all(app.pool())
    .await?;
    let mut out = String::from(
        "line,old_account,target_mailbox,status,failure,reason,messages_total,messages_copied,messages_skipped,bytes,started_at,finished_at\r\n",
    );
    for l in lines {
        let copied = l.copied.unwrap_or(0);
        let cells = [
            l.line.to_string(),
            l.old_account,
            l.address,
            l.status,
            l.failure.unwrap_or_default(),
            l.failure_reason.unwrap_or_default(),
            l.messages_total.to_string(),
            copied.to_string(),
            (l.messages_total - copied).max(0).to_string(),
            l.bytes.unwrap_or(0).to_string(),
            l.started_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            l.finished_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        ];
        let row: Vec<String> = cells.iter().map(|c| cell(c)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    Ok(out)
}

/// A CSV cell, quoted when needed, and never read as a formula by a spreadsheet.
fn cell(text: &str) -> String {
    let defused = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
    }
}
