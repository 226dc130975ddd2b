//! `GET /events`: the HTTP channel of the feed (app::feed holds what every channel shares).

use std::time::Duration;

use app::feed::{filter, page, parse_after, Audience, FeedInputError, MAX_LIMIT, MAX_WAIT};
use app::ErrorCode;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::AppState;

/// Query parameters of `GET /events`.
#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    after: Option<String>,
    limit: Option<String>,
    /// One category, or several separated by commas.
    category: Option<String>,
    /// Long-poll: when nothing is there yet, wait up to this long (`30s`, at most 60 s).
    wait: Option<String>,
}

/// An error answer: the code (and its HTTP status) from `app::error`'s one table.
fn refuse(code: ErrorCode, message: &str, field: Option<&str>) -> Response {
    let status =
        StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    refusal(status, code, message, field)
}

/// A refusal of a plain HTTP route: `{"error": {code, message, field}}` with `status`
/// (and `Retry-After` when it is worth coming back).
pub(crate) fn refusal(
    status: StatusCode,
    code: ErrorCode,
    message: &str,
    field: Option<&str>,
) -> Response {
    let mut error = json!({"code": code.as_str(), "message": message});
    if let Some(f) = field {
        error["field"] = json!(f);
    }
    let mut response = (status, Json(json!({ "error": error }))).into_response();
    if code == ErrorCode::Unavailable {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    response
}

fn invalid(e: FeedInputError) -> Response {
    refuse(ErrorCode::Validation, &e.to_string(), Some(e.field))
}

/// `GET /events?after=<cursor>&limit=<n>&category=<c>[,<c>…]&wait=30s` → `{"events": […],
/// "next": "<cursor>"}`, for billing and operators.
pub async fn http(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<FeedQuery>,
) -> Response {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let principal = match state.jwt.verify_header(header) {
        Ok(p) => p,
        Err(e) => return refuse(ErrorCode::Unauthenticated, &e.to_string(), None),
    };
    let Some(audience) = Audience::of(&principal) else {
        return refuse(
            ErrorCode::Forbidden,
            "the feed is for billing and operators",
            None,
        );
    };
    let after = match parse_after(query.after.as_deref()) {
        Ok(a) => a,
        Err(e) => return invalid(e),
    };
    let limit = match query.limit.as_deref().map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return invalid(FeedInputError {
                field: "limit",
                message: "must be 1 to 1000",
            })
        }
    };
    let filter = match filter(
        query
            .category
            .unwrap_or_default()
            .split(',')
            .map(str::to_owned)
            .collect(),
    ) {
        Ok(f) => f,
        Err(e) => return invalid(e),
    };
    let wait = match query.wait.as_deref().map(app::auth::parse_ttl) {
        None => Duration::ZERO,
        Some(Ok(w)) if w <= MAX_WAIT => w,
        Some(_) => {
            return invalid(FeedInputError {
                field: "wait",
                message: "must be a duration up to 60s, like 30s",
            })
        }
    };
    let deadline = tokio::time::Instant::now() + wait;
    let mut after = after;
    loop {
        let page = match page(&state.store, audience, &filter, after, limit).await {
            Ok(p) => p,
            Err(e) => {
                let e = app::AppError::Store(e);
                return refuse(e.code(), &e.public_message(), None);
            }
        };
        // Answer with events, or when the wait is over; events this audience does not
        // see move the cursor on while waiting.
        if !page.events.is_empty() || tokio::time::Instant::now() >= deadline {
            return Json(json!({"events": page.events, "next": page.next.to_string()}))
                .into_response();
        }
        after = page.next;
        if !page.more {
            let mut subscription = state.store.subscribe(filter.clone(), after);
            let _ = tokio::time::timeout_at(deadline, subscription.next()).await;
        }
    }
}
