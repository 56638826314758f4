//! The web console: static assets under `/console/`, compiled into the binary.
//!
//! Owns: the list of console files, their content types and the headers they are served with
//! (a strict Content-Security-Policy, `nosniff`, revalidation by `ETag`).
//!
//! Must not: touch keys, credentials or sessions. The console has no server-side API of its
//! own: the page signs ordinary KMS requests (SigV4, in the browser) and sends them to `POST /`
//! like any SDK, so authentication and access control stay on the one request path. These
//! routes serve bytes that hold no secret, and so are unauthenticated.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// Where the console lives.
pub const PREFIX: &str = "/console/";

/// Scripts, styles, images and API calls only from this origin; nothing inline, no frames,
/// no forms posted anywhere, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The assets change only with the binary, so the browser keeps them but asks each time
/// whether they are still current (a cheap 304 while they are).
const CACHE_CONTROL: &str = "no-cache";

/// One file of the console.
struct Asset {
    /// The name under [`PREFIX`]; `""` is the page itself.
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = &[
    Asset {
        name: "",
        content_type: HTML,
        body: include_bytes!("../console/index.html"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../console/console.css"),
    },
    Asset {
        name: "app.js",
        content_type: JS,
        body: include_bytes!("../console/app.js"),
    },
    Asset {
        name: "kms.js",
        content_type: JS,
        body: include_bytes!("../console/kms.js"),
    },
    Asset {
        name: "sigv4.js",
        content_type: JS,
        body: include_bytes!("../console/sigv4.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../console/favicon.svg"),
    },
];

/// A strong validator per asset: a digest of its bytes, computed once.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| format!("\"{}\"", hex::encode(&trent_crypto::sha256(a.body)[..16])))
        .collect()
});

/// The console's routes, to be merged into the server's router (GET and HEAD only).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/console", get(|| async { Redirect::permanent(PREFIX) }))
        .route("/console/", get(|headers: HeaderMap| async move { asset("", &headers) }))
        .route(
            "/console/{name}",
            get(|Path(name): Path<String>, headers: HeaderMap| async move {
                asset(&name, &headers)
            }),
        )
}

fn asset(name: &str, request: &HeaderMap) -> Response {
    let Some((index, asset)) = ASSETS.iter().enumerate().find(|(_, a)| a.name == name) else {
        let mut response = (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Not found.\n",
        )
            .into_response();
        secure(response.headers_mut());
        return response;
    };
    let etag = &ETAGS[index];
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    secure(headers);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, v);
    }
    response
}

/// The headers every console response carries.
fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_name_and_a_body() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(!a.body.is_empty(), "{} is empty", a.name);
            assert!(
                ASSETS[i + 1..].iter().all(|b| b.name != a.name),
                "{} twice",
                a.name
            );
        }
    }

    /// The page and its modules may load only files that are served, and the page has no
    /// inline code (the CSP would refuse it).
    #[test]
    fn assets_refer_only_to_served_files_and_the_page_has_no_inline_code() {
        for asset in ASSETS
            .iter()
            .filter(|a| a.content_type == HTML || a.content_type == JS)
        {
            let text = std::str::from_utf8(asset.body).unwrap();
            for part in text.split(['"', '\'']).skip(1).step_by(2) {
                if let Some(name) = part.strip_prefix("./") {
                    assert!(
                        ASSETS.iter().any(|a| a.name == name),
                        "{} refers to {name}, which is not served",
                        asset.name
                    );
                }
            }
        }
        let page = std::str::from_utf8(ASSETS[0].body).unwrap();
        assert!(!page.contains("<style"), "inline style");
        assert!(!page.contains(" style="), "inline style attribute");
        for attribute in page.split(" on").skip(1) {
            let name: String = attribute
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect();
            assert!(
                !attribute[name.len()..].starts_with('='),
                "inline event handler on{name}"
            );
        }
        for script in page.split("<script").skip(1) {
            assert!(script.contains("src="), "inline script");
        }
    }

    /// The script finds elements by id: two with one id would silently act on the wrong one.
    #[test]
    fn element_ids_are_unique() {
        let page = std::str::from_utf8(ASSETS[0].body).unwrap();
        let ids: Vec<&str> = page
            .split(" id=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        for (i, id) in ids.iter().enumerate() {
            assert!(!ids[i + 1..].contains(id), "id {id} twice");
        }
    }
}
