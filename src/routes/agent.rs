//! The agent console: one static page with its script and stylesheet, compiled into the
//! binary beside the shared console library (see [`super::console`]). It talks to the JSON
//! API with the agent's own credentials, so these handlers need no auth of their own.

use std::sync::LazyLock;

use actix_web::HttpResponse;

use super::console::{asset, render};

/// The consoles' policy; every console asset is served under it.
pub use super::console::CONTENT_SECURITY_POLICY;

static PAGE: LazyLock<String> =
    LazyLock::new(|| render(include_str!("../../assets/agent/index.html")));
const SCRIPT: &str = include_str!("../../assets/agent/app.js");
const STYLESHEET: &str = include_str!("../../assets/agent/app.css");

/// `GET /agent`: the console page, its shared fragments included.
pub async fn page() -> HttpResponse {
    asset("text/html; charset=utf-8", PAGE.as_str())
}

/// `GET /agent/app.js`: the console's script.
pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /agent/app.css`: the console's stylesheet.
pub async fn stylesheet() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLESHEET)
}
