//! One token, one use, under concurrency: a refresh token has exactly one successor however
//! many times it is presented at once (and the losers revoke its family, as any reuse does),
//! and a password-reset or invitation token sets exactly one password.
use serde_json::Value;
use testkit::{PASSWORD, TestApp, json};

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The app without the per-address budget of the sign-in endpoints: these tests send more
/// than a minute's worth from one address on purpose.
async fn spawn() -> Option<TestApp> {
    TestApp::builder()
        .settings(|s| s.rate_limit_address_per_minute = 0)
        .spawn()
        .await
}

/// Sends every request of `requests` at once; returns (index, status, body) in any order.
async fn all_at_once(requests: Vec<testkit::reqwest::RequestBuilder>) -> Vec<(usize, u16, Value)> {
    let mut set = tokio::task::JoinSet::new();
    for (i, req) in requests.into_iter().enumerate() {
        set.spawn(async move {
            let Ok(res) = req.send().await else {
                return (i, 0, Value::Null);
            };
            let status = res.status().as_u16();
            (i, status, res.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        out.extend(joined.ok());
    }
    out
}

fn refresh(app: &TestApp, token: &str) -> testkit::reqwest::RequestBuilder {
    app.client
        .post(format!("{}/oauth/token", app.base))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
}

/// `(status, count)` of each status among `results`, sorted.
fn tally(results: &[(usize, u16, Value)]) -> Vec<(u16, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for (_, status, _) in results {
        *counts.entry(*status).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

/// How many tokens each test races (whether a broken check loses a race depends on timing;
/// several rounds make a regression show on practically every run).
const ROUNDS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_refreshes_of_one_token_give_one_successor_and_revoke_the_family() {
    let Some(app) = spawn().await else {
        return;
    };
    for _ in 0..ROUNDS {
        let login = app.login_res("agent@globex.demo.test", PASSWORD).await;
        let rt = s(&login.expect(200)["refresh_token"]);
        let results = all_at_once((0..20).map(|_| refresh(&app, &rt)).collect()).await;
        assert_eq!(tally(&results), vec![(200, 1), (400, 19)]);
        assert!(
            results
                .iter()
                .filter(|(_, status, _)| *status == 400)
                .all(|(_, _, body)| body["error"] == "invalid_grant")
        );
        // The one successor belongs to a family its concurrent reuse revoked.
        let successor = results
            .iter()
            .find(|(_, status, _)| *status == 200)
            .map(|(_, _, body)| s(&body["refresh_token"]))
            .unwrap_or_default();
        assert!(successor.starts_with("rt_"));
        let after = app
            .token_endpoint(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &successor),
            ])
            .await;
        assert_eq!(after.expect(400)["error"], "invalid_grant");
    }
    // Each round's reuse is on record.
    let admin = app.token("admin@globex.demo.test").await;
    let audit = app.get("/api/v1/audit?limit=200", &admin).await;
    let reused = audit.expect(200)["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["action"] == "auth.refresh_token_reused")
                .count()
        })
        .unwrap_or_default();
    assert!(
        (ROUNDS..=19 * ROUNDS).contains(&reused),
        "{reused} reuse records"
    );
    // Another session of the same user is untouched.
    let other = app.login_res("agent@globex.demo.test", PASSWORD).await;
    let other_rt = s(&other.expect(200)["refresh_token"]);
    app.token_endpoint(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &other_rt),
    ])
    .await
    .expect(200);
}

/// The password the `i`-th concurrent use sets.
fn password(i: usize) -> String {
    format!("parallel password number {i}")
}

/// Ten concurrent uses of one-time `token` at `path`, each with its own password: exactly one
/// succeeds with `ok`, the others get 422 `invalid_token`. Returns the winner's index.
async fn ten_at_once(app: &TestApp, path: &str, token: &str, ok: u16) -> usize {
    let requests = (0..10)
        .map(|i| {
            app.client
                .post(format!("{}{path}", app.base))
                .json(&json!({"token": token, "password": password(i)}))
        })
        .collect();
    let results = all_at_once(requests).await;
    assert_eq!(tally(&results), vec![(ok, 1), (422, 9)]);
    assert!(
        results
            .iter()
            .filter(|(_, status, _)| *status == 422)
            .all(|(_, _, body)| body["errors"][0]["code"] == "invalid_token")
    );
    results
        .iter()
        .find(|(_, status, _)| *status == ok)
        .map(|(i, _, _)| *i)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_parallel_uses_of_one_reset_token_set_exactly_one_password() {
    let Some(app) = spawn().await else {
        return;
    };
    let admin = app.token("admin@globex.demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    let id = s(&app.get("/api/v1/users/me", &agent).await.expect(200)["id"]);
    for _ in 0..ROUNDS {
        let reset = app
            .post(
                &format!("/api/v1/users/{id}/password-reset"),
                &admin,
                json!({}),
            )
            .await;
        let token = s(&reset.expect(201)["token"]);
        let winner = ten_at_once(&app, "/api/v1/auth/password-reset/confirm", &token, 204).await;
        app.login_res("agent@globex.demo.test", &password(winner))
            .await
            .expect(200);
        app.login_res("agent@globex.demo.test", &password((winner + 1) % 10))
            .await
            .expect(401);
    }
    let audit = app.get("/api/v1/audit?limit=200", &admin).await;
    let resets = audit.expect(200)["items"].as_array().map(|a| {
        a.iter()
            .filter(|r| r["action"] == "user.password_reset")
            .count()
    });
    assert_eq!(resets, Some(ROUNDS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_parallel_uses_of_one_invitation_token_accept_it_once() {
    let Some(app) = spawn().await else {
        return;
    };
    let admin = app.token("admin@globex.demo.test").await;
    for round in 0..ROUNDS {
        let email = format!("racer{round}@globex.example");
        let invited = app
            .post(
                "/api/v1/users",
                &admin,
                json!({"email": email, "display_name": "Racer", "roles": ["agent"]}),
            )
            .await;
        let token = s(&invited.expect(201)["invitation"]["token"]);
        let winner = ten_at_once(&app, "/api/v1/invitations/accept", &token, 200).await;
        app.login_res(&email, &password(winner)).await.expect(200);
        app.login_res(&email, &password((winner + 1) % 10))
            .await
            .expect(401);
    }
    let audit = app.get("/api/v1/audit?limit=200", &admin).await;
    let accepted = audit.expect(200)["items"].as_array().map(|a| {
        a.iter()
            .filter(|r| r["action"] == "user.invitation_accepted")
            .count()
    });
    assert_eq!(accepted, Some(ROUNDS));
}
