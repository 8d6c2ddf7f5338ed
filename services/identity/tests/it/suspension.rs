//! Suspension reaches down the tree (ADR 20): while an MSP is suspended, every tenant below it
//! is refused as if it were suspended itself.
use testkit::{PASSWORD, app, json};

#[tokio::test]
async fn suspending_an_msp_refuses_its_customers_users_until_it_is_reactivated() {
    let app = app!();
    let platform = app.token("platform-admin@demo.test").await;
    let msp = app.token("msp-admin@demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    let requester = app.token("requester@initech.demo.test").await;
    app.get("/api/v1/users/me", &agent).await.expect(200);
    let login = app.login_res("agent@initech.demo.test", PASSWORD).await;
    let refresh = login.expect(200)["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let demo = app.tenant_id("demo").await;
    let globex = app.tenant_id("globex").await;

    let r = app
        .post(
            &format!("/api/v1/tenants/{demo}/suspend"),
            &platform,
            json!({}),
        )
        .await;
    assert_eq!(r.expect(200)["status"], "suspended");
    // No new sessions below it either: sign-in and refresh fail as for a suspended tenant.
    app.login_res("analyst@globex.demo.test", PASSWORD)
        .await
        .expect(401);
    let refreshed = app
        .token_endpoint(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(refreshed.expect(400)["error"], "invalid_grant");
    for token in [&msp, &agent, &requester] {
        assert_eq!(
            app.get("/api/v1/users/me", token).await.expect(403)["code"],
            "tenant_suspended"
        );
    }
    // Acting in a customer through X-Tenant does not get around it either.
    let as_globex = app
        .call(
            testkit::reqwest::Method::GET,
            "/api/v1/users/me",
            Some(&platform),
            None,
            &[("x-tenant", "globex")],
        )
        .await;
    assert_eq!(as_globex.expect(403)["code"], "tenant_suspended");
    // The customers' own status is untouched: reactivating the MSP brings them back.
    let own = app
        .get(&format!("/api/v1/tenants/{globex}"), &platform)
        .await;
    assert_eq!(own.expect(200)["status"], "active");

    let r = app
        .post(
            &format!("/api/v1/tenants/{demo}/reactivate"),
            &platform,
            json!({}),
        )
        .await;
    assert_eq!(r.expect(200)["status"], "active");
    for token in [&msp, &agent, &requester] {
        app.get("/api/v1/users/me", token).await.expect(200);
    }
}
