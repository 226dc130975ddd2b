//! What an operator sets about how far callers may go: webhook targets, message rates, batch
//! sizes. One value per application, read by the use cases (never by a resolver alone).

use crate::webhook::Targets;

/// Limits and allowances of the use cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where webhooks may point.
    pub webhook_targets: Targets,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            webhook_targets: Targets::PublicOnly,
        }
    }
}
