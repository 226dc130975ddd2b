//! What one stream's events ask of another: the reactions that a process manager (in the
//! workers) turns into commands. Kept here so the rules read in one place.

use crate::mailbox::{CloseReason, MailboxCommand, MailboxState, MailboxStatus};
use crate::maildomain::MailDomainEvent;
use crate::member::MemberEvent;
use crate::subscription::SubscriptionEvent;

/// What a member event asks of that member's open mailbox.
pub fn mailbox_command_for_member_event(event: &MemberEvent) -> Option<MailboxCommand> {
    match event {
        // Deleting a member sends its mailbox to the recycle bin.
        MemberEvent::MemberDeleted { .. } => Some(MailboxCommand::Close {
            reason: CloseReason::MemberDeleted,
        }),
        // A disabled member is out of service: no login reaches the mail, which is kept.
        MemberEvent::MemberDisabled {} => Some(MailboxCommand::Suspend),
        MemberEvent::MemberEnabled {} => Some(MailboxCommand::Resume),
        // Revoking the authorization sends an open mailbox to the recycle bin.
        MemberEvent::MemberAuthorizationRevoked { .. } => Some(MailboxCommand::Close {
            reason: CloseReason::AuthorizationRevoked,
        }),
        _ => None,
    }
}

/// What a mail domain event asks of every mailbox on that domain.
pub fn mailbox_command_for_domain_event(event: &MailDomainEvent) -> Option<MailboxCommand> {
    match event {
        // A replaced domain renames every mailbox on it; the mail stays.
        MailDomainEvent::DomainReplaced { name, .. } => Some(MailboxCommand::Rename {
            domain_name: name.clone(),
        }),
        _ => None,
    }
}

/// What a subscription event asks of every open mailbox of its organization.
pub fn mailbox_command_for_subscription_event(event: &SubscriptionEvent) -> Option<MailboxCommand> {
    match event {
        // An ended trial or term suspends mail: into the recycle bin, purged with the data.
        SubscriptionEvent::TrialExpired { .. } | SubscriptionEvent::SubscriptionExpired { .. } => {
            Some(MailboxCommand::Close {
                reason: CloseReason::SubscriptionExpired,
            })
        }
        _ => None,
    }
}

/// Whether a subscription event gives back the mailboxes its expiry closed.
pub fn reopens_mailboxes(event: &SubscriptionEvent) -> bool {
    // Renewed after the term lapsed, within the 30 days before the data is deleted.
    matches!(event, SubscriptionEvent::SubscriptionRenewed { .. })
}

/// Whether a renewal restores this mailbox: only one the expiry closed (one an admin
/// closed, or whose member left, stays in the recycle bin).
pub fn restored_on_renewal(mailbox: &MailboxState) -> bool {
    mailbox.status == MailboxStatus::Closed
        && mailbox.close_reason == Some(CloseReason::SubscriptionExpired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn deleting_or_revoking_a_member_closes_the_mailbox() {
        assert_eq!(
            mailbox_command_for_member_event(&MemberEvent::MemberDeleted {
                account: "zw".into(),
                phone: None
            }),
            Some(MailboxCommand::Close {
                reason: CloseReason::MemberDeleted
            })
        );
        assert_eq!(
            mailbox_command_for_member_event(&MemberEvent::MemberAuthorizationRevoked {
                subscription_id: Uuid::nil()
            }),
            Some(MailboxCommand::Close {
                reason: CloseReason::AuthorizationRevoked
            })
        );
    }

    #[test]
    fn disabling_a_member_suspends_the_mailbox_and_enabling_resumes_it() {
        assert_eq!(
            mailbox_command_for_member_event(&MemberEvent::MemberDisabled {}),
            Some(MailboxCommand::Suspend)
        );
        assert_eq!(
            mailbox_command_for_member_event(&MemberEvent::MemberEnabled {}),
            Some(MailboxCommand::Resume)
        );
    }

    #[test]
    fn an_ended_subscription_closes_its_mailboxes() {
        let close = Some(MailboxCommand::Close {
            reason: CloseReason::SubscriptionExpired,
        });
        let due = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        assert_eq!(
            mailbox_command_for_subscription_event(&SubscriptionEvent::TrialExpired {
                data_delete_due: due
            }),
            close
        );
        assert_eq!(
            mailbox_command_for_subscription_event(&SubscriptionEvent::SubscriptionExpired {
                data_delete_due: due
            }),
            close
        );
        assert_eq!(
            mailbox_command_for_subscription_event(&SubscriptionEvent::SubscriptionDataPurged {}),
            None
        );
    }

    #[test]
    fn a_renewal_restores_only_what_the_expiry_closed() {
        use crate::mailbox::{Mailbox, MailboxEvent};
        use crate::Decider;
        let opened = MailboxEvent::MailboxOpened {
            mailbox_id: Uuid::nil(),
            organization_id: Uuid::nil(),
            member_id: Uuid::nil(),
            domain_id: Uuid::nil(),
            address: "zw@acme.cn".into(),
        };
        let closed = |reason| MailboxEvent::MailboxClosed {
            reason,
            closed_at: chrono::DateTime::UNIX_EPOCH,
            purge_after: chrono::DateTime::UNIX_EPOCH,
        };
        let state =
            |events: &[MailboxEvent]| events.iter().fold(MailboxState::default(), Mailbox::evolve);
        let by_expiry = state(&[opened.clone(), closed(CloseReason::SubscriptionExpired)]);
        let by_admin = state(&[opened.clone(), closed(CloseReason::ByAdmin)]);
        let restored = state(&[
            opened,
            closed(CloseReason::SubscriptionExpired),
            MailboxEvent::MailboxRestored {},
        ]);
        assert!(restored_on_renewal(&by_expiry));
        assert!(!restored_on_renewal(&by_admin));
        assert!(!restored_on_renewal(&restored));
        assert!(reopens_mailboxes(&SubscriptionEvent::SubscriptionRenewed {
            months: 1,
            amount: 0,
            currency: "CNY".into(),
            starts_at: None,
            expires_at: chrono::DateTime::UNIX_EPOCH,
        }));
    }

    #[test]
    fn replacing_a_domain_renames_its_mailboxes() {
        let replaced = MailDomainEvent::DomainReplaced {
            previous_name: "acme.cn".into(),
            name: "acme.com.cn".into(),
            display_name: "acme.com.cn".into(),
            results: vec![],
            organization_id: Uuid::nil(),
        };
        assert_eq!(
            mailbox_command_for_domain_event(&replaced),
            Some(MailboxCommand::Rename {
                domain_name: "acme.com.cn".into()
            })
        );
    }
}
