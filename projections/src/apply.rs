//! How each projection folds one event into its tables. Statements are idempotent where a
//! replay could meet them twice (upserts keyed by id).

use domain::mailbox::MailboxEvent;
use domain::maildomain::MailDomainEvent;
use domain::member::MemberEvent;
use domain::organization::OrganizationEvent;
use domain::subscription::SubscriptionEvent;
use eventstore::{decode_serde, RecordedEvent};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::runner::ProjectionError;
use crate::Projection;

/// The id in a stream name `{category}-{uuid}`.
pub(crate) fn stream_id(event: &RecordedEvent) -> Result<Uuid, ProjectionError> {
    event
        .stream_name
        .split_once('-')
        .and_then(|(_, id)| id.parse().ok())
        .ok_or_else(|| ProjectionError::BadStream(event.stream_name.clone()))
}

fn text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

pub(crate) async fn apply(
    projection: Projection,
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    match projection {
        Projection::Subscriptions => subscriptions(conn, event).await,
        Projection::Organizations => organizations(conn, event).await,
        Projection::Members => members(conn, event).await,
        Projection::MailDomains => mail_domains(conn, event).await,
        Projection::Mailboxes => mailboxes(conn, event).await,
        Projection::AuditLog => audit_log(conn, event).await,
        Projection::Timers => crate::timers::apply(conn, event).await,
    }
}

async fn subscriptions(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    use SubscriptionEvent as E;
    let id = stream_id(event)?;
    let e: SubscriptionEvent = decode_serde(event)?;
    let q = match &e {
        E::TrialStarted { order_id, buyer_account_id, edition, seats, trial_ends_at, .. } => sqlx::query(
            "INSERT INTO subscriptions (id, order_id, buyer_account_id, edition, seats, status, trial_ends_at, created_at)
             VALUES ($1, $2, $3, $4, $5, 'TRIAL', $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(order_id)
        .bind(buyer_account_id)
        .bind(edition)
        .bind(*seats as i32)
        .bind(trial_ends_at)
        .bind(event.recorded_at),
        E::SubscriptionPurchased { order_id, buyer_account_id, edition, seats, amount, currency, activated_at, expires_at, .. } => sqlx::query(
            "INSERT INTO subscriptions (id, order_id, buyer_account_id, edition, seats, status, activated_at, expires_at, paid, currency, created_at)
             VALUES ($1, $2, $3, $4, $5, 'ACTIVE', $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(order_id)
        .bind(buyer_account_id)
        .bind(edition)
        .bind(*seats as i32)
        .bind(activated_at)
        .bind(expires_at)
        .bind(amount)
        .bind(currency)
        .bind(event.recorded_at),
        E::TrialConverted { amount, currency, activated_at, expires_at, .. } => sqlx::query(
            "UPDATE subscriptions SET status = 'ACTIVE', activated_at = $2, expires_at = $3, paid = paid + $4, currency = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(activated_at)
        .bind(expires_at)
        .bind(amount)
        .bind(currency),
        E::SeatsExpanded { new_total, amount, .. } => {
            sqlx::query("UPDATE subscriptions SET seats = $2, paid = paid + $3 WHERE id = $1").bind(id).bind(*new_total as i32).bind(amount)
        }
        E::SubscriptionRenewed { amount, expires_at, .. } => sqlx::query(
            "UPDATE subscriptions SET status = 'ACTIVE', expires_at = $2, paid = paid + $3, data_delete_due = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(expires_at)
        .bind(amount),
        E::Unsubscribed { .. } => sqlx::query("UPDATE subscriptions SET status = 'UNSUBSCRIBED' WHERE id = $1").bind(id),
        E::TrialExpired { data_delete_due } | E::SubscriptionExpired { data_delete_due } => {
            sqlx::query("UPDATE subscriptions SET status = 'EXPIRED', data_delete_due = $2 WHERE id = $1").bind(id).bind(data_delete_due)
        }
        E::SubscriptionDataPurged {} => sqlx::query("UPDATE subscriptions SET data_delete_due = NULL WHERE id = $1").bind(id),
        E::AppBound { organization_id } => {
            sqlx::query("UPDATE subscriptions SET organization_id = $2 WHERE id = $1").bind(id).bind(organization_id)
        }
        E::SeatAssigned { .. } => sqlx::query("UPDATE subscriptions SET authorized = authorized + 1 WHERE id = $1").bind(id),
        E::SeatReleased { .. } => sqlx::query("UPDATE subscriptions SET authorized = authorized - 1 WHERE id = $1").bind(id),
    };
    q.execute(conn).await?;
    Ok(())
}

async fn organizations(
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
                 VALUES ($1, $2, $3, $4, $5, $6, 'PENDING') ON CONFLICT (id) DO NOTHING",
            )
            .bind(invitation_id)
            .bind(org)
            .bind(name)
            .bind(phone)
            .bind(email)
            .bind(expires_at)
            .execute(&mut *conn)
            .await?;
        }
        E::InvitationAccepted {
            invitation_id,
            account,
        } => {
            sqlx::query(
                "UPDATE invitations SET status = 'ACCEPTED', accepted_by = $2 WHERE id = $1",
            )
            .bind(invitation_id)
            .bind(account)
            .execute(&mut *conn)
            .await?;
            admin(conn, org, account).await?;
        }
        E::InvitationExpired { invitation_id } => {
            invitation_status(conn, *invitation_id, "EXPIRED").await?
        }
        E::InvitationRevoked { invitation_id } => {
            invitation_status(conn, *invitation_id, "REVOKED").await?
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

async fn admin(conn: &mut PgConnection, org: Uuid, account: &str) -> Result<(), ProjectionError> {
    sqlx::query("INSERT INTO organization_admins (organization_id, account) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(org)
        .bind(account)
        .execute(conn)
        .await?;
    Ok(())
}

async fn invitation_status(
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

async fn members(conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
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
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'ACTIVE', $11) ON CONFLICT (id) DO NOTHING",
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
            .bind(event.recorded_at)
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
        E::MemberDisabled {} => member_status(conn, id, "DISABLED").await?,
        E::MemberEnabled {} => member_status(conn, id, "ACTIVE").await?,
        E::MemberDeleted { .. } => {
            sqlx::query("UPDATE members SET status = 'DELETED', authorized = false WHERE id = $1")
                .bind(id)
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

async fn member_status(
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

async fn mail_domains(
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

async fn mailboxes(conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
    use MailboxEvent as E;
    let id = stream_id(event)?;
    let e: MailboxEvent = decode_serde(event)?;
    let q = match &e {
        E::MailboxOpened { organization_id, member_id, domain_id, address, .. } => sqlx::query(
            "INSERT INTO mailboxes (id, organization_id, member_id, domain_id, address, status, created_at)
             VALUES ($1, $2, $3, $4, $5, 'PROVISIONING', $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(organization_id)
        .bind(member_id)
        .bind(domain_id)
        .bind(address)
        .bind(event.recorded_at),
        E::MailboxProvisioned {} => sqlx::query("UPDATE mailboxes SET status = 'ACTIVE', failure = NULL WHERE id = $1").bind(id),
        E::MailboxProvisioningFailed { reason } => {
            sqlx::query("UPDATE mailboxes SET status = 'FAILED', failure = $2 WHERE id = $1").bind(id).bind(reason)
        }
        E::MailboxProvisioningRetried {} => sqlx::query("UPDATE mailboxes SET status = 'PROVISIONING' WHERE id = $1").bind(id),
        E::MailboxClosed { closed_at, purge_after, .. } => {
            sqlx::query("UPDATE mailboxes SET status = 'CLOSED', closed_at = $2, purge_after = $3 WHERE id = $1")
                .bind(id)
                .bind(closed_at)
                .bind(purge_after)
        }
        E::MailboxRestored {} => {
            sqlx::query("UPDATE mailboxes SET status = 'ACTIVE', closed_at = NULL, purge_after = NULL WHERE id = $1").bind(id)
        }
        E::MailboxPurged { .. } => sqlx::query("UPDATE mailboxes SET status = 'PURGED' WHERE id = $1").bind(id),
        E::MailboxRenamed { address, .. } => sqlx::query("UPDATE mailboxes SET address = $2 WHERE id = $1").bind(id).bind(address),
    };
    q.execute(conn).await?;
    Ok(())
}

/// The organization an event belongs to, learning stream → organization as it goes.
async fn audit_log(conn: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
    let learned: Option<Uuid> = match event.category() {
        "organization" => Some(stream_id(event)?),
        "member" | "maildomain" | "mailbox" => event
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
