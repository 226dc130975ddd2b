//! Admins leaving and the creator role changing hands.

use super::*;

/// A manager removes an admin: never the last one, never the creator (transfer the role
/// first). The removed account manages nothing from then on.
pub async fn remove_admin(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    account: &str,
) -> Result<Executed<()>, AppError> {
    let actor = access::require_manager(app.pool(), request, organization_id).await?;
    decide_admins(app, request, organization_id, |s| {
        organization::remove_admin(s, account, &actor)
    })
    .await
}

/// The creator hands the creator role to another admin and stays an admin.
pub async fn transfer_creator(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    account: &str,
) -> Result<Executed<()>, AppError> {
    let actor = access::require_manager(app.pool(), request, organization_id).await?;
    decide_admins(app, request, organization_id, |s| {
        organization::transfer_creator(s, account, &actor)
    })
    .await
}

async fn decide_admins(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    decide: impl Fn(
        &organization::OrganizationState,
    ) -> Result<Vec<organization::OrganizationEvent>, domain::DomainError>,
) -> Result<Executed<()>, AppError> {
    let stream = streams::organization(organization_id);
    app.handler
        .execute_tracked(&request.context(), &[stream.to_string()], |loaded| {
            let state = loaded.state::<Organization>(&stream)?;
            let events = decide(&state)?;
            Ok(((), vec![Change::new(&stream, &events)?]))
        })
        .await
}
