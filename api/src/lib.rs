//! The HTTP surface of mailplane: GraphQL, the event feed, health, readiness and
//! Prometheus metrics. Identity comes from `app::auth`; every write goes through `app`.

pub mod feed;
pub mod graphql;
mod graphql_http;
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
        .route("/graphql/ws", get(graphql_ws))
        .route("/events", get(feed::http))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::scrape))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// `GET /graphql/ws`: GraphQL subscriptions over websocket (graphql-transport-ws). The
/// token comes in `connection_init`'s payload as `{"Authorization": "Bearer …"}`.
async fn graphql_ws(
    State(state): State<AppState>,
    protocol: async_graphql_axum::GraphQLProtocol,
    upgrade: axum::extract::WebSocketUpgrade,
) -> Response {
    use axum::response::IntoResponse;
    let schema = state.schema.clone();
    let jwt = state.jwt.clone();
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            async_graphql_axum::GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let header = ["Authorization", "authorization"]
                        .iter()
                        .find_map(|k| payload.get(*k).and_then(|v| v.as_str()).map(str::to_owned));
                    let principal = match header {
                        None => None,
                        Some(h) => Some(jwt.verify_header(Some(&h)).map_err(|e| {
                            async_graphql::Error::new(format!("unauthenticated: {e}"))
                        })?),
                    };
                    let mut data = async_graphql::Data::default();
                    data.insert(app::Request::client(principal, uuid::Uuid::now_v7()));
                    Ok(data)
                })
                .serve()
        })
        .into_response()
}

fn set_correlation(response: &mut Response, id: uuid::Uuid) {
    if let Ok(value) = axum::http::HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert("x-correlation-id", value);
    }
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
