//! Prometheus metrics, served in the text exposition format at `/metrics`.

use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

/// The process's metrics registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    pool: Family<PoolLabels, Gauge>,
    parked: Family<ConsumerLabels, Gauge>,
    overdue_timers: Gauge,
}

/// A worker's name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumerLabels {
    consumer: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with mailplane's HTTP and database pool metrics.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mailplane");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests served, by method, route and status",
            requests.clone(),
        );
        let durations = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            durations.clone(),
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections, by state (idle, in_use)",
            pool.clone(),
        );
        let parked = Family::<ConsumerLabels, Gauge>::default();
        registry.register(
            "parked_events",
            "Events a worker could not handle (table parked_events), by worker",
            parked.clone(),
        );
        let overdue_timers = Gauge::default();
        registry.register(
            "overdue_timers",
            "Timers due more than a minute ago and not fired yet (no timer worker running?)",
            overdue_timers.clone(),
        );
        let build = Family::<Vec<(String, String)>, Gauge>::default();
        build
            .get_or_create(&vec![(
                "version".to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            )])
            .set(1);
        registry.register("build_info", "The running build", build);
        Metrics {
            registry,
            requests,
            durations,
            pool,
            parked,
            overdue_timers,
        }
    }

    /// Records one answered request.
    pub fn observe_request(&self, method: String, route: String, status: u16, took: Duration) {
        self.durations
            .get_or_create(&RouteLabels {
                route: route.clone(),
            })
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<AppState>) -> Response {
    let pool = state.store.pool();
    let idle = pool.num_idle() as i64;
    let size = i64::from(pool.size());
    state
        .metrics
        .pool
        .get_or_create(&PoolLabels { state: "idle" })
        .set(idle);
    state
        .metrics
        .pool
        .get_or_create(&PoolLabels { state: "in_use" })
        .set(size - idle);
    // Small tables, read at scrape time; a failed read leaves the last figures.
    if let Ok(rows) = sqlx::query_as::<_, (String, i64)>(
        "SELECT consumer, count(*) FROM parked_events GROUP BY consumer",
    )
    .fetch_all(pool)
    .await
    {
        for (consumer, n) in rows {
            state
                .metrics
                .parked
                .get_or_create(&ConsumerLabels { consumer })
                .set(n);
        }
    }
    if let Ok(n) = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM timers WHERE due_at < now() - interval '1 minute'",
    )
    .fetch_one(pool)
    .await
    {
        state.metrics.overdue_timers.set(n);
    }
    match state.metrics.render() {
        Ok(text) => (
            [(
                CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
