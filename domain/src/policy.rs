//! What one stream's events ask of another: the reactions that a process manager (in the
//! workers) turns into commands. Kept here so the rules read in one place.

use crate::mailbox::{CloseReason, MailboxCommand};
use crate::maildomain::MailDomainEvent;
use crate::member::MemberEvent;

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
