//! Onboarding, the tenant tree, suspension and inherited settings.
use testkit::{PASSWORD, app, json, reqwest::Method};

#[tokio::test]
async fn msp_admin_onboards_a_customer_whose_admin_accepts_and_logs_in() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let res = app
        .post(
            "/api/v1/tenants",
            &msp,
            json!({"name": "Acme Ltd", "slug": "acme", "admin_email": "It-Lead@Acme.example"}),
        )
        .await;
    let body = res.expect(201).clone();
    assert_eq!(body["tenant"]["kind"], "customer");
    assert_eq!(body["tenant"]["parent_id"], app.tenant_id("demo").await);
    assert_eq!(body["tenant"]["status"], "active");
    let id = body["tenant"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        res.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/api/v1/tenants/{id}").as_str())
    );

    let token = body["invitation"]["token"].as_str().unwrap_or_default();
    let accepted = app
        .call(
            Method::POST,
            "/api/v1/invitations/accept",
            None,
            Some(json!({"token": token, "password": "a long enough password"})),
            &[],
        )
        .await;
    let user = accepted.expect(200);
    assert_eq!(user["email"], "it-lead@acme.example");
    assert_eq!(user["roles"], json!(["tenant_admin"]));
    assert_eq!(user["status"], "active");
    // The invitation is single-use.
    let again = app
        .call(
            Method::POST,
            "/api/v1/invitations/accept",
            None,
            Some(json!({"token": token, "password": "a long enough password"})),
            &[],
        )
        .await;
    assert_eq!(again.expect(422)["errors"][0]["pointer"], "/token");

    let login = app
        .login_res("it-lead@acme.example", "a long enough password")
        .await;
    let access = login.expect(200)["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let me = app.get("/api/v1/users/me", &access).await;
    assert_eq!(me.expect(200)["tenant_id"], id.as_str());

    // The onboarding is audited in the MSP's chain and the new tenant's chain.
    let audit = app.get("/api/v1/audit?limit=200", &msp).await;
    let onboarded = audit.expect(200)["items"].as_array().map(|a| {
        a.iter()
            .any(|r| r["action"] == "tenant.onboarded" && r["target_id"] == id.as_str())
    });
    assert_eq!(onboarded, Some(true));
    let own = app.get("/api/v1/audit", &access).await;
    assert_eq!(own.expect(200)["items"][0]["action"], "tenant.created");
}

#[tokio::test]
async fn onboarding_rejects_bad_and_duplicate_input_and_changes_nothing() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let before = app.get("/api/v1/tenants?limit=200", &msp).await.body["items"]
        .as_array()
        .map(Vec::len);
    let bad = app
        .post(
            "/api/v1/tenants",
            &msp,
            json!({"name": "", "slug": "Not A Slug", "admin_email": "nope"}),
        )
        .await;
    let mut pointers: Vec<String> = bad.expect(422)["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["pointer"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    pointers.sort();
    assert_eq!(pointers, vec!["/admin_email", "/name", "/slug"]);
    let long = app
        .post(
            "/api/v1/tenants",
            &msp,
            json!({"name": "x".repeat(201), "slug": "ok-slug", "admin_email": "a@b.co"}),
        )
        .await;
    assert_eq!(long.expect(422)["errors"][0]["code"], "too_long");
    let dup_slug = app
        .post(
            "/api/v1/tenants",
            &msp,
            json!({"name": "Other", "slug": "globex", "admin_email": "new@other.example"}),
        )
        .await;
    assert_eq!(dup_slug.expect(409)["code"], "slug_taken");
    let dup_email = app
        .post(
            "/api/v1/tenants",
            &msp,
            json!({"name": "Other", "slug": "other", "admin_email": "agent@globex.demo.test"}),
        )
        .await;
    assert_eq!(dup_email.expect(409)["code"], "email_taken");
    let after = app.get("/api/v1/tenants?limit=200", &msp).await.body["items"]
        .as_array()
        .map(Vec::len);
    assert_eq!(before, after);
}

#[tokio::test]
async fn only_provider_roles_onboard() {
    let app = app!();
    let customer_admin = app.token("admin@globex.demo.test").await;
    let r = app
        .post(
            "/api/v1/tenants",
            &customer_admin,
            json!({"name": "Sub", "slug": "sub", "admin_email": "a@sub.example"}),
        )
        .await;
    assert_eq!(r.expect(403)["code"], "insufficient_scope");
    let agent = app.token("msp-agent@demo.test").await;
    app.post(
        "/api/v1/tenants",
        &agent,
        json!({"name": "Sub", "slug": "sub", "admin_email": "a@sub.example"}),
    )
    .await
    .expect(403);
}

#[tokio::test]
async fn platform_admin_onboards_an_msp() {
    let app = app!();
    let platform = app.token("platform-admin@demo.test").await;
    let r = app.post("/api/v1/tenants", &platform, json!({"name": "Other MSP", "slug": "other-msp", "admin_email": "boss@other-msp.example"})).await;
    let body = r.expect(201);
    assert_eq!(body["tenant"]["kind"], "msp");
    let token = body["invitation"]["token"].as_str().unwrap_or_default();
    let user = app.call(Method::POST, "/api/v1/invitations/accept", None, Some(json!({"token": token, "password": "a long enough password", "display_name": "Boss"})), &[]).await;
    assert_eq!(user.expect(200)["roles"], json!(["msp_admin"]));
    assert_eq!(user.body["display_name"], "Boss");
}

#[tokio::test]
async fn msp_lists_its_subtree_and_a_customer_only_itself() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let slugs = |v: &serde_json::Value| {
        let mut s: Vec<String> = v["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| t["slug"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        s.sort();
        s
    };
    assert_eq!(
        slugs(app.get("/api/v1/tenants", &msp).await.expect(200)),
        vec!["demo", "globex", "initech"]
    );
    let page = app.get("/api/v1/tenants?limit=2", &msp).await;
    let cursor = page.expect(200)["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(page.headers.contains_key("link"));
    let rest = app
        .get(&format!("/api/v1/tenants?limit=2&cursor={cursor}"), &msp)
        .await;
    assert_eq!(rest.expect(200)["items"].as_array().map(Vec::len), Some(1));
    assert!(rest.body["next_cursor"].is_null());
    let globex = app.token("admin@globex.demo.test").await;
    assert_eq!(
        slugs(app.get("/api/v1/tenants", &globex).await.expect(200)),
        vec!["globex"]
    );
    app.get("/api/v1/tenants?limit=201", &msp).await.expect(400);
}

#[tokio::test]
async fn list_limit_and_cursor_are_validated() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let over = app.get("/api/v1/users?limit=201", &msp).await;
    assert_eq!(over.expect(400)["errors"][0]["pointer"], "/query/limit");
    let zero = app.get("/api/v1/groups?limit=0", &msp).await;
    zero.expect(400);
    let cursor = app.get("/api/v1/users?cursor=%%%", &msp).await;
    assert!(cursor.status.is_client_error());
    let cursor = app.get("/api/v1/users?cursor=bm90LWEtdXVpZA", &msp).await;
    assert_eq!(cursor.expect(400)["errors"][0]["pointer"], "/query/cursor");
    let tenant = app.get("/api/v1/users?tenant=no-such-tenant", &msp).await;
    assert_eq!(tenant.expect(400)["errors"][0]["pointer"], "/query/tenant");
    let not_a_number = app.get("/api/v1/users?limit=ten", &msp).await;
    not_a_number.expect(400);
}

#[tokio::test]
async fn suspension_locks_the_customer_out_until_reactivated() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let agent = app.token("agent@initech.demo.test").await;
    let initech = app.tenant_id("initech").await;
    let r = app
        .post(
            &format!("/api/v1/tenants/{initech}/suspend"),
            &msp,
            json!({}),
        )
        .await;
    assert_eq!(r.expect(200)["status"], "suspended");
    assert_eq!(
        app.get("/api/v1/users/me", &agent).await.expect(403)["code"],
        "tenant_suspended"
    );
    app.login_res("agent@initech.demo.test", PASSWORD)
        .await
        .expect(401);
    let r = app
        .post(
            &format!("/api/v1/tenants/{initech}/reactivate"),
            &msp,
            json!({}),
        )
        .await;
    assert_eq!(r.expect(200)["status"], "active");
    app.get("/api/v1/users/me", &agent).await.expect(200);
    // A tenant cannot suspend itself, and a customer admin cannot suspend anyone.
    let demo = app.tenant_id("demo").await;
    assert_eq!(
        app.post(&format!("/api/v1/tenants/{demo}/suspend"), &msp, json!({}))
            .await
            .expect(409)["code"],
        "cannot_change_own_tenant"
    );
    let globex_admin = app.token("admin@globex.demo.test").await;
    app.post(
        &format!("/api/v1/tenants/{initech}/suspend"),
        &globex_admin,
        json!({}),
    )
    .await
    .expect(404);
}

#[tokio::test]
async fn settings_are_inherited_and_name_their_source() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let (demo, globex) = (app.tenant_id("demo").await, app.tenant_id("globex").await);
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/v1/tenants/{demo}/settings"),
            Some(&msp),
            Some(json!({"time_zone": "Europe/Berlin", "locale": "de"})),
            &[],
        )
        .await;
    r.expect(200);
    let admin = app.token("admin@globex.demo.test").await;
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/v1/tenants/{globex}/settings"),
            Some(&admin),
            Some(json!({"locale": "en-GB"})),
            &[],
        )
        .await;
    r.expect(200);
    let eff = app
        .get(&format!("/api/v1/tenants/{globex}/settings"), &admin)
        .await;
    let items = eff.expect(200)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let get = |k: &str| {
        items
            .iter()
            .find(|i| i["key"] == k)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(get("time_zone")["value"], "Europe/Berlin");
    assert_eq!(get("time_zone")["source_tenant_id"], demo.as_str());
    assert_eq!(get("time_zone")["inherited"], true);
    assert_eq!(get("locale")["value"], "en-GB");
    assert_eq!(get("locale")["inherited"], false);
    assert!(get("branding_primary_color")["source_tenant_id"].is_null());
    // null removes the override: the MSP's value shows through again.
    app.call(
        Method::PATCH,
        &format!("/api/v1/tenants/{globex}/settings"),
        Some(&admin),
        Some(json!({"locale": null})),
        &[],
    )
    .await
    .expect(200);
    let eff = app
        .get(&format!("/api/v1/tenants/{globex}/settings"), &admin)
        .await;
    let locale = eff.body["items"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["key"] == "locale").cloned())
        .unwrap_or_default();
    assert_eq!(locale["value"], "de");
    // Bad settings name each field; nothing is written.
    let bad = app
        .call(
            Method::PATCH,
            &format!("/api/v1/tenants/{globex}/settings"),
            Some(&admin),
            Some(json!({"time_zone": "Mars", "nope": 1, "locale": "fr"})),
            &[],
        )
        .await;
    assert_eq!(bad.expect(422)["errors"].as_array().map(Vec::len), Some(2));
    let eff = app
        .get(&format!("/api/v1/tenants/{globex}/settings"), &admin)
        .await;
    let locale = eff.body["items"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["key"] == "locale").cloned())
        .unwrap_or_default();
    assert_eq!(locale["value"], "de");
    let not_object = app
        .call(
            Method::PATCH,
            &format!("/api/v1/tenants/{globex}/settings"),
            Some(&admin),
            Some(json!([1])),
            &[],
        )
        .await;
    not_object.expect(422);
    // A customer admin cannot change the MSP's settings.
    app.call(
        Method::PATCH,
        &format!("/api/v1/tenants/{demo}/settings"),
        Some(&admin),
        Some(json!({"locale": "fr"})),
        &[],
    )
    .await
    .expect(404);
    let requester = app.token("requester@globex.demo.test").await;
    app.call(
        Method::PATCH,
        &format!("/api/v1/tenants/{globex}/settings"),
        Some(&requester),
        Some(json!({"locale": "fr"})),
        &[],
    )
    .await
    .expect(403);
}

#[tokio::test]
async fn msp_acts_in_a_customer_with_x_tenant() {
    let app = app!();
    let agent = app.token("msp-agent@demo.test").await;
    let globex = app.tenant_id("globex").await;
    let by_slug = app
        .call(
            Method::GET,
            "/api/v1/users/me",
            Some(&agent),
            None,
            &[("x-tenant", "globex")],
        )
        .await;
    assert_eq!(by_slug.expect(200)["acting_tenant_id"], globex.as_str());
    let users = app
        .call(
            Method::GET,
            "/api/v1/users",
            Some(&agent),
            None,
            &[("x-tenant", &globex)],
        )
        .await;
    let emails: Vec<String> = users.expect(200)["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|u| u["email"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        emails.iter().all(|e| e.ends_with("@globex.demo.test")),
        "{emails:?}"
    );
    assert_eq!(emails.len(), identity::seed::CUSTOMER_LOGINS.len());
    // A customer user cannot use X-Tenant to reach a sibling or its provider.
    let customer = app.token("agent@globex.demo.test").await;
    app.call(
        Method::GET,
        "/api/v1/users/me",
        Some(&customer),
        None,
        &[("x-tenant", "initech")],
    )
    .await
    .expect(404);
    app.call(
        Method::GET,
        "/api/v1/users/me",
        Some(&customer),
        None,
        &[("x-tenant", "demo")],
    )
    .await
    .expect(404);
    app.call(
        Method::GET,
        "/api/v1/users/me",
        Some(&agent),
        None,
        &[("x-tenant", "no-such-tenant")],
    )
    .await
    .expect(404);
}

#[tokio::test]
async fn inherited_password_min_length_is_enforced() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let demo = app.tenant_id("demo").await;
    app.call(
        Method::PATCH,
        &format!("/api/v1/tenants/{demo}/settings"),
        Some(&msp),
        Some(json!({"password_min_length": 20})),
        &[],
    )
    .await
    .expect(200);
    let admin = app.token("admin@globex.demo.test").await;
    let invited = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "strict@globex.example", "display_name": "Strict"}),
        )
        .await;
    let token = invited.expect(201)["invitation"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let short = app
        .call(
            Method::POST,
            "/api/v1/invitations/accept",
            None,
            Some(json!({"token": token, "password": "fifteen chars!!"})),
            &[],
        )
        .await;
    assert_eq!(short.expect(422)["errors"][0]["code"], "too_short");
    // The token survived the refusal.
    let ok = app
        .call(
            Method::POST,
            "/api/v1/invitations/accept",
            None,
            Some(json!({"token": token, "password": "twenty characters ok"})),
            &[],
        )
        .await;
    ok.expect(200);
    let agent = app.token("agent@globex.demo.test").await;
    let change = app
        .post(
            "/api/v1/users/me/password",
            &agent,
            json!({"current_password": PASSWORD, "new_password": "only 15 chars!!"}),
        )
        .await;
    assert_eq!(change.expect(422)["errors"][0]["pointer"], "/new_password");
}
