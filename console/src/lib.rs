//! The admin console: server-rendered pages at `/console` (askama templates checked at
//! compile time, htmx vendored into the binary) for organization admins and buyers. Every
//! write calls the same `app` operation as GraphQL; the pages only read the read models.

// Handlers short-circuit with the response they answer (`Result<_, Response>`); it is
// returned once per request, so its size costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

mod assets;
mod form;
mod import_csv;
mod jobs;
mod pages;
mod read;
mod reply;
pub mod session;
mod words;

use std::sync::Arc;
use std::time::Duration;

use app::auth::JwtKeys;
use app::App;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use projections::Runner;

pub use session::SessionLimits;
pub use words::Lang;

/// What the console's handlers reach.
#[derive(Clone)]
pub struct Console {
    app: App,
    runner: Runner,
    jwt: Arc<JwtKeys>,
    limits: SessionLimits,
}

impl Console {
    /// The console over the application, its read-model runner and the token keys.
    pub fn new(app: App, runner: Runner, jwt: Arc<JwtKeys>, limits: SessionLimits) -> Self {
        Console {
            app,
            runner,
            jwt,
            limits,
        }
    }
}

/// Default idle timeout of a console session.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Every console route, under `/console`.
pub fn router(console: Console) -> Router {
    use pages::*;
    let org = |path: &str| format!("/console/organizations/{{id}}{path}");
    Router::new()
        .route("/console", get(home::show))
        .route("/console/", get(home::show))
        .route("/console/login", get(signin::login).post(signin::confirm))
        .route("/console/logout", post(signin::logout))
        .route("/console/language", post(signin::language))
        .route("/console/assets/{name}", get(assets::serve))
        .route("/console/organizations", post(home::create_organization))
        .route("/invitations/{id}", get(invitation::link))
        .route(
            "/console/invitations/{id}",
            get(invitation::show).post(invitation::accept),
        )
        .route(
            "/console/subscriptions/{id}",
            get(subscription::show).post(subscription::act),
        )
        .route(&org(""), get(members::show))
        .route(&org("/departments"), post(member_forms::create_department))
        .route(&org("/members"), post(member_forms::add_member))
        .route(&org("/members/bulk"), post(member_forms::bulk))
        .route(
            &org("/members/{member}"),
            get(member_edit::show).post(member_edit::act),
        )
        .route(
            &org("/import"),
            // The previewed file comes back URL-encoded: up to three times its 1 MiB.
            get(import::show)
                .post(import::start)
                .layer(DefaultBodyLimit::max(4 * import_csv::MAX_BYTES)),
        )
        .route(&org("/import/template.csv"), get(import::template))
        .route(&org("/import/preview"), post(import::preview))
        .route(&org("/jobs/{job}/progress"), get(import::progress))
        .route(&org("/jobs/{job}/report.csv"), get(import::report))
        .route(&org("/domains"), get(domains::show).post(domains::act))
        .route(
            &org("/mailboxes"),
            get(mailboxes::show).post(mailboxes::act),
        )
        .route(&org("/mailboxes/progress"), get(mailboxes::live_progress))
        .route(&org("/recycle_bin"), get(mailboxes::recycle_bin))
        .route(
            &org("/migrations"),
            get(migrations::list).post(migrations::create),
        )
        .route(
            &org("/migrations/{task}"),
            get(migrations::show).post(migrations::act),
        )
        .route(&org("/migrations/{task}/rows"), get(migrations::rows))
        .route(
            &org("/migrations/{task}/results.csv"),
            get(migrations::results),
        )
        .route(&org("/audit_log"), get(audit::show))
        .route(&org("/settings"), get(settings::show).post(settings::act))
        .with_state(Arc::new(console))
}
