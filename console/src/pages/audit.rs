//! The audit log: who did what and when, newest first, filtered by actor, operation and
//! date, paged by position.

use std::sync::Arc;

use app::AppError;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};

use super::org::OrgPage;
use crate::form::encode;
use crate::read::OrganizationRow;
use crate::reply;
use crate::words::Words;
use crate::Console;

const PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    w: Words,
    tab: &'static str,
    account: String,
    csrf: String,
    organization: OrganizationRow,
    entries: Vec<Entry>,
    operations: Vec<String>,
    query: AuditQuery,
    here: String,
    next: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Entry {
    tx_id: i64,
    seq: i64,
    event_type: String,
    actor: Option<String>,
    stream_name: String,
    recorded_at: DateTime<Utc>,
}

impl Entry {
    fn when(&self) -> String {
        self.recorded_at.format("%Y-%m-%d %H:%M:%S").to_string()
    }
}

/// The filters, as they come in the query string.
#[derive(serde::Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    operation: String,
    /// `YYYY-MM-DD`, inclusive, UTC.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    after: String,
}

impl AuditQuery {
    fn day(text: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
    }

    fn here(&self) -> String {
        [
            ("actor", &self.actor),
            ("operation", &self.operation),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// `GET /console/organizations/{id}/audit_log`.
pub async fn show(
    State(console): State<Arc<Console>>,
    OrgPage {
        caller,
        organization,
    }: OrgPage,
    Query(query): Query<AuditQuery>,
) -> Response {
    let pool = console.app.pool();
    let after = query
        .after
        .split_once('_')
        .and_then(|(t, s)| Some((t.parse::<i64>().ok()?, s.parse::<i64>().ok()?)));
    let from = AuditQuery::day(&query.from).and_then(|d| d.and_hms_opt(0, 0, 0));
    let to = AuditQuery::day(&query.to).and_then(|d| d.succ_opt()?.and_hms_opt(0, 0, 0));
    let actor = Some(query.actor.trim()).filter(|a| !a.is_empty()).map(|a| {
        format!(
            "%{}%",
            a.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    let operation = Some(query.operation.trim().to_owned()).filter(|o| !o.is_empty());
    let loaded = async {
        let mut entries: Vec<Entry> = sqlx::query_as(
            "SELECT tx_id, seq, event_type, actor, stream_name, recorded_at FROM audit_log
             WHERE organization_id = $1
               AND ($2::text IS NULL OR actor ILIKE $2)
               AND ($3::text IS NULL OR event_type = $3)
               AND ($4::timestamp IS NULL OR recorded_at >= $4 AT TIME ZONE 'UTC')
               AND ($5::timestamp IS NULL OR recorded_at < $5 AT TIME ZONE 'UTC')
               AND ($6::bigint IS NULL OR (tx_id, seq) < ($6, $7))
             ORDER BY tx_id DESC, seq DESC LIMIT $8",
        )
        .bind(organization.id)
        .bind(&actor)
        .bind(&operation)
        .bind(from)
        .bind(to)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(PAGE + 1)
        .fetch_all(pool)
        .await?;
        let operations: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT event_type FROM audit_log WHERE organization_id = $1 ORDER BY 1",
        )
        .bind(organization.id)
        .fetch_all(pool)
        .await?;
        let next = (entries.len() as i64 > PAGE).then(|| {
            entries.truncate(PAGE as usize);
            entries
                .last()
                .map(|e| format!("{}_{}", e.tx_id, e.seq))
                .unwrap_or_default()
        });
        Ok::<_, sqlx::Error>((entries, operations, next))
    }
    .await;
    let (entries, operations, next) = match loaded {
        Ok(l) => l,
        Err(e) => return reply::failure(caller.w, &AppError::Database(e)),
    };
    reply::page(&AuditPage {
        w: caller.w,
        tab: "audit_log",
        account: caller.session.account.clone(),
        csrf: caller.session.csrf(),
        organization,
        entries,
        operations,
        here: query.here(),
        query,
        next,
    })
}
