//! Per-tenant rate limits at the edge: 429 with `Retry-After` and `RateLimit-*` headers for the
//! tenant over its limit, nobody else affected; the same in Redis; and a Redis that is down
//! lets requests through until it is back, without a restart. A tenant's limit is a setting
//! inherited down the tree, applied by every service.
use std::time::{Duration, Instant};

use testkit::{Res, TestApp, json, reqwest::Method};

const LIMIT: u32 = 5;

fn header(res: &Res, name: &str) -> Option<u64> {
    res.headers.get(name)?.to_str().ok()?.parse().ok()
}

/// Spends globex's limit with its agent and checks every answer, then checks initech is
/// still served.
async fn spend_and_check(app: &TestApp) {
    let globex = app.token("agent@globex.demo.test").await;
    for expected in (0..LIMIT).rev() {
        let res = app.get("/api/v1/users/me", &globex).await;
        assert_eq!(res.status, 200);
        assert_eq!(header(&res, "ratelimit-limit"), Some(u64::from(LIMIT)));
        assert_eq!(
            header(&res, "ratelimit-remaining"),
            Some(u64::from(expected))
        );
    }
    let refused = app.get("/api/v1/users/me", &globex).await;
    refused.expect(429);
    assert_eq!(refused.code(), "too_many_requests");
    assert_eq!(header(&refused, "ratelimit-remaining"), Some(0));
    // One request back every 60 s / 5 = 12 s.
    let retry = header(&refused, "retry-after").unwrap_or(0);
    assert!((11..=12).contains(&retry), "Retry-After {retry}");
    // Globex's admin shares the tenant's budget.
    let admin = app.token("admin@globex.demo.test").await;
    app.get("/api/v1/users/me", &admin).await.expect(429);
    // Another tenant is not affected.
    let initech = app.token("agent@initech.demo.test").await;
    let res = app.get("/api/v1/users/me", &initech).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        header(&res, "ratelimit-remaining"),
        Some(u64::from(LIMIT - 1))
    );
}

#[tokio::test]
async fn a_tenant_over_its_limit_gets_429_and_others_are_served() {
    let Some(app) = TestApp::builder()
        .settings(|s| s.rate_limit_tenant_per_minute = LIMIT)
        .spawn()
        .await
    else {
        return;
    };
    spend_and_check(&app).await;
}

#[tokio::test]
async fn limits_kept_in_redis_behave_the_same() {
    let Some(redis) = testkit::redis_url().await else {
        return;
    };
    let Some(app) = TestApp::builder()
        .settings(|s| {
            s.rate_limit_tenant_per_minute = LIMIT;
            s.redis_url = Some(platform::settings::Secret::new(redis));
        })
        .spawn()
        .await
    else {
        return;
    };
    spend_and_check(&app).await;
}

#[tokio::test]
async fn a_redis_outage_lets_requests_through_and_limits_resume_when_it_is_back() {
    if testkit::redis_url().await.is_none() {
        return;
    }
    let redis = testkit::PrivateRedis::new();
    let Some(app) = TestApp::builder()
        .settings(|s| {
            s.rate_limit_tenant_per_minute = LIMIT;
            s.redis_url = Some(platform::settings::Secret::new(redis.url()));
        })
        .spawn()
        .await
    else {
        return;
    };
    let globex = app.token("agent@globex.demo.test").await;
    // Redis is not running: every request is served (fail open), none with a 5xx.
    for _ in 0..(2 * LIMIT) {
        let res = app.get("/api/v1/users/me", &globex).await;
        assert_eq!(res.status, 200, "{:?}", res.body);
    }
    // Redis comes up: within a few seconds the limit applies again, with no restart.
    redis.start();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut limited = false;
    while Instant::now() < deadline && !limited {
        let res = app.get("/api/v1/users/me", &globex).await;
        assert!(res.status == 200 || res.status == 429, "{:?}", res.body);
        limited = res.status == 429;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(limited, "limits did not resume after Redis came back");
}

#[tokio::test]
async fn a_tenant_limit_is_inherited_from_its_msp_and_applies_in_every_service() {
    let Some(app) = TestApp::builder()
        .settings(|s| s.rate_limit_tenant_per_minute = 1000)
        .spawn()
        .await
    else {
        return;
    };
    let msp = app.token("msp-admin@demo.test").await;
    let set = |tenant: String, value: serde_json::Value| {
        let app = &app;
        let msp = msp.clone();
        async move {
            app.call(
                Method::PATCH,
                &format!("/api/v1/tenants/{tenant}/settings"),
                Some(&msp),
                Some(json!({ "api_rate_limit_per_minute": value })),
                &[],
            )
            .await
        }
    };
    let limit_of = |token: String, path: &'static str| {
        let app = &app;
        async move { header(&app.get(path, &token).await, "ratelimit-limit") }
    };
    let (demo, globex) = (app.tenant_id("demo").await, app.tenant_id("globex").await);
    let globex_agent = app.token("agent@globex.demo.test").await;
    let initech_agent = app.token("agent@initech.demo.test").await;
    assert_eq!(
        limit_of(globex_agent.clone(), "/api/v1/users/me").await,
        Some(1000)
    );

    // The MSP's override reaches its customers; a customer's own override wins.
    set(demo, json!(600)).await.expect(200);
    assert_eq!(
        limit_of(globex_agent.clone(), "/api/v1/users/me").await,
        Some(600)
    );
    let res = set(globex.clone(), json!(120)).await;
    let effective = res.expect(200)["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|i| i["key"] == "api_rate_limit_per_minute")
                .cloned()
        })
        .unwrap_or_default();
    assert_eq!(effective["value"], 120);
    assert_eq!(effective["inherited"], false);
    assert_eq!(
        limit_of(globex_agent.clone(), "/api/v1/users/me").await,
        Some(120)
    );
    assert_eq!(
        limit_of(initech_agent.clone(), "/api/v1/users/me").await,
        Some(600)
    );

    // The incident service learns the same limits from identity's events.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = (
            limit_of(globex_agent.clone(), "/api/v1/incidents").await,
            limit_of(initech_agent.clone(), "/api/v1/incidents").await,
        );
        if seen == (Some(120), Some(600)) {
            break;
        }
        assert!(Instant::now() < deadline, "incident still applies {seen:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Out of range is refused with the field named; null restores the inherited value.
    let bad = set(globex.clone(), json!(10)).await;
    assert_eq!(
        bad.expect(422)["errors"][0]["pointer"],
        "/api_rate_limit_per_minute"
    );
    set(globex, serde_json::Value::Null).await.expect(200);
    assert_eq!(limit_of(globex_agent, "/api/v1/users/me").await, Some(600));
}
