//! The mailboxes read model (the recycle bin among them).

use super::*;

pub(crate) async fn mailboxes(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    use MailboxEvent as E;
    let id = stream_id(event)?;
    let e: MailboxEvent = decode_serde(event)?;
    let q = match &e {
        E::MailboxOpened { organization_id, member_id, domain_id, address, .. } => sqlx::query(
            "INSERT INTO mailboxes (id, organization_id, member_id, domain_id, address, status, created_at)
             VALUES ($1, $2, $3, $4, $5, $7, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(organization_id)
        .bind(member_id)
        .bind(domain_id)
        .bind(address)
        .bind(event.recorded_at).bind(MailboxStatus::Provisioning.as_str()),
        E::MailboxProvisioned {} => sqlx::query("UPDATE mailboxes SET status = CASE WHEN suspended THEN $3 ELSE $2 END, failure = NULL WHERE id = $1").bind(id).bind(MailboxStatus::Active.as_str()).bind(MailboxStatus::Suspended.as_str()),
        E::MailboxSuspended {} => sqlx::query("UPDATE mailboxes SET suspended = true, status = CASE WHEN status = $2 THEN $3 ELSE status END WHERE id = $1").bind(id).bind(MailboxStatus::Active.as_str()).bind(MailboxStatus::Suspended.as_str()),
        E::MailboxResumed {} => sqlx::query("UPDATE mailboxes SET suspended = false, status = CASE WHEN status = $3 THEN $2 ELSE status END WHERE id = $1").bind(id).bind(MailboxStatus::Active.as_str()).bind(MailboxStatus::Suspended.as_str()),
        E::MailboxReassigned { member_id, address, .. } => sqlx::query("UPDATE mailboxes SET member_id = $2, address = $3 WHERE id = $1").bind(id).bind(member_id).bind(address),
        E::MailboxProvisioningFailed { reason } => {
            sqlx::query("UPDATE mailboxes SET status = $3, failure = $2 WHERE id = $1").bind(id).bind(reason).bind(MailboxStatus::Failed.as_str())
        }
        E::MailboxProvisioningRetried {} => sqlx::query("UPDATE mailboxes SET status = $2 WHERE id = $1").bind(id).bind(MailboxStatus::Provisioning.as_str()),
        E::MailboxClosed { closed_at, purge_after, .. } => {
            sqlx::query("UPDATE mailboxes SET status = $4, suspended = false, closed_at = $2, purge_after = $3 WHERE id = $1")
                .bind(id)
                .bind(closed_at)
                .bind(purge_after).bind(MailboxStatus::Closed.as_str())
        }
        E::MailboxRestored {} => {
            sqlx::query("UPDATE mailboxes SET status = $2, closed_at = NULL, purge_after = NULL WHERE id = $1").bind(id).bind(MailboxStatus::Active.as_str())
        }
        E::MailboxPurged { .. } => sqlx::query("UPDATE mailboxes SET status = $2 WHERE id = $1").bind(id).bind(MailboxStatus::Purged.as_str()),
        E::MailboxRenamed { address, .. } => sqlx::query("UPDATE mailboxes SET address = $2 WHERE id = $1").bind(id).bind(address),
    };
    q.execute(conn).await?;
    Ok(())
}
