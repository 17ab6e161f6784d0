//! What every console page shares: the library (`/console/common.js`, `/console/common.css`),
//! the headers every console asset is served under, and the HTML fragments a page includes
//! (the head, the bar, the messages, the sign-in card), so each exists once.

use actix_web::HttpResponse;
use actix_web::http::header;

const SCRIPT: &str = include_str!("../../assets/console/common.js");
const STYLESHEET: &str = include_str!("../../assets/console/common.css");

/// The fragments a page names in `<!--#include name-->`.
const FRAGMENTS: [(&str, &str); 4] = [
    ("head", include_str!("../../assets/console/head.html")),
    ("bar", include_str!("../../assets/console/bar.html")),
    (
        "messages",
        include_str!("../../assets/console/messages.html"),
    ),
    ("sign-in", include_str!("../../assets/console/sign-in.html")),
];

/// Only this origin's own script, style and API; no inline code, no framing, no plugins.
/// The pages render API values with `textContent`, and this policy stands behind that.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// A compiled-in asset under the consoles' headers.
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

/// A console page as served: each line `<!--#include name-->` replaced by the shared fragment
/// of that name. A name with no fragment stays as it is, an inert comment; the tests below
/// hold every page to known names.
pub(super) fn render(template: &str) -> String {
    let mut page = String::with_capacity(template.len() + 4096);
    for line in template.split_inclusive('\n') {
        match include_name(line).and_then(fragment) {
            Some(shared) => page.push_str(shared),
            None => page.push_str(line),
        }
    }
    page
}

fn include_name(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("<!--#include ")?
        .strip_suffix("-->")
        .map(str::trim)
}

fn fragment(name: &str) -> Option<&'static str> {
    FRAGMENTS
        .iter()
        .find_map(|&(known, body)| (known == name).then_some(body))
}

/// `GET /console/common.js`: the console library, `window.Console`.
pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /console/common.css`: the consoles' shared stylesheet.
pub async fn stylesheet() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLESHEET)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGES: [(&str, &str); 2] = [
        ("agent", include_str!("../../assets/agent/index.html")),
        ("manage", include_str!("../../assets/manage/index.html")),
    ];

    #[test]
    fn every_console_page_includes_only_fragments_that_exist() {
        for (name, template) in PAGES {
            let page = render(template);

            assert!(!page.contains("<!--#include"), "{name}: {page}");
            assert!(
                page.contains(r#"<link rel="stylesheet" href="/console/common.css">"#),
                "{name} loads the shared stylesheet"
            );
            assert!(page.contains(r#"id="sign-in-form""#), "{name}");
        }
    }

    #[test]
    fn an_include_becomes_its_fragment_and_other_lines_stay_as_written() {
        let page = render("<body>\n  <!--#include bar-->\n<p>x</p>\n<!--#include nothing-->\n");

        assert_eq!(
            page,
            format!(
                "<body>\n{}<p>x</p>\n<!--#include nothing-->\n",
                fragment("bar").expect("the bar fragment")
            )
        );
        assert!(page.contains(r#"id="sign-out""#));
    }

    /// The functions a line of JavaScript declares (`function name(`, `async function name(`).
    fn declared_functions(source: &str) -> impl Iterator<Item = &str> {
        source.lines().filter_map(|line| {
            let line = line.trim_start();
            let rest = line.strip_prefix("async ").unwrap_or(line);
            let rest = rest.strip_prefix("function ")?;
            rest.split_once('(').map(|(name, _)| name.trim())
        })
    }

    /// Every script under `assets/`, the library's included, with its path.
    fn scripts() -> Vec<(std::path::PathBuf, String)> {
        let mut pending = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")];
        let mut scripts = Vec::new();
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_some_and(|e| e == "js") {
                    let source = std::fs::read_to_string(&path).unwrap();
                    scripts.push((path, source));
                }
            }
        }
        scripts
    }

    /// The names `window.Console` offers: the keys of the object the library freezes.
    fn exported_names(library: &str) -> Vec<&str> {
        let (_, exports) = library
            .split_once("window.Console = Object.freeze({")
            .unwrap();
        let (exports, _) = exports.split_once("});").unwrap();
        exports
            .lines()
            .map(str::trim)
            .filter(|line| !line.starts_with("/**") && !line.is_empty())
            .filter_map(|line| line.split([',', ':']).next())
            .collect()
    }

    #[test]
    fn no_console_script_defines_again_what_the_library_offers() {
        let library = exported_names(SCRIPT);
        for name in ["safeUrl", "maskPhone", "api", "showError", "start"] {
            assert!(library.contains(&name), "{name} in {library:?}");
        }
        let scripts: Vec<_> = scripts()
            .into_iter()
            .filter(|(path, _)| !path.ends_with("console/common.js"))
            .collect();
        assert!(
            scripts.len() >= 3,
            "the agent's and the manager's scripts are read"
        );

        for (path, source) in &scripts {
            let copies: Vec<&str> = declared_functions(source)
                .filter(|name| library.contains(name))
                .collect();
            assert!(
                copies.is_empty(),
                "{} defines {copies:?} again: use `Console.` from assets/console/common.js",
                path.display()
            );
        }
        let safe_urls = scripts
            .iter()
            .map(|(_, source)| source.as_str())
            .chain([SCRIPT])
            .map(|source| source.matches("function safeUrl").count())
            .sum::<usize>();
        assert_eq!(
            safe_urls, 1,
            "safeUrl, which guards recording links, exists once"
        );
    }

    #[test]
    fn no_console_script_writes_markup() {
        let scripts = scripts();
        assert!(
            scripts
                .iter()
                .any(|(path, _)| path.ends_with("console/common.js"))
        );

        for (path, source) in &scripts {
            // API values are someone's input: they reach the DOM as text, never as markup.
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!source.contains(sink), "{} uses {sink}", path.display());
            }
        }
    }
}
