//! Dissolving an organization: a one-time code by SMS to the admin who asks
//! (koomail-faq 5.1 "解散组织需管理员短信验证通过后解散"), then the dissolution, which lets go
//! of the mail app (the subscription can be bound again) as well as the identifier.

use super::*;

/// A dissolution code is valid this long.
pub const DISSOLUTION_CODE_MINUTES: i64 = 10;

/// An admin asks for the SMS code that confirms a dissolution. Refused at once when the
/// organization could not be dissolved anyway (no text message for nothing).
pub fn request_dissolution(
    s: &OrganizationState,
    actor: &str,
    members_left: u32,
    now: DateTime<Utc>,
) -> Result<Vec<OrganizationEvent>, DomainError> {
    require(s)?;
    if !s.may_manage(actor) {
        return Err(DomainError::NotAnAdmin);
    }
    if !s.departments.is_empty() || members_left > 0 {
        return Err(DomainError::OrganizationNotEmpty);
    }
    Ok(vec![OrganizationEvent::DissolutionRequested {
        account: actor.to_owned(),
        expires_at: now + Duration::minutes(DISSOLUTION_CODE_MINUTES),
    }])
}

/// Dissolves the organization (its own rules: `OrganizationCommand::Dissolve`) and unbinds
/// the mail app it was bound to, recorded on both streams.
pub fn dissolve(
    organization: &OrganizationState,
    subscription: Option<&SubscriptionState>,
    command: OrganizationCommand,
    now: DateTime<Utc>,
) -> Result<(Vec<OrganizationEvent>, Vec<SubscriptionEvent>), DomainError> {
    let organization_id = require(organization)?;
    let events = <Organization as crate::Decider>::decide(organization, command, now)?;
    let unbound = match subscription {
        Some(s) if s.organization_id == Some(organization_id) => {
            vec![SubscriptionEvent::AppUnbound { organization_id }]
        }
        _ => vec![],
    };
    Ok((events, unbound))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::t0;
    use crate::subscription::Subscription;
    use crate::Decider;

    const ORG: Uuid = Uuid::from_u128(0x0f3c);
    const SUB: Uuid = Uuid::from_u128(5);

    fn organization() -> OrganizationState {
        Organization::fold(&[
            OrganizationEvent::OrganizationCreated {
                organization_id: ORG,
                name: "阿克米".into(),
                identifier: "acme".into(),
                creator_account: "buyer-1".into(),
                as_reseller: false,
            },
            OrganizationEvent::AppBound {
                subscription_id: SUB,
            },
        ])
    }

    fn bound_trial() -> SubscriptionState {
        let mut s = SubscriptionState {
            id: Some(SUB),
            ..SubscriptionState::default()
        };
        s = Subscription::evolve(
            s,
            &SubscriptionEvent::AppBound {
                organization_id: ORG,
            },
        );
        s
    }

    fn dissolve_command() -> OrganizationCommand {
        OrganizationCommand::Dissolve {
            confirm_identifier: "acme".into(),
            actor: "buyer-1".into(),
            members_left: 0,
        }
    }

    #[test]
    fn a_dissolution_code_is_asked_by_an_admin_of_an_empty_organization_only() {
        let s = organization();
        assert_eq!(
            request_dissolution(&s, "buyer-1", 0, t0()).unwrap(),
            vec![OrganizationEvent::DissolutionRequested {
                account: "buyer-1".into(),
                expires_at: t0() + Duration::minutes(10),
            }]
        );
        assert_eq!(
            request_dissolution(&s, "stranger", 0, t0()),
            Err(DomainError::NotAnAdmin)
        );
        assert_eq!(
            request_dissolution(&s, "buyer-1", 3, t0()),
            Err(DomainError::OrganizationNotEmpty)
        );
    }

    #[test]
    fn dissolving_unbinds_the_app_so_the_subscription_binds_again() {
        let sub = bound_trial();
        let (org_events, sub_events) =
            dissolve(&organization(), Some(&sub), dissolve_command(), t0()).unwrap();
        assert!(matches!(
            org_events[0],
            OrganizationEvent::OrganizationDissolved { .. }
        ));
        assert_eq!(
            sub_events,
            vec![SubscriptionEvent::AppUnbound {
                organization_id: ORG
            }]
        );
        let free = sub_events.iter().fold(sub, Subscription::evolve);
        assert_eq!(free.organization_id, None);
        // An organization without an app dissolves alone.
        let (_, none) = dissolve(&organization(), None, dissolve_command(), t0()).unwrap();
        assert!(none.is_empty());
        // A refusal by the organization's rules writes nothing on either stream.
        let wrong = OrganizationCommand::Dissolve {
            confirm_identifier: "other".into(),
            actor: "buyer-1".into(),
            members_left: 0,
        };
        assert!(dissolve(&organization(), Some(&bound_trial()), wrong, t0()).is_err());
    }
}
