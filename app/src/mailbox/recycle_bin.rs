//! The recycle bin: restoring a mailbox (to its member, or given to another), purging it
//! on request, when due, or at once when its subscription's data or its organization goes.

use super::*;

/// A manager (or a renewal, through the policy) restores a mailbox from the recycle bin;
/// its member must be active and authorized.
pub async fn restore(
    app: &App,
    request: &Request,
    mailbox_id: Uuid,
) -> Result<Executed<MailboxState>, AppError> {
    access::require_manager_of(app.pool(), request, Owned::Mailbox, mailbox_id).await?;
    let state = app.load::<Mailbox>(&streams::mailbox(mailbox_id)).await?;
    let member = app
        .load::<Member>(&streams::member(state.member_id))
        .await?;
    let command = MailboxCommand::Restore {
        member_may_use_mail: member.may_use_mail(),
    };
    run(app, request, mailbox_id, command).await
}

/// A manager gives a mailbox in the recycle bin (a deleted member's, say) to another active,
/// authorized member of the organization who holds no mailbox, and restores it: the new
/// member logs in with their own password and finds the old mail.
pub async fn reassign(
    app: &App,
    request: &Request,
    mailbox_id: Uuid,
    member_id: Uuid,
) -> Result<Executed<MailboxState>, AppError> {
    let (organization_id, _) =
        access::require_manager_of(app.pool(), request, Owned::Mailbox, mailbox_id).await?;
    same_organization(app, organization_id, Owned::Member, member_id).await?;
    let member = app.load::<Member>(&streams::member(member_id)).await?;
    let holds = read::open_mailboxes_of_member(app.pool(), member_id).await?;
    let command = MailboxCommand::Reassign {
        member_id,
        member_organization_id: member.organization_id,
        member_may_use_mail: member.may_use_mail(),
        member_has_mailbox: !holds.is_empty(),
    };
    // The restore claims the new member's one mailbox: a race with another opening for
    // them ends in MEMBER_HAS_MAILBOX.
    let stream = streams::mailbox(mailbox_id);
    app.run::<Mailbox>(request, &stream, command, move |e| e.claims(member_id))
        .await
}

/// A manager empties a mailbox from the recycle bin now; its address becomes free.
pub async fn purge(
    app: &App,
    request: &Request,
    mailbox_id: Uuid,
) -> Result<Executed<MailboxState>, AppError> {
    access::require_manager_of(app.pool(), request, Owned::Mailbox, mailbox_id).await?;
    run(app, request, mailbox_id, MailboxCommand::Purge).await
}

/// The recycle-bin timer: purges the mailbox when its 30 days are over.
pub async fn purge_if_due(
    app: &App,
    request: &Request,
    mailbox_id: Uuid,
) -> Result<Executed<MailboxState>, AppError> {
    system(request)?;
    run(app, request, mailbox_id, MailboxCommand::PurgeIfDue).await
}

/// An expired subscription's data is due: the mailbox is closed and purged.
pub(crate) async fn close_for_purge(
    app: &App,
    request: &Request,
    mailbox_id: Uuid,
) -> Result<(), AppError> {
    purge_with(app, request, mailbox_id, CloseReason::SubscriptionExpired).await
}

/// Its organization was dissolved (the process manager): the mailbox and its mail are
/// deleted now, not after 30 days, and its address is free.
pub async fn purge_for_dissolution(
    app: &App,
    request: &Request,
    mailbox_id: Uuid,
) -> Result<(), AppError> {
    system(request)?;
    purge_with(app, request, mailbox_id, CloseReason::OrganizationDissolved).await
}

async fn purge_with(
    app: &App,
    request: &Request,
    mailbox_id: Uuid,
    reason: CloseReason,
) -> Result<(), AppError> {
    let close = MailboxCommand::Close { reason };
    run(app, request, mailbox_id, close).await?;
    run(app, request, mailbox_id, MailboxCommand::Purge).await?;
    Ok(())
}

/// A renewal gives back a mailbox the expiry closed, when its member may still use mail;
/// answers whether it was restored (a refusal by the rules leaves it closed).
pub async fn restore_after_renewal(
    app: &App,
    request: &Request,
    mailbox_id: Uuid,
) -> Result<bool, AppError> {
    system(request)?;
    let state = app.load::<Mailbox>(&streams::mailbox(mailbox_id)).await?;
    if !domain::policy::restored_on_renewal(&state) {
        return Ok(false);
    }
    match restore(app, request, mailbox_id).await {
        Ok(_) => Ok(true),
        Err(AppError::Refused(reason)) => {
            tracing::info!(mailbox = %mailbox_id, %reason, "not restored after renewal");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
