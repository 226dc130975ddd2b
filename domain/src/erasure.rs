//! Erasing a person's data from the log (crypto-shredding): why it happened. The erasure
//! is an event of its own and carries none of the erased data.

use serde::{Deserialize, Serialize};

/// Why personal data was erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErasureReason {
    /// A manager erased a deleted member.
    ByManager,
    /// An operator carried out the person's own erasure request (PIPL/GDPR).
    PersonsRequest,
    /// The organization was dissolved.
    OrganizationDissolved,
    /// The subscription's data was deleted (a trial's at expiry, a paid term's 30 days on).
    SubscriptionDataPurged,
}
