//! The first page: the buyer's subscriptions and the organizations the account manages;
//! creating an organization.

use std::sync::Arc;

use app::organization::NewOrganization;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::org::SignedForm;
use crate::form::one;
use crate::read::{self, OrganizationRow, SubscriptionRow};
use crate::reply::{self, Caller, FieldErrors};
use crate::words::Words;
use crate::Console;

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    w: Words,
    account: String,
    csrf: String,
    subscriptions: Vec<SubscriptionView>,
    organizations: Vec<OrganizationRow>,
    typed: (String, String, String),
    errors: FieldErrors,
    notice: Option<String>,
}

struct SubscriptionView {
    row: SubscriptionRow,
    trial_days_left: Option<i64>,
}

#[derive(serde::Deserialize, Default)]
pub struct Notice {
    #[serde(default)]
    notice: String,
}

async fn render(
    console: &Console,
    caller: Caller,
    typed: (String, String, String),
    errors: FieldErrors,
    notice: &str,
    status: StatusCode,
) -> Response {
    let Caller { session, w } = caller;
    let pool = console.app.pool();
    let subscriptions = match read::subscriptions_of_buyer(pool, &session.account).await {
        Ok(s) => s,
        Err(e) => return reply::failure(w, &app::AppError::Database(e)),
    };
    let organizations = match read::organizations_managed_by(pool, &session.account).await {
        Ok(o) => o,
        Err(e) => return reply::failure(w, &app::AppError::Database(e)),
    };
    let now = console.app.now();
    let subscriptions = subscriptions
        .into_iter()
        .map(|row| SubscriptionView {
            trial_days_left: row
                .trial_ends_at
                .filter(|_| row.status == "TRIAL")
                .map(|end| {
                    ((end - now).num_seconds() + 86_399)
                        .div_euclid(86_400)
                        .max(0)
                }),
            row,
        })
        .collect();
    let notice = match notice {
        "dissolved" => Some(w.t(notice).to_owned()),
        _ => None,
    };
    let mut r = reply::page(&Home {
        w,
        csrf: session.csrf(),
        account: session.account,
        subscriptions,
        organizations,
        typed,
        errors,
        notice,
    });
    *r.status_mut() = status;
    r
}

/// `GET /console`.
pub async fn show(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(notice): Query<Notice>,
) -> Response {
    match reply::caller(&console, &headers).await {
        Ok(caller) => {
            let (typed, errors) = (Default::default(), FieldErrors::default());
            render(
                &console,
                caller,
                typed,
                errors,
                &notice.notice,
                StatusCode::OK,
            )
            .await
        }
        Err(r) => r,
    }
}

/// `POST /console/organizations`: creates an organization the caller administers.
pub async fn create_organization(
    State(console): State<Arc<Console>>,
    SignedForm { caller, fields }: SignedForm,
) -> Response {
    let new = NewOrganization {
        name: one(&fields, "name").unwrap_or("").trim().to_owned(),
        identifier: one(&fields, "identifier").unwrap_or("").trim().to_owned(),
        as_reseller: false,
        creator_phone: one(&fields, "phone")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
    };
    match app::organization::create(&console.app, &caller.request(), &new).await {
        Ok(done) => {
            let id = super::org::settle(&console, done).await;
            reply::see_other(&format!("/console/organizations/{id}/settings"))
        }
        Err(e) if e.is_transient() => reply::failure(caller.w, &e),
        Err(e) => {
            let status = super::org::status_of(&e);
            let mut errors = FieldErrors::from_error(caller.w, &e);
            if e.code() == app::ErrorCode::IdentifierTaken {
                errors.0[0].0 = "identifier".into();
            }
            render(
                &console,
                caller,
                (
                    new.name,
                    new.identifier,
                    new.creator_phone.unwrap_or_default(),
                ),
                errors,
                "",
                status,
            )
            .await
        }
    }
}
