//! Importing members from a CSV file: the template to download, an upload, a preview with
//! each line's verdict before anything is written, then the import itself with a live
//! count and a per-line report to download.

use std::sync::Arc;

use app::member::{NewMember, RowVerdict};
use app::AppError;
use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::org::{posted, OrgForm, OrgPage};
use crate::form::one;
use crate::import_csv::{self, Line};
use crate::jobs::{self, Job, Kind, Outcome};
use crate::read::{self, OrganizationRow};
use crate::reply::{self, Caller};
use crate::words::Words;
use crate::Console;

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    w: Words,
    tab: &'static str,
    account: String,
    csrf: String,
    organization: OrganizationRow,
    /// The file's problem as a whole, shown beside the file field.
    file_error: Option<String>,
    preview: Vec<Verdict>,
    /// The previewed file, posted back by the confirm form.
    csv: String,
    accepted: usize,
    imports: Vec<ImportView>,
}

#[derive(Template)]
#[template(path = "import_progress.html")]
struct ImportView {
    w: Words,
    organization_id: Uuid,
    import: Job,
    running: bool,
    interrupted: bool,
}

/// One line and what the import would do with it.
struct Verdict {
    line: Line,
    ok: bool,
    sentence: String,
}

async fn page(
    console: &Console,
    caller: Caller,
    organization: OrganizationRow,
    preview: Vec<Verdict>,
    csv: String,
    file_error: Option<String>,
) -> Response {
    let now = console.app.now();
    let imports = match jobs::recent(console.app.pool(), organization.id, Kind::Import, 10).await {
        Ok(i) => i,
        Err(e) => return reply::failure(caller.w, &AppError::Database(e)),
    };
    let status = if file_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut r = reply::page(&ImportPage {
        w: caller.w,
        tab: "import",
        account: caller.session.account.clone(),
        csrf: caller.session.csrf(),
        accepted: preview.iter().filter(|v| v.ok).count(),
        imports: imports
            .into_iter()
            .map(|import| view(caller.w, import, now))
            .collect(),
        organization,
        file_error,
        preview,
        csv,
    });
    *r.status_mut() = status;
    r
}

fn view(w: Words, import: Job, now: chrono::DateTime<chrono::Utc>) -> ImportView {
    ImportView {
        w,
        organization_id: import.organization_id,
        running: import.running(now),
        interrupted: import.interrupted(now),
        import,
    }
}

/// `GET /console/organizations/{id}/import`.
pub async fn show(
    State(console): State<Arc<Console>>,
    OrgPage {
        caller,
        organization,
    }: OrgPage,
) -> Response {
    page(&console, caller, organization, vec![], String::new(), None).await
}

/// `GET /console/organizations/{id}/import/template.csv`.
pub async fn template(page: OrgPage) -> Response {
    let template = import_csv::template(&page.organization.name);
    csv_file("members-template.csv", template)
}

pub(super) fn csv_file(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// Each line's verdict: the file's own problems first, then the rules of the import.
async fn decide(
    console: &Console,
    caller: &Caller,
    organization: &OrganizationRow,
    bytes: &[u8],
) -> Result<Vec<Verdict>, String> {
    let w = caller.w;
    let departments = read::departments(console.app.pool(), organization.id)
        .await
        .map_err(|e| w.error(AppError::Database(e).code(), ""))?;
    let lines = import_csv::read(bytes, &organization.name, &departments)
        .map_err(|e| w.error(app::ErrorCode::Validation, &e.to_string()))?;
    let rows: Vec<NewMember> = lines
        .iter()
        .filter_map(|l| l.read.as_ref().ok().cloned())
        .collect();
    let mut verdicts = if rows.is_empty() {
        vec![]
    } else {
        app::member::preview_import(&console.app, &caller.request(), organization.id, &rows)
            .await
            .map_err(|e| w.error(e.code(), &e.public_message()))?
    }
    .into_iter();
    let numbers: Vec<usize> = lines
        .iter()
        .filter(|l| l.read.is_ok())
        .map(|l| l.number)
        .collect();
    Ok(lines
        .into_iter()
        .map(|line| {
            let (ok, sentence) = match &line.read {
                Err((field, why)) => (
                    false,
                    format!("{field}: {}", w.error(app::ErrorCode::Validation, why)),
                ),
                Ok(_) => match verdicts.next() {
                    Some(RowVerdict::Accepted) => (true, w.t("will_import").to_owned()),
                    Some(RowVerdict::Refused(e)) => {
                        let field = e.field().map(|f| format!("{f}: ")).unwrap_or_default();
                        (
                            false,
                            format!("{field}{}", w.error(e.code(), &e.public_message())),
                        )
                    }
                    Some(RowVerdict::Superseded { by }) => (
                        false,
                        format!(
                            "{} {}",
                            w.t("superseded_by_line"),
                            numbers.get(by).copied().unwrap_or(0)
                        ),
                    ),
                    None => (false, String::new()),
                },
            };
            Verdict { line, ok, sentence }
        })
        .collect())
}

/// `POST /console/organizations/{id}/import/preview` (multipart: `csrf`, `file`): shows each
/// line's verdict; writes nothing.
pub async fn preview(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Response {
    let mut form: Vec<(String, String)> = Vec::new();
    let mut file: Option<Vec<u8>> = None;
    let mut too_large = false;
    while let Ok(Some(field)) = multipart.next_field().await {
        let name = field.name().unwrap_or("").to_owned();
        match field.bytes().await {
            Ok(b) if name == "file" => {
                too_large |= b.len() > import_csv::MAX_BYTES;
                file = Some(b.to_vec());
            }
            Ok(b) => form.push((name, String::from_utf8_lossy(&b).into_owned())),
            Err(_) => too_large = true,
        }
    }
    let (caller, organization) = match posted(&console, &headers, &id, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let bytes = match file {
        _ if too_large => {
            let e = caller.w.error(app::ErrorCode::RequestTooLarge, "");
            return page(
                &console,
                caller,
                organization,
                vec![],
                String::new(),
                Some(e),
            )
            .await;
        }
        Some(b) => b,
        None => Vec::new(),
    };
    match decide(&console, &caller, &organization, &bytes).await {
        Ok(preview) => {
            let csv = String::from_utf8_lossy(&bytes).into_owned();
            page(&console, caller, organization, preview, csv, None).await
        }
        Err(e) => {
            page(
                &console,
                caller,
                organization,
                vec![],
                String::new(),
                Some(e),
            )
            .await
        }
    }
}

/// `POST /console/organizations/{id}/import` (`csrf`, `csv`: the previewed file): decides
/// again, imports the accepted lines in the background, shows the live count.
pub async fn start(
    State(console): State<Arc<Console>>,
    OrgForm {
        caller,
        organization,
        fields,
    }: OrgForm,
) -> Response {
    let bytes = one(&fields, "csv").unwrap_or("").as_bytes().to_vec();
    let verdicts = match decide(&console, &caller, &organization, &bytes).await {
        Ok(v) => v,
        Err(e) => {
            return page(
                &console,
                caller,
                organization,
                vec![],
                String::new(),
                Some(e),
            )
            .await
        }
    };
    let mut rows = Vec::new();
    let mut refused = Vec::new();
    for v in verdicts {
        match v.line.read {
            Ok(member) if v.ok => rows.push((v.line.number, member)),
            _ => refused.push(Outcome {
                line: v.line.number,
                account: v.line.account,
                code: "REFUSED".into(),
                message: v.sentence,
            }),
        }
    }
    match jobs::start_import(&console, caller.request(), organization.id, rows, refused).await {
        Ok(job) => reply::see_other(&format!(
            "/console/organizations/{}/import#import-{job}",
            organization.id
        )),
        Err(e) => reply::failure(caller.w, &e),
    }
}

async fn found(console: &Console, page: OrgPage, job: &str) -> Result<(Caller, Job), Response> {
    let OrgPage {
        caller,
        organization,
    } = page;
    let import = match job.parse::<Uuid>() {
        Ok(job) => jobs::find(console.app.pool(), organization.id, job).await,
        Err(_) => Ok(None),
    };
    match import {
        Ok(Some(i)) => Ok((caller, i)),
        Ok(None) => Err(reply::failure(caller.w, &AppError::not_found("job"))),
        Err(e) => Err(reply::failure(caller.w, &AppError::Database(e))),
    }
}

/// `GET /console/organizations/{id}/jobs/{job}/progress`: an import's live count alone
/// (htmx polls it until the import is over).
pub async fn progress(
    State(console): State<Arc<Console>>,
    Path((_, job)): Path<(String, String)>,
    page: OrgPage,
) -> Response {
    match found(&console, page, &job).await {
        Ok((caller, import)) => reply::page(&view(caller.w, import, console.app.now())),
        Err(r) => r,
    }
}

/// `GET /console/organizations/{id}/jobs/{job}/report.csv`: each line's outcome (of an
/// import, or of opening mailboxes).
pub async fn report(
    State(console): State<Arc<Console>>,
    Path((_, job)): Path<(String, String)>,
    page: OrgPage,
) -> Response {
    match found(&console, page, &job).await {
        Ok((_, import)) => csv_file(&format!("import-{}.csv", import.id), import.report_csv()),
        Err(r) => r,
    }
}
