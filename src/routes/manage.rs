//! The campaign manager's console: one static page, its two scripts and its stylesheet,
//! compiled into the binary beside the shared console library (see [`super::console`]) and
//! served under the consoles' policy. Like the agent console it only calls the JSON API with
//! the manager's own credentials, so these handlers need no auth of their own; the API
//! decides what the page may show.

use std::sync::LazyLock;

use actix_web::HttpResponse;

use super::console::{asset, render};

static PAGE: LazyLock<String> =
    LazyLock::new(|| render(include_str!("../../assets/manage/index.html")));
const SCRIPT: &str = include_str!("../../assets/manage/app.js");
const CHARTS: &str = include_str!("../../assets/manage/charts.js");
const STYLESHEET: &str = include_str!("../../assets/manage/app.css");

/// `GET /manage`: the console page, its shared fragments included.
pub async fn page() -> HttpResponse {
    asset("text/html; charset=utf-8", PAGE.as_str())
}

/// `GET /manage/app.js`: the console's script.
pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /manage/charts.js`: the SVG charts, drawn from the series JSON with DOM calls.
pub async fn charts() -> HttpResponse {
    asset("text/javascript; charset=utf-8", CHARTS)
}

/// `GET /manage/app.css`: the console's stylesheet.
pub async fn stylesheet() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLESHEET)
}
