//! The HTTP surface of mailplane: GraphQL, the event feed, health, readiness and
//! Prometheus metrics. Identity comes from `app::auth`; every write goes through `app`.

pub mod feed;
pub mod graphql;
mod graphql_http;
mod graphql_ws;
mod health;
pub mod metrics;
pub mod server;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use eventstore::EventStore;

pub use app::auth::{JwtKeys, Principal, PrincipalKind};
pub use graphql_http::HttpLimits;
pub use graphql_ws::{OpenSockets, SocketLimits};
pub use metrics::Metrics;
pub use server::ServerLimits;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: EventStore,
    pub jwt: Arc<JwtKeys>,
    pub metrics: Arc<Metrics>,
    pub schema: graphql::MailplaneSchema,
    /// The same schema for introspection queries of authenticated callers (deeper).
    pub introspection: graphql::MailplaneSchema,
    pub http: HttpLimits,
    pub sockets: SocketLimits,
    /// Websockets open now, per principal.
    pub open_sockets: Arc<OpenSockets>,
}

impl AppState {
    /// The state for these services: both schemas, fresh metrics.
    pub fn new(services: graphql::Services, jwt: Arc<JwtKeys>, http: HttpLimits) -> AppState {
        let store = services.app.store().clone();
        let again = graphql::Services {
            app: services.app.clone(),
            runner: services.runner.clone(),
        };
        AppState {
            store,
            jwt,
            metrics: Arc::new(Metrics::new()),
            schema: graphql::build_schema(services),
            introspection: graphql::build_introspection_schema(again),
            http,
            sockets: SocketLimits::default(),
            open_sockets: Arc::default(),
        }
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/graphql",
            get(graphql_http::graphiql).post(graphql_http::post),
        )
        .route("/graphql/ws", get(graphql_ws::upgrade))
        .route("/events", get(feed::http))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::scrape))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// A method a route does not take: said with a code, like every refusal.
async fn method_not_allowed() -> Response {
    plain_refusal(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "this method is not allowed here",
    )
}

/// A path that is not ours.
async fn not_found() -> Response {
    plain_refusal(axum::http::StatusCode::NOT_FOUND, "no such path")
}

fn plain_refusal(status: axum::http::StatusCode, message: &str) -> Response {
    let code = if status == axum::http::StatusCode::NOT_FOUND {
        app::ErrorCode::NotFound
    } else {
        app::ErrorCode::Validation
    };
    feed::refusal(status, code, message, None)
}

fn set_correlation(response: &mut Response, id: uuid::Uuid) {
    if let Ok(value) = axum::http::HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert("x-correlation-id", value);
    }
}

/// Counts and times every request by route (not raw path, so ids do not explode labels).
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // Any string is a method to HTTP: only the ones we serve become label values, so a
    // caller cannot grow the metrics without bound.
    let method = match request.method().as_str() {
        m @ ("GET" | "POST" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "PATCH") => m.to_owned(),
        _ => "OTHER".to_owned(),
    };
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
