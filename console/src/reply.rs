//! What every console handler answers with: a page, a redirect, or a refusal as a page,
//! and the signed-in caller it acts for.

use app::{AppError, ErrorCode, Request};
use askama::Template;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use uuid::Uuid;

use crate::session::{self, Session};
use crate::words::{Lang, Words, LANG_COOKIE};
use crate::Console;

/// The caller of a console request: its session, its language, and the `Request` that
/// `app` operations take (a cloud account, as GraphQL's callers are).
pub struct Caller {
    pub session: Session,
    pub w: Words,
}

impl Caller {
    /// The request every operation of this page visit runs as.
    pub fn request(&self) -> Request {
        Request::client(
            Some(app::auth::Principal {
                id: self.session.account.clone(),
                kind: app::auth::PrincipalKind::Account,
                scope: None,
            }),
            Uuid::now_v7(),
        )
    }

    /// A posted form must carry this session's CSRF token; otherwise nothing is written.
    pub fn check_csrf(&self, posted: Option<&str>) -> Result<(), Response> {
        if self.session.accepts(posted) {
            Ok(())
        } else {
            Err(refusal(
                self.w,
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "the form has expired or did not come from this console; reload the page",
            ))
        }
    }
}

/// The language of a request.
pub fn words(headers: &HeaderMap) -> Words {
    let cookies = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Words(Lang::of(session::cookie(cookies, LANG_COOKIE), accept))
}

/// The signed-in caller, or the sign-in page (401) when there is no live session.
pub async fn caller(console: &Console, headers: &HeaderMap) -> Result<Caller, Response> {
    let w = words(headers);
    let cookies = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
    let Some(token) = session::cookie(cookies, session::COOKIE) else {
        return Err(signed_out(w, false));
    };
    match session::find(
        console.app.pool(),
        &console.limits,
        token,
        console.app.now(),
    )
    .await
    {
        Ok(Some(session)) => Ok(Caller { session, w }),
        Ok(None) => Err(signed_out(w, true)),
        Err(e) => Err(failure(w, &AppError::Internal(e.to_string()))),
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignIn {
    w: Words,
    ended: bool,
}

fn signed_out(w: Words, ended: bool) -> Response {
    let mut r = page(&SignIn { w, ended });
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r
}

/// A rendered template.
pub fn page(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::X_FRAME_OPTIONS, "DENY"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
                ),
            ],
            Html(html),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A 303 to `to` (after a write: the next GET shows it).
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

#[derive(Template)]
#[template(path = "refusal.html")]
struct Refusal {
    w: Words,
    code: &'static str,
    sentence: String,
}

/// A refusal page with its code.
pub fn refusal(w: Words, status: StatusCode, code: ErrorCode, detail: &str) -> Response {
    let sentence = match code {
        ErrorCode::Forbidden if !detail.is_empty() => detail.to_owned(),
        _ => w.error(code, detail),
    };
    let mut r = page(&Refusal {
        w,
        code: code.as_str(),
        sentence,
    });
    *r.status_mut() = status;
    r
}

/// An operation's error as a page: its code's status, its sentence; internals logged only.
pub fn failure(w: Words, e: &AppError) -> Response {
    let code = e.code();
    let status =
        StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let detail = e.public_message();
    refusal(
        w,
        status,
        code,
        if code == ErrorCode::Forbidden {
            ""
        } else {
            &detail
        },
    )
}

/// A field's error shown beside it.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors(pub Vec<(String, String)>);

impl FieldErrors {
    /// The sentence for `field`, if it has one.
    pub fn of(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    /// An operation's refusal, on its field (or on the form as a whole: `""`).
    pub fn from_error(w: Words, e: &AppError) -> Self {
        let field = match e.code() {
            ErrorCode::AccountTaken | ErrorCode::AddressTaken => "account",
            ErrorCode::PhoneTaken => "phone",
            _ => e.field().unwrap_or(""),
        }
        .to_owned();
        FieldErrors(vec![(field, w.error(e.code(), &e.public_message()))])
    }
}
