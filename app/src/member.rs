//! Members: adding one or importing many, editing, disabling, enabling, deleting, password
//! resets, and authorizing them for the mail app (seats) or revoking that.

use chrono::NaiveDate;
use domain::member::{self, AddMember, EmploymentType, Member, MemberCommand, RoleLabel};
use domain::organization::{Organization, OrganizationCommand, OrganizationState};
use domain::subscription::Subscription;
use domain::{Decider, DomainError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::{self, Owned};
use crate::command::Change;
use crate::error::AppError;
use crate::secrets::{self, Purpose};
use crate::{no_claims, read, streams, App, Executed, Request};

mod authorization;
mod import;
mod password;
mod preview;

pub use authorization::*;
pub use import::import;
use password::keep_password;
pub use password::mailbox_password_hash;
pub use preview::*;

/// One member as an admin types it (one row of an import too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewMember {
    pub name: String,
    pub account: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// Checked by the rules, then kept encrypted for the credentials SMS and hashed for the
    /// mailbox; never in an event.
    pub password: String,
    pub department_id: Option<Uuid>,
    pub role: Option<RoleLabel>,
    pub employment_type: Option<EmploymentType>,
    pub hire_date: Option<NaiveDate>,
}

impl NewMember {
    fn command(&self, member_id: Uuid) -> AddMember {
        AddMember {
            member_id,
            name: self.name.clone(),
            account: self.account.clone(),
            phone: self.phone.clone(),
            email: self.email.clone(),
            password: self.password.clone(),
            department_id: self.department_id,
            role: self.role,
            employment_type: self.employment_type,
            hire_date: self.hire_date,
        }
    }
}

/// A manager adds a member; account and phone are claimed within the organization.
/// Answers the member's id.
pub async fn add(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    new: &NewMember,
) -> Result<Executed<Uuid>, AppError> {
    access::require_manager(app.pool(), request, organization_id).await?;
    add_checked(app, request, organization_id, new).await
}

async fn add_checked(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    new: &NewMember,
) -> Result<Executed<Uuid>, AppError> {
    let member_id = Uuid::now_v7();
    let command = new.command(member_id);
    let org = streams::organization(organization_id);
    let stream = streams::member(member_id);
    // Checked by the rules first, so a refused password is never hashed or kept.
    domain::validate::password(&new.password)?;
    // Kept before the member exists: a crash in between leaves a secret nobody reads (no
    // member has its id), never a member whose password is lost.
    keep_password(app, Purpose::InitialPassword, member_id, &new.password).await?;
    let done = app
        .handler
        .execute_tracked(
            &request.context(),
            &[org.to_string(), stream.to_string()],
            |loaded| {
                let o = loaded.state::<Organization>(&org)?;
                let m = loaded.state::<Member>(&stream)?;
                let events = member::add(&o, &m, command.clone())?;
                let change = Change::claiming(&stream, &events, |e| e.claims(organization_id))?;
                Ok((member_id, vec![change]))
            },
        )
        .await;
    if done.is_err() {
        for purpose in [Purpose::InitialPassword, Purpose::MailboxPassword] {
            let _ = app.secrets().delete(purpose, member_id).await;
        }
    }
    done
}

/// What an import did, row by row (0-based, as sent).
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: Vec<(usize, Uuid)>,
    pub failed: Vec<(usize, AppError)>,
    /// Where the imported rows landed, for callers that wait for read models.
    pub written: Vec<(String, eventstore::Position)>,
}

/// What a manager changes about a member (absent = unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberChanges {
    pub name: Option<String>,
    /// `Some("")` clears it.
    pub phone: Option<String>,
    /// `Some("")` clears it.
    pub email: Option<String>,
    /// `Some(None)` moves the member to the organization's root.
    pub department_id: Option<Option<Uuid>>,
    pub role: Option<RoleLabel>,
}

/// A manager edits a member (the account is immutable); a new phone is claimed.
pub async fn update(
    app: &App,
    request: &Request,
    member_id: Uuid,
    changes: &MemberChanges,
) -> Result<Executed<()>, AppError> {
    let (organization_id, _) =
        access::require_manager_of(app.pool(), request, Owned::Member, member_id).await?;
    let organization = organization_state(app, organization_id).await?;
    let command = MemberCommand::Update {
        name: changes.name.clone(),
        phone: changes.phone.clone(),
        email: changes.email.clone(),
        department_id: changes.department_id,
        known_departments: organization.departments.keys().copied().collect(),
        role: changes.role,
    };
    let stream = streams::member(member_id);
    Ok(app
        .run::<Member>(request, &stream, command, |e| e.claims(organization_id))
        .await?
        .map(|_| ()))
}

/// A manager disables a member: it cannot log in.
pub async fn disable(
    app: &App,
    request: &Request,
    member_id: Uuid,
) -> Result<Executed<()>, AppError> {
    on_member(app, request, member_id, MemberCommand::Disable).await
}

/// A manager enables a disabled member again.
pub async fn enable(
    app: &App,
    request: &Request,
    member_id: Uuid,
) -> Result<Executed<()>, AppError> {
    on_member(app, request, member_id, MemberCommand::Enable).await
}

/// A manager gives a member a new password; the member gets it by SMS and the mailbox
/// takes it (the data plane worker follows the reset).
pub async fn reset_password(
    app: &App,
    request: &Request,
    member_id: Uuid,
    password: &str,
) -> Result<Executed<()>, AppError> {
    access::require_manager_of(app.pool(), request, Owned::Member, member_id).await?;
    domain::validate::password(password)?;
    let stream = streams::member(member_id);
    let member = app.load::<Member>(&stream).await?;
    // The new password goes out by SMS: only where the app is bound (someone pays for the
    // mail), and within the hourly allowance of the organization and the phone.
    let organization = app
        .load::<Organization>(&streams::organization(member.organization_id))
        .await?;
    if organization.subscription_id.is_none() {
        return Err(DomainError::SubscriptionInactive.into());
    }
    let allowance = match &member.phone {
        Some(phone) => Some(crate::sms::take_allowance(app, member.organization_id, phone).await?),
        None => None,
    };
    // Kept before the event exists: the SMS and data plane workers read them as soon as
    // they see it.
    keep_password(app, Purpose::ResetPassword, member_id, password).await?;
    let command = MemberCommand::ResetPassword {
        password: password.to_owned(),
    };
    let done = app
        .run::<Member>(request, &stream, command, no_claims)
        .await;
    if done.is_err() {
        if let Some(allowance) = allowance {
            allowance.give_back(app).await;
        }
    }
    Ok(done?.map(|_| ()))
}

/// A manager deletes a disabled member, freeing its account, phone and seat.
pub async fn delete(
    app: &App,
    request: &Request,
    member_id: Uuid,
) -> Result<Executed<()>, AppError> {
    let (organization_id, _) =
        access::require_manager_of(app.pool(), request, Owned::Member, member_id).await?;
    let subscription_id = organization_state(app, organization_id)
        .await?
        .subscription_id;
    let m = streams::member(member_id);
    let sub = subscription_id.map(streams::subscription);
    let mut names = vec![m.to_string()];
    names.extend(sub.iter().map(String::from));
    app.handler
        .execute_tracked(&request.context(), &names, |loaded| {
            let member_state = loaded.state::<Member>(&m)?;
            let sub_state = match &sub {
                Some(s) => loaded.state::<Subscription>(s)?,
                None => Default::default(),
            };
            let (member_events, seat_events) = member::delete(&member_state, &sub_state)?;
            let mut changes = vec![Change::claiming(&m, &member_events, |e| {
                e.claims(organization_id)
            })?];
            if let Some(s) = &sub {
                changes.push(Change::new(s, &seat_events)?);
            }
            Ok(((), changes))
        })
        .await
}

/// The organization's state now.
pub(crate) async fn organization_state(
    app: &App,
    organization_id: Uuid,
) -> Result<OrganizationState, AppError> {
    let state = app
        .load::<Organization>(&streams::organization(organization_id))
        .await?;
    if state.id.is_none() {
        return Err(AppError::not_found("organization"));
    }
    Ok(state)
}

async fn on_member(
    app: &App,
    request: &Request,
    member_id: Uuid,
    command: MemberCommand,
) -> Result<Executed<()>, AppError> {
    access::require_manager_of(app.pool(), request, Owned::Member, member_id).await?;
    let stream = streams::member(member_id);
    Ok(app
        .run::<Member>(request, &stream, command, no_claims)
        .await?
        .map(|_| ()))
}
