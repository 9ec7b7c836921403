//! Haven in-process: the real router over a test database, called without a network, as
//! anonymous clients or as users of given roles.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine;
use haven::app::Settings;
use haven::auth::revocation::REFRESH_INTERVAL;
use haven::crypto::{MasterKey, MasterKeys};
use haven::domain::Role;
use haven::ids::{OrganizationId, UserId};
use haven::{App, AppState, build_router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::TestDb;

/// The password every test user gets (strong enough for the policy).
pub const PASSWORD: &str = "correct-horse-battery-staple-42";

/// The app over its own database (or, for [`TestApp::another_instance`], over another's).
///
/// Like a served instance, it re-reads the revoked sessions every
/// [`REFRESH_INTERVAL`] in the background.
#[derive(Debug)]
pub struct TestApp {
    db: Arc<TestDb>,
    state: AppState,
    router: Router,
    _revocations: Background,
}

/// A background task that stops with its owner.
#[derive(Debug)]
struct Background(JoinHandle<()>);

impl Drop for Background {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl TestResponse {
    /// The body as JSON (panics if it is not).
    #[must_use]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header's value as text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `error` code of an error envelope.
    #[must_use]
    pub fn error_code(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

/// A user the tests can act as.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// The account.
    pub id: UserId,
    /// Its organization.
    pub organization_id: OrganizationId,
    /// Its role.
    pub role: Role,
    /// Its login.
    pub email: String,
    /// A valid access token.
    pub token: String,
    /// The refresh token of that login.
    pub refresh_token: String,
}

/// A random master key.
#[must_use]
pub fn random_master_key() -> MasterKey {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("OS RNG");
    MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode(key))
        .expect("random key")
}

impl TestApp {
    /// A fresh database and an app over it, with a random master key.
    pub async fn new() -> Self {
        let mut settings = Settings::development();
        settings.request_timeout = Duration::from_secs(10);
        Self::with_settings(settings).await
    }

    /// A fresh database and an app with these settings (e.g. a tight rate limit).
    pub async fn with_settings(settings: Settings) -> Self {
        Self::over(
            Arc::new(TestDb::new().await),
            random_master_key().into(),
            settings,
        )
        .await
    }

    /// A second instance of Haven over the same database, with the same master key and the
    /// settings of [`TestApp::new`]: what another server of a multi-instance deployment is.
    /// The database lives as long as any instance over it.
    pub async fn another_instance(&self) -> Self {
        let mut settings = Settings::development();
        settings.request_timeout = Duration::from_secs(10);
        Self::over(
            Arc::clone(&self.db),
            self.state.master_keys().clone(),
            settings,
        )
        .await
    }

    /// Another instance over the same database and master keys, with `settings` (e.g. a shared
    /// Redis).
    pub async fn another_instance_with(&self, settings: Settings) -> Self {
        Self::over(
            Arc::clone(&self.db),
            self.state.master_keys().clone(),
            settings,
        )
        .await
    }

    /// Another instance over the same database holding `keys` (a master-key rotation: the new
    /// key and the previous one, or only one of them), with the settings of [`TestApp::new`].
    pub async fn instance_with_keys(&self, keys: impl Into<MasterKeys>) -> Self {
        let mut settings = Settings::development();
        settings.request_timeout = Duration::from_secs(10);
        Self::over(Arc::clone(&self.db), keys.into(), settings).await
    }

    async fn over(db: Arc<TestDb>, master_key: MasterKeys, settings: Settings) -> Self {
        let state = AppState::new(
            App::start(db.app_pool().await, master_key, settings)
                .await
                .expect("starting the app"),
        );
        let revocations = Background(state.revocations().spawn_refresher(REFRESH_INTERVAL));
        let router = build_router(state.clone());
        Self {
            db,
            state,
            router,
            _revocations: revocations,
        }
    }

    /// The database under the app.
    #[must_use]
    pub fn db(&self) -> &TestDb {
        &self.db
    }

    /// The app's state.
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Sends `request` through the router.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        send(&self.router, request).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(request(Method::GET, path, Body::empty())).await
    }

    /// `method path` with a JSON body.
    pub async fn json(&self, method: Method, path: &str, body: &Value) -> TestResponse {
        self.send(json_request(method, path, body, None)).await
    }

    /// `GET path` as `user`.
    pub async fn get_as(&self, user: &TestUser, path: &str) -> TestResponse {
        let mut req = request(Method::GET, path, Body::empty());
        bearer(&mut req, &user.token);
        self.send(req).await
    }

    /// `method path` with a JSON body, as `user`.
    pub async fn json_as(
        &self,
        user: &TestUser,
        method: Method,
        path: &str,
        body: &Value,
    ) -> TestResponse {
        self.send(json_request(method, path, body, Some(&user.token)))
            .await
    }

    /// A new organization with a user of `role` in it, logged in.
    pub async fn org_with(&self, name: &str, role: Role) -> TestUser {
        let org = self.db.create_organization(name).await;
        self.user_in(org, role).await
    }

    /// A new user of `role` in `organization` (a SUPER_ADMIN goes to the platform), logged in.
    pub async fn user_in(&self, organization: OrganizationId, role: Role) -> TestUser {
        let organization = if role == Role::SuperAdmin {
            OrganizationId::PLATFORM
        } else {
            organization
        };
        let email = format!(
            "{}-{}@example.org",
            role.as_str().to_lowercase(),
            uuid::Uuid::new_v4().simple()
        );
        let hash = haven::auth::password::hash(&PASSWORD.to_owned().into()).expect("hash");
        let id = self
            .db
            .create_user_with_hash(organization, role, &email, &hash)
            .await;
        let login = self
            .json(
                Method::POST,
                "/api/auth/login",
                &json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(
            login.status,
            StatusCode::OK,
            "login: {}",
            String::from_utf8_lossy(&login.body)
        );
        let body = login.json();
        TestUser {
            id,
            organization_id: organization,
            role,
            email,
            token: body["token"].as_str().expect("token").to_owned(),
            refresh_token: body["refreshToken"]
                .as_str()
                .expect("refresh token")
                .to_owned(),
        }
    }

    /// The audit events recorded for `organization` so far, sealed or not:
    /// `(action, outcome, details)` in the order they were recorded.
    pub async fn audit_events(&self, organization: OrganizationId) -> Vec<(String, String, Value)> {
        let pool = self.db.owner_pool().await;
        let rows = sqlx::query_as(
            "SELECT action, outcome, details FROM ( \
                 SELECT id, action, outcome, details FROM audit_log WHERE organization_id = $1 \
                 UNION ALL \
                 SELECT id, action, outcome, details FROM audit_outbox WHERE organization_id = $1 \
             ) AS events ORDER BY id",
        )
        .bind(organization)
        .fetch_all(&pool)
        .await
        .expect("reading audit events");
        pool.close().await;
        rows
    }

    /// Whether `organization`'s trail has an event `action` (optionally with `outcome`).
    pub async fn audited(&self, organization: OrganizationId, action: &str) -> bool {
        self.audit_events(organization)
            .await
            .iter()
            .any(|(a, _, _)| a == action)
    }
}

fn bearer(request: &mut Request<Body>, token: &str) {
    request.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("header"),
    );
}

/// A JSON request, with a bearer token when given.
#[must_use]
pub fn json_request(
    method: Method,
    path: &str,
    body: &Value,
    token: Option<&str>,
) -> Request<Body> {
    let mut req = request(method, path, Body::from(body.to_string()));
    req.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/json".parse().expect("static"),
    );
    if let Some(token) = token {
        bearer(&mut req, token);
    }
    req
}

/// Builds a request.
#[must_use]
pub fn request(method: Method, path: &str, body: Body) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .body(body)
        .expect("a valid request")
}

/// Sends `request` through any router and reads the whole response.
pub async fn send(router: &Router, request: Request<Body>) -> TestResponse {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("reading the body")
        .to_bytes();
    TestResponse {
        status,
        headers,
        body,
    }
}
