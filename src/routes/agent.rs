//! The agent console: one static page with its script and stylesheet, compiled into the
//! binary. It talks to the JSON API with the agent's own credentials, so these handlers need
//! no auth of their own.

use actix_web::HttpResponse;
use actix_web::http::header;

const PAGE: &str = include_str!("../../assets/agent/index.html");
const SCRIPT: &str = include_str!("../../assets/agent/app.js");
const STYLESHEET: &str = include_str!("../../assets/agent/app.css");

/// Only this origin's own script, style and API; no inline code, no framing, no plugins.
/// The page renders API values with `textContent`, and this policy stands behind that.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// A compiled-in asset under the consoles' headers; the manager console serves its own too.
pub(super) fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        // The assets change with the binary; revalidating is cheap, stale script is not.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(body)
}

/// `GET /agent`: the console page.
pub async fn page() -> HttpResponse {
    asset("text/html; charset=utf-8", PAGE)
}

/// `GET /agent/app.js`: the console's script.
pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /agent/app.css`: the console's stylesheet.
pub async fn stylesheet() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLESHEET)
}
