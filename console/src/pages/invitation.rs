//! The link an invited admin gets by SMS (`/invitations/{id}?token=…`, which leads to
//! `/console/invitations/{id}`): signed in with their
//! cloud account, they accept, and the organization is theirs to administer. Nothing about
//! the organization shows before the token is accepted.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use uuid::Uuid;

use super::org::SignedForm;
use crate::form::one;
use crate::reply::{self, Caller};
use crate::words::Words;
use crate::Console;

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    w: Words,
    account: String,
    csrf: String,
    id: String,
    token: String,
    error: Option<String>,
}

#[derive(serde::Deserialize, Default)]
pub struct Link {
    #[serde(default)]
    token: String,
}

fn page(
    caller: Caller,
    id: String,
    token: String,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let mut r = reply::page(&InvitationPage {
        w: caller.w,
        account: caller.session.account.clone(),
        csrf: caller.session.csrf(),
        id,
        token,
        error,
    });
    *r.status_mut() = status;
    r
}

/// `GET /invitations/{id}?token=…`, the link of the SMS: the same under `/console`, where
/// the session cookie is sent.
pub async fn link(
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(link): Query<Link>,
) -> Response {
    // Only an invitation id goes into the address we send the browser to: a path such as
    // `..%2F..%2Fconsole%2Flogout` is no invitation.
    let Ok(id) = id.parse::<Uuid>() else {
        return no_invitation(reply::words(&headers));
    };
    let token = crate::form::encode(&link.token);
    reply::see_other(&format!("/console/invitations/{id}?token={token}"))
}

fn no_invitation(w: crate::words::Words) -> Response {
    reply::failure(w, &app::AppError::not_found("invitation"))
}

/// `GET /console/invitations/{id}?token=…`: asks the signed-in account to accept.
pub async fn show(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(link): Query<Link>,
) -> Response {
    match reply::caller(&console, &headers).await {
        // Its form posts the CSRF token: only ever to an invitation's own address.
        Ok(caller) if id.parse::<Uuid>().is_err() => no_invitation(caller.w),
        Ok(caller) => page(caller, id, link.token, None, StatusCode::OK),
        Err(r) => r,
    }
}

/// `POST /console/invitations/{id}` (`csrf`, `token`): accepts; the organization's page follows.
pub async fn accept(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    SignedForm { caller, fields }: SignedForm,
) -> Response {
    let token = one(&fields, "token").unwrap_or("").to_owned();
    let outcome = match id.parse::<Uuid>() {
        Ok(invitation) => {
            app::organization::accept_invitation(
                &console.app,
                &caller.request(),
                invitation,
                &token,
            )
            .await
        }
        Err(_) => Err(app::AppError::Refused(domain::DomainError::InvalidToken)),
    };
    match outcome {
        Ok(done) => {
            let organization = super::org::settle(&console, done).await;
            reply::see_other(&format!("/console/organizations/{organization}/settings"))
        }
        Err(e) if e.is_transient() => reply::failure(caller.w, &e),
        Err(e) => {
            let sentence = caller.w.error(e.code(), &e.public_message());
            let status = super::org::status_of(&e);
            page(caller, id, token, Some(sentence), status)
        }
    }
}
