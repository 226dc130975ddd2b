//! An import's verdict on each row before anything is written: the rules `import` applies,
//! plus the accounts and phones the organization (or an earlier row) already holds.

use std::collections::BTreeSet;

use domain::member;
use uuid::Uuid;

use super::{organization_state, NewMember};
use crate::error::AppError;
use crate::{access, App, Request};

/// What `import` would do with one row.
#[derive(Debug)]
pub enum RowVerdict {
    /// It would be added.
    Accepted,
    /// It would be refused, for this reason.
    Refused(AppError),
    /// A later row repeats its account, and the last one wins.
    Superseded { by: usize },
}

/// A manager's dry run of `import`: one verdict per row, in order. Writes nothing; a row
/// accepted here can still fail at import time if someone takes its account meanwhile.
pub async fn preview_import(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    rows: &[NewMember],
) -> Result<Vec<RowVerdict>, AppError> {
    access::require_manager(app.pool(), request, organization_id).await?;
    let organization = organization_state(app, organization_id).await?;
    let commands = rows.iter().map(|row| row.command(Uuid::now_v7())).collect();
    let decision = member::import(&organization, commands)?;
    let mut verdicts: Vec<RowVerdict> = (0..rows.len())
        .map(|i| {
            let account = rows[i].account.trim();
            let last = rows
                .iter()
                .rposition(|r| r.account.trim() == account)
                .unwrap_or(i);
            RowVerdict::Superseded { by: last }
        })
        .collect();
    for (row, error) in decision.failed {
        verdicts[row] = RowVerdict::Refused(AppError::Refused(error));
    }
    let mut taken_here = BTreeSet::new();
    for (row, events) in decision.accepted {
        verdicts[row] = match domain::validate::password(&rows[row].password) {
            Err(e) => RowVerdict::Refused(e.into()),
            Ok(()) => match first_taken(app, &events, organization_id, &mut taken_here).await? {
                Some(error) => RowVerdict::Refused(AppError::Refused(error)),
                None => RowVerdict::Accepted,
            },
        };
    }
    Ok(verdicts)
}

/// The refusal of the first key these events would claim that is held already.
async fn first_taken(
    app: &App,
    events: &[member::MemberEvent],
    organization_id: Uuid,
    taken_here: &mut BTreeSet<domain::Claim>,
) -> Result<Option<domain::DomainError>, AppError> {
    let claims: Vec<_> = events
        .iter()
        .flat_map(|e| e.claims(organization_id).0)
        .collect();
    for claim in &claims {
        let held = taken_here.contains(claim)
            || app
                .store()
                .claim_holder(claim.scope.name(), &claim.key)
                .await?
                .is_some();
        if held {
            return Ok(Some(claim.scope.taken_error()));
        }
    }
    taken_here.extend(claims);
    Ok(None)
}
