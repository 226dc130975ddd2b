//! What one stream's events ask of another: the reactions that a process manager (in the
//! workers) turns into commands. Kept here so the rules read in one place.

use crate::mailbox::{CloseReason, MailboxCommand};
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
        assert_eq!(
            mailbox_command_for_member_event(&MemberEvent::MemberDisabled {}),
            None
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
    fn replacing_a_domain_renames_its_mailboxes() {
        let replaced = MailDomainEvent::DomainReplaced {
            previous_name: "acme.cn".into(),
            name: "acme.com.cn".into(),
            display_name: "acme.com.cn".into(),
            results: vec![],
        };
        assert_eq!(
            mailbox_command_for_domain_event(&replaced),
            Some(MailboxCommand::Rename {
                domain_name: "acme.com.cn".into()
            })
        );
    }
}
