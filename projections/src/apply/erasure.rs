//! Erasure in the read models. A row written before its person was erased still holds what
//! the events said then; the erasure events scrub it to what a rebuild (reading the events
//! now, with `"[erased]"` in their personal fields) would write. Each projection scrubs its
//! own tables in its own order, so a projection that lags cannot write a name back after.

use eventstore::ERASED;

use super::*;

const ERASE_MEMBERS: &str = "UPDATE members SET name = $2, account = $2,
     phone = CASE WHEN phone IS NULL THEN NULL ELSE $2 END,
     email = CASE WHEN email IS NULL THEN NULL ELSE $2 END";

/// A member's row after `MemberErased`.
pub(crate) async fn erase_member(conn: &mut PgConnection, id: Uuid) -> Result<(), ProjectionError> {
    sqlx::query(&format!("{ERASE_MEMBERS} WHERE id = $1"))
        .bind(id)
        .bind(ERASED)
        .execute(conn)
        .await?;
    Ok(())
}

/// The members read model on an organization's event: only its erasure concerns it.
pub(crate) async fn members_of_organization(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    if event.event_type == "PersonalDataErased" {
        sqlx::query(&format!("{ERASE_MEMBERS} WHERE organization_id = $1"))
            .bind(stream_id(event)?)
            .bind(ERASED)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The mailboxes read model on a member's or an organization's event: only erasures
/// concern it (an address names its member).
pub(crate) async fn mailboxes_of_people(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let column = match (event.category(), event.event_type.as_str()) {
        ("member", "MemberErased") => "member_id",
        ("organization", "PersonalDataErased") => "organization_id",
        _ => return Ok(()),
    };
    sqlx::query(&format!(
        "UPDATE mailboxes SET address = $2 WHERE {column} = $1"
    ))
    .bind(stream_id(event)?)
    .bind(ERASED)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every invitee of an organization after `PersonalDataErased`.
pub(crate) async fn erase_invitees(
    conn: &mut PgConnection,
    organization_id: Uuid,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE invitations SET name = $2, phone = $2, email = $2 WHERE organization_id = $1",
    )
    .bind(organization_id)
    .bind(ERASED)
    .execute(conn)
    .await?;
    Ok(())
}
