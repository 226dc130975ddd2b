//! What an operator sets about how far callers may go: webhook targets, message rates, batch
//! sizes. One value per application, read by the use cases (never by a resolver alone).

use crate::webhook::Targets;

/// Limits and allowances of the use cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where webhooks may point.
    pub webhook_targets: Targets,
    /// Which old servers a mail migration may connect to.
    pub migration_sources: Targets,
    /// Text messages (invitations, password resets) one organization may ask for per hour.
    pub sms_per_organization_per_hour: u32,
    /// Text messages one phone may get per hour (from every organization).
    pub sms_per_phone_per_hour: u32,
    /// How long webhook delivery logs, parked events and idempotency records are kept.
    pub retention: chrono::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            webhook_targets: Targets::PublicOnly,
            migration_sources: Targets::PublicOnly,
            sms_per_organization_per_hour: 30,
            sms_per_phone_per_hour: 5,
            retention: chrono::Duration::days(30),
        }
    }
}
