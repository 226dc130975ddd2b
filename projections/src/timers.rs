//! The timers projection: the due times events set (trial and paid expiry, data deletion,
//! invitation expiry, recycle-bin purge, DNS re-checks, migration expiry) and the events that cancel them.
//! The timer worker fires due rows and removes or reschedules them.

use chrono::{DateTime, Duration, Utc};
use domain::mailbox::MailboxEvent;
use domain::maildomain::MailDomainEvent;
use domain::migration::MigrationEvent;
use domain::organization::OrganizationEvent;
use domain::subscription::SubscriptionEvent;
use eventstore::{decode_serde, RecordedEvent};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::apply::stream_id;
use crate::runner::ProjectionError;

/// How often a pending domain's DNS records are looked up again, and for how long.
pub const DNS_RECHECK_EVERY: Duration = Duration::minutes(10);
pub const DNS_RECHECK_FOR: Duration = Duration::hours(48);

/// What a timer does when due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// End a trial or a paid term (subject: subscription).
    SubscriptionExpiry,
    /// Delete an expired subscription's data (subject: subscription).
    SubscriptionDataPurge,
    /// Expire a pending admin invitation (subject: invitation; stream: its organization).
    InvitationExpiry,
    /// Empty a mailbox from the recycle bin (subject: mailbox).
    MailboxPurge,
    /// Look up a pending domain's records again (subject: domain).
    DnsRecheck,
    /// End a migration task after its 30 days (subject: migration).
    MigrationExpiry,
}

impl TimerKind {
    /// Every kind.
    pub const ALL: [TimerKind; 6] = [
        TimerKind::SubscriptionExpiry,
        TimerKind::SubscriptionDataPurge,
        TimerKind::InvitationExpiry,
        TimerKind::MailboxPurge,
        TimerKind::DnsRecheck,
        TimerKind::MigrationExpiry,
    ];

    /// Its name in the timers table.
    pub fn name(self) -> &'static str {
        match self {
            TimerKind::SubscriptionExpiry => "subscription_expiry",
            TimerKind::SubscriptionDataPurge => "subscription_data_purge",
            TimerKind::InvitationExpiry => "invitation_expiry",
            TimerKind::MailboxPurge => "mailbox_purge",
            TimerKind::DnsRecheck => "dns_recheck",
            TimerKind::MigrationExpiry => "migration_expiry",
        }
    }

    /// The kind of that name.
    pub fn named(name: &str) -> Option<TimerKind> {
        TimerKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

async fn set(
    conn: &mut PgConnection,
    kind: TimerKind,
    subject: Uuid,
    stream: &str,
    due_at: DateTime<Utc>,
    not_after: Option<DateTime<Utc>>,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO timers (kind, subject, stream, due_at, not_after) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (kind, subject) DO UPDATE SET due_at = $4, not_after = $5",
    )
    .bind(kind.name())
    .bind(subject)
    .bind(stream)
    .bind(due_at)
    .bind(not_after)
    .execute(conn)
    .await?;
    Ok(())
}

async fn cancel(
    conn: &mut PgConnection,
    kind: TimerKind,
    subject: Uuid,
) -> Result<(), ProjectionError> {
    sqlx::query("DELETE FROM timers WHERE kind = $1 AND subject = $2")
        .bind(kind.name())
        .bind(subject)
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn apply(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let id = stream_id(event)?;
    let stream = event.stream_name.as_str();
    match event.category() {
        "subscription" => {
            use SubscriptionEvent as E;
            use TimerKind::{SubscriptionDataPurge as Purge, SubscriptionExpiry as Expiry};
            match decode_serde::<SubscriptionEvent>(event)? {
                E::TrialStarted {
                    trial_ends_at: at, ..
                }
                | E::SubscriptionPurchased { expires_at: at, .. }
                | E::TrialConverted { expires_at: at, .. } => {
                    set(conn, Expiry, id, stream, at, None).await
                }
                E::SubscriptionRenewed { expires_at, .. } => {
                    cancel(conn, Purge, id).await?;
                    set(conn, Expiry, id, stream, expires_at, None).await
                }
                E::TrialExpired { data_delete_due }
                | E::SubscriptionExpired { data_delete_due } => {
                    cancel(conn, Expiry, id).await?;
                    set(conn, Purge, id, stream, data_delete_due, None).await
                }
                E::Unsubscribed { .. } => cancel(conn, Expiry, id).await,
                E::SubscriptionDataPurged {} => cancel(conn, Purge, id).await,
                _ => Ok(()),
            }
        }
        "organization" => {
            use OrganizationEvent as E;
            match decode_serde::<OrganizationEvent>(event)? {
                E::AdminInvited {
                    invitation_id,
                    expires_at,
                    ..
                } => {
                    set(
                        conn,
                        TimerKind::InvitationExpiry,
                        invitation_id,
                        stream,
                        expires_at,
                        None,
                    )
                    .await
                }
                E::InvitationAccepted { invitation_id, .. }
                | E::InvitationRevoked { invitation_id }
                | E::InvitationExpired { invitation_id } => {
                    cancel(conn, TimerKind::InvitationExpiry, invitation_id).await
                }
                _ => Ok(()),
            }
        }
        "maildomain" => match decode_serde::<MailDomainEvent>(event)? {
            MailDomainEvent::DomainAdded { .. } => {
                let at = event.recorded_at;
                set(
                    conn,
                    TimerKind::DnsRecheck,
                    id,
                    stream,
                    at + DNS_RECHECK_EVERY,
                    Some(at + DNS_RECHECK_FOR),
                )
                .await
            }
            MailDomainEvent::DomainVerified { .. } | MailDomainEvent::DomainRemoved { .. } => {
                cancel(conn, TimerKind::DnsRecheck, id).await
            }
            _ => Ok(()),
        },
        "mailbox" => match decode_serde::<MailboxEvent>(event)? {
            MailboxEvent::MailboxClosed { purge_after, .. } => {
                set(conn, TimerKind::MailboxPurge, id, stream, purge_after, None).await
            }
            MailboxEvent::MailboxRestored {} | MailboxEvent::MailboxPurged { .. } => {
                cancel(conn, TimerKind::MailboxPurge, id).await
            }
            _ => Ok(()),
        },
        "migration" => match decode_serde::<MigrationEvent>(event)? {
            MigrationEvent::MigrationCreated { expires_at, .. } => {
                set(
                    conn,
                    TimerKind::MigrationExpiry,
                    id,
                    stream,
                    expires_at,
                    None,
                )
                .await
            }
            MigrationEvent::MigrationCancelled { .. } | MigrationEvent::MigrationExpired { .. } => {
                cancel(conn, TimerKind::MigrationExpiry, id).await
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}
