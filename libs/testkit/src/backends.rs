//! The other backends tests need: the shared Redis and RabbitMQ (a fresh vhost per test), and
//! private PostgreSQL and Redis servers for tests that restart them.

use serde_json::{Value, json};
use suite::SERVICES;

use crate::AMQP_PASSWORD;

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
