//! One member: edit the name, phone, e-mail and department, reset the password, disable,
//! enable or delete. The member must belong to the organization in the URL.

use std::sync::Arc;

use app::member::MemberChanges;
use app::AppError;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use super::org::{back, settle, status_of, OrgForm, OrgPage};
use crate::form::one;
use crate::read::{self, OrganizationRow};
use crate::reply::{self, Caller, FieldErrors};
use crate::words::Words;
use crate::Console;

#[derive(Template)]
#[template(path = "member_edit.html")]
struct MemberPage {
    w: Words,
    tab: &'static str,
    account: String,
    csrf: String,
    organization: OrganizationRow,
    member: read::MemberDetail,
    departments: Vec<read::DepartmentRow>,
    errors: FieldErrors,
    notice: Option<String>,
}

#[derive(serde::Deserialize, Default)]
pub struct Notice {
    #[serde(default)]
    notice: String,
}

async fn member_of(
    console: &Console,
    caller: &Caller,
    organization: &OrganizationRow,
    member: &str,
) -> Result<read::MemberDetail, Response> {
    let found = match member.parse::<Uuid>() {
        Ok(id) => read::member(console.app.pool(), organization.id, id).await,
        Err(_) => Ok(None),
    };
    match found {
        Ok(Some(m)) => Ok(m),
        Ok(None) => Err(reply::failure(caller.w, &AppError::not_found("member"))),
        Err(e) => Err(reply::failure(caller.w, &AppError::Database(e))),
    }
}

async fn render(
    console: &Console,
    caller: Caller,
    organization: OrganizationRow,
    member: read::MemberDetail,
    errors: FieldErrors,
    notice: &str,
    status: StatusCode,
) -> Response {
    let departments = match read::departments(console.app.pool(), organization.id).await {
        Ok(d) => d,
        Err(e) => return reply::failure(caller.w, &AppError::Database(e)),
    };
    let notice = match notice {
        "saved" | "password_reset" | "done" => Some(caller.w.t(notice).to_owned()),
        _ => None,
    };
    let mut r = reply::page(&MemberPage {
        w: caller.w,
        tab: "members",
        csrf: caller.session.csrf(),
        account: caller.session.account.clone(),
        organization,
        member,
        departments,
        errors,
        notice,
    });
    *r.status_mut() = status;
    r
}

/// `GET /console/organizations/{id}/members/{member}`.
pub async fn show(
    State(console): State<Arc<Console>>,
    Path((_, member)): Path<(String, String)>,
    OrgPage {
        caller,
        organization,
    }: OrgPage,
    Query(notice): Query<Notice>,
) -> Response {
    let member = match member_of(&console, &caller, &organization, &member).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let errors = FieldErrors::default();
    render(
        &console,
        caller,
        organization,
        member,
        errors,
        &notice.notice,
        StatusCode::OK,
    )
    .await
}

/// What changed between the member and the posted form (only those fields are sent).
fn changes(member: &read::MemberDetail, fields: &[(String, String)]) -> MemberChanges {
    let text = |name: &str| one(fields, name).unwrap_or("").trim().to_owned();
    let differs =
        |new: String, old: &Option<String>| (new != old.clone().unwrap_or_default()).then_some(new);
    let department = one(fields, "department").unwrap_or("").parse::<Uuid>().ok();
    MemberChanges {
        name: Some(text("name")).filter(|n| *n != member.name),
        phone: differs(text("phone"), &member.phone),
        email: differs(text("email"), &member.email),
        department_id: (department != member.department_id).then_some(department),
        role: None,
    }
}

/// `POST /console/organizations/{id}/members/{member}`: `action` is `save` (the edit
/// form), `password`, `disable`, `enable` or `delete`.
pub async fn act(
    State(console): State<Arc<Console>>,
    Path((_, member)): Path<(String, String)>,
    OrgForm {
        caller,
        organization,
        fields,
    }: OrgForm,
) -> Response {
    let member = match member_of(&console, &caller, &organization, &member).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let (app, request) = (&console.app, caller.request());
    let action = one(&fields, "action").unwrap_or("");
    let outcome = match action {
        "save" => {
            let changes = changes(&member, &fields);
            if changes == MemberChanges::default() {
                return page_back(organization.id, member.id, "saved");
            }
            app::member::update(app, &request, member.id, &changes).await
        }
        "password" => {
            let password = one(&fields, "password").unwrap_or("");
            app::member::reset_password(app, &request, member.id, password).await
        }
        "disable" => app::member::disable(app, &request, member.id).await,
        "enable" => app::member::enable(app, &request, member.id).await,
        "delete" => app::member::delete(app, &request, member.id).await,
        _ => Err(AppError::invalid("action", "choose an action")),
    };
    match outcome {
        Ok(done) => {
            settle(&console, done).await;
            match action {
                "delete" => back(organization.id, "", None, "done"),
                "save" => page_back(organization.id, member.id, "saved"),
                "password" => page_back(organization.id, member.id, "password_reset"),
                _ => page_back(organization.id, member.id, "done"),
            }
        }
        Err(e) if e.is_transient() => reply::failure(caller.w, &e),
        Err(e) => {
            let mut errors = FieldErrors::from_error(caller.w, &e);
            // The password form has one field; its refusal belongs beside it.
            if action == "password" {
                for (field, _) in errors.0.iter_mut() {
                    *field = "password".into();
                }
            }
            let status = status_of(&e);
            render(&console, caller, organization, member, errors, "", status).await
        }
    }
}

fn page_back(organization: Uuid, member: Uuid, notice: &str) -> Response {
    reply::see_other(&format!(
        "/console/organizations/{organization}/members/{member}?notice={notice}"
    ))
}
