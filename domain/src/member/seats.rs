//! A member's seat: authorizing, revoking, and deleting (which frees it).

use super::*;

/// Deletes a disabled member: frees account and phone (claims of the event) and the
/// seat. Its mailbox goes to the recycle bin (the mailbox's own decision, on this event).
pub fn delete(
    member: &MemberState,
    subscription: &SubscriptionState,
) -> Result<(Vec<MemberEvent>, Vec<SubscriptionEvent>), DomainError> {
    require(member)?;
    if member.status != MemberStatus::Disabled {
        return Err(DomainError::MemberNotDisabled);
    }
    let member_id = member.id.ok_or(DomainError::NotFound("member"))?;
    Ok((
        vec![MemberEvent::MemberDeleted {
            account: member.account.clone(),
            phone: member.phone.clone(),
        }],
        subscription::release_seat(subscription, member_id, member.authorized_by),
    ))
}

/// The events of an authorization: per member, and the seats taken on the subscription.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Authorization {
    pub members: Vec<(Uuid, MemberEvent)>,
    pub seats: Vec<SubscriptionEvent>,
}

/// Authorizes members for the mail app under the organization's subscription. Every
/// member newly authorized takes a seat and is to get the credentials SMS; members already
/// authorized are left alone. Refused whole when the seats do not suffice.
pub fn authorize(
    members: &[&MemberState],
    organization: &OrganizationState,
    subscription: &SubscriptionState,
    now: DateTime<Utc>,
) -> Result<Authorization, DomainError> {
    let subscription_id = subscription.id.ok_or(DomainError::SubscriptionInactive)?;
    if organization.subscription_id != Some(subscription_id) {
        return Err(DomainError::SubscriptionInactive);
    }
    let mut newly = Vec::new();
    for m in members {
        require(m)?;
        let member_id = m.id.ok_or(DomainError::NotFound("member"))?;
        if m.organization_id != organization.id.unwrap_or_default() {
            return Err(DomainError::NotFound("member"));
        }
        if m.status != MemberStatus::Active {
            return Err(DomainError::MemberDisabled);
        }
        if m.authorized_by != Some(subscription_id) {
            newly.push(member_id);
        }
    }
    let seats = subscription::assign_seats(subscription, &newly, now)?;
    let members = newly
        .into_iter()
        .map(|id| {
            (
                id,
                MemberEvent::MemberAuthorized {
                    subscription_id,
                    send_credentials_sms: true,
                },
            )
        })
        .collect();
    Ok(Authorization { members, seats })
}

/// Revokes a member's authorization and frees the seat. An open mailbox of the member goes
/// to the recycle bin (the mailbox's own decision, on this event).
pub fn revoke(
    member: &MemberState,
    subscription: &SubscriptionState,
) -> Result<(Vec<MemberEvent>, Vec<SubscriptionEvent>), DomainError> {
    require(member)?;
    let member_id = member.id.ok_or(DomainError::NotFound("member"))?;
    match member.authorized_by {
        None => Ok((vec![], vec![])),
        Some(subscription_id) => Ok((
            vec![MemberEvent::MemberAuthorizationRevoked { subscription_id }],
            subscription::release_seat(subscription, member_id, member.authorized_by),
        )),
    }
}
