//! The console's static files, compiled into the binary: nothing comes from the network.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// htmx 2.0.4 from the npm registry (`htmx.org`, BSD Zero-Clause, `static/htmx-LICENSE`).
pub const HTMX: &[u8] = include_bytes!("../static/htmx-2.0.4.min.js");
/// SHA-256 of [`HTMX`] as published; a test recomputes it.
pub const HTMX_SHA256: &str = "e209dda5c8235479f3166defc7750e1dbcd5a5c1808b7792fc2e6733768fb447";
/// The style sheet (light and dark follow the system).
pub const STYLE: &str = include_str!("../static/console.css");
/// The few lines of script of our own (copy buttons, select-all).
pub const SCRIPT: &str = include_str!("../static/console.js");

/// `GET /console/assets/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    let (body, kind, tag): (&[u8], &str, &str) = match name.as_str() {
        "htmx.min.js" => (HTMX, "text/javascript; charset=utf-8", HTMX_SHA256),
        "console.css" => (
            STYLE.as_bytes(),
            "text/css; charset=utf-8",
            env!("CARGO_PKG_VERSION"),
        ),
        "console.js" => (
            SCRIPT.as_bytes(),
            "text/javascript; charset=utf-8",
            env!("CARGO_PKG_VERSION"),
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::ETAG, &format!("\"{tag}\"")),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    #[test]
    fn the_vendored_htmx_is_the_published_one() {
        let digest = Sha256::digest(super::HTMX);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, super::HTMX_SHA256);
    }
}
