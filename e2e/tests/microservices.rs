//! Microservice mode end to end: identity and incident run as separate `itsm serve --service …`
//! processes on PostgreSQL, RabbitMQ and Redis, as the Helm chart deploys them. An MSP admin
//! onboards a customer in identity; the incident service learns of it through events alone;
//! the customer's agent opens, works and resolves an incident through the incident service,
//! whose process is killed (SIGKILL) and started again mid-scenario: the incident survives,
//! and a tenant onboarded while it was down reaches it from the broker's queue. Then identity
//! is down while incident restarts: tokens verify against the key set shared through Redis.
//! As in the chart, each process reads its connection URLs from files (`ITSM_*_FILE`) and
//! connects to RabbitMQ as its own broker user (ADR 19).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "microservices-demo-pass";
const ISSUER: &str = "http://itsm.e2e";

/// The `itsm` binary: `ITSM_BIN`, else the debug build beside this test (`target/debug`).
fn itsm_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("ITSM_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("test executable");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("itsm"))
        .expect("target directory");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build -p itsm), or set ITSM_BIN",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The backends and settings both processes share.
struct Backends {
    env: Vec<(&'static str, String)>,
}

/// Writes `value` to a fresh file (mode 0600) in `dir`, as a mounted secret; returns its path.
fn secret_file(dir: &std::path::Path, name: &str, value: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).expect("write secret file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path.display().to_string()
}

/// One `itsm serve --service <name>` process; killed on drop.
struct Service {
    name: &'static str,
    port: u16,
    env: Vec<(&'static str, String)>,
    child: Option<Child>,
}

impl Service {
    fn new(name: &'static str, backends: &Backends, extra: &[(&'static str, String)]) -> Self {
        let mut env = backends.env.clone();
        env.extend_from_slice(extra);
        Self {
            name,
            port: free_port(),
            env,
            child: None,
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_path(&self) -> PathBuf {
        std::env::temp_dir().join(format!("itsm-e2e-{}-{}.log", self.name, self.port))
    }

    /// Starts the process (appending to its log) and waits until `/readyz` answers 200.
    async fn start(&mut self, demo: bool) {
        let listen = format!("127.0.0.1:{}", self.port);
        let mut args = vec!["serve", "--service", self.name, "--listen", &listen];
        if demo {
            args.push("--demo");
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let child = Command::new(itsm_bin())
            .args(args)
            .env_remove("ITSM_BIN")
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start itsm");
        self.child = Some(child);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", self.base())).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "{} exited with {status}; see {}",
                    self.name,
                    self.log_path().display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not become ready",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no graceful shutdown, as when a node dies.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Api {
    client: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: Method,
        url: String,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let body = res.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn post(&self, url: String, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, url, token, Some(body)).await
    }

    async fn login(&self, identity: &Service, email: &str, password: &str) -> String {
        let (status, body) = self
            .post(
                format!("{}/api/v1/auth/login", identity.base()),
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(status, 200, "login {email}: {body}");
        body["access_token"].as_str().expect("token").to_string()
    }

    /// Onboards a customer of the demo MSP; its admin accepts and logs in. Returns the
    /// admin's token.
    async fn onboard(&self, identity: &Service, msp: &str, name: &str, slug: &str) -> String {
        let admin = format!("admin@{slug}.example");
        let (status, body) = self
            .post(
                format!("{}/api/v1/tenants", identity.base()),
                Some(msp),
                json!({"name": name, "slug": slug, "admin_email": admin}),
            )
            .await;
        assert_eq!(status, 201, "onboard {slug}: {body}");
        self.accept(identity, &body["invitation"]["token"]).await;
        self.login(identity, &admin, PASSWORD).await
    }

    async fn accept(&self, identity: &Service, token: &Value) {
        let (status, body) = self
            .post(
                format!("{}/api/v1/invitations/accept", identity.base()),
                None,
                json!({"token": token, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "accept: {body}");
    }

    /// Creates an incident, retrying (with one idempotency key) until the incident service
    /// knows the caller's tenant.
    async fn open_incident(&self, incident: &Service, token: &str, title: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let res = self
                .client
                .post(format!("{}/api/v1/incidents", incident.base()))
                .bearer_auth(token)
                .header(
                    "Idempotency-Key",
                    format!("open-{}", title.replace(' ', "-")),
                )
                .json(&json!({"title": title, "impact": 2, "urgency": 2}))
                .send()
                .await
                .expect("request");
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            if status == 201 {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "the incident service never learned the tenant: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test]
async fn each_service_as_its_own_process_survives_a_kill() {
    let Some(admin) = testkit::postgres_admin().await else {
        return;
    };
    let Some(amqp) = testkit::fresh_vhost().await else {
        return;
    };
    let Some(redis) = testkit::redis_url().await else {
        return;
    };
    let (_, app_url, owner_url) = testkit::fresh_database(&admin).await;
    let secrets = std::env::temp_dir().join(format!("itsm-e2e-secrets-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&secrets).expect("secrets directory");
    let amqp_url_file = |service: &str| {
        let url = testkit::amqp_url_as(&amqp, service);
        (
            "ITSM_AMQP_URL_FILE",
            secret_file(&secrets, &format!("amqp-url-{service}"), &url),
        )
    };
    let backends = Backends {
        env: vec![
            (
                "ITSM_DATABASE_URL_FILE",
                secret_file(&secrets, "database-url", &app_url),
            ),
            (
                "ITSM_REDIS_URL_FILE",
                secret_file(&secrets, "redis-url", &redis),
            ),
            (
                "ITSM_KEY_ENCRYPTION_KEY_FILE",
                secret_file(&secrets, "key-encryption-key", testkit::KEY_ENCRYPTION_KEY),
            ),
            ("ITSM_AUTH_ISSUER", ISSUER.into()),
            ("ITSM_DEMO_PASSWORD", PASSWORD.into()),
            ("ITSM_LOG_FILTER", "info,sqlx=warn,sea_orm=warn".into()),
        ],
    };
    // Migrations run once, as the owner role, before any service starts (the chart's Job).
    let migrated = Command::new(itsm_bin())
        .arg("migrate")
        .env_remove("ITSM_BIN")
        .env("ITSM_DATABASE_URL", &app_url)
        .env("ITSM_MIGRATION_DATABASE_URL", &owner_url)
        .stdout(Stdio::null())
        .status()
        .expect("run itsm migrate");
    assert!(migrated.success(), "itsm migrate failed");

    let mut identity = Service::new("identity", &backends, &[amqp_url_file("identity")]);
    identity.start(true).await;
    let jwks = format!("{}/.well-known/jwks.json", identity.base());
    // The key sealing the key set shared through Redis, as the chart mounts it for verifiers.
    let shared_key = (
        "ITSM_AUTH_JWKS_SHARED_KEY_FILE",
        secret_file(
            &secrets,
            "auth-jwks-shared-key",
            &format!(
                "{}{}",
                uuid::Uuid::now_v7().simple(),
                uuid::Uuid::now_v7().simple()
            ),
        ),
    );
    let mut incident = Service::new(
        "incident",
        &backends,
        &[
            amqp_url_file("incident"),
            ("ITSM_AUTH_JWKS_URL", jwks.clone()),
            shared_key.clone(),
        ],
    );
    incident.start(false).await;
    let mut catalogue = Service::new(
        "catalogue",
        &backends,
        &[
            amqp_url_file("catalogue"),
            ("ITSM_AUTH_JWKS_URL", jwks.clone()),
            shared_key.clone(),
        ],
    );
    catalogue.start(false).await;
    let mut change = Service::new(
        "change",
        &backends,
        &[
            amqp_url_file("change"),
            ("ITSM_AUTH_JWKS_URL", jwks.clone()),
            shared_key.clone(),
        ],
    );
    change.start(false).await;
    let mut analytics = Service::new(
        "analytics",
        &backends,
        &[
            amqp_url_file("analytics"),
            ("ITSM_AUTH_JWKS_URL", jwks),
            shared_key,
        ],
    );
    analytics.start(false).await;
    let api = Api {
        client: reqwest::Client::new(),
    };
    let incidents = format!("{}/api/v1/incidents", incident.base());

    // Each process serves only its own service.
    let (status, _) = api
        .call(
            Method::GET,
            format!("{}/api/v1/tenants", incident.base()),
            None,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = api.call(Method::GET, incidents.clone(), None, None).await;
    assert_eq!(status, 401);

    // The MSP admin onboards Hooli; Hooli's admin invites an agent.
    let msp = api.login(&identity, "msp-admin@demo.test", PASSWORD).await;
    let hooli_admin = api.onboard(&identity, &msp, "Hooli", "hooli").await;
    let (status, invited) = api
        .post(
            format!("{}/api/v1/users", identity.base()),
            Some(&hooli_admin),
            json!({"email": "agent@hooli.example", "display_name": "Dinesh", "roles": ["agent"]}),
        )
        .await;
    assert_eq!(status, 201, "{invited}");
    api.accept(&identity, &invited["invitation"]["token"]).await;
    let agent = api.login(&identity, "agent@hooli.example", PASSWORD).await;

    // Each process serves the bus operator routes for its own service, with its own auth
    // (never a 500): 401 without a token, 403 for an agent, 200 for the platform operator.
    let platform_admin = api
        .login(&identity, "platform-admin@demo.test", PASSWORD)
        .await;
    for service in [&identity, &incident, &catalogue, &change, &analytics] {
        let status_url = format!("{}/api/v1/bus/status", service.base());
        let (status, body) = api.call(Method::GET, status_url.clone(), None, None).await;
        assert_eq!(status, 401, "{status_url} without a token: {body}");
        let (status, body) = api
            .call(Method::GET, status_url.clone(), Some(&agent), None)
            .await;
        assert_eq!(status, 403, "{status_url} as an agent: {body}");
    }
    let status_url = format!("{}/api/v1/bus/status", identity.base());
    let (status, body) = api
        .call(Method::GET, status_url.clone(), Some(&platform_admin), None)
        .await;
    assert_eq!(
        status, 200,
        "identity's {status_url} as the operator: {body}"
    );
    // Incident started after identity published the root tenant's creation, before incident's
    // queue existed, so its directory lacks the operator's tenant: 401 (a projection misses what
    // was published before its queue was bound).
    let status_url = format!("{}/api/v1/bus/status", incident.base());
    let (status, body) = api
        .call(Method::GET, status_url.clone(), Some(&platform_admin), None)
        .await;
    assert_eq!(
        status, 401,
        "incident's {status_url} as the operator: {body}"
    );

    // Hooli's admin adds a service to its portfolio in the catalogue process, which learned
    // Hooli from events too; the incident process does not serve the catalogue's routes.
    let services = format!("{}/api/v1/services", catalogue.base());
    let mut created = (StatusCode::NOT_FOUND, Value::Null);
    for _ in 0..100 {
        created = api
            .post(
                services.clone(),
                Some(&hooli_admin),
                json!({"name": "Payroll"}),
            )
            .await;
        if created.0 == 201 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(created.0, 201, "{}", created.1);
    assert_eq!(created.1["stage"], "strategy");
    let (status, _) = api
        .call(
            Method::GET,
            format!("{}/api/v1/services", incident.base()),
            Some(&hooli_admin),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // Hooli's admin requests a change in the change process, which learned Hooli from events
    // too; the incident process does not serve the change routes.
    let changes = format!("{}/api/v1/changes", change.base());
    let mut requested = (StatusCode::NOT_FOUND, Value::Null);
    for _ in 0..100 {
        requested = api
            .post(
                changes.clone(),
                Some(&hooli_admin),
                json!({"type": "normal", "title": "Move payroll to the new cluster"}),
            )
            .await;
        if requested.0 == 201 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(requested.0, 201, "{}", requested.1);
    assert_eq!(requested.1["number"], "CHG0001001");
    let (status, _) = api
        .call(
            Method::GET,
            format!("{}/api/v1/changes", incident.base()),
            Some(&hooli_admin),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // The agent opens an incident in the incident service, which learned Hooli from events.
    let opened = api.open_incident(&incident, &agent, "Mail is down").await;
    let id = opened["id"].as_str().expect("id").to_string();
    let incident_url = format!("{incidents}/{id}");
    let (status, body) = api
        .post(
            format!("{incident_url}/transitions"),
            Some(&agent),
            json!({"to": "in_progress"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api
        .post(
            format!("{incident_url}/comments"),
            Some(&agent),
            json!({"body": "Restarting the mail relay"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // The analytics process keeps every event it is sent over RabbitMQ: Hooli's figures are
    // fresh once the incident's events arrive.
    let freshness = format!("{}/api/v1/analytics/freshness", analytics.base());
    let mut fresh = (StatusCode::NOT_FOUND, Value::Null);
    for _ in 0..100 {
        fresh = api
            .call(Method::GET, freshness.clone(), Some(&agent), None)
            .await;
        if fresh.0 == 200 && fresh.1["items"][0]["last_event_time"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(fresh.0, 200, "{}", fresh.1);
    assert!(
        fresh.1["items"][0]["last_event_time"].is_string(),
        "{}",
        fresh.1
    );

    // The incident process dies. Identity keeps serving; a tenant onboarded meanwhile waits
    // in incident's queue.
    incident.kill();
    let piper_admin = api
        .onboard(&identity, &msp, "Pied Piper", "piedpiper")
        .await;
    incident.start(false).await;

    // Nothing was lost: the incident, its state and comment are there, and the agent
    // resolves it.
    let (status, body) = api
        .call(Method::GET, incident_url.clone(), Some(&agent), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "in_progress");
    assert_eq!(body["number"], opened["number"]);
    let (status, body) = api
        .call(
            Method::GET,
            format!("{incident_url}/comments"),
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["items"][0]["body"], "Restarting the mail relay",
        "{body}"
    );
    let (status, body) = api
        .post(
            format!("{incident_url}/transitions"),
            Some(&agent),
            json!({"to": "resolved", "resolution_code": "fixed", "resolution_notes": "Relay restarted"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "resolved");

    // Pied Piper, onboarded while incident was down, reaches it; tenants stay apart.
    let theirs = api
        .open_incident(&incident, &piper_admin, "VPN flaps")
        .await;
    assert_eq!(theirs["number"], opened["number"], "numbers are per tenant");
    let (status, _) = api
        .call(Method::GET, incident_url, Some(&piper_admin), None)
        .await;
    assert_eq!(status, 404);
    let (status, body) = api
        .call(Method::GET, incidents, Some(&piper_admin), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1), "{body}");

    // Identity goes down and incident restarts without it: the agent's token still verifies
    // against the key set shared through Redis, and work goes on. Identity comes back.
    identity.kill();
    incident.kill();
    incident.start(false).await;
    let again = api.open_incident(&incident, &agent, "Printer jam").await;
    assert_ne!(again["id"], opened["id"]);
    identity.start(false).await;
    api.login(&identity, "agent@hooli.example", PASSWORD).await;
    let _ = std::fs::remove_dir_all(&secrets);
}
