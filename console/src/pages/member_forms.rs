//! The members page's forms: creating a department, adding a member, bulk actions. Each
//! checks the session's CSRF token and the caller's right to the organization first.

use std::sync::Arc;

use app::member::NewMember;
use app::AppError;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use super::members::{render, Extra, ListQuery, MemberForm, MAX_ALL_MATCHING, MAX_BULK};
use super::org::{back, settle, status_of, OrgForm};
use crate::form::{all, one};
use crate::jobs;
use crate::read;
use crate::reply::{self, FieldErrors};
use crate::Console;

/// `POST /console/organizations/{id}/departments`.
pub async fn create_department(
    State(console): State<Arc<Console>>,
    OrgForm {
        caller,
        organization,
        fields,
    }: OrgForm,
) -> Response {
    let name = one(&fields, "name").unwrap_or("");
    let parent = one(&fields, "parent").and_then(|p| p.parse().ok());
    match app::organization::create_department(
        &console.app,
        &caller.request(),
        organization.id,
        name,
        parent,
    )
    .await
    {
        Ok(done) => {
            settle(&console, done).await;
            back(organization.id, "", one(&fields, "here"), "department")
        }
        Err(e) => {
            let extra = Extra {
                form: MemberForm::default(),
                errors: FieldErrors::default(),
                department_errors: FieldErrors::from_error(caller.w, &e),
                status: status_of(&e),
            };
            render(&console, caller, organization, ListQuery::default(), extra).await
        }
    }
}

/// `POST /console/organizations/{id}/members`: adds one member; a refusal shows the form
/// again with the sentence beside its field, the password never echoed.
pub async fn add_member(
    State(console): State<Arc<Console>>,
    OrgForm {
        caller,
        organization,
        fields,
    }: OrgForm,
) -> Response {
    let text = |name: &str| one(&fields, name).unwrap_or("").trim().to_owned();
    let optional = |name: &str| Some(text(name)).filter(|t| !t.is_empty());
    let form = MemberForm {
        name: text("name"),
        account: text("account"),
        phone: text("phone"),
        email: text("email"),
        department: text("department"),
    };
    let new = NewMember {
        name: form.name.clone(),
        account: form.account.clone(),
        phone: optional("phone"),
        email: optional("email"),
        password: one(&fields, "password").unwrap_or("").to_owned(),
        department_id: form.department.parse().ok(),
        role: None,
        employment_type: None,
        hire_date: None,
    };
    match app::member::add(&console.app, &caller.request(), organization.id, &new).await {
        Ok(done) => {
            settle(&console, done).await;
            back(organization.id, "", one(&fields, "here"), "member")
        }
        Err(e) => {
            let extra = Extra {
                errors: FieldErrors::from_error(caller.w, &e),
                form,
                department_errors: FieldErrors::default(),
                status: status_of(&e),
            };
            render(&console, caller, organization, ListQuery::default(), extra).await
        }
    }
}

/// `POST /console/organizations/{id}/members/bulk`: authorize, disable, enable, delete or
/// open mailboxes for the selected members, or for every member the filters match (in
/// batches of 1,000, up to 20,000; more is refused with the count). Each member (each batch
/// for authorizing: seats) is decided on its own; the notice counts the members done and
/// not done.
pub async fn bulk(
    State(console): State<Arc<Console>>,
    OrgForm {
        caller,
        organization,
        fields,
    }: OrgForm,
) -> Response {
    let here = one(&fields, "here").unwrap_or("");
    let mut ids: Vec<Uuid> = all(&fields, "member");
    if one(&fields, "all_matching") == Some("yes") {
        let query: ListQuery =
            Query::try_from_uri(&format!("/?{here}").parse().unwrap_or_default())
                .map(|q| q.0)
                .unwrap_or_default();
        match read::matching_members(
            console.app.pool(),
            organization.id,
            &query.filter(),
            MAX_ALL_MATCHING,
        )
        .await
        {
            Ok((count, _)) if count > MAX_ALL_MATCHING => {
                let refusal = AppError::invalid(
                    "all_matching",
                    format!("{count} members match; a bulk action takes at most {MAX_ALL_MATCHING} at once: narrow the filter"),
                );
                return reply::failure(caller.w, &refusal);
            }
            Ok((_, all)) => ids = all,
            Err(e) => return reply::failure(caller.w, &AppError::Database(e)),
        }
    }
    if ids.is_empty() {
        return reply::refusal(
            caller.w,
            StatusCode::UNPROCESSABLE_ENTITY,
            app::ErrorCode::Validation,
            caller.w.t("nothing_selected"),
        );
    }
    let request = caller.request();
    let app = &console.app;
    let mut written = Vec::new();
    let mut done = 0usize;
    // Members not done, and the first reason why.
    let mut refused = 0usize;
    let mut reasons: Vec<AppError> = Vec::new();
    match one(&fields, "action") {
        Some("authorize") => {
            // A batch at a time (seats decided per batch): every matching member is tried.
            for batch in ids.chunks(MAX_BULK as usize) {
                match app::member::authorize(app, &request, organization.id, batch, &[]).await {
                    Ok(d) => {
                        done += batch.len();
                        written.extend(d.written);
                    }
                    Err(e) if e.is_transient() => return reply::failure(caller.w, &e),
                    Err(e) => {
                        refused += batch.len();
                        reasons.push(e);
                    }
                }
            }
        }
        Some("open_mailboxes") => {
            let Some(domain) = one(&fields, "domain").and_then(|d| d.parse().ok()) else {
                return reply::failure(
                    caller.w,
                    &AppError::invalid("domainId", "choose a verified domain"),
                );
            };
            // Opened a chunk at a time in the background; the mailboxes page counts.
            let started = match read::accounts_of(console.app.pool(), organization.id, &ids).await {
                Ok(members) => {
                    jobs::start_opening(&console, request, organization.id, domain, members).await
                }
                Err(e) => Err(AppError::Database(e)),
            };
            return match started {
                Ok(_) => back(organization.id, "mailboxes", None, "opened"),
                Err(e) => reply::failure(caller.w, &e),
            };
        }
        Some(action @ ("disable" | "enable" | "delete")) => {
            for id in &ids {
                let outcome = match action {
                    "disable" => app::member::disable(app, &request, *id).await,
                    "enable" => app::member::enable(app, &request, *id).await,
                    _ => app::member::delete(app, &request, *id).await,
                };
                match outcome {
                    Ok(d) => {
                        done += 1;
                        written.extend(d.written);
                    }
                    Err(e) if e.is_transient() => return reply::failure(caller.w, &e),
                    Err(e) => {
                        refused += 1;
                        reasons.push(e);
                    }
                }
            }
        }
        _ => return reply::failure(caller.w, &AppError::invalid("action", "choose an action")),
    }
    console.runner.settle(&written).await;
    if done == 0 && reasons.len() == 1 {
        return reply::failure(caller.w, &reasons[0]);
    }
    let mut summary = format!("&ok={done}&refused={refused}");
    if let Some(first) = reasons.first() {
        summary.push_str(&format!("&reason={}", first.code().as_str()));
    }
    back(
        organization.id,
        "",
        Some(&format!("{here}{summary}")),
        "done",
    )
}
