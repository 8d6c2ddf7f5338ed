//! Test support: spawn the platform on a random port against a fresh PostgreSQL database,
//! seeded with the demo tenants, and talk to it over HTTP.
//!
//! Every test gets its own database (`itsm_t_<uuid>`), created from the server's admin
//! connection, migrated as the owner role `itsm_owner` and served as the confined role
//! `itsm_app` — exactly the production split, so row-level security is really exercised.
//!
//! Without PostgreSQL a test is skipped with a loud message, except under `CI=true`, where it
//! fails: CI must never pass by skipping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::HashMap, sync::Arc};

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::Value;
use tokio::sync::Mutex;

pub use reqwest;
pub use serde_json::json;

/// Password of every demo user in tests.
pub const PASSWORD: &str = "demo-password-for-tests";
pub const OWNER_ROLE: &str = "itsm_owner";
pub const APP_ROLE: &str = "itsm_app";
/// Password of both test roles (servers that authenticate TCP connections need one).
const ROLE_PASSWORD: &str = "itsm-test";

/// The server-level admin URL (a superuser), from `TESTKIT_PG_URL`.
pub fn admin_url() -> String {
    std::env::var("TESTKIT_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn with_role(url: &str, user: &str, db: &str) -> String {
    let mut u = reqwest::Url::parse(url).expect("TESTKIT_PG_URL is a URL");
    {
        u.set_username(user).expect("URL takes a user");
        u.set_password(Some(ROLE_PASSWORD))
            .expect("URL takes a password");
    }
    u.set_path(&format!("/{db}"));
    u.to_string()
}

/// Connects to the PostgreSQL admin database, or explains why not (skip or fail).
pub async fn postgres_admin() -> Option<DatabaseConnection> {
    match Database::connect(admin_url()).await {
        Ok(db) => Some(db),
        Err(e) => {
            let msg = format!(
                "PostgreSQL is not reachable at {} ({e}); start it or set TESTKIT_PG_URL",
                admin_url()
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{msg} (CI=true: backend tests must not be skipped)");
            }
            eprintln!("\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
            None
        }
    }
}

/// Creates the owner and application roles if missing (concurrent test processes race here,
/// hence the exception handlers).
async fn ensure_roles(admin: &DatabaseConnection) {
    for (role, attrs) in [
        (OWNER_ROLE, "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE"),
        (
            APP_ROLE,
            "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB",
        ),
    ] {
        let sql = format!(
            "DO $$ BEGIN CREATE ROLE {role} {attrs} PASSWORD '{ROLE_PASSWORD}'; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        );
        admin.execute_unprepared(&sql).await.expect("create role");
    }
}

/// A fresh, migrated database; returns (name, app URL, owner URL).
pub async fn fresh_database(admin: &DatabaseConnection) -> (String, String, String) {
    ensure_roles(admin).await;
    let name = format!("itsm_t_{}", uuid::Uuid::now_v7().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name} OWNER {OWNER_ROLE}"))
        .await
        .expect("create database");
    let base = admin_url();
    (
        name.clone(),
        with_role(&base, APP_ROLE, &name),
        with_role(&base, OWNER_ROLE, &name),
    )
}

/// A running platform on PostgreSQL with the demo data.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db_name: String,
    pub app_url: String,
    pub settings: Arc<platform::settings::Settings>,
    tokens: Mutex<HashMap<String, String>>,
}

/// A response: status, headers and the JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Res {
    /// The problem+json `code`, if this is an error.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    /// Asserts the status and, for 4xx/5xx, that the body is problem+json.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        if status >= 400 {
            assert_eq!(
                self.content_type(),
                "application/problem+json",
                "body: {}",
                self.body
            );
            assert_eq!(self.body["status"], status);
        }
        &self.body
    }
}

impl TestApp {
    /// Spawns the platform on a fresh database; `None` (after a loud message) when PostgreSQL
    /// is missing outside CI.
    pub async fn spawn() -> Option<TestApp> {
        let admin = postgres_admin().await?;
        let (db_name, app_url, owner_url) = fresh_database(&admin).await;
        admin.close().await.ok();
        let mut settings = platform::settings::Settings {
            listen: "127.0.0.1:0".into(),
            database_url: Some(platform::settings::Secret::new(app_url.clone())),
            migration_database_url: Some(platform::settings::Secret::new(owner_url)),
            database_max_connections: 5,
            http_workers: 2,
            auth_issuer: Some("http://itsm.test".into()),
            ..Default::default()
        };
        itsm::migrate(&settings).await.expect("migrations");
        let settings_arc = Arc::new(settings.clone());
        let app = itsm::build(settings_arc.clone(), None)
            .await
            .expect("build app");
        identity::seed::seed_demo(&app.identity.db, PASSWORD)
            .await
            .expect("seed demo");
        let port = app.server.port;
        std::mem::forget(app.start_workers());
        tokio::spawn(app.server.server);
        settings.listen = format!("127.0.0.1:{port}");
        Some(TestApp {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            db_name,
            app_url,
            settings: Arc::new(settings),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// Runs SQL in this test's database as the superuser (bypasses RLS: for tampering and
    /// catalog checks only).
    pub async fn superuser(&self) -> DatabaseConnection {
        let mut url = reqwest::Url::parse(&admin_url()).expect("TESTKIT_PG_URL is a URL");
        url.set_path(&format!("/{}", self.db_name));
        let mut opt = sea_orm::ConnectOptions::new(url.to_string());
        opt.set_schema_search_path("identity");
        Database::connect(opt).await.expect("superuser connection")
    }

    /// A connection as the application role, with no tenant set.
    pub async fn app_role(&self) -> DatabaseConnection {
        let mut opt = sea_orm::ConnectOptions::new(self.app_url.clone());
        opt.set_schema_search_path("identity");
        Database::connect(opt).await.expect("app role connection")
    }

    /// Logs in with the demo password and returns the response.
    pub async fn login_res(&self, email: &str, password: &str) -> Res {
        self.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(serde_json::json!({"email": email, "password": password})),
            &[],
        )
        .await
    }

    /// An access token for a demo user (cached per test).
    pub async fn token(&self, email: &str) -> String {
        if let Some(t) = self.tokens.lock().await.get(email) {
            return t.clone();
        }
        let res = self.login_res(email, PASSWORD).await;
        let token = res.expect(200)["access_token"]
            .as_str()
            .expect("access_token")
            .to_string();
        self.tokens
            .lock()
            .await
            .insert(email.to_string(), token.clone());
        token
    }

    /// Sends a request; `token` is a bearer token; `headers` are extra headers.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Res {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Res {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Res {
        self.call(Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Res {
        self.call(Method::POST, path, Some(token), Some(body), &[])
            .await
    }

    /// Posts a form to `/oauth/token`.
    pub async fn token_endpoint(&self, form: &[(&str, &str)]) -> Res {
        let res = self
            .client
            .post(format!("{}/oauth/token", self.base))
            .form(form)
            .send()
            .await
            .expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.json().await.unwrap_or(Value::Null);
        Res {
            status,
            headers,
            body,
        }
    }

    /// The id of a tenant by slug, as seen by the platform admin.
    pub async fn tenant_id(&self, slug: &str) -> String {
        let t = self.token("platform-admin@demo.test").await;
        let res = self
            .call(
                Method::GET,
                "/api/v1/users/me",
                Some(&t),
                None,
                &[("x-tenant", slug)],
            )
            .await;
        res.expect(200)["acting_tenant_id"]
            .as_str()
            .expect("id")
            .to_string()
    }
}

/// Spawns a [`TestApp`] or returns from the test (skipped loudly outside CI).
#[macro_export]
macro_rules! app {
    () => {
        match $crate::TestApp::spawn().await {
            Some(app) => app,
            None => return,
        }
    };
}
