//! Binding the mail app: one subscription to one organization, on both streams.

use super::*;

/// Binds a subscription to an organization, one to one, recorded on both streams. The
/// subscription must be a running trial or active.
pub fn bind_app(
    organization: &OrganizationState,
    subscription: &SubscriptionState,
    now: DateTime<Utc>,
) -> Result<(Vec<OrganizationEvent>, Vec<SubscriptionEvent>), DomainError> {
    let organization_id = require(organization)?;
    let subscription_id = subscription
        .id
        .ok_or(DomainError::NotFound("subscription"))?;
    if !subscription::in_service(subscription, now) {
        return Err(DomainError::SubscriptionInactive);
    }
    match (organization.subscription_id, subscription.organization_id) {
        (Some(s), Some(o)) if s == subscription_id && o == organization_id => Ok((vec![], vec![])),
        (None, None) => Ok((
            vec![OrganizationEvent::AppBound { subscription_id }],
            vec![SubscriptionEvent::AppBound { organization_id }],
        )),
        (Some(_), _) => Err(DomainError::OtherSubscriptionBound),
        (None, Some(_)) => Err(DomainError::SubscriptionAlreadyUsed),
    }
}
