//! Settings owned by the provider stay the provider's: a tenant may only tighten a quota
//! (`api_rate_limit_per_minute`, at most its parent's) or a floor (`password_min_length`, at
//! least its parent's), whoever asks; the effective settings say which way each key may move.
use serde_json::Value;
use testkit::{Res, TestApp, app, json, reqwest::Method};

const LIMIT: &str = "api_rate_limit_per_minute";
const FLOOR: &str = "password_min_length";

async fn patch(app: &TestApp, token: &str, tenant: &str, body: Value) -> Res {
    app.call(
        Method::PATCH,
        &format!("/api/v1/tenants/{tenant}/settings"),
        Some(token),
        Some(body),
        &[],
    )
    .await
}

/// The effective setting `key` of `tenant`.
async fn setting(app: &TestApp, token: &str, tenant: &str, key: &str) -> Value {
    let res = app
        .get(&format!("/api/v1/tenants/{tenant}/settings"), token)
        .await;
    res.expect(200)["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["key"] == key).cloned())
        .unwrap_or_default()
}

/// `pointer:code` of each field error of a 422.
fn errors(res: &Res) -> Vec<String> {
    let mut found: Vec<String> = res.expect(422)["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    format!(
                        "{}:{}",
                        e["pointer"].as_str().unwrap_or_default(),
                        e["code"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[tokio::test]
async fn a_customer_admin_cannot_raise_its_quota_or_lower_its_password_floor() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let (demo, globex) = (app.tenant_id("demo").await, app.tenant_id("globex").await);
    patch(&app, &msp, &demo, json!({LIMIT: 120, FLOOR: 16}))
        .await
        .expect(200);
    let admin = app.token("admin@globex.demo.test").await;

    // Loosening either is refused with the field named, together with any other error.
    let raise = patch(&app, &admin, &globex, json!({LIMIT: 1_000_000})).await;
    assert_eq!(
        errors(&raise),
        vec!["/api_rate_limit_per_minute:above_provider_limit"]
    );
    let all = patch(
        &app,
        &admin,
        &globex,
        json!({LIMIT: 121, FLOOR: 12, "time_zone": "Mars", "locale": "de"}),
    )
    .await;
    assert_eq!(
        errors(&all),
        vec![
            "/api_rate_limit_per_minute:above_provider_limit",
            "/password_min_length:below_provider_minimum",
            "/time_zone:invalid_setting"
        ]
    );
    // Nothing was written.
    let limit = setting(&app, &admin, &globex, LIMIT).await;
    assert_eq!(
        (
            &limit["value"],
            &limit["source_tenant_id"],
            &limit["inherited"]
        ),
        (&json!(120), &json!(demo), &json!(true))
    );
    assert_eq!(
        setting(&app, &admin, &globex, "locale").await["inherited"],
        true
    );

    // The effective settings say which way each key may move, and from what.
    assert_eq!(
        (&limit["provider_owned"], &limit["may"], &limit["bound"]),
        (&json!(true), &json!("lower"), &json!(120))
    );
    let floor = setting(&app, &admin, &globex, FLOOR).await;
    assert_eq!(
        (&floor["provider_owned"], &floor["may"], &floor["bound"]),
        (&json!(true), &json!("raise"), &json!(16))
    );
    let tz = setting(&app, &admin, &globex, "time_zone").await;
    assert_eq!(
        (&tz["provider_owned"], &tz["may"], &tz["bound"]),
        (&json!(false), &json!("any"), &Value::Null)
    );

    // Tightening is the customer's to do, up to the provider's value itself.
    let tightened = patch(&app, &admin, &globex, json!({LIMIT: 120, FLOOR: 20})).await;
    tightened.expect(200);
    let limit = setting(&app, &admin, &globex, LIMIT).await;
    assert_eq!(
        (&limit["value"], &limit["inherited"]),
        (&json!(120), &json!(false))
    );
    patch(&app, &admin, &globex, json!({LIMIT: 60}))
        .await
        .expect(200);
    assert_eq!(setting(&app, &admin, &globex, FLOOR).await["value"], 20);
}

#[tokio::test]
async fn the_msp_and_the_platform_admin_are_bound_by_the_parents_value_too() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let platform = app.token("platform-admin@demo.test").await;
    let (root, demo, globex) = (
        app.tenant_id("platform").await,
        app.tenant_id("demo").await,
        app.tenant_id("globex").await,
    );
    patch(&app, &msp, &demo, json!({LIMIT: 120}))
        .await
        .expect(200);
    for caller in [&msp, &platform] {
        let raise = patch(&app, caller, &globex, json!({LIMIT: 1000})).await;
        assert_eq!(
            errors(&raise),
            vec!["/api_rate_limit_per_minute:above_provider_limit"]
        );
    }
    // Below a root that sets nothing, the deployment's limit (6,000 a minute) is the bound.
    let msp_limit = setting(&app, &msp, &demo, LIMIT).await;
    assert_eq!(
        (&msp_limit["may"], &msp_limit["bound"]),
        (&json!("lower"), &json!(6000))
    );
    let raise = patch(&app, &msp, &demo, json!({LIMIT: 1_000_000})).await;
    assert_eq!(
        errors(&raise),
        vec!["/api_rate_limit_per_minute:above_provider_limit"]
    );
    // The root has no provider: the platform raises its own value, and the bound below it.
    let root_limit = setting(&app, &platform, &root, LIMIT).await;
    assert_eq!(
        (
            &root_limit["provider_owned"],
            &root_limit["may"],
            &root_limit["bound"]
        ),
        (&json!(true), &json!("any"), &Value::Null)
    );
    patch(&app, &platform, &root, json!({LIMIT: 100_000}))
        .await
        .expect(200);
    patch(&app, &platform, &demo, json!({LIMIT: 50_000}))
        .await
        .expect(200);
}

#[tokio::test]
async fn a_provider_that_tightens_later_caps_the_overrides_below_it() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let (demo, globex) = (app.tenant_id("demo").await, app.tenant_id("globex").await);
    let admin = app.token("admin@globex.demo.test").await;
    patch(&app, &msp, &demo, json!({LIMIT: 600, FLOOR: 14}))
        .await
        .expect(200);
    patch(&app, &admin, &globex, json!({LIMIT: 300, FLOOR: 16}))
        .await
        .expect(200);
    patch(&app, &msp, &demo, json!({LIMIT: 120, FLOOR: 20}))
        .await
        .expect(200);
    let limit = setting(&app, &admin, &globex, LIMIT).await;
    assert_eq!(
        (
            &limit["value"],
            &limit["source_tenant_id"],
            &limit["inherited"]
        ),
        (&json!(120), &json!(demo), &json!(true))
    );
    let floor = setting(&app, &admin, &globex, FLOOR).await;
    assert_eq!(
        (&floor["value"], &floor["source_tenant_id"]),
        (&json!(20), &json!(demo))
    );
    // The limit the edge applies to the customer is the MSP's.
    let res = app.get("/api/v1/users/me", &admin).await;
    res.expect(200);
    let applied = res
        .headers
        .get("ratelimit-limit")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok());
    assert_eq!(applied, Some(120));
}
