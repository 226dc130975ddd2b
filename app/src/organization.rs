//! Organizations, their departments and admin invitations; binding the mail app.

use domain::organization::{self, Organization, OrganizationCommand};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::{self, Owned};
use crate::command::Change;
use crate::error::AppError;
use crate::secrets::{self, Purpose};
use crate::{no_claims, read, streams, App, Executed, Request};

mod admins;
mod dissolution;

pub use admins::{remove_admin, transfer_creator};
pub use dissolution::{admin_phone, dissolve, request_dissolution_code, DissolutionCode};

/// What a buyer types to create an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrganization {
    pub name: String,
    pub identifier: String,
    pub as_reseller: bool,
    /// The creator's phone, where a dissolution code goes (kept outside the log, deleted
    /// when the organization is dissolved). Invited admins' phones come from their
    /// invitations.
    #[serde(default)]
    pub creator_phone: Option<String>,
}

/// An account creates an organization (it administers it, or, as a reseller, manages it
/// until the first invited admin accepts); the identifier is claimed platform-wide.
pub async fn create(
    app: &App,
    request: &Request,
    new: &NewOrganization,
) -> Result<Executed<Uuid>, AppError> {
    let account = access::account(request)?.to_owned();
    let creator_phone = match new.creator_phone.as_deref().map(str::trim) {
        Some(p) if !p.is_empty() => Some(domain::validate::phone("creatorPhone", p)?),
        _ => None,
    };
    let organization_id = Uuid::now_v7();
    let command = OrganizationCommand::Create {
        organization_id,
        name: new.name.clone(),
        identifier: new.identifier.clone(),
        creator_account: account.clone(),
        as_reseller: new.as_reseller,
    };
    let stream = streams::organization(organization_id);
    let done = app
        .run::<Organization>(request, &stream, command, |e| e.claims())
        .await?;
    if let Some(phone) = creator_phone {
        dissolution::keep_creator_phone(app, organization_id, &account, &phone).await?;
    }
    Ok(done.map(|_| organization_id))
}

/// The buyer, managing the organization, binds the mail app (subscription) to it.
pub async fn bind_app(
    app: &App,
    request: &Request,
    subscription_id: Uuid,
    organization_id: Uuid,
) -> Result<Executed<()>, AppError> {
    access::require_buyer(app.pool(), request, subscription_id).await?;
    access::require_manager(app.pool(), request, organization_id).await?;
    let sub = streams::subscription(subscription_id);
    let org = streams::organization(organization_id);
    let now = app.now();
    app.handler
        .execute_tracked(
            &request.context(),
            &[sub.to_string(), org.to_string()],
            |loaded| {
                let s = loaded.state::<domain::subscription::Subscription>(&sub)?;
                let o = loaded.state::<Organization>(&org)?;
                let (org_events, sub_events) = organization::bind_app(&o, &s, now)?;
                Ok((
                    (),
                    vec![
                        Change::new(&org, &org_events)?,
                        Change::new(&sub, &sub_events)?,
                    ],
                ))
            },
        )
        .await
}

/// Whom a manager invites as an admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitee {
    pub name: String,
    pub phone: String,
    pub email: String,
    pub valid_hours: u32,
}

/// A manager invites an admin; the one-time token goes to the invitee by SMS and stays out
/// of the log (only its hash is an event's). Answers the invitation's id.
pub async fn invite_admin(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    invitee: &Invitee,
) -> Result<Executed<Uuid>, AppError> {
    let actor = access::require_manager(app.pool(), request, organization_id).await?;
    let invitation_id = Uuid::now_v7();
    let token = secrets::generate_key()?;
    let command = OrganizationCommand::InviteAdmin {
        invitation_id,
        name: invitee.name.clone(),
        phone: invitee.phone.clone(),
        email: invitee.email.clone(),
        valid_hours: invitee.valid_hours,
        token_hash: organization::token_hash(&token),
        actor,
    };
    let allowance = crate::sms::take_allowance(app, organization_id, &invitee.phone).await?;
    // Kept before the event exists: the SMS worker reads it as soon as it sees the event.
    app.secrets()
        .put(Purpose::InvitationToken, invitation_id, &token)
        .await?;
    let done = run(app, request, organization_id, command).await;
    if done.is_err() {
        let _ = app
            .secrets()
            .delete(Purpose::InvitationToken, invitation_id)
            .await;
        allowance.give_back(app).await;
    }
    Ok(done?.map(|_| invitation_id))
}

/// An account accepts an invitation with the token from its link; answers the organization.
pub async fn accept_invitation(
    app: &App,
    request: &Request,
    invitation_id: Uuid,
    token: &str,
) -> Result<Executed<Uuid>, AppError> {
    let account = access::account(request)?.to_owned();
    let organization_id = access::organization_of(app.pool(), Owned::Invitation, invitation_id)
        .await?
        .ok_or(AppError::Refused(domain::DomainError::InvalidToken))?;
    let command = OrganizationCommand::AcceptInvitation {
        invitation_id,
        token: token.to_owned(),
        account,
    };
    Ok(run(app, request, organization_id, command)
        .await?
        .map(|_| organization_id))
}

/// A manager revokes a pending invitation; its link stops working.
pub async fn revoke_invitation(
    app: &App,
    request: &Request,
    invitation_id: Uuid,
) -> Result<Executed<Uuid>, AppError> {
    let (organization_id, _) =
        access::require_manager_of(app.pool(), request, Owned::Invitation, invitation_id).await?;
    let command = OrganizationCommand::RevokeInvitation { invitation_id };
    let done = run(app, request, organization_id, command).await?;
    let _ = app
        .secrets()
        .delete(Purpose::InvitationToken, invitation_id)
        .await;
    Ok(done.map(|_| organization_id))
}

/// The invitation timer: a pending invitation past its validity expires.
pub async fn expire_invitation(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    invitation_id: Uuid,
) -> Result<Executed<()>, AppError> {
    let command = OrganizationCommand::ExpireInvitation { invitation_id };
    run(app, request, organization_id, command).await
}

/// A manager creates a department under the organization or under `parent_id`.
pub async fn create_department(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    name: &str,
    parent_id: Option<Uuid>,
) -> Result<Executed<Uuid>, AppError> {
    access::require_manager(app.pool(), request, organization_id).await?;
    let department_id = Uuid::now_v7();
    let command = OrganizationCommand::CreateDepartment {
        department_id,
        name: name.to_owned(),
        parent_id,
    };
    Ok(run(app, request, organization_id, command)
        .await?
        .map(|_| department_id))
}

/// A manager renames a department (unique among its siblings).
pub async fn rename_department(
    app: &App,
    request: &Request,
    department_id: Uuid,
    name: &str,
) -> Result<Executed<()>, AppError> {
    let (organization_id, _) =
        access::require_manager_of(app.pool(), request, Owned::Department, department_id).await?;
    let command = OrganizationCommand::RenameDepartment {
        department_id,
        name: name.to_owned(),
    };
    run(app, request, organization_id, command).await
}

/// A manager moves a department under another (never under itself) or to the root.
pub async fn move_department(
    app: &App,
    request: &Request,
    department_id: Uuid,
    parent_id: Option<Uuid>,
) -> Result<Executed<()>, AppError> {
    let (organization_id, _) =
        access::require_manager_of(app.pool(), request, Owned::Department, department_id).await?;
    let command = OrganizationCommand::MoveDepartment {
        department_id,
        parent_id,
    };
    run(app, request, organization_id, command).await
}

/// A manager deletes an empty department (no sub-departments, no members).
pub async fn delete_department(
    app: &App,
    request: &Request,
    department_id: Uuid,
) -> Result<Executed<()>, AppError> {
    let (organization_id, _) =
        access::require_manager_of(app.pool(), request, Owned::Department, department_id).await?;
    let members_in_department = read::members_in_department(app.pool(), department_id).await?;
    let command = OrganizationCommand::DeleteDepartment {
        department_id,
        members_in_department,
    };
    run(app, request, organization_id, command).await
}

pub(crate) async fn run(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    command: OrganizationCommand,
) -> Result<Executed<()>, AppError> {
    let stream = streams::organization(organization_id);
    Ok(app
        .run::<Organization>(request, &stream, command, no_claims)
        .await?
        .map(|_| ()))
}
