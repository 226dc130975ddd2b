//! The organizations read model: organizations, admins, departments, invitations.

use super::*;

pub(crate) async fn organizations(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    use OrganizationEvent as E;
    let org = stream_id(event)?;
    let e: OrganizationEvent = decode_serde(event)?;
    match &e {
        E::OrganizationCreated {
            name,
            identifier,
            creator_account,
            as_reseller,
            ..
        } => {
            sqlx::query(
                "INSERT INTO organizations (id, name, identifier, creator_account, as_reseller, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(org)
            .bind(name)
            .bind(identifier)
            .bind(creator_account)
            .bind(as_reseller)
            .bind(event.recorded_at)
            .execute(&mut *conn)
            .await?;
            if !as_reseller {
                admin(conn, org, creator_account).await?;
            }
        }
        E::AdminInvited {
            invitation_id,
            name,
            phone,
            email,
            expires_at,
            ..
        } => {
            sqlx::query(
                "INSERT INTO invitations (id, organization_id, name, phone, email, expires_at, status)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
            )
            .bind(invitation_id)
            .bind(org)
            .bind(name)
            .bind(phone)
            .bind(email)
            .bind(expires_at).bind(InvitationStatus::Pending.as_str())
            .execute(&mut *conn)
            .await?;
        }
        E::InvitationAccepted {
            invitation_id,
            account,
        } => {
            sqlx::query("UPDATE invitations SET status = $3, accepted_by = $2 WHERE id = $1")
                .bind(invitation_id)
                .bind(account)
                .bind(InvitationStatus::Accepted.as_str())
                .execute(&mut *conn)
                .await?;
            admin(conn, org, account).await?;
        }
        E::AdminRemoved { account } => {
            sqlx::query(
                "DELETE FROM organization_admins WHERE organization_id = $1 AND account = $2",
            )
            .bind(org)
            .bind(account)
            .execute(&mut *conn)
            .await?;
        }
        E::CreatorTransferred {
            previous_creator,
            account,
        } => {
            sqlx::query(
                "UPDATE organizations SET creator_account = $2, as_reseller = false WHERE id = $1",
            )
            .bind(org)
            .bind(account)
            .execute(&mut *conn)
            .await?;
            admin(conn, org, previous_creator).await?;
        }
        E::InvitationExpired { invitation_id } => {
            invitation_status(conn, *invitation_id, InvitationStatus::Expired.as_str()).await?
        }
        E::InvitationRevoked { invitation_id } => {
            invitation_status(conn, *invitation_id, InvitationStatus::Revoked.as_str()).await?
        }
        E::DepartmentCreated {
            department_id,
            name,
            parent_id,
        } => {
            sqlx::query(
                "INSERT INTO departments (id, organization_id, name, parent_id) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(department_id)
            .bind(org)
            .bind(name)
            .bind(parent_id)
            .execute(&mut *conn)
            .await?;
        }
        E::DepartmentRenamed {
            department_id,
            name,
        } => {
            sqlx::query("UPDATE departments SET name = $2 WHERE id = $1")
                .bind(department_id)
                .bind(name)
                .execute(&mut *conn)
                .await?;
        }
        E::DepartmentMoved {
            department_id,
            parent_id,
        } => {
            sqlx::query("UPDATE departments SET parent_id = $2 WHERE id = $1")
                .bind(department_id)
                .bind(parent_id)
                .execute(&mut *conn)
                .await?;
        }
        E::DepartmentDeleted { department_id } => {
            sqlx::query("DELETE FROM departments WHERE id = $1")
                .bind(department_id)
                .execute(&mut *conn)
                .await?;
        }
        E::AppBound { subscription_id } => {
            sqlx::query("UPDATE organizations SET subscription_id = $2 WHERE id = $1")
                .bind(org)
                .bind(subscription_id)
                .execute(&mut *conn)
                .await?;
        }
        E::DepartmentAuthorized { department_id } => {
            sqlx::query("UPDATE departments SET authorized = true WHERE id = $1")
                .bind(department_id)
                .execute(&mut *conn)
                .await?;
        }
        E::PersonalDataErased { .. } => erase_invitees(conn, org).await?,
        // Nothing to show: the code went by SMS (the audit log records the request).
        E::DissolutionRequested { .. } => {}
        E::OrganizationDissolved { .. } => {
            sqlx::query("UPDATE organizations SET dissolved = true WHERE id = $1")
                .bind(org)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM organization_admins WHERE organization_id = $1")
                .bind(org)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

pub(crate) async fn admin(
    conn: &mut PgConnection,
    org: Uuid,
    account: &str,
) -> Result<(), ProjectionError> {
    sqlx::query("INSERT INTO organization_admins (organization_id, account) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(org)
        .bind(account)
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn invitation_status(
    conn: &mut PgConnection,
    id: Uuid,
    status: &str,
) -> Result<(), ProjectionError> {
    sqlx::query("UPDATE invitations SET status = $2 WHERE id = $1")
        .bind(id)
        .bind(status)
        .execute(conn)
        .await?;
    Ok(())
}
