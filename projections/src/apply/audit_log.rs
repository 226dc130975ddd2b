//! The audit log: who did what in which organization.

use std::collections::HashMap;

use super::*;

/// The organization an event tells about its stream, if it does.
fn learned_organization(event: &RecordedEvent) -> Result<Option<Uuid>, ProjectionError> {
    let org_field = || {
        event
            .data
            .get("organization_id")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok())
    };
    Ok(match event.category() {
        "organization" => Some(stream_id(event)?),
        "member" | "maildomain" | "mailbox" | "migration" => org_field(),
        "subscription" if event.event_type == "AppBound" => org_field(),
        _ => None,
    })
}

/// Folds a batch in three statements: replays pass the whole log through here, and a
/// statement per event would make the audit log the slowest projection by far. Each event
/// gets the organization known for its stream at that event, exactly as one by one.
pub(crate) async fn audit_log_batch(
    conn: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    let names: Vec<&str> = events.iter().map(|e| e.stream_name.as_str()).collect();
    let known: Vec<(String, Uuid)> = sqlx::query_as(
        "SELECT stream_name, organization_id FROM audit_streams WHERE stream_name = ANY($1)",
    )
    .bind(&names)
    .fetch_all(&mut *conn)
    .await?;
    let mut organization_of: HashMap<&str, Uuid> = HashMap::new();
    for (name, org) in &known {
        organization_of.insert(name.as_str(), *org);
    }
    let mut learned_streams = Vec::new();
    let mut learned_organizations = Vec::new();
    let mut organizations: Vec<Option<Uuid>> = Vec::with_capacity(events.len());
    for event in events {
        let name = event.stream_name.as_str();
        if !organization_of.contains_key(name) {
            if let Some(org) = learned_organization(event)? {
                organization_of.insert(name, org);
                learned_streams.push(name);
                learned_organizations.push(org);
            }
        }
        organizations.push(organization_of.get(name).copied());
    }
    if !learned_streams.is_empty() {
        sqlx::query(
            "INSERT INTO audit_streams (stream_name, organization_id)
             SELECT * FROM UNNEST($1::text[], $2::uuid[]) ON CONFLICT DO NOTHING",
        )
        .bind(&learned_streams)
        .bind(&learned_organizations)
        .execute(&mut *conn)
        .await?;
    }
    let tx_ids: Vec<i64> = events.iter().map(|e| e.position.tx_id).collect();
    let seqs: Vec<i64> = events.iter().map(|e| e.position.seq).collect();
    let event_types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let actors: Vec<Option<&str>> = events.iter().map(|e| e.metadata.actor.as_deref()).collect();
    let correlations: Vec<Option<Uuid>> =
        events.iter().map(|e| e.metadata.correlation_id).collect();
    let recorded: Vec<chrono::DateTime<chrono::Utc>> =
        events.iter().map(|e| e.recorded_at).collect();
    sqlx::query(
        "INSERT INTO audit_log (tx_id, seq, organization_id, stream_name, event_type, actor, correlation_id, recorded_at)
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::uuid[], $8::timestamptz[])
         ON CONFLICT DO NOTHING",
    )
    .bind(&tx_ids)
    .bind(&seqs)
    .bind(&organizations)
    .bind(&names)
    .bind(&event_types)
    .bind(&actors)
    .bind(&correlations)
    .bind(&recorded)
    .execute(conn)
    .await?;
    Ok(())
}
