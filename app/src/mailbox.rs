//! Mailboxes: opening (one, or many with default addresses), closing into the recycle bin,
//! restoring, purging, retrying a failed provisioning; the data plane's outcomes; and the
//! commands the policies and timers give mailboxes.

use std::collections::HashMap;

use domain::mailbox::{
    self, AddressHolder, CloseReason, Mailbox, MailboxCommand, MailboxEvent, MailboxState,
    OpenMailbox,
};
use domain::maildomain::MailDomain;
use domain::member::{Member, MemberState};
use uuid::Uuid;

use crate::access::{self, Owned};
use crate::command::Change;
use crate::error::AppError;
use crate::{read, streams, App, Executed, Request};

mod recycle_bin;

pub(crate) use recycle_bin::close_for_purge;
pub use recycle_bin::{
    purge, purge_for_dissolution, purge_if_due, reassign, restore, restore_after_renewal,
};

/// A manager opens a mailbox for an authorized member on a verified domain of the same
/// organization. Without a local part, the pinyin of the member's name (a taken one gets
/// 1, 2, 3…). Answers the mailbox's id.
pub async fn open(
    app: &App,
    request: &Request,
    member_id: Uuid,
    domain_id: Uuid,
    local_part: Option<String>,
) -> Result<Executed<Uuid>, AppError> {
    let (organization_id, _) =
        access::require_manager_of(app.pool(), request, Owned::Member, member_id).await?;
    same_organization(app, organization_id, Owned::MailDomain, domain_id).await?;
    let prefix = match local_part.as_deref().map(mailbox::local_part) {
        Some(Ok(l)) => l,
        // Refused by the decision below, with its own message.
        Some(Err(_)) => String::new(),
        None => {
            let member = app.load::<Member>(&streams::member(member_id)).await?;
            mailbox::default_local_part(&member.name, &member.account)
        }
    };
    let holders = holders(app, domain_id, &[prefix]).await?;
    open_one(app, request, member_id, domain_id, local_part, &holders).await
}

/// A manager opens mailboxes with default addresses for several members; each member is
/// decided on its own (`domain::mailbox::open_batch`: addresses chosen for earlier members
/// count as taken), and those refused are left out. Answers the opened mailboxes' ids.
pub async fn open_many(
    app: &App,
    request: &Request,
    member_ids: &[Uuid],
    domain_id: Uuid,
) -> Result<Executed<Vec<Uuid>>, AppError> {
    AppError::check_batch("memberIds", member_ids.len(), domain::member::MAX_BATCH_IDS)?;
    let organization_id = access::organization_of(app.pool(), Owned::MailDomain, domain_id)
        .await?
        .ok_or(AppError::Forbidden)?;
    access::require_manager(app.pool(), request, organization_id).await?;
    let owners = access::organizations_of(app.pool(), Owned::Member, member_ids).await?;
    if member_ids
        .iter()
        .any(|m| owners.get(m) != Some(&organization_id))
    {
        return Err(AppError::Forbidden);
    }
    let domain = app
        .load::<MailDomain>(&streams::maildomain(domain_id))
        .await?;
    let names: Vec<String> = member_ids
        .iter()
        .map(|m| streams::member(*m).to_string())
        .collect();
    let loaded = app.handler.load_many(&names).await?;
    let mut members: Vec<(MemberState, Uuid)> = Vec::with_capacity(member_ids.len());
    for name in &names {
        members.push((loaded.state::<Member>(name)?, Uuid::now_v7()));
    }
    let prefixes: Vec<String> = members
        .iter()
        .map(|(m, _)| mailbox::default_local_part(&m.name, &m.account))
        .collect();
    let holders = read::address_holders(app.pool(), &domain.name, &prefixes).await?;
    let lookup = |a: &str| holders.get(a).copied();
    let refs: Vec<(&MemberState, Uuid)> = members.iter().map(|(m, id)| (m, *id)).collect();
    let decisions = mailbox::open_batch(&refs, &domain, &lookup);
    let mut chosen: Vec<(Uuid, Option<String>)> = Vec::new();
    for ((member, _), decision) in members.iter().zip(decisions) {
        let Ok(events) = decision else { continue };
        let Some(MailboxEvent::MailboxOpened { address, .. }) = events.first() else {
            continue;
        };
        let local = address.split('@').next().map(str::to_owned);
        if let Some(member_id) = member.id {
            chosen.push((member_id, local));
        }
    }
    let mut done = Executed::nothing(Vec::new());
    for chunk in chosen.chunks(OPEN_PER_WRITE) {
        // Decided again in one transaction: the claims settle any race; when one is taken
        // meanwhile, the chunk's members are opened one by one and only that one fails.
        match open_together(app, request, domain_id, chunk, &holders).await {
            Ok(opened) => {
                done.answer.extend(opened.answer);
                done.written.extend(opened.written);
            }
            Err(_) => {
                for (member_id, local) in chunk {
                    let one =
                        open_one(app, request, *member_id, domain_id, local.clone(), &holders);
                    if let Ok(opened) = one.await {
                        done.answer.push(opened.answer);
                        done.written.extend(opened.written);
                    }
                }
            }
        }
    }
    Ok(done)
}

/// Mailboxes opened in one transaction: a thousand single appends would cost a commit each.
const OPEN_PER_WRITE: usize = 100;

/// Opens a mailbox for each (member, local part) in one transaction, all or none.
async fn open_together(
    app: &App,
    request: &Request,
    domain_id: Uuid,
    chosen: &[(Uuid, Option<String>)],
    holders: &HashMap<String, AddressHolder>,
) -> Result<Executed<Vec<Uuid>>, AppError> {
    let holder = |a: &str| holders.get(a).copied();
    let d = streams::maildomain(domain_id);
    let opening: Vec<(Uuid, Uuid, Option<String>)> = chosen
        .iter()
        .map(|(member, local)| (*member, Uuid::now_v7(), local.clone()))
        .collect();
    let mut names = vec![d.to_string()];
    for (member_id, mailbox_id, _) in &opening {
        names.push(streams::member(*member_id).to_string());
        names.push(streams::mailbox(*mailbox_id).to_string());
    }
    app.handler
        .execute_tracked(&request.context(), &names, |loaded| {
            let domain = loaded.state::<MailDomain>(&d)?;
            let mut changes = Vec::with_capacity(opening.len());
            for (member_id, mailbox_id, local) in &opening {
                let member = loaded.state::<Member>(&streams::member(*member_id))?;
                let b = streams::mailbox(*mailbox_id);
                let events = mailbox::open(
                    &member,
                    &domain,
                    OpenMailbox {
                        mailbox_id: *mailbox_id,
                        local_part: local.clone(),
                        holder: &holder,
                    },
                )?;
                changes.push(Change::claiming(&b, &events, |e| e.claims(*member_id))?);
            }
            Ok((opening.iter().map(|(_, id, _)| *id).collect(), changes))
        })
        .await
}

/// A manager closes a mailbox into the recycle bin (purged after 30 days).
pub async fn close(
    app: &App,
    request: &Request,
    mailbox_id: Uuid,
) -> Result<Executed<MailboxState>, AppError> {
    access::require_manager_of(app.pool(), request, Owned::Mailbox, mailbox_id).await?;
    let command = MailboxCommand::Close {
        reason: CloseReason::ByAdmin,
    };
    run(app, request, mailbox_id, command).await
}

/// A manager asks the data plane to try a FAILED mailbox again.
pub async fn retry_provisioning(
    app: &App,
    request: &Request,
    mailbox_id: Uuid,
) -> Result<Executed<MailboxState>, AppError> {
    access::require_manager_of(app.pool(), request, Owned::Mailbox, mailbox_id).await?;
    run(app, request, mailbox_id, MailboxCommand::RetryProvisioning).await
}

/// The data plane worker: the mailbox exists on the data plane.
pub async fn record_provisioned(
    app: &App,
    request: &Request,
    mailbox_id: Uuid,
) -> Result<Executed<MailboxState>, AppError> {
    system(request)?;
    run(app, request, mailbox_id, MailboxCommand::RecordProvisioned).await
}

/// The data plane worker: creating the mailbox failed for `reason` (shown as FAILED).
pub async fn record_provisioning_failed(
    app: &App,
    request: &Request,
    mailbox_id: Uuid,
    reason: &str,
) -> Result<Executed<MailboxState>, AppError> {
    system(request)?;
    let command = MailboxCommand::RecordProvisioningFailed {
        reason: reason.to_owned(),
    };
    run(app, request, mailbox_id, command).await
}

/// A policy's command for a mailbox (`domain::policy`: a deleted member's mailbox is
/// closed, a replaced domain's renamed, an ended subscription's closed).
pub async fn follow_policy(
    app: &App,
    request: &Request,
    mailbox_id: Uuid,
    command: MailboxCommand,
) -> Result<Executed<MailboxState>, AppError> {
    system(request)?;
    run(app, request, mailbox_id, command).await
}

fn system(request: &Request) -> Result<(), AppError> {
    if request.is_system() {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

async fn same_organization(
    app: &App,
    organization_id: Uuid,
    owned: Owned,
    id: Uuid,
) -> Result<(), AppError> {
    if access::organization_of(app.pool(), owned, id).await? == Some(organization_id) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// Who holds each address on the domain now, from the mailbox read model.
async fn holders(
    app: &App,
    domain_id: Uuid,
    prefixes: &[String],
) -> Result<HashMap<String, AddressHolder>, AppError> {
    let name = app
        .load::<MailDomain>(&streams::maildomain(domain_id))
        .await?
        .name;
    Ok(read::address_holders(app.pool(), &name, prefixes).await?)
}

async fn open_one(
    app: &App,
    request: &Request,
    member_id: Uuid,
    domain_id: Uuid,
    local_part: Option<String>,
    holders: &HashMap<String, AddressHolder>,
) -> Result<Executed<Uuid>, AppError> {
    let holder = |a: &str| holders.get(a).copied();
    let m = streams::member(member_id);
    let d = streams::maildomain(domain_id);
    let mailbox_id = Uuid::now_v7();
    let b = streams::mailbox(mailbox_id);
    app.handler
        .execute_tracked(
            &request.context(),
            &[m.to_string(), d.to_string(), b.to_string()],
            |loaded| {
                let member = loaded.state::<Member>(&m)?;
                let domain = loaded.state::<MailDomain>(&d)?;
                let events = mailbox::open(
                    &member,
                    &domain,
                    OpenMailbox {
                        mailbox_id,
                        local_part: local_part.clone(),
                        holder: &holder,
                    },
                )?;
                let change = Change::claiming(&b, &events, |e| e.claims(member_id))?;
                Ok((mailbox_id, vec![change]))
            },
        )
        .await
}

/// A mailbox command at the clock's now (the claims need the mailbox's member).
async fn run(
    app: &App,
    request: &Request,
    mailbox_id: Uuid,
    command: MailboxCommand,
) -> Result<Executed<MailboxState>, AppError> {
    let stream = streams::mailbox(mailbox_id);
    let member = app.load::<Mailbox>(&stream).await?.member_id;
    app.run::<Mailbox>(request, &stream, command, move |e| e.claims(member))
        .await
}
