//! Who administers an organization after it exists: an admin leaves (never the last one,
//! never the creator), and the creator hands the role to another admin (tencent manual
//! 2.14.2: "创建人是唯一的…支持转让创建人").

use super::*;

/// A manager removes the admin `account`. The creator stays until the role is transferred,
/// and the organization always keeps one admin: so an admin removes themselves only while
/// another remains.
pub fn remove_admin(
    s: &OrganizationState,
    account: &str,
    actor: &str,
) -> Result<Vec<OrganizationEvent>, DomainError> {
    require(s)?;
    if !s.may_manage(actor) {
        return Err(DomainError::NotAnAdmin);
    }
    if !s.admins.contains(account) {
        return Err(DomainError::NotFound("admin"));
    }
    if account == s.creator_account {
        return Err(DomainError::CreatorNotRemovable);
    }
    if s.admins.len() < 2 {
        return Err(DomainError::LastAdmin);
    }
    Ok(vec![OrganizationEvent::AdminRemoved {
        account: account.to_owned(),
    }])
}

/// The creator makes the admin `account` the creator; the previous creator stays an admin
/// (and can then be removed like any other).
pub fn transfer_creator(
    s: &OrganizationState,
    account: &str,
    actor: &str,
) -> Result<Vec<OrganizationEvent>, DomainError> {
    require(s)?;
    if actor != s.creator_account || !s.may_manage(actor) {
        return Err(DomainError::NotCreator);
    }
    if !s.admins.contains(account) {
        return Err(DomainError::NotFound("admin"));
    }
    if account == s.creator_account {
        return Ok(vec![]);
    }
    Ok(vec![OrganizationEvent::CreatorTransferred {
        previous_creator: s.creator_account.clone(),
        account: account.to_owned(),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Decider;

    const ORG: Uuid = Uuid::from_u128(0x0f3c);

    fn created(creator: &str, as_reseller: bool) -> OrganizationEvent {
        OrganizationEvent::OrganizationCreated {
            organization_id: ORG,
            name: "阿克米".into(),
            identifier: "acme".into(),
            creator_account: creator.into(),
            as_reseller,
        }
    }

    fn accepted(n: u128, account: &str) -> OrganizationEvent {
        OrganizationEvent::InvitationAccepted {
            invitation_id: Uuid::from_u128(n),
            account: account.into(),
        }
    }

    #[test]
    fn an_admin_is_removed_but_never_the_last_one_nor_the_creator() {
        let alone = Organization::fold(&[created("buyer-1", false)]);
        assert_eq!(
            remove_admin(&alone, "buyer-1", "buyer-1"),
            Err(DomainError::CreatorNotRemovable)
        );
        let two = Organization::fold(&[created("buyer-1", false), accepted(1, "lina")]);
        let removed = remove_admin(&two, "lina", "buyer-1").unwrap();
        assert_eq!(
            removed,
            vec![OrganizationEvent::AdminRemoved {
                account: "lina".into()
            }]
        );
        let after = removed.iter().fold(two.clone(), Organization::evolve);
        assert!(!after.may_manage("lina"), "a removed admin manages nothing");
        // An admin leaves on their own while another remains.
        assert!(remove_admin(&two, "lina", "lina").is_ok());
        assert_eq!(
            remove_admin(&two, "stranger", "buyer-1"),
            Err(DomainError::NotFound("admin"))
        );
        assert_eq!(
            remove_admin(&two, "lina", "stranger"),
            Err(DomainError::NotAnAdmin)
        );
        // A reseller's organization: the two invited admins, then one.
        let resold = Organization::fold(&[
            created("reseller", true),
            accepted(1, "lina"),
            accepted(2, "wang"),
        ]);
        let one_left = remove_admin(&resold, "wang", "lina")
            .unwrap()
            .iter()
            .fold(resold, Organization::evolve);
        assert_eq!(
            remove_admin(&one_left, "lina", "lina"),
            Err(DomainError::LastAdmin)
        );
    }

    #[test]
    fn the_creator_transfers_the_role_to_an_admin_and_can_then_be_removed() {
        let two = Organization::fold(&[created("buyer-1", false), accepted(1, "lina")]);
        assert_eq!(
            transfer_creator(&two, "lina", "lina"),
            Err(DomainError::NotCreator)
        );
        assert_eq!(
            transfer_creator(&two, "stranger", "buyer-1"),
            Err(DomainError::NotFound("admin"))
        );
        let events = transfer_creator(&two, "lina", "buyer-1").unwrap();
        assert_eq!(
            events,
            vec![OrganizationEvent::CreatorTransferred {
                previous_creator: "buyer-1".into(),
                account: "lina".into()
            }]
        );
        let after = events.iter().fold(two, Organization::evolve);
        assert_eq!(after.creator_account, "lina");
        assert!(
            after.may_manage("buyer-1"),
            "the previous creator stays an admin"
        );
        assert_eq!(
            remove_admin(&after, "buyer-1", "lina").unwrap(),
            vec![OrganizationEvent::AdminRemoved {
                account: "buyer-1".into()
            }]
        );
    }
}
