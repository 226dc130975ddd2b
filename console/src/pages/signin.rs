//! Signing in with a cloud-account token once, signing out, and switching the language.

use std::collections::HashMap;
use std::sync::Arc;

use app::auth::PrincipalKind;
use app::ErrorCode;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::reply::{self, words};
use crate::session::{self, SessionError};
use crate::words::{Lang, LANG_COOKIE};
use crate::Console;

/// `GET /console/login?token=JWT`: a cloud account's token, taken once, becomes a session.
pub async fn login(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let w = words(&headers);
    let Some(token) = query.get("token") else {
        return reply::refusal(w, StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated, "");
    };
    let verified = console.jwt.verify_with_expiry(&format!("Bearer {token}"));
    let (principal, exp) = match verified {
        Ok((p, exp)) if p.kind == PrincipalKind::Account => (p, exp),
        // A service or operator token is not a person's sign-in.
        Ok(_) => return reply::refusal(w, StatusCode::FORBIDDEN, ErrorCode::Forbidden, ""),
        Err(_) => return reply::refusal(w, StatusCode::UNAUTHORIZED, ErrorCode::InvalidToken, ""),
    };
    let expires = chrono::DateTime::from_timestamp(exp, 0).unwrap_or_else(chrono::Utc::now);
    let opened = session::open(
        console.app.pool(),
        &console.limits,
        &principal.id,
        token,
        expires,
        console.app.now(),
    )
    .await;
    match opened {
        Ok(s) => {
            tracing::info!(account = %principal.id, "console sign-in");
            let mut r = reply::see_other("/console");
            if let Ok(v) = session::set_cookie(&s, &console.limits).parse() {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(SessionError::LinkUsed) => {
            reply::refusal(w, StatusCode::UNAUTHORIZED, ErrorCode::InvalidToken, "")
        }
        Err(e) => reply::failure(w, &app::AppError::Internal(e.to_string())),
    }
}

/// A form that carries only its CSRF token (and, for the language, the choice).
#[derive(serde::Deserialize)]
pub struct Plain {
    csrf: Option<String>,
    lang: Option<String>,
}

/// `POST /console/logout`: the session ends server-side, the cookie goes.
pub async fn logout(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<Plain>,
) -> Response {
    let caller = match reply::caller(&console, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = caller.check_csrf(form.csrf.as_deref()) {
        return r;
    }
    let cookies = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
    if let Some(token) = session::cookie(cookies, session::COOKIE) {
        if let Err(e) = session::close(console.app.pool(), token).await {
            return reply::failure(caller.w, &app::AppError::Internal(e.to_string()));
        }
    }
    let mut r = reply::see_other("/console");
    if let Ok(v) = session::clear_cookie(&console.limits).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `POST /console/language`: remembers the choice for a year, back to the page.
pub async fn language(headers: HeaderMap, Form(form): Form<Plain>) -> Response {
    // Choosing a language writes nothing of the product, so it takes no session.
    let lang = form
        .lang
        .as_deref()
        .and_then(Lang::named)
        .unwrap_or(Lang::En);
    let value = match lang {
        Lang::Zh => "zh",
        Lang::En => "en",
    };
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(same_site_path)
        .unwrap_or("/console")
        .to_owned();
    let mut r = reply::see_other(&back);
    if let Ok(v) =
        format!("{LANG_COOKIE}={value}; Path=/console; Max-Age=31536000; SameSite=Strict; HttpOnly")
            .parse()
    {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r.into_response()
}

/// The path of a referer, only when it is a console page of ours (no open redirect).
fn same_site_path(referer: &str) -> Option<&str> {
    let after_scheme = referer.split_once("://").map_or(referer, |(_, rest)| rest);
    let path = &after_scheme[after_scheme.find('/')?..];
    (path.starts_with("/console") && !path.starts_with("//")).then_some(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_console_paths_are_returned_to() {
        use super::same_site_path as p;
        assert_eq!(
            p("http://127.0.0.1:8080/console/organizations/x?q=1"),
            Some("/console/organizations/x?q=1")
        );
        assert_eq!(p("http://evil.example/other"), None);
        assert_eq!(p("nonsense"), None);
    }
}
