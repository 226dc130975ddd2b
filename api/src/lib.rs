//! The HTTP surface of mailplane: health, readiness, Prometheus metrics and JWT identity.
//! GraphQL and the event feed mount here as later parts arrive.

pub mod auth;
pub mod command;
mod health;
pub mod metrics;
pub mod operations;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use eventstore::EventStore;

pub use auth::{JwtKeys, Principal, PrincipalKind};
pub use metrics::Metrics;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: EventStore,
    pub jwt: Arc<JwtKeys>,
    pub metrics: Arc<Metrics>,
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::scrape))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Counts and times every request by route (not raw path, so ids do not explode labels).
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .observe_request(method, route, response.status().as_u16(), started.elapsed());
    response
}
