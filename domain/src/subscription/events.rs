//! What happens to a subscription: statuses, events, the state they fold into.

use super::*;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, Default,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubscriptionStatus {
    #[default]
    Trial,
    Active,
    Expired,
    Unsubscribed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum SubscriptionEvent {
    TrialStarted {
        subscription_id: Uuid,
        order_id: String,
        buyer_account_id: String,
        edition: String,
        seats: u32,
        started_at: DateTime<Utc>,
        trial_ends_at: DateTime<Utc>,
    },
    SubscriptionPurchased {
        subscription_id: Uuid,
        order_id: String,
        buyer_account_id: String,
        edition: String,
        seats: u32,
        months: u32,
        /// Charged, in minor units (fen for CNY) of `currency`.
        amount: i64,
        currency: String,
        activated_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    },
    TrialConverted {
        months: u32,
        /// Charged, in minor units (fen for CNY) of `currency`.
        amount: i64,
        currency: String,
        activated_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    },
    SeatsExpanded {
        added: u32,
        new_total: u32,
        remaining_days: u32,
        /// Charged, in minor units (fen for CNY) of `currency`.
        amount: i64,
        currency: String,
    },
    SubscriptionRenewed {
        months: u32,
        /// Charged, in minor units (fen for CNY) of `currency`.
        amount: i64,
        currency: String,
        /// Start of the renewed period: the previous end, or the renewal after a lapse.
        /// Absent in events recorded before it was named.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        starts_at: Option<DateTime<Utc>>,
        expires_at: DateTime<Utc>,
    },
    Unsubscribed {
        reason: Option<String>,
        /// Paid back, in minor units (fen for CNY) of `currency`.
        refund: i64,
        currency: String,
    },
    /// An unconverted trial ended; its organization's data is to be deleted now.
    TrialExpired {
        data_delete_due: DateTime<Utc>,
    },
    /// A paid subscription ran out; mailboxes are suspended, data deleted when due.
    SubscriptionExpired {
        data_delete_due: DateTime<Utc>,
    },
    SubscriptionDataPurged {},
    AppBound {
        organization_id: Uuid,
    },
    /// Its organization was dissolved: the subscription is free to bind another one.
    AppUnbound {
        organization_id: Uuid,
    },
    /// A member took one of the purchased seats.
    SeatAssigned {
        member_id: Uuid,
    },
    SeatReleased {
        member_id: Uuid,
    },
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SubscriptionState {
    pub id: Option<Uuid>,
    pub order_id: String,
    pub buyer_account_id: String,
    pub edition: String,
    pub seats: u32,
    pub status: SubscriptionStatus,
    pub trial_ends_at: Option<DateTime<Utc>>,
    /// When the paid subscription started (purchase or conversion).
    pub activated_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Everything charged so far, in minor units.
    pub paid: i64,
    pub currency: String,
    pub organization_id: Option<Uuid>,
    /// Seats held by authorized members (each member's stream says whether it holds one).
    pub seats_taken: u32,
    pub data_delete_due: Option<DateTime<Utc>>,
    pub data_purged: bool,
}

impl SubscriptionState {
    /// Seats not taken by an authorized member.
    pub fn available_seats(&self) -> u32 {
        self.seats.saturating_sub(self.seats_taken)
    }

    pub(crate) fn exists(&self) -> bool {
        self.id.is_some()
    }
}

/// The terms of a seat expansion, as the buyer is told them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatsExpansion {
    pub added: u32,
    pub new_total: u32,
    pub remaining_days: u32,
    /// Minor units of `currency`.
    pub amount: i64,
    pub currency: String,
}

impl SubscriptionEvent {
    /// The terms, when this is a seat expansion.
    pub fn seats_expansion(&self) -> Option<SeatsExpansion> {
        match self {
            SubscriptionEvent::SeatsExpanded {
                added,
                new_total,
                remaining_days,
                amount,
                currency,
            } => Some(SeatsExpansion {
                added: *added,
                new_total: *new_total,
                remaining_days: *remaining_days,
                amount: *amount,
                currency: currency.clone(),
            }),
            _ => None,
        }
    }
}
