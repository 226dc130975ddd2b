//! The audit log: who did what in which organization.

use super::*;

/// The organization an event belongs to, learning stream → organization as it goes.
pub(crate) async fn audit_log(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let learned: Option<Uuid> = match event.category() {
        "organization" => Some(stream_id(event)?),
        "member" | "maildomain" | "mailbox" | "migration" => event
            .data
            .get("organization_id")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok()),
        "subscription" if event.event_type == "AppBound" => event
            .data
            .get("organization_id")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok()),
        _ => None,
    };
    if let Some(org) = learned {
        sqlx::query("INSERT INTO audit_streams (stream_name, organization_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(&event.stream_name)
            .bind(org)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "INSERT INTO audit_log (tx_id, seq, organization_id, stream_name, event_type, actor, correlation_id, recorded_at)
         SELECT $1, $2, (SELECT organization_id FROM audit_streams WHERE stream_name = $3), $3, $4, $5, $6, $7
         ON CONFLICT DO NOTHING",
    )
    .bind(event.position.tx_id)
    .bind(event.position.seq)
    .bind(&event.stream_name)
    .bind(&event.event_type)
    .bind(&event.metadata.actor)
    .bind(event.metadata.correlation_id)
    .bind(event.recorded_at)
    .execute(conn)
    .await?;
    Ok(())
}
