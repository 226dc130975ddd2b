//! Importing up to 1,000 members: decided row by row, written a hundred rows per
//! transaction.

use super::*;
use domain::Scope;

/// Rows written in one transaction: a thousand single appends cost a round trip and a
/// commit each, one append of everything would hold the organization's claims too long.
const ROWS_PER_WRITE: usize = 100;

/// A manager imports up to 1,000 members: the rules (`domain::member::import`) decide
/// every row on its own (of rows repeating an account the last one wins), then the
/// accepted rows are written a hundred at a time; when one of those is refused at write
/// time (an account or phone taken meanwhile), its hundred are written one by one, so the
/// refusal fails that row only.
pub async fn import(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    rows: &[NewMember],
) -> Result<ImportReport, AppError> {
    access::require_manager(app.pool(), request, organization_id).await?;
    let organization = organization_state(app, organization_id).await?;
    let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
    let commands = rows
        .iter()
        .zip(&ids)
        .map(|(row, id)| row.command(*id))
        .collect();
    let decision = member::import(&organization, commands)?;
    let mut report = ImportReport::default();
    for (row, error) in decision.failed {
        report.failed.push((row, AppError::Refused(error)));
    }
    // Passwords are checked before anything is kept, as one by one.
    let mut accepted = Vec::new();
    for (row, _) in decision.accepted {
        match domain::validate::password(&rows[row].password) {
            Ok(()) => accepted.push(row),
            Err(e) => report.failed.push((row, e.into())),
        }
    }
    for chunk in accepted.chunks(ROWS_PER_WRITE) {
        match add_many(app, request, organization_id, rows, chunk).await {
            Ok(done) => {
                report.imported.extend(done.answer);
                report.written.extend(done.written);
            }
            Err(AppError::Refused(e)) if is_taken(&e) => {
                for &row in chunk {
                    match add_checked(app, request, organization_id, &rows[row]).await {
                        Ok(done) => {
                            report.imported.push((row, done.answer));
                            report.written.extend(done.written);
                        }
                        Err(e) => report.failed.push((row, e)),
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    report.failed.sort_by_key(|(row, _)| *row);
    report.imported.sort_by_key(|(row, _)| *row);
    Ok(report)
}

fn is_taken(e: &DomainError) -> bool {
    [Scope::MemberAccount, Scope::MemberPhone]
        .iter()
        .any(|s| *e == s.taken_error())
}

/// Adds the members of `chosen` rows in one transaction (all or none), keeping their
/// passwords first; answers (row, member id) of each.
async fn add_many(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    rows: &[NewMember],
    chosen: &[usize],
) -> Result<Executed<Vec<(usize, Uuid)>>, AppError> {
    let members: Vec<(usize, Uuid)> = chosen.iter().map(|&r| (r, Uuid::now_v7())).collect();
    let secrets: Vec<(Uuid, &str)> = members
        .iter()
        .map(|&(row, id)| (id, rows[row].password.as_str()))
        .collect();
    // Kept before the members exist, as for one member (see `add_checked`).
    for purpose in [Purpose::InitialPassword, Purpose::MailboxPassword] {
        app.secrets().put_many(purpose, &secrets).await?;
    }
    let org = streams::organization(organization_id);
    let mut names = vec![org.to_string()];
    names.extend(
        members
            .iter()
            .map(|(_, id)| streams::member(*id).to_string()),
    );
    let done = app
        .handler
        .execute_tracked(&request.context(), &names, |loaded| {
            let o = loaded.state::<Organization>(&org)?;
            let mut changes = Vec::with_capacity(members.len());
            for &(row, member_id) in &members {
                let stream = streams::member(member_id);
                let m = loaded.state::<Member>(&stream)?;
                let events = member::add(&o, &m, rows[row].command(member_id))?;
                changes.push(Change::claiming(&stream, &events, |e| {
                    e.claims(organization_id)
                })?);
            }
            Ok((members.clone(), changes))
        })
        .await;
    if done.is_err() {
        let ids: Vec<Uuid> = members.iter().map(|(_, id)| *id).collect();
        for purpose in [Purpose::InitialPassword, Purpose::MailboxPassword] {
            let _ = app.secrets().delete_many(purpose, &ids).await;
        }
    }
    done
}
