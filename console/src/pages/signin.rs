//! Signing in with a cloud-account token once, signing out, and switching the language.

use std::collections::HashMap;
use std::sync::Arc;

use app::ErrorCode;
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::reply::{self, words};
use crate::session::{self, SessionError};
use crate::words::{Lang, Words, LANG_COOKIE};
use crate::Console;

/// The cookie that ties a sign-in's confirmation to the page that asked for it.
const CONFIRM_COOKIE: &str = "mp_signin";

#[derive(Template)]
#[template(path = "signin_confirm.html")]
struct ConfirmPage {
    w: Words,
    /// Whose link it is.
    link_account: String,
    /// The account signed in in this browser now, if any.
    signed_in: Option<String>,
    token: String,
    nonce: String,
}

/// `GET /console/login?token=…`: a one-time sign-in link asks to be confirmed. Opening it
/// changes nothing: a page someone else's link was slipped into cannot replace a session
/// (login CSRF); the POST it shows must come from this page (its nonce is in a same-site
/// cookie).
pub async fn login(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let w = words(&headers);
    let Some(token) = query.get("token") else {
        return reply::refusal(w, StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated, "");
    };
    let link = match checked_link(&console, w, token) {
        Ok(link) => link,
        Err(r) => return r,
    };
    let signed_in = reply::caller(&console, &headers)
        .await
        .ok()
        .map(|c| c.session.account);
    let mut random = [0u8; 16];
    if getrandom::getrandom(&mut random).is_err() {
        return reply::failure(w, &app::AppError::Internal("no randomness".into()));
    }
    let nonce: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let mut r = reply::page(&ConfirmPage {
        w,
        link_account: link.account,
        signed_in,
        token: token.clone(),
        nonce: nonce.clone(),
    });
    let secure = if console.limits.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    if let Ok(v) = format!(
        "{CONFIRM_COOKIE}={nonce}; Path=/console/login; Max-Age=900; SameSite=Strict; HttpOnly{secure}"
    )
    .parse()
    {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// A sign-in link's claims, or the refusal: a forged or expired token, an API token, a
/// service's.
fn checked_link(console: &Console, w: Words, token: &str) -> Result<app::auth::SignIn, Response> {
    match console.jwt.verify_sign_in(token) {
        Ok(link) => Ok(link),
        // An API token (of an account, a service, an operator) is not a sign-in link.
        Err(app::auth::AuthError::NotSignIn) => Err(reply::refusal(
            w,
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "",
        )),
        Err(_) => Err(reply::refusal(
            w,
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidToken,
            "",
        )),
    }
}

/// What the confirmation posts.
#[derive(serde::Deserialize)]
pub struct Confirm {
    token: String,
    nonce: String,
}

/// `POST /console/login` (`token`, `nonce`): the link, taken once by its id, becomes a
/// session.
pub async fn confirm(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<Confirm>,
) -> Response {
    let w = words(&headers);
    let cookies = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
    let expected = session::cookie(cookies, CONFIRM_COOKIE);
    if expected.is_none() || expected != Some(form.nonce.as_str()) {
        return reply::refusal(w, StatusCode::FORBIDDEN, ErrorCode::Forbidden, "");
    }
    let link = match checked_link(&console, w, &form.token) {
        Ok(link) => link,
        Err(r) => return r,
    };
    let expires =
        chrono::DateTime::from_timestamp(link.expires, 0).unwrap_or_else(chrono::Utc::now);
    let opened = session::open(
        console.app.pool(),
        &console.limits,
        &link.account,
        &link.jti,
        expires,
        console.app.now(),
    )
    .await;
    match opened {
        Ok(s) => {
            tracing::info!(account = %link.account, "console sign-in");
            let mut r = reply::see_other("/console");
            // The confirmation's nonce cookie lapses by itself (15 minutes, this path only).
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
