//! One subscription, for its buyer: status, trial days left, seats used and purchased;
//! converting the trial and expanding seats with the price shown before confirming;
//! unsubscribing with the refund (or why there is none) shown before confirming; binding
//! the app to an organization.

use std::sync::Arc;

use app::AppError;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use uuid::Uuid;

use super::org::SignedForm;
use crate::form::one;
use crate::read::{self, OrganizationRow, SubscriptionRow};
use crate::reply::{self, Caller};
use crate::words::Words;
use crate::Console;

#[derive(Template)]
#[template(path = "subscription.html")]
struct SubscriptionPage {
    w: Words,
    account: String,
    csrf: String,
    subscription: SubscriptionRow,
    trial_days_left: Option<i64>,
    /// The organizations this buyer manages that have no app yet (to bind).
    unbound: Vec<OrganizationRow>,
    /// The quote asked for (`convert` or `expand`), or its refusal.
    quote: Option<Quote>,
    /// The refund unsubscribing would give now, or why not.
    refund: Result<String, String>,
    error: Option<String>,
    notice: Option<String>,
}

/// A price shown before the buyer confirms.
struct Quote {
    action: &'static str,
    /// Months (convert) or seats (expand), as asked.
    amount: u32,
    price: Result<String, String>,
}

#[derive(serde::Deserialize, Default)]
pub struct Ask {
    #[serde(default)]
    quote: String,
    #[serde(default)]
    months: Option<u32>,
    #[serde(default)]
    seats: Option<u32>,
    #[serde(default)]
    notice: String,
}

/// Minor units as money: `12345` CNY → `¥123.45`.
fn money(amount: i64, currency: &str) -> String {
    let sign = if currency == "CNY" { "¥" } else { "" };
    let suffix = if currency == "CNY" {
        String::new()
    } else {
        format!(" {currency}")
    };
    format!("{sign}{}.{:02}{suffix}", amount / 100, (amount % 100).abs())
}

async fn owned(console: &Console, caller: &Caller, id: &str) -> Result<SubscriptionRow, Response> {
    let Ok(id) = id.parse::<Uuid>() else {
        return Err(reply::failure(
            caller.w,
            &AppError::not_found("subscription"),
        ));
    };
    app::access::require_buyer(console.app.pool(), &caller.request(), id)
        .await
        .map_err(|e| reply::failure(caller.w, &e))?;
    match read::subscription(console.app.pool(), id).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(reply::failure(
            caller.w,
            &AppError::not_found("subscription"),
        )),
        Err(e) => Err(reply::failure(caller.w, &AppError::Database(e))),
    }
}

async fn render(
    console: &Console,
    caller: Caller,
    subscription: SubscriptionRow,
    ask: Ask,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let (app, request, w) = (&console.app, caller.request(), caller.w);
    let said = |e: AppError| w.error(e.code(), &e.public_message());
    let quote = match ask.quote.as_str() {
        "convert" => {
            let months = ask.months.unwrap_or(12);
            let price =
                app::subscription::quote_conversion(app, &request, subscription.id, months).await;
            Some(Quote {
                action: "convert",
                amount: months,
                price: price.map(|a| money(a.amount, &a.currency)).map_err(said),
            })
        }
        "expand" => {
            let seats = ask.seats.unwrap_or(0);
            let price =
                app::subscription::quote_expansion(app, &request, subscription.id, seats).await;
            Some(Quote {
                action: "expand",
                amount: seats,
                price: price
                    .map(|e| {
                        format!(
                            "{} ({} {}, {} → {})",
                            money(e.amount, &e.currency),
                            e.remaining_days,
                            w.t("days_left"),
                            subscription.seats,
                            e.new_total
                        )
                    })
                    .map_err(said),
            })
        }
        _ => None,
    };
    // A trial is refused as TRIAL_NOT_ALLOWED, which reads as "no trial" here: say why.
    let refund = if subscription.status == "TRIAL" {
        Err(w.t("trial_no_unsubscribe").to_owned())
    } else {
        app::subscription::quote_refund(app, &request, subscription.id)
            .await
            .map(|a| money(a.amount, &a.currency))
            .map_err(said)
    };
    let unbound = match read::organizations_managed_by(app.pool(), &caller.session.account).await {
        Ok(o) => o
            .into_iter()
            .filter(|o| o.subscription_id.is_none())
            .collect(),
        Err(e) => return reply::failure(w, &AppError::Database(e)),
    };
    let now = app.now();
    let notice = match ask.notice.as_str() {
        "converted" | "expanded" | "unsubscribed" | "bound" => Some(w.t(&ask.notice).to_owned()),
        _ => None,
    };
    let mut r = reply::page(&SubscriptionPage {
        w,
        account: caller.session.account.clone(),
        csrf: caller.session.csrf(),
        trial_days_left: subscription
            .trial_ends_at
            .filter(|_| subscription.status == "TRIAL")
            .map(|end| {
                ((end - now).num_seconds() + 86_399)
                    .div_euclid(86_400)
                    .max(0)
            }),
        subscription,
        unbound,
        quote,
        refund,
        error,
        notice,
    });
    *r.status_mut() = status;
    r
}

/// `GET /console/subscriptions/{id}` (`?quote=convert&months=12`, `?quote=expand&seats=5`
/// show a price first).
pub async fn show(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(ask): Query<Ask>,
) -> Response {
    let caller = match reply::caller(&console, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match owned(&console, &caller, &id).await {
        Ok(s) => render(&console, caller, s, ask, None, StatusCode::OK).await,
        Err(r) => r,
    }
}

/// `POST /console/subscriptions/{id}`: `action` is `convert` (`months`), `expand`
/// (`seats`), `unsubscribe` (`reason`) or `bind` (`organization`).
pub async fn act(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    SignedForm { caller, fields }: SignedForm,
) -> Response {
    let subscription = match owned(&console, &caller, &id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (app, request) = (&console.app, caller.request());
    let number = |name: &str| one(&fields, name).and_then(|n| n.trim().parse::<u32>().ok());
    let sid = subscription.id;
    let (outcome, notice) = match one(&fields, "action") {
        Some("convert") => (
            app::subscription::convert_trial(app, &request, sid, number("months").unwrap_or(0))
                .await
                .map(|d| d.written),
            "converted",
        ),
        Some("expand") => (
            app::subscription::expand_seats(app, &request, sid, number("seats").unwrap_or(0))
                .await
                .map(|d| d.written),
            "expanded",
        ),
        Some("unsubscribe") => {
            let reason = one(&fields, "reason")
                .map(str::to_owned)
                .filter(|r| !r.trim().is_empty());
            (
                app::subscription::unsubscribe(app, &request, sid, reason)
                    .await
                    .map(|d| d.written),
                "unsubscribed",
            )
        }
        Some("bind") => match one(&fields, "organization").and_then(|o| o.parse().ok()) {
            Some(org) => (
                app::organization::bind_app(app, &request, sid, org)
                    .await
                    .map(|d| d.written),
                "bound",
            ),
            None => (
                Err(AppError::invalid(
                    "organizationId",
                    "choose an organization",
                )),
                "bound",
            ),
        },
        _ => (Err(AppError::invalid("action", "choose an action")), ""),
    };
    match outcome {
        Ok(written) => {
            console.runner.settle(&written).await;
            reply::see_other(&format!("/console/subscriptions/{sid}?notice={notice}"))
        }
        Err(e) if e.is_transient() => reply::failure(caller.w, &e),
        Err(e) => {
            let sentence = caller.w.error(e.code(), &e.public_message());
            let status = super::org::status_of(&e);
            render(
                &console,
                caller,
                subscription,
                Ask::default(),
                Some(sentence),
                status,
            )
            .await
        }
    }
}
