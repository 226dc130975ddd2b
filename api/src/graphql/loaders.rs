//! Batch loaders: a page of members costs one query for their departments and one for
//! their mailboxes, whatever its size.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use domain::mailbox::MailboxStatus;
use sqlx::PgPool;
use uuid::Uuid;

use super::departments::DepartmentRow;
use super::mailbox::MailboxRow;

pub struct Loaders {
    pub pool: PgPool,
}

/// A department by id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DepartmentKey(pub Uuid);

/// The newest mailbox (not purged) of a member.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MailboxOfMember(pub Uuid);

impl Loader<DepartmentKey> for Loaders {
    type Value = DepartmentRow;
    type Error = Arc<sqlx::Error>;

    async fn load(
        &self,
        keys: &[DepartmentKey],
    ) -> Result<HashMap<DepartmentKey, DepartmentRow>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows: Vec<DepartmentRow> =
            sqlx::query_as("SELECT * FROM departments WHERE id = ANY($1)")
                .bind(&ids)
                .fetch_all(&self.pool)
                .await
                .map_err(Arc::new)?;
        Ok(rows.into_iter().map(|r| (DepartmentKey(r.id), r)).collect())
    }
}

impl Loader<MailboxOfMember> for Loaders {
    type Value = MailboxRow;
    type Error = Arc<sqlx::Error>;

    async fn load(
        &self,
        keys: &[MailboxOfMember],
    ) -> Result<HashMap<MailboxOfMember, MailboxRow>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows: Vec<MailboxRow> = sqlx::query_as(
            "SELECT DISTINCT ON (member_id) * FROM mailboxes
             WHERE member_id = ANY($1) AND status <> $2
             ORDER BY member_id, created_at DESC",
        )
        .bind(&ids)
        .bind(MailboxStatus::Purged.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(Arc::new)?;
        Ok(rows
            .into_iter()
            .map(|r| (MailboxOfMember(r.member_id), r))
            .collect())
    }
}
