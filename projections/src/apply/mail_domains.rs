//! The mail domains read model, with the records and the last check's verdicts.

use super::*;

pub(crate) async fn mail_domains(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    use MailDomainEvent as E;
    let id = stream_id(event)?;
    let e: MailDomainEvent = decode_serde(event)?;
    match &e {
        E::DomainAdded {
            organization_id,
            name,
            display_name,
            mode,
            records,
            ..
        } => {
            sqlx::query(
                "INSERT INTO mail_domains (id, organization_id, name, display_name, mode, status, records)
                 VALUES ($1, $2, $3, $4, $5, 'PENDING', $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(organization_id)
            .bind(name)
            .bind(display_name)
            .bind(text(mode))
            .bind(json!(records))
            .execute(conn)
            .await?;
        }
        E::DomainModeChanged { mode, records } => {
            sqlx::query(
                "UPDATE mail_domains SET mode = $2, records = $3,
                   status = CASE WHEN status = 'VERIFIED' THEN status ELSE 'PENDING' END
                 WHERE id = $1",
            )
            .bind(id)
            .bind(text(mode))
            .bind(json!(records))
            .execute(conn)
            .await?;
        }
        E::DomainVerificationChecked { results, .. } => {
            let ok = results
                .iter()
                .all(|r| r.status == domain::maildomain::RecordStatus::Ok);
            sqlx::query(
                "UPDATE mail_domains SET results = $2,
                   status = CASE WHEN status = 'VERIFIED' OR $3 THEN status ELSE 'FAILED' END
                 WHERE id = $1",
            )
            .bind(id)
            .bind(json!(results))
            .bind(ok)
            .execute(conn)
            .await?;
        }
        E::DomainVerified { .. } => {
            sqlx::query("UPDATE mail_domains SET status = 'VERIFIED' WHERE id = $1")
                .bind(id)
                .execute(conn)
                .await?;
        }
        E::DomainReplaced {
            name,
            display_name,
            results,
            ..
        } => {
            sqlx::query(
                "UPDATE mail_domains SET name = $2, display_name = $3, results = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(name)
            .bind(display_name)
            .bind(json!(results))
            .execute(conn)
            .await?;
        }
        E::DomainRemoved { .. } => {
            sqlx::query("UPDATE mail_domains SET removed = true WHERE id = $1")
                .bind(id)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}
