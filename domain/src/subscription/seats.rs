//! Seats: when a subscription is in service, and taking and giving back seats.

use super::*;

/// Whether members can be authorized and use the app under this subscription.
pub fn in_service(s: &SubscriptionState, now: DateTime<Utc>) -> bool {
    match s.status {
        SubscriptionStatus::Trial => s.trial_ends_at.is_some_and(|e| now < e),
        SubscriptionStatus::Active => s.expires_at.is_some_and(|e| now < e),
        _ => false,
    }
}

/// Gives each of `member_ids` (members holding no seat of this subscription, as their own
/// streams say) a seat, or refuses them all with the number of seats free: the seat count
/// lives in this one stream, so concurrent authorizations are exact.
pub fn assign_seats(
    s: &SubscriptionState,
    member_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Vec<SubscriptionEvent>, DomainError> {
    require(s)?;
    if !in_service(s, now) {
        return Err(DomainError::SubscriptionInactive);
    }
    let new: BTreeSet<Uuid> = member_ids.iter().copied().collect();
    let requested = u32::try_from(new.len()).unwrap_or(u32::MAX);
    if requested > s.available_seats() {
        return Err(DomainError::SeatsExhausted {
            available: s.available_seats(),
            requested,
        });
    }
    Ok(new
        .into_iter()
        .map(|member_id| SubscriptionEvent::SeatAssigned { member_id })
        .collect())
}

/// Frees the seat of a member, if it holds one of this subscription (`held_by`, from the
/// member's stream).
pub fn release_seat(
    s: &SubscriptionState,
    member_id: Uuid,
    held_by: Option<Uuid>,
) -> Vec<SubscriptionEvent> {
    if s.id.is_some() && held_by == s.id && s.seats_taken > 0 {
        vec![SubscriptionEvent::SeatReleased { member_id }]
    } else {
        vec![]
    }
}
