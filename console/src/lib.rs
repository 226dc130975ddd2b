//! The admin console: server-rendered pages at `/console` (askama templates checked at
//! compile time, htmx vendored into the binary) for organization admins and buyers. Every
//! write calls the same `app` operation as GraphQL; the pages only read the read models.

// Handlers short-circuit with the response they answer (`Result<_, Response>`); it is
// returned once per request, so its size costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

mod assets;
mod pages;
mod read;
mod reply;
pub mod session;
mod words;

use std::sync::Arc;
use std::time::Duration;

use app::auth::JwtKeys;
use app::App;
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
    Router::new()
        .route("/console", get(pages::home::show))
        .route("/console/", get(pages::home::show))
        .route("/console/login", get(pages::signin::login))
        .route("/console/logout", post(pages::signin::logout))
        .route("/console/language", post(pages::signin::language))
        .route("/console/assets/{name}", get(assets::serve))
        .route("/console/organizations/{id}", get(pages::members::show))
        .route(
            "/console/organizations/{id}/departments",
            post(pages::members::create_department),
        )
        .route(
            "/console/organizations/{id}/members",
            post(pages::members::add_member),
        )
        .route(
            "/console/organizations/{id}/members/bulk",
            post(pages::members::bulk),
        )
        .with_state(Arc::new(console))
}
