//! `GET /graphql/ws`: GraphQL subscriptions over websocket (graphql-transport-ws). The
//! token comes in `connection_init`'s payload as `{"Authorization": "Bearer …"}`. A socket
//! that does not say who it is in time is closed; one whose token expires is closed then;
//! no principal holds more than its share of sockets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

use crate::AppState;

/// What a websocket may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketLimits {
    /// Longest wait for `connection_init` with a valid token.
    pub init_timeout: Duration,
    /// Most sockets one principal holds open at once.
    pub per_principal: usize,
    /// Most sockets open at once in the process.
    pub total: usize,
}

impl Default for SocketLimits {
    fn default() -> Self {
        SocketLimits {
            init_timeout: Duration::from_secs(10),
            per_principal: 8,
            total: 1024,
        }
    }
}

/// The sockets open now, per principal.
#[derive(Debug, Default)]
pub struct OpenSockets(Mutex<HashMap<String, usize>>);

/// One open socket of a principal: counted until dropped.
struct Held {
    open: Arc<OpenSockets>,
    principal: String,
}

impl OpenSockets {
    fn take(self: &Arc<Self>, principal: &str, limits: &SocketLimits) -> Option<Held> {
        let mut open = self.0.lock().ok()?;
        let total: usize = open.values().sum();
        let mine = open.get(principal).copied().unwrap_or(0);
        if total >= limits.total || mine >= limits.per_principal {
            return None;
        }
        open.insert(principal.to_owned(), mine + 1);
        Some(Held {
            open: self.clone(),
            principal: principal.to_owned(),
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.0.lock() {
            if let Some(n) = open.get_mut(&self.principal) {
                *n -= 1;
                if *n == 0 {
                    open.remove(&self.principal);
                }
            }
        }
    }
}

/// `GET /graphql/ws`.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    protocol: async_graphql_axum::GraphQLProtocol,
    upgrade: axum::extract::WebSocketUpgrade,
) -> Response {
    let schema = state.schema.clone();
    let jwt = state.jwt.clone();
    let limits = state.sockets.clone();
    let open = state.open_sockets.clone();
    // A message is a request: no bigger than an HTTP request body may be (a 60 MiB
    // `connection_init` or a 20 MiB query ends the socket instead of being read whole).
    let max_message = state.http.max_body_bytes;
    upgrade
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let (admitted, admission) = oneshot::channel::<(Held, i64)>();
            let init_limits = limits.clone();
            let serving = async_graphql_axum::GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let header = ["Authorization", "authorization"]
                        .iter()
                        .find_map(|k| payload.get(*k).and_then(|v| v.as_str()).map(str::to_owned));
                    let Some(header) = header else {
                        return Err(async_graphql::Error::new(
                            "unauthenticated: connection_init needs {\"Authorization\": \"Bearer …\"}",
                        ));
                    };
                    let (principal, expires) = jwt
                        .verify_with_expiry(&header)
                        .map_err(|e| async_graphql::Error::new(format!("unauthenticated: {e}")))?;
                    let held = open.take(&principal.actor(), &init_limits).ok_or_else(|| {
                        async_graphql::Error::new(format!(
                            "too many open subscriptions (at most {} per caller)",
                            init_limits.per_principal
                        ))
                    })?;
                    let _ = admitted.send((held, expires));
                    let mut data = async_graphql::Data::default();
                    data.insert(app::Request::client(Some(principal), uuid::Uuid::now_v7()));
                    Ok(data)
                })
                .serve();
            let mut serving = std::pin::pin!(serving);
            // Dropping the serving future closes the socket.
            let (held, expires) = tokio::select! {
                () = &mut serving => return,
                admitted = tokio::time::timeout(limits.init_timeout, admission) => match admitted {
                    Ok(Ok(a)) => a,
                    _ => return,
                },
            };
            let left = expires.saturating_sub(chrono::Utc::now().timestamp()).max(0);
            tokio::select! {
                () = &mut serving => {}
                () = tokio::time::sleep(Duration::from_secs(left.unsigned_abs())) => {
                    tracing::debug!("websocket closed: its token expired");
                }
            }
            drop(held);
        })
        .into_response()
}
