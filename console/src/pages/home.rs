//! The first page: the buyer's subscriptions and the organizations the account manages.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::read::{self, OrganizationRow, SubscriptionRow};
use crate::reply::{self, Caller};
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
}

struct SubscriptionView {
    row: SubscriptionRow,
    trial_days_left: Option<i64>,
}

/// `GET /console`.
pub async fn show(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Caller { session, w } = match reply::caller(&console, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
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
                .map(|end| (end - now).num_days().max(0)),
            row,
        })
        .collect();
    reply::page(&Home {
        w,
        csrf: session.csrf(),
        account: session.account,
        subscriptions,
        organizations,
    })
}
