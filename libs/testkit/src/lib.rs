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
            database_max_connections: 5,
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
        let seeding: Vec<&host::Started> = if self.work_data {
            app.services.iter().map(|(_, s)| s).collect()
        } else {
            vec![identity]
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
            client: reqwest::Client::new(),
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
        match $crate::TestApp::builder().spawn().await {
            Some(app) => app,
            None => return,
        }
    };
}

/// The Redis server tests use (`TESTKIT_REDIS_URL`, default the local one), or `None` (after
/// a loud message) when it is not running outside CI.
pub async fn redis_url() -> Option<String> {
    let url =
        std::env::var("TESTKIT_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let addr = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    if tokio::net::TcpStream::connect(&addr).await.is_err() {
        let msg = format!(
            "Redis is not reachable at {addr}; start it (redis-server --daemonize yes --port 6379)"
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg} (CI=true: backend tests must not be skipped)");
        }
        eprintln!("\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
        return None;
    }
    Some(url)
}

/// The RabbitMQ server tests use (`TESTKIT_AMQP_URL`, default the local broker's `/`).
pub fn amqp_base() -> String {
    std::env::var("TESTKIT_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672".into())
}

/// A fresh RabbitMQ vhost for one test (so tests never see each other's queues), or `None`
/// (after a loud message) when RabbitMQ is not running outside CI. Returns the vhost's URL as
/// `guest` (unrestricted, and it sets no `user_id`: a stranger to every consumer).
///
/// The vhost is set up as production is (ADR 19): each service's user `itsm-<service>` (see
/// [`amqp_url_as`]) may publish to `itsm.events` only with its own `<service>.` routing keys.
/// Users are global to the broker; they are created (or left as they are) by the same single
/// `rabbitmqctl import_definitions` call that creates the vhost, so a test pays for one call.
pub async fn fresh_vhost() -> Option<String> {
    let reachable = tokio::net::TcpStream::connect("127.0.0.1:5672")
        .await
        .is_ok();
    if !reachable {
        let msg =
            "RabbitMQ is not reachable at 127.0.0.1:5672; start it (rabbitmq-server -detached)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg} (CI=true: backend tests must not be skipped)");
        }
        eprintln!("\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
        return None;
    }
    let vhost = format!("itsm_t_{}", uuid::Uuid::now_v7().simple());
    let definitions = vhost_definitions(&vhost);
    assert!(
        rabbitmqctl_with_input(&["-q", "import_definitions"], definitions.to_string()).await,
        "rabbitmqctl import_definitions (vhost {vhost} with the service users) failed"
    );
    Some(format!("{}/{vhost}", amqp_base()))
}

/// The URL of the vhost of `vhost_url` logging in as `service`'s broker user.
pub fn amqp_url_as(vhost_url: &str, service: &str) -> String {
    let mut url = reqwest::Url::parse(vhost_url).expect("an AMQP URL");
    url.set_username(&bus::provenance::amqp_user_of(service))
        .expect("the URL takes a user");
    url.set_password(Some(AMQP_PASSWORD))
        .expect("the URL takes a password");
    url.to_string()
}

/// RabbitMQ's `rabbit_password_hashing_sha256` hash of `password`: base64(salt ‖
/// SHA-256(salt ‖ password)). A fixed salt keeps re-imports identical.
fn rabbit_password_hash(password: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let salt = *b"itsm";
    let mut hash = salt.to_vec();
    hash.extend(sha2::Sha256::digest(
        [&salt[..], password.as_bytes()].concat(),
    ));
    base64::engine::general_purpose::STANDARD.encode(hash)
}

/// Definitions of a test vhost: the service users, full permissions for them and `guest`,
/// and each service user's topic permission on `itsm.events`.
fn vhost_definitions(vhost: &str) -> Value {
    let everything = |user: &str| json!({"user": user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"});
    let mut users = Vec::new();
    let mut permissions = vec![everything("guest")];
    let mut topic_permissions = Vec::new();
    for service in SERVICES.iter().map(|s| s.name()) {
        let user = bus::provenance::amqp_user_of(service);
        users.push(json!({
            "name": user,
            "password_hash": rabbit_password_hash(AMQP_PASSWORD),
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": [],
        }));
        permissions.push(everything(&user));
        topic_permissions.push(json!({
            "user": user, "vhost": vhost, "exchange": "itsm.events",
            "write": format!("^{service}\\."), "read": ".*",
        }));
    }
    json!({
        "users": users,
        "vhosts": [{"name": vhost}],
        "permissions": permissions,
        "topic_permissions": topic_permissions,
    })
}

/// A PostgreSQL server of a test's own (a fresh cluster on a free port), for tests that restart
/// the database: restarting the shared server would break every other test.
pub struct PrivatePostgres {
    pub port: u16,
    dir: std::path::PathBuf,
    bin: std::path::PathBuf,
}

fn as_postgres(bin: &std::path::Path, tool: &str) -> std::process::Command {
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    if is_root {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        std::process::Command::new(bin.join(tool))
    }
}

impl PrivatePostgres {
    /// Starts a fresh cluster (trust authentication, superuser `postgres`).
    pub fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists());
        let Some(bin) = bin else {
            let msg = "PostgreSQL server binaries (initdb) not found under /usr/lib/postgresql";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{msg}");
            }
            eprintln!("\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let dir = std::env::temp_dir().join(format!("itsm-pg-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).ok()?;
        let _ = std::process::Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status();
        let data = dir.join("data");
        let ok = as_postgres(&bin, "initdb")
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "-D"])
            .arg(&data)
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "initdb failed");
        let pg = PrivatePostgres { port, dir, bin };
        pg.ctl(&["start"]);
        Some(pg)
    }

    fn ctl(&self, action: &[&str]) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let ok = as_postgres(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-o", &opts, "-l"])
            .arg(self.dir.join("log"))
            .args(["-w", "-m", "fast"])
            .args(action)
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "pg_ctl {action:?} failed");
    }

    /// The superuser URL.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (open connections are cut), then starts it again.
    pub fn restart(&self) {
        self.ctl(&["restart"]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis server of a test's own on a free port, for tests that stop and start it (stopping
/// the shared one would break every other test). Needs `redis-server` on the PATH.
pub struct PrivateRedis {
    pub port: u16,
    child: std::sync::Mutex<Option<std::process::Child>>,
}

impl PrivateRedis {
    /// Picks a port; the server is not running until [`start`](Self::start).
    pub fn new() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        Self {
            port,
            child: std::sync::Mutex::new(None),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (nothing kept from an earlier run) and waits until it accepts
    /// connections.
    pub fn start(&self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed (see README)");
        *self.child.lock().expect("lock") = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Kills the server (its data is gone).
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().expect("lock").take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Default for PrivateRedis {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `rabbitmqctl` (or the command in `TESTKIT_RABBITMQCTL`, e.g. `docker exec -i <id>
/// rabbitmqctl` when the broker runs in a container); true on success.
pub async fn rabbitmqctl(args: &[&str]) -> bool {
    let Some(mut command) = rabbitmqctl_command(args) else {
        return false;
    };
    command.status().await.is_ok_and(|s| s.success())
}

fn rabbitmqctl_command(args: &[&str]) -> Option<tokio::process::Command> {
    let (program, leading) = rabbitmqctl_program()?;
    let mut command = tokio::process::Command::new(program);
    command.args(leading).args(args);
    Some(command)
}

fn rabbitmqctl_program() -> Option<(String, Vec<String>)> {
    let cmd = std::env::var("TESTKIT_RABBITMQCTL").unwrap_or_else(|_| "rabbitmqctl".into());
    let mut parts = cmd.split_whitespace().map(str::to_string);
    Some((parts.next()?, parts.collect()))
}

/// [`rabbitmqctl`] with `input` on its standard input.
pub async fn rabbitmqctl_with_input(args: &[&str], input: String) -> bool {
    use std::io::Write;
    let Some((program, leading)) = rabbitmqctl_program() else {
        return false;
    };
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let Ok(mut child) = std::process::Command::new(program)
            .args(leading)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .spawn()
        else {
            return false;
        };
        let written = child
            .stdin
            .take()
            .is_some_and(|mut stdin| stdin.write_all(input.as_bytes()).is_ok());
        child.wait().is_ok_and(|s| s.success()) && written
    })
    .await
    .unwrap_or(false)
}
