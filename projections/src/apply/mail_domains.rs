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
                 VALUES ($1, $2, $3, $4, $5, $7, $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(organization_id)
            .bind(name)
            .bind(display_name)
            .bind(text(mode))
            .bind(json!(records)).bind(DomainStatus::Pending.as_str())
            .execute(conn)
            .await?;
        }
        E::DomainModeChanged { mode, records } => {
            sqlx::query(
                "UPDATE mail_domains SET mode = $2, records = $3,
                   status = CASE WHEN status = $4 THEN status ELSE $5 END
                 WHERE id = $1",
            )
            .bind(id)
            .bind(text(mode))
            .bind(json!(records))
            .bind(DomainStatus::Verified.as_str())
            .bind(DomainStatus::Pending.as_str())
            .execute(conn)
            .await?;
        }
        E::DomainVerificationChecked { results, .. } => {
            let ok = results
                .iter()
                .all(|r| r.status == domain::maildomain::RecordStatus::Ok);
            sqlx::query(
                "UPDATE mail_domains SET results = $2,
                   status = CASE WHEN status = $4 OR $3 THEN status ELSE $5 END
                 WHERE id = $1",
            )
            .bind(id)
            .bind(json!(results))
            .bind(ok)
            .bind(DomainStatus::Verified.as_str())
            .bind(DomainStatus::Failed.as_str())
            .execute(conn)
            .await?;
        }
        E::DomainVerified { .. } => {
            sqlx::query("UPDATE mail_domains SET status = $2 WHERE id = $1")
                .bind(id)
                .bind(DomainStatus::Verified.as_str())
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
        E::DomainClaimEnded { reason, .. } => {
            // Taken: shown so the admin knows why; dissolved: gone like a removed one.
            let removed = *reason == domain::maildomain::ClaimEnd::OrganizationDissolved;
            sqlx::query(
                "UPDATE mail_domains SET status = CASE WHEN $2 THEN status ELSE $3 END,
                   removed = removed OR $2 WHERE id = $1",
            )
            .bind(id)
            .bind(removed)
            .bind(DomainStatus::Taken.as_str())
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
