//! `Idempotency-Key` on creates, in process and in Redis: a retry replays the first response,
//! concurrent tries with one key have one effect, another request under the same key is
//! refused, keys are per principal; and a Redis restart refuses keyed requests (503) while
//! serving the rest, then recovers without a restart.

use std::time::{Duration, Instant};

use crate::common::{ready, s};
use testkit::{Res, TestApp, json, reqwest::Method};

async fn post(app: &TestApp, path: &str, token: &str, key: &str, body: serde_json::Value) -> Res {
    app.call(
        Method::POST,
        path,
        Some(token),
        Some(body),
        &[("Idempotency-Key", key)],
    )
    .await
}

fn replayed(res: &Res) -> bool {
    res.headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

async fn count(app: &TestApp, path: &str, token: &str) -> usize {
    let listed = app.get(path, token).await;
    listed.expect(200)["items"].as_array().map_or(0, Vec::len)
}

/// Runs every case on `app`'s store.
async fn retries_are_safe(app: &TestApp) {
    let agent = app.token("agent@globex.demo.test").await;
    let admin = app.token("admin@globex.demo.test").await;
    ready(app, &agent).await;
    let body = json!({"title": "Backup failed", "impact": 2, "urgency": 1});

    // Five concurrent tries with one key: one incident, every answer the same.
    let tries = futures_util::future::join_all(
        (0..5).map(|_| post(app, "/api/v1/incidents", &agent, "retry-1", body.clone())),
    )
    .await;
    let ids: std::collections::BTreeSet<String> =
        tries.iter().map(|r| s(&r.expect(201)["id"])).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(tries.iter().filter(|r| replayed(r)).count(), 4);
    assert!(
        tries
            .iter()
            .all(|r| r.headers.get("location") == tries[0].headers.get("location"))
    );
    // A later retry too.
    let again = post(app, "/api/v1/incidents", &agent, "retry-1", body.clone()).await;
    assert!(replayed(&again));
    assert_eq!(again.expect(201)["number"], tries[0].body["number"]);

    // The same key with another request is refused; another user's key is their own.
    let other = json!({"title": "Other", "impact": 3, "urgency": 3});
    let reused = post(app, "/api/v1/incidents", &agent, "retry-1", other.clone()).await;
    assert_eq!(reused.expect(422)["code"], "idempotency_key_reused");
    let theirs = post(app, "/api/v1/incidents", &admin, "retry-1", body.clone()).await;
    assert!(!ids.contains(&s(&theirs.expect(201)["id"])));
    assert!(!replayed(&theirs));
    let bad = post(app, "/api/v1/incidents", &agent, "", body.clone()).await;
    assert_eq!(bad.expect(400)["code"], "invalid_idempotency_key");
    let bad = post(app, "/api/v1/incidents", &agent, "has space", body.clone()).await;
    assert_eq!(bad.expect(400)["code"], "invalid_idempotency_key");
    assert_eq!(count(app, "/api/v1/incidents", &agent).await, 2);

    // A refused request is not kept: the corrected retry with the same key proceeds.
    let invalid = json!({"title": "", "impact": 2, "urgency": 1});
    let first = post(app, "/api/v1/incidents", &agent, "fix-me", invalid).await;
    first.expect(422);
    let fixed = post(app, "/api/v1/incidents", &agent, "fix-me", other).await;
    assert!(!replayed(&fixed));
    fixed.expect(201);

    // Every create takes a key: a comment, a problem, and identity's groups.
    let incident = s(&tries[0].body["id"]);
    let comments = format!("/api/v1/incidents/{incident}/comments");
    let comment = json!({"body": "Restarted the job", "visibility": "public"});
    let c1 = post(app, &comments, &agent, "c-1", comment.clone()).await;
    let c2 = post(app, &comments, &agent, "c-1", comment).await;
    assert!(replayed(&c2));
    assert_eq!(c1.expect(201)["id"], c2.expect(201)["id"]);
    let problem = json!({"title": "Backups fail nightly"});
    let p1 = post(app, "/api/v1/problems", &agent, "prb-1", problem.clone()).await;
    let p2 = post(app, "/api/v1/problems", &agent, "prb-1", problem).await;
    assert_eq!(p1.expect(201)["id"], p2.expect(201)["id"]);
    let group = json!({"name": "Backup operators"});
    let g1 = post(app, "/api/v1/groups", &admin, "grp-1", group.clone()).await;
    let g2 = post(app, "/api/v1/groups", &admin, "grp-1", group).await;
    assert!(replayed(&g2));
    assert_eq!(g1.expect(201)["id"], g2.expect(201)["id"]);

    // A replay repeats every header of the original, not just a chosen few.
    for name in ["etag", "location", "content-type", "x-content-type-options"] {
        assert_eq!(
            c1.headers.get(name),
            c2.headers.get(name),
            "{name} differs on replay"
        );
    }

    // A one-time secret is never kept: the retry learns the first request succeeded, not
    // the secret, and no second client is made.
    let client = json!({"name": "RMM bridge", "scopes": ["incident:read"]});
    let k1 = post(app, "/api/v1/api-clients", &admin, "cli-1", client.clone()).await;
    let secret = s(&k1.expect(201)["client_secret"]);
    assert!(!secret.is_empty());
    let k2 = post(app, "/api/v1/api-clients", &admin, "cli-1", client).await;
    assert_eq!(k2.expect(409)["code"], "idempotent_response_withheld");
    assert!(!k2.body.to_string().contains(&secret));
    let clients = app.get("/api/v1/api-clients", &admin).await;
    let named = clients.expect(200)["items"].as_array().map_or(0, |a| {
        a.iter().filter(|c| c["name"] == "RMM bridge").count()
    });
    assert_eq!(named, 1);
    // So is an invitation token.
    let invite =
        json!({"email": "new.hire@globex.example", "display_name": "New Hire", "roles": ["agent"]});
    let i1 = post(app, "/api/v1/users", &admin, "inv-1", invite.clone()).await;
    let token = s(&i1.expect(201)["invitation"]["token"]);
    let i2 = post(app, "/api/v1/users", &admin, "inv-1", invite).await;
    assert_eq!(i2.expect(409)["code"], "idempotent_response_withheld");
    assert!(!token.is_empty() && !i2.body.to_string().contains(&token));
}

#[tokio::test]
async fn retried_creates_are_safe_in_process() {
    let Some(app) = TestApp::builder().spawn().await else {
        return;
    };
    retries_are_safe(&app).await;
}

#[tokio::test]
async fn retried_creates_are_safe_in_redis() {
    let Some(redis) = testkit::redis_url().await else {
        return;
    };
    let Some(app) = TestApp::builder()
        .settings(|s| {
            s.redis_url = Some(platform::settings::Secret::new(redis));
        })
        .spawn()
        .await
    else {
        return;
    };
    retries_are_safe(&app).await;
}

#[tokio::test]
async fn a_redis_restart_refuses_keyed_creates_meanwhile_and_recovers() {
    if testkit::redis_url().await.is_none() {
        return;
    }
    let redis = testkit::PrivateRedis::new();
    redis.start();
    let Some(app) = TestApp::builder()
        .settings(|s| {
            s.redis_url = Some(platform::settings::Secret::new(redis.url()));
        })
        .spawn()
        .await
    else {
        return;
    };
    let agent = app.token("agent@globex.demo.test").await;
    ready(&app, &agent).await;
    let body = json!({"title": "Disk full", "impact": 2, "urgency": 2});
    let first = post(&app, "/api/v1/incidents", &agent, "k-1", body.clone()).await;
    let number = first.expect(201)["number"].clone();

    redis.stop();
    // Keyed creates are refused (fail closed) with a way out; everything else is served.
    let refused = post(&app, "/api/v1/incidents", &agent, "k-2", body.clone()).await;
    assert_eq!(refused.expect(503)["code"], "idempotency_unavailable");
    assert!(refused.headers.contains_key("retry-after"));
    app.post("/api/v1/incidents", &agent, body.clone())
        .await
        .expect(201);
    app.get("/api/v1/incidents", &agent).await.expect(200);

    // Redis comes back (empty): keyed creates are served again without a restart.
    redis.start();
    let deadline = Instant::now() + Duration::from_secs(15);
    let served = loop {
        let res = post(&app, "/api/v1/incidents", &agent, "k-2", body.clone()).await;
        if res.status == 201 || Instant::now() > deadline {
            break res;
        }
        assert_eq!(res.status, 503, "{:?}", res.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    served.expect(201);
    // The restart lost the edge's record of k-1; the create's own record in PostgreSQL still
    // answers the retry with the first incident.
    let retry = post(&app, "/api/v1/incidents", &agent, "k-1", body).await;
    assert!(replayed(&retry));
    assert_eq!(retry.expect(201)["number"], number);
    assert_eq!(count(&app, "/api/v1/incidents", &agent).await, 3);
}
