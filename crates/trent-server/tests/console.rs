//! The web console's assets, as the real binary serves them: content types, security and cache
//! headers, revalidation, and that serving the console opens nothing on the API.

mod common;

use common::Server;
use reqwest::header::{HeaderMap, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION};
use reqwest::StatusCode;

/// Relative references (`"./name"`) in a page or module: what the browser will fetch.
fn references(text: &str) -> Vec<String> {
    text.split(['"', '\''])
        .skip(1)
        .step_by(2)
        .filter_map(|part| part.strip_prefix("./"))
        .map(str::to_owned)
        .collect()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

fn assert_secure(headers: &HeaderMap) {
    let csp = header(headers, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    assert_eq!(header(headers, "x-content-type-options"), "nosniff");
}

fn expected_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        None => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some(other) => panic!("unexpected asset type .{other}"),
    }
}

#[tokio::test]
async fn console_assets_are_served_with_types_and_headers() {
    let server = Server::start();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("{}/console/", server.url);

    // Everything the page loads, found by following its references.
    let mut queue = vec![String::new()];
    let mut seen = Vec::new();
    while let Some(name) = queue.pop() {
        if seen.contains(&name) {
            continue;
        }
        let r = http.get(format!("{base}{name}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "/console/{name}");
        let headers = r.headers().clone();
        assert_eq!(header(&headers, "content-type"), expected_type(&name));
        assert_secure(&headers);
        assert_eq!(header(&headers, "cache-control"), "no-cache");
        let etag = header(&headers, "etag").to_owned();
        let body = r.text().await.unwrap();
        assert!(!body.is_empty(), "/console/{name} is empty");
        if name.is_empty() || name.ends_with(".js") {
            queue.extend(references(&body));
        }

        // A browser that has it already is told it is still current.
        let again = http
            .get(format!("{base}{name}"))
            .header(IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "/console/{name}");
        assert_eq!(header(again.headers(), ETAG.as_str()), etag);
        assert!(again.text().await.unwrap().is_empty());
        seen.push(name);
    }
    for name in ["app.js", "kms.js", "sigv4.js", "console.css", "favicon.svg"] {
        assert!(
            seen.iter().any(|s| s == name),
            "{name} is not reached from the page"
        );
    }

    // HEAD answers the headers alone.
    let r = http.head(&base).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header(r.headers(), CONTENT_TYPE.as_str()),
        "text/html; charset=utf-8"
    );

    // /console goes to /console/, so the page's relative references resolve.
    let r = http
        .get(format!("{}/console", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(header(r.headers(), LOCATION.as_str()), "/console/");

    // A name that is not an asset: a plain 404 with the same protections.
    let r = http.get(format!("{base}nope.js")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        header(r.headers(), CONTENT_TYPE.as_str()),
        "text/plain; charset=utf-8"
    );
    assert_secure(r.headers());
}

#[tokio::test]
async fn the_api_still_refuses_unsigned_requests() {
    let server = Server::start();
    let http = reqwest::Client::new();
    // The KMS request the console would send, without its signature.
    let r = http
        .post(format!("{}/", server.url))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "TrentService.ListKeys")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["__type"], "MissingAuthenticationTokenException");

    // The console's paths serve files only: an API request sent there is not executed.
    let r = http
        .post(format!("{}/console/", server.url))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "TrentService.CreateKey")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["__type"], "UnknownOperationException");
    // And GET / is still no way in.
    let r = http.get(format!("{}/", server.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}
