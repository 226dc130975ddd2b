//! Mail domains: adding one (with the records to publish), verifying it through DNS (by a
//! manager now, or the re-check timer), changing its verification mode, replacing it by
//! another name (its mailboxes are renamed), removing it.

use domain::maildomain::{
    ClaimEnd, DomainStatus, MailDomain, MailDomainCommand, MailDomainState, VerificationMode,
};
use domain::organization::Organization;
use domain::DomainError;
use domain::Scope;
use uuid::Uuid;

use crate::access::{self, Owned};
use crate::error::AppError;
use crate::{read, secrets, streams, App, Executed, Request};

/// A manager adds a mail domain (normalized, unique on the platform); answers its id.
pub async fn add(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    name: &str,
    mode: VerificationMode,
) -> Result<Executed<Uuid>, AppError> {
    access::require_manager(app.pool(), request, organization_id).await?;
    // Domains are for organizations someone pays for: no claims on names for free.
    let organization = app
        .load::<Organization>(&streams::organization(organization_id))
        .await?;
    if organization.subscription_id.is_none() {
        return Err(DomainError::SubscriptionInactive.into());
    }
    let domains_in_organization =
        read::domains_of_organization(app.pool(), organization_id).await?;
    let domain_id = Uuid::now_v7();
    let owned_elsewhere = match domain::maildomain::normalize(name) {
        Ok(n) => owner_of(app, &n.ascii).await?.is_some(),
        // The decider says what is wrong with the name.
        Err(_) => false,
    };
    let command = MailDomainCommand::Add {
        domain_id,
        organization_id,
        name: name.to_owned(),
        mode,
        domains_in_organization,
        ownership_token: ownership_token()?,
        provider: app.provider().clone(),
        owned_elsewhere,
    };
    Ok(run(app, request, domain_id, command)
        .await?
        .map(|_| domain_id))
}

/// A manager (or the re-check timer) looks the domain's records up in DNS now and has them
/// judged; all OK verifies it. Answers the domain's state.
pub async fn verify(
    app: &App,
    request: &Request,
    domain_id: Uuid,
) -> Result<Executed<MailDomainState>, AppError> {
    access::require_manager_of(app.pool(), request, Owned::MailDomain, domain_id).await?;
    check(app, request, domain_id).await
}

async fn check(
    app: &App,
    request: &Request,
    domain_id: Uuid,
) -> Result<Executed<MailDomainState>, AppError> {
    let stream = streams::maildomain(domain_id);
    let state = app.load::<MailDomain>(&stream).await?;
    let answers = app.dns().resolve(&state.name, &state.records).await;
    // Twice at most: when another organization verified the same name at the same moment,
    // its claim wins the append and ours is then ended, with the check recorded.
    let mut attempt = 0;
    loop {
        attempt += 1;
        let owned_elsewhere = owner_of(app, &state.name)
            .await?
            .is_some_and(|holder| holder != stream.to_string());
        let command = MailDomainCommand::Check {
            answers: answers.clone(),
            provider: app.provider().clone(),
            owned_elsewhere,
        };
        match run(app, request, domain_id, command).await {
            Err(AppError::Refused(DomainError::DomainTaken)) if attempt == 1 => continue,
            done => return done,
        }
    }
}

/// The system ends a domain claim: another organization verified the name, or the
/// organization was dissolved. Nothing happens to a claim already over, or (when another
/// verified it) to the owner's own.
pub async fn end_claim(
    app: &App,
    request: &Request,
    domain_id: Uuid,
    reason: ClaimEnd,
) -> Result<(), AppError> {
    if !request.is_system() {
        return Err(AppError::Forbidden);
    }
    run(
        app,
        request,
        domain_id,
        MailDomainCommand::EndClaim { reason },
    )
    .await?;
    Ok(())
}

/// The stream that owns (has verified) a name on the platform.
async fn owner_of(app: &App, name: &str) -> Result<Option<String>, AppError> {
    Ok(app
        .store()
        .claim_holder(Scope::MailDomain.name(), name)
        .await?)
}

/// The re-check timer: an unverified domain is looked up again. Answers whether to look
/// again later (still unverified), or None when there is nothing left to check.
pub async fn recheck(
    app: &App,
    request: &Request,
    domain_id: Uuid,
) -> Result<Option<DomainStatus>, AppError> {
    let state = app
        .load::<MailDomain>(&streams::maildomain(domain_id))
        .await?;
    // FAILED only says the last look found something wrong: still unverified.
    if state.id.is_none()
        || state.removed
        || state.ended.is_some()
        || state.status == DomainStatus::Verified
    {
        return Ok(None);
    }
    if !request.is_system() {
        return Err(AppError::Forbidden);
    }
    Ok(Some(check(app, request, domain_id).await?.answer.status))
}

/// A manager switches between full verification and ownership only; the records to publish
/// change.
pub async fn change_mode(
    app: &App,
    request: &Request,
    domain_id: Uuid,
    mode: VerificationMode,
) -> Result<Executed<()>, AppError> {
    access::require_manager_of(app.pool(), request, Owned::MailDomain, domain_id).await?;
    let command = MailDomainCommand::ChangeMode {
        mode,
        ownership_token: ownership_token()?,
        provider: app.provider().clone(),
    };
    Ok(run(app, request, domain_id, command).await?.map(|_| ()))
}

/// A manager replaces the domain by another name whose records are published already; every
/// mailbox on it is renamed and keeps its mail.
pub async fn replace(
    app: &App,
    request: &Request,
    domain_id: Uuid,
    name: &str,
) -> Result<Executed<()>, AppError> {
    access::require_manager_of(app.pool(), request, Owned::MailDomain, domain_id).await?;
    let state = app
        .load::<MailDomain>(&streams::maildomain(domain_id))
        .await?;
    let new = domain::maildomain::normalize(name)?;
    let answers = app.dns().resolve(&new.ascii, &state.records).await;
    let command = MailDomainCommand::Replace {
        name: name.to_owned(),
        answers,
        provider: app.provider().clone(),
    };
    Ok(run(app, request, domain_id, command).await?.map(|_| ()))
}

/// A manager removes a domain no mailbox uses; its name is free on the platform again.
pub async fn remove(
    app: &App,
    request: &Request,
    domain_id: Uuid,
) -> Result<Executed<()>, AppError> {
    access::require_manager_of(app.pool(), request, Owned::MailDomain, domain_id).await?;
    let mailboxes_using = read::mailboxes_on_domain(app.pool(), domain_id).await?;
    let command = MailDomainCommand::Remove { mailboxes_using };
    Ok(run(app, request, domain_id, command).await?.map(|_| ()))
}

/// The random token of the OWNERSHIP TXT record.
fn ownership_token() -> Result<String, AppError> {
    Ok(secrets::generate_key()?[..24].to_owned())
}

async fn run(
    app: &App,
    request: &Request,
    domain_id: Uuid,
    command: MailDomainCommand,
) -> Result<Executed<MailDomainState>, AppError> {
    let stream = streams::maildomain(domain_id);
    app.run::<MailDomain>(request, &stream, command, |e| e.claims())
        .await
}
