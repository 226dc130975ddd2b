//! `buyer-{account}`: refunds granted to one buyer account, and unsubscribing with one.

use super::*;

/// `buyer-{account}`: refunds granted to one buyer account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum BuyerEvent {
    RefundGranted {
        subscription_id: Uuid,
        /// Paid back, in minor units (fen for CNY) of `currency`.
        amount: i64,
        /// Events recorded before the currency was named are CNY.
        #[serde(default = "crate::pricing::default_currency")]
        currency: String,
        granted_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuyerState {
    pub refunds: Vec<DateTime<Utc>>,
}

impl BuyerState {
    pub fn evolve(mut self, event: &BuyerEvent) -> Self {
        match event {
            BuyerEvent::RefundGranted { granted_at, .. } => self.refunds.push(*granted_at),
        }
        self
    }
}

/// Unsubscribes a paid subscription with a full refund: within 5 days of activation, at
/// most 10 times per buyer account in any 365 days, never for trials. Decided over the
/// subscription and the buyer's streams together.
pub fn unsubscribe(
    s: &SubscriptionState,
    buyer: &BuyerState,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<(Vec<SubscriptionEvent>, Vec<BuyerEvent>), DomainError> {
    require(s)?;
    if s.status == SubscriptionStatus::Trial {
        return Err(DomainError::TrialNotAllowed);
    }
    if s.status != SubscriptionStatus::Active {
        return Err(DomainError::SubscriptionInactive);
    }
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(DomainError::invalid(
            "reason",
            "must be at most 500 characters",
        ));
    }
    if s.activated_at
        .is_none_or(|a| now > a + Duration::days(REFUND_WINDOW_DAYS))
    {
        return Err(DomainError::RefundWindowClosed);
    }
    let year_ago = now - Duration::days(365);
    if buyer.refunds.iter().filter(|r| **r > year_ago).count() >= REFUNDS_PER_YEAR {
        return Err(DomainError::RefundLimitReached);
    }
    let subscription_id = s.id.ok_or(DomainError::NotFound("subscription"))?;
    Ok((
        vec![SubscriptionEvent::Unsubscribed {
            reason,
            refund: s.paid,
            currency: s.currency.clone(),
        }],
        vec![BuyerEvent::RefundGranted {
            subscription_id,
            amount: s.paid,
            currency: s.currency.clone(),
            granted_at: now,
        }],
    ))
}
