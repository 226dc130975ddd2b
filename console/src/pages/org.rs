//! What every organization page shares: the caller must manage the organization (the same
//! rule as GraphQL), a posted form must carry the session's CSRF token, and after a write
//! the page waits for the read models before it shows them.

use std::sync::Arc;

use app::{AppError, Executed};
use axum::extract::{FromRequest, FromRequestParts, RawForm, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::form::{fields, one};
use crate::read::{self, OrganizationRow};
use crate::reply::{self, Caller};
use crate::Console;

/// The organization, after checking the caller manages it: another organization's id
/// answers FORBIDDEN, and so does an unknown one (nothing tells them apart).
async fn managed(
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
async fn visit(
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

/// A visit to one of an organization's pages (`/console/organizations/{id}/…`): the
/// signed-in caller and the organization, which they manage.
pub struct OrgPage {
    pub caller: Caller,
    pub organization: OrganizationRow,
}

/// A form posted by a signed-in caller, its CSRF token checked.
pub struct SignedForm {
    pub caller: Caller,
    pub fields: Vec<(String, String)>,
}

impl FromRequest<Arc<Console>> for SignedForm {
    type Rejection = Response;

    async fn from_request(request: Request, console: &Arc<Console>) -> Result<Self, Response> {
        // Who is asking comes from the headers first: a stranger's body is never read.
        let caller = reply::caller(console, request.headers()).await?;
        let RawForm(raw) = RawForm::from_request(request, console)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(fields) = fields(&raw) else {
            return Err(reply::refusal(
                caller.w,
                StatusCode::PAYLOAD_TOO_LARGE,
                app::ErrorCode::RequestTooLarge,
                &format!("a form holds at most {} fields", crate::form::MAX_FIELDS),
            ));
        };
        caller.check_csrf(one(&fields, "csrf"))?;
        Ok(SignedForm { caller, fields })
    }
}

/// A form posted to one of an organization's pages: as [`OrgPage`], with the form's fields
/// and its CSRF token checked.
pub struct OrgForm {
    pub caller: Caller,
    pub organization: OrganizationRow,
    pub fields: Vec<(String, String)>,
}

impl OrgForm {
    /// The first value of a field.
    pub fn one(&self, name: &str) -> Option<&str> {
        one(&self.fields, name)
    }

    /// A field's value trimmed, `""` when absent.
    pub fn text(&self, name: &str) -> String {
        self.one(name).unwrap_or("").trim().to_owned()
    }
}

/// The `{id}` of the route.
async fn organization_param(parts: &mut Parts, console: &Arc<Console>) -> Result<String, Response> {
    let params = RawPathParams::from_request_parts(parts, console)
        .await
        .map_err(IntoResponse::into_response)?;
    let id = params
        .iter()
        .find(|(k, _)| *k == "id")
        .map(|(_, v)| v.to_owned());
    Ok(id.unwrap_or_default())
}

impl FromRequestParts<Arc<Console>> for OrgPage {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Response> {
        let id = organization_param(parts, console).await?;
        let (caller, organization) = visit(console, &parts.headers, &id).await?;
        Ok(OrgPage {
            caller,
            organization,
        })
    }
}

impl FromRequest<Arc<Console>> for OrgForm {
    type Rejection = Response;

    async fn from_request(request: Request, console: &Arc<Console>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let id = organization_param(&mut parts, console).await?;
        let SignedForm { caller, fields } =
            SignedForm::from_request(Request::from_parts(parts, body), console).await?;
        let organization = managed(console, &caller, &id).await?;
        Ok(OrgForm {
            caller,
            organization,
            fields,
        })
    }
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
