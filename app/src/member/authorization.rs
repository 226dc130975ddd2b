//! Authorizing members for the mail app (seats) and revoking that.

use super::*;
use domain::member::MAX_BATCH_IDS;

/// The outcome of an authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorized {
    /// Members newly authorized (each gets the credentials SMS).
    pub authorized: usize,
    /// Seats still free afterwards.
    pub available_seats: u32,
}

/// A manager authorizes members (and every active member of whole departments, as they
/// are now: members added later are authorized one by one) for the mail app; never more
/// than the purchased seats: every new seat is an event of the subscription stream, so
/// concurrent authorizations cannot exceed the purchase. The departments' records, the
/// seats and the members' authorizations are one transaction: a refusal writes nothing.
pub async fn authorize(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    member_ids: &[Uuid],
    department_ids: &[Uuid],
) -> Result<Executed<Authorized>, AppError> {
    AppError::check_batch("memberIds", member_ids.len(), MAX_BATCH_IDS)?;
    AppError::check_batch("departmentIds", department_ids.len(), MAX_BATCH_IDS)?;
    access::require_manager(app.pool(), request, organization_id).await?;
    let mut ids = member_ids.to_vec();
    for department_id in department_ids {
        ids.extend(
            read::active_members_of_department(app.pool(), organization_id, *department_id).await?,
        );
    }
    ids.sort();
    ids.dedup();
    let subscription_id = organization_state(app, organization_id)
        .await?
        .subscription_id
        .ok_or(DomainError::SubscriptionInactive)?;
    let org = streams::organization(organization_id);
    let sub = streams::subscription(subscription_id);
    let mut names = vec![org.to_string(), sub.to_string()];
    names.extend(ids.iter().map(|m| streams::member(*m).to_string()));
    let now = app.now();
    app.handler
        .execute_tracked(&request.context(), &names, |loaded| {
            let mut o = loaded.state::<Organization>(&org)?;
            let mut departments = Vec::new();
            for department_id in department_ids {
                let command = OrganizationCommand::AuthorizeDepartment {
                    department_id: *department_id,
                };
                let events = Organization::decide(&o, command, now)?;
                o = events.iter().fold(o, Organization::evolve);
                departments.extend(events);
            }
            let s = loaded.state::<Subscription>(&sub)?;
            let members = ids
                .iter()
                .map(|m| loaded.state::<Member>(&streams::member(*m)))
                .collect::<Result<Vec<_>, _>>()?;
            let refs: Vec<&member::MemberState> = members.iter().collect();
            let decision = member::authorize(&refs, &o, &s, now)?;
            let after = decision.seats.iter().fold(s, Subscription::evolve);
            let answer = Authorized {
                authorized: decision.members.len(),
                available_seats: after.available_seats(),
            };
            let mut changes = vec![
                Change::new(&org, &departments)?,
                Change::new(&sub, &decision.seats)?,
            ];
            for (member_id, event) in &decision.members {
                changes.push(Change::new(
                    streams::member(*member_id),
                    std::slice::from_ref(event),
                )?);
            }
            Ok((answer, changes))
        })
        .await
}

/// The outcome of a revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    /// Members whose authorization ended (the others had none).
    pub revoked: usize,
    /// Seats free afterwards.
    pub available_seats: u32,
}

/// A manager revokes members' authorization: their seats are free again and their open
/// mailboxes go to the recycle bin.
pub async fn revoke_authorization(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    member_ids: &[Uuid],
) -> Result<Executed<Revoked>, AppError> {
    AppError::check_batch("memberIds", member_ids.len(), MAX_BATCH_IDS)?;
    access::require_manager(app.pool(), request, organization_id).await?;
    let subscription_id = organization_state(app, organization_id)
        .await?
        .subscription_id
        .ok_or(DomainError::SubscriptionInactive)?;
    let sub = streams::subscription(subscription_id);
    let mut names = vec![sub.to_string()];
    names.extend(member_ids.iter().map(|m| streams::member(*m).to_string()));
    app.handler
        .execute_tracked(&request.context(), &names, |loaded| {
            let mut s = loaded.state::<Subscription>(&sub)?;
            let mut changes = Vec::new();
            let mut seats = Vec::new();
            let mut revoked = 0;
            for member_id in member_ids {
                let stream = streams::member(*member_id);
                let m = loaded.state::<Member>(&stream)?;
                if m.organization_id != organization_id {
                    return Err(DomainError::NotFound("member").into());
                }
                let (member_events, seat_events) = member::revoke(&m, &s)?;
                revoked += usize::from(!member_events.is_empty());
                s = seat_events.iter().fold(s, Subscription::evolve);
                seats.extend(seat_events);
                changes.push(Change::new(&stream, &member_events)?);
            }
            changes.push(Change::new(&sub, &seats)?);
            let answer = Revoked {
                revoked,
                available_seats: s.available_seats(),
            };
            Ok((answer, changes))
        })
        .await
}
