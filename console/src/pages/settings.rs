//! The organization itself: its identifier, its admins, inviting admins (valid for a
//! number of hours, revocable), and dissolving it by typing its identifier.

use std::sync::Arc;

use app::organization::Invitee;
use app::AppError;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::org::{back, settle, status_of, OrgForm, OrgPage};
use crate::form::one;
use crate::read::OrganizationRow;
use crate::reply::{self, Caller, FieldErrors};
use crate::words::Words;
use crate::Console;

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    w: Words,
    tab: &'static str,
    account: String,
    csrf: String,
    organization: OrganizationRow,
    admins: Vec<String>,
    invitations: Vec<InvitationRow>,
    invite: InviteForm,
    errors: FieldErrors,
    dissolve_error: Option<String>,
    /// Why removing an admin or transferring the creator role was refused.
    admin_error: Option<String>,
    notice: Option<String>,
    /// The longest validity of an invitation (the domain's rule).
    max_hours: u32,
}

#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: Uuid,
    name: String,
    phone: String,
    status: String,
    expires_at: DateTime<Utc>,
}

impl InvitationRow {
    fn valid_until(&self) -> String {
        self.expires_at.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

/// The invitation form as typed.
#[derive(Default)]
struct InviteForm {
    name: String,
    phone: String,
    email: String,
    hours: String,
}

/// What a refused form shows again: the invitation as typed and the sentences.
#[derive(Default)]
struct Shown {
    invite: InviteForm,
    errors: FieldErrors,
    dissolve_error: Option<String>,
    admin_error: Option<String>,
    /// A sentence to show that is not one of the words (it names a masked phone).
    notice: Option<String>,
}

#[derive(serde::Deserialize, Default)]
pub struct Notice {
    #[serde(default)]
    notice: String,
}

async fn render(
    console: &Console,
    caller: Caller,
    organization: OrganizationRow,
    shown: Shown,
    notice: &str,
    status: StatusCode,
) -> Response {
    let pool = console.app.pool();
    let loaded = async {
        let admins: Vec<String> = sqlx::query_scalar(
            "SELECT account FROM organization_admins WHERE organization_id = $1 ORDER BY account",
        )
        .bind(organization.id)
        .fetch_all(pool)
        .await?;
        let invitations: Vec<InvitationRow> = sqlx::query_as(
            "SELECT id, name, phone, status, expires_at FROM invitations
             WHERE organization_id = $1 ORDER BY expires_at DESC LIMIT 100",
        )
        .bind(organization.id)
        .fetch_all(pool)
        .await?;
        Ok::<_, sqlx::Error>((admins, invitations))
    }
    .await;
    let (admins, invitations) = match loaded {
        Ok(l) => l,
        Err(e) => return reply::failure(caller.w, &AppError::Database(e)),
    };
    let notice = match notice {
        _ if shown.notice.is_some() => shown.notice.clone(),
        "invited" | "revoked" | "admin_removed" | "creator_transferred" => {
            Some(caller.w.t(notice).to_owned())
        }
        _ => None,
    };
    let mut r = reply::page(&SettingsPage {
        max_hours: domain::organization::MAX_INVITATION_HOURS,
        w: caller.w,
        tab: "settings",
        account: caller.session.account.clone(),
        csrf: caller.session.csrf(),
        organization,
        admins,
        invitations,
        invite: shown.invite,
        errors: shown.errors,
        dissolve_error: shown.dissolve_error,
        admin_error: shown.admin_error,
        notice,
    });
    *r.status_mut() = status;
    r
}

/// `GET /console/organizations/{id}/settings`.
pub async fn show(
    State(console): State<Arc<Console>>,
    OrgPage {
        caller,
        organization,
    }: OrgPage,
    Query(notice): Query<Notice>,
) -> Response {
    let (shown, notice) = (Shown::default(), &notice.notice);
    render(
        &console,
        caller,
        organization,
        shown,
        notice,
        StatusCode::OK,
    )
    .await
}

/// `POST /console/organizations/{id}/settings`: `action` is `invite`, `revoke` (with
/// `invitation`), `remove_admin` or `transfer_creator` (with `admin`, an account) or
/// `dissolve` (with `confirm`, the identifier typed again).
pub async fn act(
    State(console): State<Arc<Console>>,
    OrgForm {
        caller,
        organization,
        fields,
    }: OrgForm,
) -> Response {
    let (app, request) = (&console.app, caller.request());
    let text = |name: &str| one(&fields, name).unwrap_or("").trim().to_owned();
    match one(&fields, "action") {
        Some("invite") => {
            let form = InviteForm {
                name: text("name"),
                phone: text("phone"),
                email: text("email"),
                hours: text("hours"),
            };
            let invitee = Invitee {
                name: form.name.clone(),
                phone: form.phone.clone(),
                email: form.email.clone(),
                valid_hours: form.hours.parse().unwrap_or(0),
            };
            match app::organization::invite_admin(app, &request, organization.id, &invitee).await {
                Ok(done) => {
                    settle(&console, done).await;
                    back(organization.id, "settings", None, "invited")
                }
                Err(e) if e.is_transient() => reply::failure(caller.w, &e),
                Err(e) => {
                    let shown = Shown {
                        invite: form,
                        errors: FieldErrors::from_error(caller.w, &e),
                        ..Shown::default()
                    };
                    let status = status_of(&e);
                    render(&console, caller, organization, shown, "", status).await
                }
            }
        }
        Some("revoke") => {
            let Some(invitation) = one(&fields, "invitation").and_then(|i| i.parse().ok()) else {
                return reply::failure(caller.w, &AppError::invalid("invitation", "choose one"));
            };
            match app::organization::revoke_invitation(app, &request, invitation).await {
                Ok(done) => {
                    settle(&console, done).await;
                    back(organization.id, "settings", None, "revoked")
                }
                Err(e) => reply::failure(caller.w, &e),
            }
        }
        Some(action @ ("remove_admin" | "transfer_creator")) => {
            let admin = text("admin");
            let (done, notice) = if action == "remove_admin" {
                let done =
                    app::organization::remove_admin(app, &request, organization.id, &admin).await;
                (done, "admin_removed")
            } else {
                let done =
                    app::organization::transfer_creator(app, &request, organization.id, &admin)
                        .await;
                (done, "creator_transferred")
            };
            match done {
                // An admin who removed themselves manages nothing here any more.
                Ok(done) if admin == caller.session.account && action == "remove_admin" => {
                    settle(&console, done).await;
                    reply::see_other("/console")
                }
                Ok(done) => {
                    settle(&console, done).await;
                    back(organization.id, "settings", None, notice)
                }
                Err(e) if e.is_transient() => reply::failure(caller.w, &e),
                Err(e) => {
                    let shown = Shown {
                        admin_error: Some(caller.w.error(e.code(), &e.public_message())),
                        ..Shown::default()
                    };
                    let status = status_of(&e);
                    render(&console, caller, organization, shown, "", status).await
                }
            }
        }
        Some("dissolution_code") => {
            match app::organization::request_dissolution_code(app, &request, organization.id).await
            {
                Ok(done) => {
                    let sent = settle(&console, done).await;
                    let notice =
                        format!("{} {}", caller.w.t("dissolution_code_sent"), sent.sent_to);
                    let shown = Shown {
                        notice: Some(notice),
                        ..Shown::default()
                    };
                    render(&console, caller, organization, shown, "", StatusCode::OK).await
                }
                Err(e) if e.is_transient() => reply::failure(caller.w, &e),
                Err(e) => {
                    let shown = Shown {
                        dissolve_error: Some(caller.w.error(e.code(), &e.public_message())),
                        ..Shown::default()
                    };
                    let status = status_of(&e);
                    render(&console, caller, organization, shown, "", status).await
                }
            }
        }
        Some("dissolve") => {
            let (confirm, code) = (text("confirm"), text("code"));
            match app::organization::dissolve(app, &request, organization.id, &confirm, &code).await
            {
                Ok(done) => {
                    settle(&console, done).await;
                    reply::see_other("/console?notice=dissolved")
                }
                Err(e) if e.is_transient() => reply::failure(caller.w, &e),
                Err(e) => {
                    let shown = Shown {
                        dissolve_error: Some(caller.w.error(e.code(), &e.public_message())),
                        ..Shown::default()
                    };
                    let status = status_of(&e);
                    render(&console, caller, organization, shown, "", status).await
                }
            }
        }
        _ => reply::failure(caller.w, &AppError::invalid("action", "choose an action")),
    }
}
