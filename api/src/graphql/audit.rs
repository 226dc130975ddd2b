//! The audit log in GraphQL: who did what, newest first, paged by log position.

use async_graphql::{ComplexObject, Context, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::connection::{self, Connection, Paged};
use super::context::pool;
use super::error::{validation, Gql};

#[derive(sqlx::FromRow, Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct AuditEntry {
    #[graphql(skip)]
    pub tx_id: i64,
    #[graphql(skip)]
    pub seq: i64,
    pub stream_name: String,
    pub event_type: String,
    pub actor: Option<String>,
    pub correlation_id: Option<Uuid>,
    pub recorded_at: DateTime<Utc>,
}

impl AuditEntry {
    fn cursor(&self) -> String {
        eventstore::Position {
            tx_id: self.tx_id,
            seq: self.seq,
        }
        .to_string()
    }
}

#[ComplexObject]
impl AuditEntry {
    /// The event's position in the log.
    async fn position(&self) -> String {
        self.cursor()
    }
}

/// A page of an organization's audit log, newest first.
pub async fn page(
    ctx: &Context<'_>,
    organization_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Connection<AuditEntry>> {
    let size = connection::page_size(first)?;
    let (tx, seq) = match after.as_deref() {
        None => (i64::MAX, i64::MAX),
        Some(c) => {
            let p: eventstore::Position = c
                .parse()
                .map_err(|_| validation("after", "is not a cursor of this list"))?;
            (p.tx_id, p.seq)
        }
    };
    let rows: Vec<AuditEntry> = sqlx::query_as(
        "SELECT tx_id, seq, stream_name, event_type, actor, correlation_id, recorded_at FROM audit_log
         WHERE organization_id = $1 AND (tx_id, seq) < ($2, $3)
         ORDER BY tx_id DESC, seq DESC LIMIT $4",
    )
    .bind(organization_id)
    .bind(tx)
    .bind(seq)
    .bind(size + 1)
    .fetch_all(pool(ctx)?)
    .await
    .gql()?;
    let total = connection::total(
        ctx,
        "SELECT count(*) FROM audit_log WHERE organization_id = $1",
        organization_id,
    )
    .await?;
    Ok(Paged {
        rows,
        size,
        after: after.is_some(),
        total,
    }
    .connection(AuditEntry::cursor))
}
