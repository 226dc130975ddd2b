//! What every organization page shares: the caller must manage the organization (the same
//! rule as GraphQL), a posted form must carry the session's CSRF token, and after a write
//! the page waits for the read models before it shows them.

use app::{AppError, Executed};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use uuid::Uuid;

use crate::form::one;
use crate::read::{self, OrganizationRow};
use crate::reply::{self, Caller};
use crate::Console;

/// The organization, after checking the caller manages it: another organization's id
/// answers FORBIDDEN, and so does an unknown one (nothing tells them apart).
pub async fn managed(
    console: &Console,
    caller: &Caller,
    id: &str,
) -> Result<OrganizationRow, Response> {
    let Ok(id) = id.parse::<Uuid>() else {
        return Err(reply::failure(
            caller.w,
            &AppError::not_found("organization"),
        ));
    };
    let request = caller.request();
    app::access::require_reader(console.app.pool(), &request, id)
        .await
        .map_err(|e| reply::failure(caller.w, &e))?;
    match read::organization(console.app.pool(), id).await {
        Ok(Some(o)) => Ok(o),
        Ok(None) => Err(reply::failure(
            caller.w,
            &AppError::not_found("organization"),
        )),
        Err(e) => Err(reply::failure(caller.w, &AppError::Database(e))),
    }
}

/// A page visit: the signed-in caller and the organization they manage.
pub async fn visit(
    console: &Console,
    headers: &HeaderMap,
    id: &str,
) -> Result<(Caller, OrganizationRow), Response> {
    let caller = reply::caller(console, headers).await?;
    let organization = managed(console, &caller, id).await?;
    Ok((caller, organization))
}

/// A posted form: the caller, its CSRF token checked, and the organization they manage.
pub async fn posted(
    console: &Console,
    headers: &HeaderMap,
    id: &str,
    fields: &[(String, String)],
) -> Result<(Caller, OrganizationRow), Response> {
    let caller = reply::caller(console, headers).await?;
    caller.check_csrf(one(fields, "csrf"))?;
    let organization = managed(console, &caller, id).await?;
    Ok((caller, organization))
}

/// The HTTP status of an operation's refusal.
pub fn status_of(e: &AppError) -> StatusCode {
    StatusCode::from_u16(e.code().http_status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
}

/// Waits until the read models show what the operation wrote; answers its answer.
pub async fn settle<T>(console: &Console, done: Executed<T>) -> T {
    console.runner.settle(&done.written).await;
    done.answer
}

/// A 303 back to one of the organization's pages, with a notice to show there. `here` (the
/// page's own query string, posted back by its forms) must stay a query string.
pub fn back(organization: Uuid, page: &str, here: Option<&str>, notice: &str) -> Response {
    let here = here
        .filter(|h| !h.contains(['\r', '\n', '#', '/', '\\']))
        .unwrap_or("");
    let page = if page.is_empty() {
        String::new()
    } else {
        format!("/{page}")
    };
    reply::see_other(&format!(
        "/console/organizations/{organization}{page}?{here}&notice={notice}"
    ))
}
