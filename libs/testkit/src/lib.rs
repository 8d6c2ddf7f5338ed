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
use suite::SERVICES;
use tokio::sync::Mutex;

pub use reqwest;
pub use serde_json::json;

/// Password of every demo user in tests.
pub const PASSWORD: &str = "demo-password-for-tests";
pub const OWNER_ROLE: &str = "itsm_owner";
pub const APP_ROLE: &str = "itsm_app";
/// Password of both test roles (servers that authenticate TCP connections need one).
const ROLE_PASSWORD: &str = "itsm-test";
/// Password of the per-service RabbitMQ users (`itsm-<service>`) in tests; `scripts/backends`
/// gives them the same one.
pub const AMQP_PASSWORD: &str = "itsm-test";

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
    connect_admin(&admin_url()).await
}

async fn connect_admin(url: &str) -> Option<DatabaseConnection> {
    match Database::connect(url).await {
        Ok(db) => Some(db),
        Err(e) => {
            let msg = format!(
                "PostgreSQL is not reachable at {url} ({e}); start it or set TESTKIT_PG_URL"
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
    fresh_database_on(admin, &admin_url()).await
}

async fn fresh_database_on(admin: &DatabaseConnection, base: &str) -> (String, String, String) {
    ensure_roles(admin).await;
    let name = format!("itsm_t_{}", uuid::Uuid::now_v7().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name} OWNER {OWNER_ROLE}"))
        .await
        .expect("create database");
    mark_text_match_leakproof(&with_database(base, &name)).await;
    (
        name.clone(),
        with_role(base, APP_ROLE, &name),
        with_role(base, OWNER_ROLE, &name),
    )
}

/// `base` (a superuser URL) pointed at database `db`.
fn with_database(base: &str, db: &str) -> String {
    let mut u = reqwest::Url::parse(base).expect("TESTKIT_PG_URL is a URL");
    u.set_path(&format!("/{db}"));
    u.to_string()
}

/// The one superuser step a database needs before `itsm migrate` (README, "PostgreSQL"): it
/// lets row-level security use the knowledge search index (ADR 30).
async fn mark_text_match_leakproof(db_url: &str) {
    let db = Database::connect(db_url)
        .await
        .expect("superuser connection");
    db.execute_unprepared(platform::db::TEXT_MATCH_LEAKPROOF)
        .await
        .expect("mark ts_match_vq leakproof");
    db.close().await.expect("close superuser connection");
}

/// A running platform on PostgreSQL with the demo data.
pub struct TestApp {
    pub base: String,
    /// The superuser URL of the PostgreSQL server this app runs on.
    pub admin_url: String,
    /// Identity's database as its application role.
    pub identity_db: DatabaseConnection,
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
    /// The body as received (CSV, calendars).
    pub raw: Vec<u8>,
}

impl Res {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
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
    /// Asserts the status and, for 4xx/5xx, that the body is problem+json — or, for an OAuth
    /// token endpoint error (an `error` member), the `application/json` RFC 6749 requires.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        if status >= 400 {
            let media = if self.body["error"].is_string() {
                "application/json"
            } else {
                "application/problem+json"
            };
            assert_eq!(self.content_type(), media, "body: {}", self.body);
            assert_eq!(self.body["status"], status);
        }
        &self.body
    }
}

/// The key-encryption key of test and benchmark platforms on PostgreSQL
/// (`ITSM_KEY_ENCRYPTION_KEY`), which identity requires there.
pub const KEY_ENCRYPTION_KEY: &str = "test:aXRzbSB0ZXN0IGtleS1lbmNyeXB0aW9uIGtleSAzMmI=";

/// A change to the settings a [`TestApp`] starts with.
type SettingsTweak<'a> = Box<dyn FnOnce(&mut platform::settings::Settings) + 'a>;

/// How a [`TestApp`] is started: `TestApp::builder()…spawn()`. By default on the PostgreSQL
/// server of [`admin_url`], with the in-process bus and the background workers running.
#[must_use]
pub struct TestAppBuilder<'a> {
    admin_url: String,
    amqp_url: Option<String>,
    workers: bool,
    work_data: bool,
    tweaks: Vec<SettingsTweak<'a>>,
}

impl<'a> TestAppBuilder<'a> {
    /// On the PostgreSQL server at `admin` (a superuser URL), e.g. a [`PrivatePostgres`] a
    /// test may restart.
    pub fn postgres(mut self, admin: &str) -> Self {
        self.admin_url = admin.to_string();
        self
    }

    /// With the RabbitMQ transport on the vhost of `amqp_url` (a [`fresh_vhost`] URL); each
    /// service connects as its own broker user, as in production (ADR 19).
    pub fn rabbitmq(mut self, amqp_url: &str) -> Self {
        self.amqp_url = Some(amqp_url.to_string());
        self
    }

    /// Without relays, consumers and schedulers: the test drives them itself.
    pub fn without_workers(mut self) -> Self {
        self.workers = false;
        self
    }

    /// With every service's part of the demo (`itsm seed --demo`), not only identity's tenants
    /// and people: the portfolio, SLA set-up, incidents and problems.
    pub fn demo_work_data(mut self) -> Self {
        self.work_data = true;
        self
    }

    /// With settings changed by `tweak` (limits, Redis, …).
    pub fn settings(mut self, tweak: impl FnOnce(&mut platform::settings::Settings) + 'a) -> Self {
        self.tweaks.push(Box::new(tweak));
        self
    }

    /// Migrates a fresh database, starts every service of `suite::SERVICES`, seeds the demo
    /// tenants and people, and serves on a free port; `None` (after a loud message) when PostgreSQL is missing
    /// outside CI.
    pub async fn spawn(self) -> Option<TestApp> {
        let admin = connect_admin(&self.admin_url).await?;
        let (db_name, app_url, owner_url) = fresh_database_on(&admin, &self.admin_url).await;
        admin.close().await.ok();
        let mut settings = platform::settings::Settings {
            listen: "127.0.0.1:0".into(),
            database_url: Some(platform::settings::Secret::new(app_url.clone())),
            migration_database_url: Some(platform::settings::Secret::new(owner_url)),
            // The catalogue alone runs a relay, a consumer, two import workers and three
            // approval jobs, each holding a connection at times, besides requests.
            database_max_connections: 8,
            http_workers: 2,
            auth_issuer: Some("http://itsm.test".into()),
            key_encryption_key: Some(platform::settings::Secret::new(
                KEY_ENCRYPTION_KEY.to_string(),
            )),
            amqp_urls: self
                .amqp_url
                .map(|url| {
                    SERVICES
                        .iter()
                        .map(|s| {
                            let url = amqp_url_as(&url, s.name());
                            (s.name().to_string(), platform::settings::Secret::new(url))
                        })
                        .collect()
                })
                .unwrap_or_default(),
            ..Default::default()
        };
        for tweak in self.tweaks {
            tweak(&mut settings);
        }
        host::migrate(SERVICES, &settings)
            .await
            .expect("migrations");
        let mut app = host::build(SERVICES, Arc::new(settings.clone()), None)
            .await
            .expect("build app");
        // By default the demo tenants and people only: tests make their own work data.
        let identity = app.service("identity").expect("identity runs in tests");
        let seeding: Vec<(&'static str, &host::Started)> = if self.work_data {
            app.services.iter().map(|(n, s)| (*n, s)).collect()
        } else {
            vec![("identity", identity)]
        };
        host::demo::seed(seeding, PASSWORD)
            .await
            .expect("seed demo");
        let identity_db = identity.db.clone();
        let port = app.server.port;
        if self.workers {
            // The workers live as long as the test process.
            std::mem::forget(app.start_workers().await.expect("workers"));
        }
        tokio::spawn(app.server.server);
        settings.listen = format!("127.0.0.1:{port}");
        Some(TestApp {
            base: format!("http://127.0.0.1:{port}"),
            admin_url: self.admin_url,
            identity_db,
            // The server closes a connection idle for its keep-alive (5 s); one idle nearly that
            // long and then reused can be closed under the request (`IncompleteMessage`), so
            // the client lets idle connections go well before.
            client: reqwest::Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(2))
                .build()
                .expect("an HTTP client"),
            db_name,
            app_url,
            settings: Arc::new(settings),
            tokens: Mutex::new(HashMap::new()),
        })
    }
}

impl TestApp {
    pub fn builder<'a>() -> TestAppBuilder<'a> {
        TestAppBuilder {
            admin_url: admin_url(),
            amqp_url: None,
            workers: true,
            work_data: false,
            tweaks: Vec::new(),
        }
    }

    /// Runs SQL in this test's database as the superuser (bypasses RLS: for tampering and
    /// catalog checks only).
    pub async fn superuser(&self) -> DatabaseConnection {
        let mut url = reqwest::Url::parse(&self.admin_url).expect("TESTKIT_PG_URL is a URL");
        url.set_path(&format!("/{}", self.db_name));
        let mut opt = sea_orm::ConnectOptions::new(url.to_string());
        opt.set_schema_search_path("identity");
        Database::connect(opt).await.expect("superuser connection")
    }

    /// Creates `schema` in this test's database as the owner, runs `M`'s migrations in it, and
    /// returns a connection to it as the application role.
    pub async fn service_schema<M: sea_orm_migration::MigratorTrait>(
        &self,
        schema: &str,
    ) -> DatabaseConnection {
        let settings = (*self.settings).clone();
        let target = platform::db::Target::from_settings(&settings, schema).expect("target");
        let owner = platform::db::connect_owner(&target, schema)
            .await
            .expect("owner connection");
        M::up(&owner, None).await.expect("migrations");
        platform::db::grant_app_role(&owner, schema, APP_ROLE)
            .await
            .expect("grants");
        platform::db::connect_app(&target, schema, 10)
            .await
            .expect("app connection")
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
            raw: bytes.to_vec(),
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Res {
        self.call(Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Res {
        self.call(Method::POST, path, Some(token), Some(body), &[])
            .await
    }

    /// The id of the user `email`, as identity lists them to `token`'s bearer.
    pub async fn user_id(&self, token: &str, email: &str) -> String {
        self.id_in("/api/v1/users?limit=200", token, "email", email)
            .await
    }

    /// The id of the group `name`, as identity lists it to `token`'s bearer.
    pub async fn group_id(&self, token: &str, name: &str) -> String {
        self.id_in("/api/v1/groups?limit=200", token, "name", name)
            .await
    }

    async fn id_in(&self, list: &str, token: &str, field: &str, value: &str) -> String {
        let found = self.get(list, token).await;
        found.expect(200)["items"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i[field] == value))
            .and_then(|i| i["id"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{value} in {list}"))
    }

    /// Posts a form to `/oauth/token`.
    pub async fn token_endpoint(&self, form: &[(&str, &str)]) -> Res {
        self.send_token_form(self.client.post(format!("{}/oauth/token", self.base)), form)
            .await
    }

    /// A client-credentials grant authenticated with HTTP Basic.
    pub async fn client_credentials_basic(&self, client_id: &str, secret: &str) -> Res {
        let req = self
            .client
            .post(format!("{}/oauth/token", self.base))
            .basic_auth(client_id, Some(secret));
        self.send_token_form(req, &[("grant_type", "client_credentials")])
            .await
    }

    async fn send_token_form(&self, req: reqwest::RequestBuilder, form: &[(&str, &str)]) -> Res {
        let res = req.form(form).send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let raw = res.bytes().await.expect("body").to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Res {
            status,
            headers,
            body,
            raw,
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
        match $crate::TestApp::builder().spawn().await {
            Some(app) => app,
            None => return,
        }
    };
}

mod backends;
pub mod graph;
pub use backends::*;
