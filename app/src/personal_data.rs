//! Erasing people (PIPL/GDPR) from a log that is never rewritten: the erasure is an event of
//! its own, appended in the transaction that deletes the person's data key, after which
//! every event about them reads `"[erased]"` in its personal fields.

use domain::erasure::ErasureReason;
use domain::mailbox::{CloseReason, Mailbox, MailboxCommand, MailboxStatus};
use domain::member::{self, Member};
use domain::organization::{Organization, OrganizationCommand};
use domain::Decider;
use uuid::Uuid;

use crate::access::{self, Owned};
use crate::command::Change;
use crate::error::AppError;
use crate::personal::member_subject;
use crate::{read, streams, App, Executed, Request};

/// A manager erases a deleted member: name, account, phone, e-mail and mailbox addresses,
/// in every event. Mailboxes still in the recycle bin are purged with it (their mail is a
/// person's data too, and an address read back as "[erased]" could not be freed later).
pub async fn erase_member(
    app: &App,
    request: &Request,
    member_id: Uuid,
) -> Result<Executed<()>, AppError> {
    access::require_manager_of(app.pool(), request, Owned::Member, member_id).await?;
    erase(app, request, member_id, ErasureReason::ByManager).await
}

/// An operator carries out a person's erasure request, in any organization; the member
/// must be deleted first, as for a manager.
pub async fn erase_member_on_request(
    app: &App,
    request: &Request,
    member_id: Uuid,
) -> Result<Executed<()>, AppError> {
    if !request.is_operator() && !request.is_system() {
        request.principal()?;
        return Err(AppError::Forbidden);
    }
    erase(app, request, member_id, ErasureReason::PersonsRequest).await
}

async fn erase(
    app: &App,
    request: &Request,
    member_id: Uuid,
    reason: ErasureReason,
) -> Result<Executed<()>, AppError> {
    let m = streams::member(member_id);
    let mailboxes: Vec<String> = read::mailboxes_kept_of_member(app.pool(), member_id)
        .await?
        .into_iter()
        .map(|id| streams::mailbox(id).into())
        .collect();
    let mut names = vec![m.to_string()];
    names.extend(mailboxes.iter().cloned());
    let now = app.now();
    app.handler
        .execute_tracked(&request.context(), &names, |loaded| {
            let state = loaded.state::<Member>(&m)?;
            let events = member::erase(&state, reason)?;
            if events.is_empty() {
                return Ok(((), vec![]));
            }
            let mut changes = Vec::new();
            for stream in &mailboxes {
                let mailbox = loaded.state::<Mailbox>(stream)?;
                let mut purging = Vec::new();
                let mut s = mailbox.clone();
                if !matches!(s.status, MailboxStatus::Closed | MailboxStatus::Purged) {
                    let close = MailboxCommand::Close {
                        reason: CloseReason::MemberDeleted,
                    };
                    for e in Mailbox::decide(&s, close, now)? {
                        s = Mailbox::evolve(s, &e);
                        purging.push(e);
                    }
                }
                if s.status == MailboxStatus::Closed {
                    purging.extend(Mailbox::decide(&s, MailboxCommand::Purge, now)?);
                }
                changes.push(Change::claiming(stream, &purging, |e| {
                    e.claims(mailbox.member_id)
                })?);
            }
            changes.push(Change::new(&m, &events)?.erasing([member_subject(member_id)]));
            Ok(((), changes))
        })
        .await
}

/// Erases everyone in an organization whose subscription's data was deleted (the data
/// deletion timer); dissolving an organization erases it in the same way.
pub(crate) async fn erase_organization(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    reason: ErasureReason,
) -> Result<Executed<()>, AppError> {
    let stream = streams::organization(organization_id);
    let now = app.now();
    let done = app
        .handler
        .execute_tracked(&request.context(), &[stream.to_string()], |loaded| {
            let state = loaded.state::<Organization>(&stream)?;
            let events = Organization::decide(
                &state,
                OrganizationCommand::ErasePersonalData { reason },
                now,
            )?;
            Ok((
                (),
                vec![Change::new(&stream, &events)?.erasing_organization(organization_id)],
            ))
        })
        .await?;
    // The creator's phone is kept outside the log: it goes with everyone else's data.
    app.secrets()
        .delete(crate::secrets::Purpose::CreatorPhone, organization_id)
        .await?;
    Ok(done)
}
