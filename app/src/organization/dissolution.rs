//! Dissolving an organization: a one-time code by SMS to the admin who asks, then the
//! dissolution itself (identifier typed again, the code), which erases everyone's personal
//! data, unbinds the mail app and frees the identifier in one transaction; the workers then
//! purge its mailboxes and release its domains.

use chrono::{DateTime, Utc};
use domain::subscription::Subscription;

use super::*;

/// Wrong codes tolerated before the code is void.
const MAX_ATTEMPTS: u32 = 5;

/// Where the code went and until when it is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DissolutionCode {
    /// The phone, masked (`138****8000`).
    pub sent_to: String,
    pub expires_at: DateTime<Utc>,
}

/// The code as kept for checking (sealed in the secret table, never in the log).
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    account: String,
    code: String,
    expires_at: DateTime<Utc>,
    attempts: u32,
}

/// Keeps the creator's phone (with the account it belongs to) beside the organization.
pub(super) async fn keep_creator_phone(
    app: &App,
    organization_id: Uuid,
    account: &str,
    phone: &str,
) -> Result<(), AppError> {
    let kept = serde_json::json!({ "account": account, "phone": phone }).to_string();
    app.secrets()
        .put(Purpose::CreatorPhone, organization_id, &kept)
        .await?;
    Ok(())
}

/// The phone of an admin of the organization: an invited admin's from the invitation they
/// accepted, the creator's as given at creation. None when neither is known.
pub async fn admin_phone(
    app: &App,
    state: &organization::OrganizationState,
    account: &str,
) -> Result<Option<String>, AppError> {
    if let Some(phone) = state.admin_phones.get(account) {
        return Ok(Some(phone.clone()).filter(|p| p != eventstore::ERASED));
    }
    let Some(id) = state.id else { return Ok(None) };
    let kept = app.secrets().get(Purpose::CreatorPhone, id).await?;
    Ok(kept
        .and_then(|k| serde_json::from_str::<serde_json::Value>(&k).ok())
        .filter(|v| v["account"] == account)
        .and_then(|v| v["phone"].as_str().map(str::to_owned)))
}

/// A manager asks for the code that confirms dissolving: six digits by SMS to their own
/// phone, valid ten minutes; a new request replaces the last code.
pub async fn request_dissolution_code(
    app: &App,
    request: &Request,
    organization_id: Uuid,
) -> Result<Executed<DissolutionCode>, AppError> {
    let actor = access::require_manager(app.pool(), request, organization_id).await?;
    let members_left = read::members_left(app.pool(), organization_id).await?;
    let stream = streams::organization(organization_id);
    let state = app.load::<Organization>(&stream).await?;
    let events = organization::request_dissolution(&state, &actor, members_left, app.now())?;
    let Some(phone) = admin_phone(app, &state, &actor).await? else {
        return Err(AppError::invalid(
            "phone",
            "no phone is known for your account in this organization (an invited admin's comes from the invitation; the creator's is given at creation): the code cannot be sent",
        ));
    };
    let expires_at = match events.first() {
        Some(organization::OrganizationEvent::DissolutionRequested { expires_at, .. }) => {
            *expires_at
        }
        _ => return Err(AppError::Internal("no dissolution request decided".into())),
    };
    let code = six_digits()?;
    let pending = Pending {
        account: actor.clone(),
        code: code.clone(),
        expires_at,
        attempts: 0,
    };
    let allowance = crate::sms::take_allowance(app, organization_id, &phone).await?;
    let secrets = app.secrets();
    let kept = async {
        let check =
            serde_json::to_string(&pending).map_err(|e| AppError::Internal(e.to_string()))?;
        secrets
            .put(Purpose::DissolutionCheck, organization_id, &check)
            .await?;
        // The SMS worker reads this copy as soon as it sees the event, and deletes it.
        secrets
            .put(Purpose::DissolutionCode, organization_id, &code)
            .await?;
        app.handler
            .execute_tracked(&request.context(), &[stream.to_string()], |loaded| {
                let state = loaded.state::<Organization>(&stream)?;
                let events =
                    organization::request_dissolution(&state, &actor, members_left, app.now())?;
                Ok(((), vec![Change::new(&stream, &events)?]))
            })
            .await
    }
    .await;
    match kept {
        Ok(done) => Ok(done.map(|_| DissolutionCode {
            sent_to: domain::notification::mask_phone(&phone),
            expires_at,
        })),
        Err(e) => {
            let _ = secrets
                .delete(Purpose::DissolutionCode, organization_id)
                .await;
            let _ = secrets
                .delete(Purpose::DissolutionCheck, organization_id)
                .await;
            allowance.give_back(app).await;
            Err(e)
        }
    }
}

/// An admin dissolves an empty organization, typing its identifier and the SMS code to
/// confirm. In one transaction: the organization is dissolved (identifier free), everyone's
/// personal data erased, the mail app unbound (the subscription binds again). The workers
/// then purge its mailboxes (addresses free) and end its domains' claims.
pub async fn dissolve(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    confirm_identifier: &str,
    code: &str,
) -> Result<Executed<()>, AppError> {
    let actor = access::require_manager(app.pool(), request, organization_id).await?;
    check_code(app, organization_id, &actor, code).await?;
    let members_left = read::members_left(app.pool(), organization_id).await?;
    let command = OrganizationCommand::Dissolve {
        confirm_identifier: confirm_identifier.to_owned(),
        actor,
        members_left,
    };
    let org = streams::organization(organization_id);
    let subscription_id = app.load::<Organization>(&org).await?.subscription_id;
    let sub = subscription_id.map(streams::subscription);
    let mut names = vec![org.to_string()];
    names.extend(sub.iter().map(ToString::to_string));
    let now = app.now();
    let done = app
        .handler
        .execute_tracked(&request.context(), &names, |loaded| {
            let state = loaded.state::<Organization>(&org)?;
            let subscription = match &sub {
                Some(s) => Some(loaded.state::<Subscription>(s)?),
                None => None,
            };
            let (org_events, sub_events) =
                organization::dissolve(&state, subscription.as_ref(), command.clone(), now)?;
            // Dissolving erases everyone's personal data in the same transaction.
            let mut changes = vec![Change::claiming(&org, &org_events, |e| e.claims())?
                .erasing_organization(organization_id)];
            if let Some(s) = &sub {
                changes.push(Change::new(s, &sub_events)?);
            }
            Ok(((), changes))
        })
        .await?;
    for purpose in [
        Purpose::DissolutionCheck,
        Purpose::DissolutionCode,
        Purpose::CreatorPhone,
    ] {
        if let Err(e) = app.secrets().delete(purpose, organization_id).await {
            tracing::warn!(error = %e, "a dissolved organization's secret was not deleted");
        }
    }
    Ok(done)
}

/// The code must be the last one sent to this admin, unexpired, within its attempts; a
/// wrong one counts, and the fifth voids it.
async fn check_code(
    app: &App,
    organization_id: Uuid,
    actor: &str,
    code: &str,
) -> Result<(), AppError> {
    let secrets = app.secrets();
    let kept = secrets
        .get_versioned(Purpose::DissolutionCheck, organization_id)
        .await?;
    let pending = kept.and_then(|(text, version)| {
        serde_json::from_str::<Pending>(&text)
            .ok()
            .map(|p| (p, version))
    });
    let Some((mut pending, version)) = pending.filter(|(p, _)| p.account == actor) else {
        return Err(AppError::invalid(
            "code",
            "ask for a code first (requestDissolutionCode): it is sent by SMS to your phone",
        ));
    };
    if app.now() >= pending.expires_at {
        return Err(AppError::invalid(
            "code",
            "the code has expired; ask for a new one",
        ));
    }
    if constant_time_eq(pending.code.as_bytes(), code.trim().as_bytes()) {
        return Ok(());
    }
    pending.attempts += 1;
    if pending.attempts >= MAX_ATTEMPTS {
        secrets
            .delete(Purpose::DissolutionCheck, organization_id)
            .await?;
        return Err(AppError::invalid(
            "code",
            "the code is wrong and now void; ask for a new one",
        ));
    }
    let text = serde_json::to_string(&pending).map_err(|e| AppError::Internal(e.to_string()))?;
    // Only if nobody replaced it meanwhile: a fresh code starts with no attempts.
    secrets
        .replace_unchanged(
            Purpose::DissolutionCheck,
            organization_id,
            &version,
            Purpose::DissolutionCheck,
            &text,
        )
        .await?;
    Err(AppError::invalid("code", "the code is wrong"))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Six random decimal digits (uniform: rejection of the biased top of the range).
fn six_digits() -> Result<String, AppError> {
    loop {
        let mut bytes = [0u8; 4];
        getrandom::getrandom(&mut bytes)
            .map_err(|e| AppError::Internal(format!("no randomness: {e}")))?;
        let n = u32::from_le_bytes(bytes);
        if n < u32::MAX - (u32::MAX % 1_000_000) {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}
