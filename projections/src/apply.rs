//! How each projection folds one event into its tables. Statements are idempotent where a
//! replay could meet them twice (upserts keyed by id).

use domain::mailbox::{MailboxEvent, MailboxStatus};
use domain::maildomain::{DomainStatus, MailDomainEvent};
use domain::member::{MemberEvent, MemberStatus};
use domain::organization::{InvitationStatus, OrganizationEvent};
use domain::subscription::{SubscriptionEvent, SubscriptionStatus};
use eventstore::{decode_serde, RecordedEvent};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::runner::ProjectionError;
use crate::Projection;

mod audit_log;
mod erasure;
mod mail_domains;
mod mailboxes;
mod members;
mod migrations;
mod organizations;
mod subscriptions;

use audit_log::*;
use erasure::*;
use mail_domains::*;
use mailboxes::*;
use members::*;
use migrations::*;
use organizations::*;
use subscriptions::*;

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
        Projection::Members => match event.category() {
            "member" => members(conn, event).await,
            _ => members_of_organization(conn, event).await,
        },
        Projection::MailDomains => mail_domains(conn, event).await,
        Projection::Mailboxes => match event.category() {
            "mailbox" => mailboxes(conn, event).await,
            _ => mailboxes_of_people(conn, event).await,
        },
        Projection::Migrations => migrations(conn, event).await,
        Projection::AuditLog => audit_log_batch(conn, std::slice::from_ref(event)).await,
        Projection::Timers => crate::timers::apply(conn, event).await,
    }
}

/// Folds a batch of events in order; bulk runs (imports, authorizations, the audit log)
/// take one statement per run instead of one per event.
pub(crate) async fn apply_batch(
    projection: Projection,
    conn: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    if events.is_empty() {
        return Ok(());
    }
    match projection {
        Projection::AuditLog => audit_log_batch(conn, events).await,
        Projection::Members => members_batch(conn, events).await,
        Projection::Subscriptions => subscriptions_batch(conn, events).await,
        _ => {
            for event in events {
                apply(projection, conn, event).await?;
            }
            Ok(())
        }
    }
}
