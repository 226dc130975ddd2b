//! The members read model.

use super::*;

pub(crate) async fn members(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    use MemberEvent as E;
    let id = stream_id(event)?;
    let e: MemberEvent = decode_serde(event)?;
    match &e {
        E::MemberAdded {
            organization_id,
            name,
            account,
            phone,
            email,
            department_id,
            role,
            employment_type,
            hire_date,
            ..
        } => {
            sqlx::query(
                "INSERT INTO members (id, organization_id, name, account, phone, email, department_id, role, employment_type, hire_date, status, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $11) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(organization_id)
            .bind(name)
            .bind(account)
            .bind(phone)
            .bind(email)
            .bind(department_id)
            .bind(text(role))
            .bind(text(employment_type))
            .bind(hire_date)
            .bind(event.recorded_at).bind(MemberStatus::Active.as_str())
            .execute(conn)
            .await?;
        }
        E::MemberUpdated {
            name,
            phone,
            email,
            department_id,
            role,
            ..
        } => {
            sqlx::query(
                "UPDATE members SET
                   name = coalesce($2, name),
                   phone = CASE WHEN $3 THEN $4 ELSE phone END,
                   email = CASE WHEN $5 THEN $6 ELSE email END,
                   department_id = CASE WHEN $7 THEN $8 ELSE department_id END,
                   role = coalesce($9, role)
                 WHERE id = $1",
            )
            .bind(id)
            .bind(name)
            .bind(phone.is_some())
            .bind(phone.clone().flatten())
            .bind(email.is_some())
            .bind(email.clone().flatten())
            .bind(department_id.is_some())
            .bind(department_id.flatten())
            .bind(role.map(|r| text(&r)))
            .execute(conn)
            .await?;
        }
        E::MemberDisabled {} => member_status(conn, id, MemberStatus::Disabled.as_str()).await?,
        E::MemberEnabled {} => member_status(conn, id, MemberStatus::Active.as_str()).await?,
        E::MemberDeleted { .. } => {
            sqlx::query("UPDATE members SET status = $2, authorized = false WHERE id = $1")
                .bind(id)
                .bind(MemberStatus::Deleted.as_str())
                .execute(conn)
                .await?;
        }
        E::MemberAuthorized { .. } => {
            sqlx::query("UPDATE members SET authorized = true WHERE id = $1")
                .bind(id)
                .execute(conn)
                .await?;
        }
        E::MemberAuthorizationRevoked { .. } => {
            sqlx::query("UPDATE members SET authorized = false WHERE id = $1")
                .bind(id)
                .execute(conn)
                .await?;
        }
        E::MemberPasswordReset {} => {}
    }
    Ok(())
}

pub(crate) async fn member_status(
    conn: &mut PgConnection,
    id: Uuid,
    status: &str,
) -> Result<(), ProjectionError> {
    sqlx::query("UPDATE members SET status = $2 WHERE id = $1")
        .bind(id)
        .bind(status)
        .execute(conn)
        .await?;
    Ok(())
}
