//! `GET /api/openapi.json` and the interactive page at `GET /api/docs`.
//!
//! The page is Swagger UI, whose files are compiled into the binary from a crates.io package
//! (`utoipa-swagger-ui`'s `vendored` feature): nothing is fetched at build or run time, and the
//! page loads nothing from another origin. Its Content-Security-Policy allows scripts and
//! styles from Haven only (Swagger UI sets inline `style` attributes, hence `'unsafe-inline'`
//! for styles, never for scripts).

use std::sync::{Arc, LazyLock, OnceLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa_swagger_ui::Config;

use super::error::AppError;
use super::query::AppPath;
use crate::app::AppState;

/// Where the page lives.
pub const DOCS_PATH: &str = "/api/docs";
/// Where the document lives.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'self'; \
    form-action 'none'; frame-ancestors 'none'";

/// The serialized document. It is a function of the code alone (the state only configures
/// layers), so it is built once per process, on the first request for it, and shared.
static OPENAPI_JSON: OnceLock<Bytes> = OnceLock::new();

/// The document as JSON.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
pub async fn openapi_json(State(state): State<AppState>) -> Response {
    let doc = OPENAPI_JSON.get_or_init(|| {
        // A document of plain structs and maps always serializes.
        serde_json::to_vec(&super::openapi(&state))
            .unwrap_or_default()
            .into()
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        doc.clone(),
    )
        .into_response()
}

/// The interactive documentation page.
#[utoipa::path(
    get,
    path = "/api/docs",
    tag = "operations",
    security(()),
    responses((status = 200, description = "Swagger UI for this API", content_type = "text/html", body = String)),
)]
pub async fn docs_page() -> Result<Response, AppError> {
    asset("index.html")
}

/// A file of the documentation page (scripts, styles, icons).
#[utoipa::path(
    get,
    path = "/api/docs/{file}",
    tag = "operations",
    security(()),
    params(("file" = String, Path, description = "A file of the page, e.g. `swagger-ui.css`")),
    responses((status = 200, description = "The file", body = String)),
)]
pub async fn docs_asset(AppPath(file): AppPath<String>) -> Result<Response, AppError> {
    asset(&file)
}

static CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        Config::new([OPENAPI_PATH])
            .try_it_out_enabled(true)
            .persist_authorization(false),
    )
});

fn asset(file: &str) -> Result<Response, AppError> {
    let found = utoipa_swagger_ui::serve(file, CONFIG.clone())
        .map_err(|error| AppError::Internal(anyhow::anyhow!("swagger ui file {file}: {error}")))?
        .ok_or_else(AppError::not_found)?;
    let mut bytes = found.bytes.into_owned();
    if file == "index.html" {
        // The page is served at /api/docs (no trailing slash); its relative links must resolve
        // under /api/docs/.
        let html = String::from_utf8_lossy(&bytes).replacen(
            "<head>",
            "<head>\n    <base href=\"/api/docs/\" />",
            1,
        );
        bytes = html.into_bytes();
    }
    let mut response = Bytes::from(bytes).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&found.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if found.gzpipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    );
    // The page holds no PHI; its files may be cached like any static asset.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Ok(response)
}
