//! The embedded default, end to end: the real `itsm` binary on SQLite in a temporary data dir,
//! no external servers.
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18099)
}

async fn wait_ready(client: &reqwest::Client, base: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test]
async fn serve_demo_on_sqlite_logs_in_and_onboards_a_tenant() {
    let dir = std::env::temp_dir().join(format!("itsm-embedded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let password_file = std::env::temp_dir().join(format!("itsm-embedded-{port}.secret"));
    assert!(std::fs::write(&password_file, "embedded-demo-pass\n").is_ok());
    let child = Command::new(env!("CARGO_BIN_EXE_itsm"))
        .args([
            "serve",
            "--demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&dir)
        // Secrets may come from files (mounted Kubernetes secrets): the demo password does here.
        .env("ITSM_DEMO_PASSWORD_FILE", &password_file)
        .env_remove("ITSM_DEMO_PASSWORD")
        .env_remove("ITSM_DATABASE_URL")
        .env_remove("ITSM_MIGRATION_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(std::env::temp_dir().join(format!("itsm-embedded-{port}.log")))
                .map(Stdio::from)
                .unwrap_or(Stdio::null()),
        )
        .spawn();
    let Ok(child) = child else {
        panic!("cannot start itsm")
    };
    let _running = Running(child);
    let client = reqwest::Client::new();
    assert!(
        wait_ready(&client, &base).await,
        "itsm did not become ready"
    );
    assert!(dir.join("identity.sqlite").exists());

    let docs = client
        .get(format!("{base}/docs/"))
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(docs.ok(), Some(200));
    let spec = client
        .get(format!("{base}/api-docs/openapi.json"))
        .send()
        .await;
    let spec: serde_json::Value = match spec {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(spec["openapi"], "3.1.0");
    every_documented_operation_reaches_a_handler(&client, &base).await;

    let login: serde_json::Value = match client
        .post(format!("{base}/api/v1/auth/login"))
        .json(
            &serde_json::json!({"email": "msp-admin@demo.test", "password": "embedded-demo-pass"}),
        )
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(e) => panic!("{e}"),
    };
    let token = login["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!token.is_empty(), "login failed: {login}");

    let onboard = client
        .post(format!("{base}/api/v1/tenants"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Hooli", "slug": "hooli", "admin_email": "gavin@hooli.example"}))
        .send()
        .await;
    let Ok(onboard) = onboard else {
        panic!("onboard request failed")
    };
    assert_eq!(onboard.status().as_u16(), 201);
    let body: serde_json::Value = onboard.json().await.unwrap_or_default();
    assert_eq!(body["tenant"]["slug"], "hooli");

    // The customer's admin accepts the invitation and sees only their tenant.
    let accept = client
        .post(format!("{base}/api/v1/invitations/accept"))
        .json(&serde_json::json!({"token": body["invitation"]["token"], "password": "hooli admin password"}))
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(accept.ok(), Some(200));
    let cross = client
        .get(format!("{base}/api/v1/users/me"))
        .bearer_auth(&token)
        .header("x-tenant", "hooli")
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(cross.ok(), Some(200));

    // The incident service learns the tenants from identity's events (in-process bus) and
    // opens an incident on SQLite.
    let agent: serde_json::Value = match client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "agent@globex.demo.test", "password": "embedded-demo-pass"}))
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(e) => panic!("{e}"),
    };
    let agent = agent["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut created = None;
    for _ in 0..100 {
        let r = client
            .post(format!("{base}/api/v1/incidents"))
            .bearer_auth(&agent)
            .json(&serde_json::json!({"title": "Printer on fire", "impact": 1, "urgency": 1}))
            .send()
            .await;
        if let Ok(r) = r
            && r.status().as_u16() == 201
        {
            created = r.json::<serde_json::Value>().await.ok();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let created = created.unwrap_or_default();
    // The demo customer's 25 seeded incidents come first.
    assert_eq!(created["number"], "INC0001026", "{created}");
    assert_eq!(created["priority"], 1);
    // Search on SQLite (the LIKE fallback).
    let found: serde_json::Value = match client
        .get(format!("{base}/api/v1/incidents?q=FIRE"))
        .bearer_auth(&agent)
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1), "{found}");
    let none: serde_json::Value = match client
        .get(format!("{base}/api/v1/incidents?q=water"))
        .bearer_auth(&agent)
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(none["items"].as_array().map(Vec::len), Some(0), "{none}");
    queue_orders_page_on_sqlite(&client, &base, &agent).await;
    impact_walks_on_sqlite(&client, &base).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The queue orders on SQLite over the demo's 26 incidents: the default leads with the breached
/// SLA targets, and every order read 4 at a time matches the order read at once.
async fn queue_orders_page_on_sqlite(client: &reqwest::Client, base: &str, token: &str) {
    let read = |url: String| async move {
        match client.get(url).bearer_auth(token).send().await {
            Ok(r) => r.json::<serde_json::Value>().await.unwrap_or_default(),
            Err(e) => panic!("{e}"),
        }
    };
    let ids = |items: &[serde_json::Value]| -> Vec<String> {
        items.iter().map(|i| i["id"].to_string()).collect()
    };
    let whole = read(format!("{base}/api/v1/incidents?limit=200")).await;
    let whole = whole["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(whole.len(), 26);
    assert_eq!(whole[0]["next_sla"]["state"], "breached", "{}", whole[0]);
    let dues: Vec<&str> = whole
        .iter()
        .map(|i| i["next_sla"]["due_at"].as_str().unwrap_or("~"))
        .collect();
    assert!(dues.windows(2).all(|w| w[0] <= w[1]), "{dues:?}");
    assert!(whole.iter().any(|i| i["next_sla"].is_null()));
    for sort in [
        "sla_due",
        "priority",
        "-created_at",
        "-updated_at",
        "created_at",
    ] {
        let once = read(format!("{base}/api/v1/incidents?sort={sort}&limit=200")).await;
        let once = once["items"].as_array().cloned().unwrap_or_default();
        let mut paged = Vec::new();
        let mut cursor = String::new();
        for _ in 0..20 {
            let page = read(format!(
                "{base}/api/v1/incidents?sort={sort}&limit=4{cursor}"
            ))
            .await;
            paged.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(ids(&once), ids(&paged), "{sort}");
        assert_eq!(once.len(), 26, "{sort}");
    }
}

#[test]
fn openapi_command_writes_one_document_per_service_and_the_merged_one() {
    let dir = std::env::temp_dir().join(format!("itsm-openapi-{}", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_itsm"))
        .args(["openapi", "--out"])
        .arg(&dir)
        .stdout(Stdio::null())
        .status();
    assert!(status.is_ok_and(|s| s.success()));
    for name in ["identity.json", "incident.json", "bus.json", "itsm.json"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(doc["openapi"], "3.1.0", "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The committed merged document.
fn committed_document() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/itsm.json");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

/// `(method, path)` of every operation in `doc`.
fn operations(doc: &serde_json::Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                ops.push((method.to_string(), path.clone()));
            }
        }
    }
    ops
}

/// Every operation of the committed document, called on the live router (path parameters
/// filled with a nil id, no credentials), reaches a handler: the answer is never the router's
/// own `route_not_found` nor 405.
async fn every_documented_operation_reaches_a_handler(client: &reqwest::Client, base: &str) {
    let ops = operations(&committed_document());
    assert!(
        ops.len() > 50,
        "the committed document lists {} operations",
        ops.len()
    );
    for (method, path) in ops {
        let url = format!("{base}{}", with_nil_ids(&path));
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())
            .unwrap_or(reqwest::Method::GET);
        let res = client.request(method.clone(), &url).send().await;
        let Ok(res) = res else {
            panic!("{method} {url}: no answer")
        };
        let status = res.status().as_u16();
        let body = res.text().await.unwrap_or_default();
        assert!(
            status != 405 && !body.contains("route_not_found"),
            "{method} {path} is documented but no route answers it ({status} {body})"
        );
    }
}

/// `path` with each `{param}` replaced by the nil uuid.
fn with_nil_ids(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("00000000-0000-0000-0000-000000000000");
            }
            '}' => in_param = false,
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

/// Every route handler in the sources carries `#[utoipa::path]`, and the committed document
/// has exactly one operation per handler: no route is missing from the contract, and (with
/// the live check above) no documented operation is missing from the router.
#[test]
fn every_route_handler_is_in_the_committed_document() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let mut files = Vec::new();
    let mut dirs = vec![root.join("services"), root.join("libs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("tests") {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut handlers = 0;
    let mut undocumented = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            if ["#[get(", "#[post(", "#[put(", "#[patch(", "#[delete("]
                .iter()
                .any(|m| t.starts_with(m))
            {
                handlers += 1;
                // The attribute block above the route macro must hold `#[utoipa::path(`.
                let documented = lines[..i]
                    .iter()
                    .rev()
                    .take_while(|l| {
                        !l.trim().is_empty() && !l.trim_start().starts_with("pub async fn")
                    })
                    .any(|l| l.trim_start().starts_with("#[utoipa::path("));
                if !documented {
                    undocumented.push(format!("{}:{}", file.display(), i + 1));
                }
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "routes without #[utoipa::path]: {undocumented:?}"
    );
    assert_eq!(
        operations(&committed_document()).len(),
        handlers,
        "the committed document and the route handlers differ in number"
    );
}

/// The CMDB's impact query (one recursive CTE) on SQLite: a hypervisor, two servers on it and
/// an application on one of them.
async fn impact_walks_on_sqlite(client: &reqwest::Client, base: &str) {
    let login: serde_json::Value = match client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "configuration-manager@globex.demo.test", "password": "embedded-demo-pass"}))
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(e) => panic!("{e}"),
    };
    let token = login["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let post = |path: &'static str, body: serde_json::Value| {
        let token = token.clone();
        async move {
            match client
                .post(format!("{base}{path}"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
            {
                Ok(r) => (
                    r.status().as_u16(),
                    r.json::<serde_json::Value>().await.unwrap_or_default(),
                ),
                Err(e) => panic!("{e}"),
            }
        }
    };
    let mut ids = Vec::new();
    for (class, name) in [
        ("hypervisor", "hv-s"),
        ("virtual", "web-s"),
        ("virtual", "db-s"),
        ("application", "app-s"),
    ] {
        let (status, body) = post(
            "/api/v1/cmdb/cis",
            serde_json::json!({"class": class, "name": name}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap_or_default().to_string());
    }
    for (source, rel, target) in [(1, "hosted_on", 0), (2, "hosted_on", 0), (3, "runs_on", 1)] {
        let (status, body) = post(
            "/api/v1/cmdb/relationships",
            serde_json::json!({"source_id": ids[source], "type": rel, "target_id": ids[target]}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let impact: serde_json::Value = match client
        .get(format!("{base}/api/v1/cmdb/cis/{}/impact", ids[0]))
        .bearer_auth(&token)
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(e) => panic!("{e}"),
    };
    let mut reached: Vec<(String, i64)> = impact["nodes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|n| {
                    (
                        n["name"].as_str().unwrap_or_default().to_string(),
                        n["depth"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    reached.sort();
    assert_eq!(
        reached,
        [
            ("app-s".to_string(), 2),
            ("db-s".to_string(), 1),
            ("web-s".to_string(), 1)
        ],
        "{impact}"
    );
    assert_eq!(impact["truncated"], false);

    // The demo CMDB: the MSP's hv-01, shared read-only with globex, carries globex's payroll.
    let get = |path: String| {
        let token = token.clone();
        async move {
            match client
                .get(format!("{base}{path}"))
                .bearer_auth(&token)
                .send()
                .await
            {
                Ok(r) => r.json::<serde_json::Value>().await.unwrap_or_default(),
                Err(e) => panic!("{e}"),
            }
        }
    };
    let hv = get("/api/v1/cmdb/cis?name=hv-01".into()).await["items"][0].clone();
    assert_eq!(hv["read_only"], true, "{hv}");
    let hv_id = hv["id"].as_str().unwrap_or_default();
    let impact = get(format!("/api/v1/cmdb/cis/{hv_id}/impact")).await;
    let mut names: Vec<&str> = impact["nodes"]
        .as_array()
        .map(|a| a.iter().filter_map(|n| n["name"].as_str()).collect())
        .unwrap_or_default();
    names.sort();
    assert_eq!(
        names,
        ["Payroll", "db-01", "payroll-app", "web-01"],
        "{impact}"
    );
    assert_eq!(impact["services"][0]["name"], "Payroll");
    // Random cyclic graphs, imported: the walk on SQLite equals the in-memory reference.
    let import = |file: String| {
        let token = token.clone();
        async move {
            let queued: serde_json::Value = match client
                .post(format!("{base}/api/v1/cmdb/imports?source=prop"))
                .bearer_auth(&token)
                .body(file)
                .send()
                .await
            {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(e) => panic!("{e}"),
            };
            let id = queued["id"].as_str().unwrap_or_default().to_string();
            for _ in 0..300 {
                let i = get(format!("/api/v1/cmdb/imports/{id}")).await;
                if i["status"] == "completed" || i["status"] == "failed" {
                    return i;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("import {id} never finished");
        }
    };
    for seed in 1..=2u64 {
        let n = 30;
        let cis: String = (0..n)
            .map(|i| format!("application,sq{seed}-{i}\n"))
            .collect();
        assert_eq!(import(format!("class,name\n{cis}")).await["created"], n);
        let edges = testkit::graph::random_edges(n, 2 * n, seed);
        let rels: String = edges
            .iter()
            .map(|(a, b)| {
                format!("application:name=sq{seed}-{a},depends_on,application:name=sq{seed}-{b}\n")
            })
            .collect();
        let related = import(format!("from,type,to\n{rels}")).await;
        assert_eq!(related["created"], edges.len(), "{related}");
        let listed = get("/api/v1/cmdb/cis?limit=200&class=application".into()).await;
        let ids: std::collections::HashMap<String, usize> = listed["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| {
                        let name = c["name"].as_str()?;
                        let i = name.strip_prefix(&format!("sq{seed}-"))?.parse().ok()?;
                        Some((c["id"].as_str()?.to_string(), i))
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(ids.len(), n);
        for (id, root) in &ids {
            let depth = 1 + (*root as u32 % 4);
            let impact = get(format!("/api/v1/cmdb/cis/{id}/impact?depth={depth}")).await;
            let got: std::collections::BTreeMap<usize, u32> = impact["nodes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|n| Some((ids[n["id"].as_str()?], n["depth"].as_u64()? as u32)))
                        .collect()
                })
                .unwrap_or_default();
            let want = testkit::graph::upstream(&edges, *root, depth);
            assert_eq!(got, want, "seed {seed}, root {root}");
        }
    }
}
