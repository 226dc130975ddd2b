//! `POST /graphql` over HTTP, in the order a hostile caller makes matter: the content type
//! first (a cross-site form or `text/plain` POST never runs), then the token (no token, no
//! body read), then the body, read only up to its limit, then the query, bounded by its
//! expanded size before it is validated (`graphql::bounds`).

use app::ErrorCode;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::{graphql, set_correlation, AppState};

/// What `/graphql` and the rest of the HTTP surface accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request body of an authenticated caller (a 1,000-row import is ~300 KB).
    pub max_body_bytes: usize,
    /// Whether `GET /graphql` serves GraphiQL (its scripts come from a CDN: development).
    pub graphiql: bool,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_body_bytes: 2 * 1024 * 1024,
            graphiql: false,
        }
    }
}

/// A refusal before the query runs: a GraphQL error body with its code, and the status.
pub(crate) fn refusal(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let body =
        async_graphql::Response::from_errors(vec![graphql::coded_server_error(code, message)]);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&body).unwrap_or_default(),
    )
        .into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    response
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/json" || v == "application/graphql-response+json")
}

/// `POST /graphql`.
pub(crate) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let correlation_id = uuid::Uuid::now_v7();
    let mut response = answer(&state, &headers, body, correlation_id).await;
    set_correlation(&mut response, correlation_id);
    response
}

async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    correlation_id: uuid::Uuid,
) -> Response {
    if !is_json(headers) {
        return refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::Validation,
            "Content-Type: send the request as application/json",
        );
    }
    let principal = match headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
    {
        None => None,
        Some(h) => match state.jwt.verify_header(Some(h)) {
            Ok(p) => Some(p),
            Err(e) => {
                let error = graphql::unauthenticated_error(&e.to_string());
                let body = async_graphql::Response::from_errors(vec![error]);
                return async_graphql_axum::GraphQLResponse::from(body).into_response();
            }
        },
    };
    // No field answers an anonymous caller: refused before the body is read or parsed, so
    // no document of a stranger costs anything.
    if principal.is_none() {
        let mut refused = refusal(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            "unauthenticated: every GraphQL request needs Authorization: Bearer <token>",
        );
        refused.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
        return refused;
    }
    let limit = state.http.max_body_bytes;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::RequestTooLarge,
                &format!("the request body is larger than {limit} bytes"),
            )
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                ErrorCode::Validation,
                &format!(
                    "the body is not a GraphQL request ({{\"query\": …, \"variables\": …}}): {e}"
                ),
            )
        }
    };
    let authenticated = principal.is_some();
    let request = request
        .data(app::Request::client(principal, correlation_id))
        .data(graphql::Readable::default());
    // Tools load the schema with an introspection query deeper than any data query may be;
    // it runs on a schema that allows that depth and nothing but introspection. Anonymous
    // callers learn nothing of the schema.
    if !authenticated && graphql::is_introspection(&request.query) {
        let error = graphql::unauthenticated_error("the schema is shown to signed-in callers");
        let body = async_graphql::Response::from_errors(vec![error]);
        return async_graphql_axum::GraphQLResponse::from(body).into_response();
    }
    let response = if !authenticated {
        state.schema.execute(request.disable_introspection()).await
    } else if graphql::is_introspection(&request.query) {
        state
            .introspection
            .execute(request.only_introspection())
            .await
    } else {
        state.schema.execute(request).await
    };
    let mut response = response;
    // The engine's own errors come without a code: parse and validation errors (syntax,
    // unknown fields, too deep, too complex) and arguments it cannot read (an Int beyond 32
    // bits) are the caller's bad input; anything else is ours.
    for e in response.errors.iter_mut() {
        let bad_input = e.path.is_empty()
            || e.message.starts_with("Failed to parse")
            || e.message.starts_with("Invalid value");
        let ext = e.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            let code = if bad_input {
                ErrorCode::Validation
            } else {
                tracing::error!(message = %e.message, "an error without a code");
                ErrorCode::Internal
            };
            ext.set("code", code.as_str());
        }
    }
    let busy = response.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .is_some_and(|c| *c == async_graphql::Value::from(ErrorCode::Unavailable.as_str()))
    });
    let mut answer = async_graphql_axum::GraphQLResponse::from(response).into_response();
    if busy {
        // Retryable: the status and Retry-After tell proxies and clients to come back.
        *answer.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        answer.headers_mut().insert(
            header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    answer
}

/// `GET /graphql`: GraphiQL when configured, else a pointer to what to do.
pub(crate) async fn graphiql(State(state): State<AppState>) -> Response {
    if !state.http.graphiql {
        return (
            StatusCode::NOT_FOUND,
            "GraphiQL is off (MAILPLANE_GRAPHIQL=on enables it for development; it loads its scripts from a CDN). POST GraphQL requests as application/json.\n",
        )
            .into_response();
    }
    axum::response::Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .finish(),
    )
    .into_response()
}
