//! `GET /api/openapi.json` and `GET /api/docs`: the document is complete and the page works
//! offline.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Method, StatusCode};
use haven_testkit::{TestApp, request};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-type"), Some("application/json"));
    response.json()
}

/// Every (method, path) the document lists.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                out.push((method.to_owned(), path.clone(), operation.clone()));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[tokio::test]
async fn every_route_is_documented() {
    // Routes are added only through `routes!`, which documents them from the handler's
    // attribute; a bare axum registration would serve a route the document lacks.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut bare = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        // Unit tests build their own routers; the metrics listener is not the API.
        if relative.to_string_lossy().ends_with("_tests.rs")
            || relative == Path::new("telemetry/metrics_server.rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            let bare_router = code
                .match_indices("Router::new()")
                .any(|(at, _)| !code[..at].ends_with("OpenApi"));
            if bare_router
                || [".route(", ".route_service(", ".nest_service("]
                    .iter()
                    .any(|call| code.contains(call))
            {
                bare.push(format!(
                    "{}:{}: {}",
                    file.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        bare.is_empty(),
        "routes registered without documentation:\n{}",
        bare.join("\n")
    );

    // And every documented operation is served: without credentials it is refused or
    // answered, never "no such route" or "wrong method".
    let app = TestApp::new().await;
    let doc = document(&app).await;
    let ops = operations(&doc);
    assert!(ops.len() >= 40, "only {} operations documented", ops.len());
    for (method, path, _) in ops {
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    if segment == "{file}" {
                        "index.html".to_owned()
                    } else {
                        uuid::Uuid::now_v7().to_string()
                    }
                } else {
                    segment.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let response = app
            .send(request(method.clone(), &concrete, Body::empty()))
            .await;
        assert_ne!(
            response.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but not served"
        );
        if response.status == StatusCode::NOT_FOUND {
            // A 404 is fine only from a handler that looked (a route with an id).
            assert!(
                path.contains('{'),
                "{method} {path} is documented but not served"
            );
        }
    }
}

#[tokio::test]
async fn every_operation_documents_its_success_and_its_errors() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    for (method, path, operation) in operations(&doc) {
        let name = format!("{method} {path}");
        assert!(operation["operationId"].is_string(), "{name}: operationId");
        assert!(operation["tags"][0].is_string(), "{name}: tag");
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            // 101: the realtime WebSocket upgrade's success.
            responses
                .keys()
                .any(|status| status.starts_with('2') || status == "101"),
            "{name}: no success response"
        );
        for (status, response) in responses {
            if status.starts_with('2') && status != "204" {
                assert!(
                    response["content"].is_object(),
                    "{name}: {status} has no body schema"
                );
            }
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorEnvelope",
                    "{name}: {status} is not the error envelope"
                );
            }
        }
        for status in ["500", "503"] {
            assert!(responses.contains_key(status), "{name}: no {status}");
        }
        let public = operation["security"].as_array().is_some_and(|reqs| {
            reqs.iter()
                .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
        });
        if !public {
            assert!(responses.contains_key("401"), "{name}: secured without 401");
        }
        if operation.get("requestBody").is_some() {
            assert!(responses.contains_key("400"), "{name}: body without 400");
            assert!(
                operation["requestBody"]["content"]["application/json"]["schema"].is_object(),
                "{name}: body without schema"
            );
        }
    }
}

#[tokio::test]
async fn the_docs_page_is_served_from_the_binary_with_a_strict_policy() {
    let app = TestApp::new().await;

    let page = app.get("/api/docs").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    );
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("<base href=\"/api/docs/\" />"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no remote assets"
    );
    let csp = page.header("content-security-policy").expect("csp");
    assert!(csp.contains("default-src 'none'"));
    assert!(csp.contains("script-src 'self'"));
    assert!(!csp.contains("script-src 'self' 'unsafe-inline'"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));

    let bundle = app.get("/api/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status, StatusCode::OK);
    assert!(bundle.body.len() > 100_000, "the bundle is compiled in");
    let init = app.get("/api/docs/swagger-initializer.js").await;
    assert!(String::from_utf8_lossy(&init.body).contains("/api/openapi.json"));

    let missing = app.get("/api/docs/nope.js").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "NOT_FOUND");
}
