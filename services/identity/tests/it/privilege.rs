//! No one acts on a principal more powerful than itself: resetting, deactivating or re-roling a
//! user needs every role of the user that reaches other tenants (or `platform_admin`), and an
//! API client never carries more than its creator holds now.
use testkit::{PASSWORD, TestApp, app, json, reqwest::Method};

fn s(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

async fn id_of(app: &TestApp, token: &str) -> String {
    s(&app.get("/api/v1/users/me", token).await.expect(200)["id"])
}

/// Invites `email` with `roles` as `inviter` (acting in its own tenant), accepts the
/// invitation and returns the new user's id and access token.
async fn join(app: &TestApp, inviter: &str, email: &str, roles: &[&str]) -> (String, String) {
    let invited = app
        .post(
            "/api/v1/users",
            inviter,
            json!({"email": email, "display_name": email, "roles": roles}),
        )
        .await;
    let body = invited.expect(201).clone();
    app.call(
        Method::POST,
        "/api/v1/invitations/accept",
        None,
        Some(json!({"token": s(&body["invitation"]["token"]), "password": PASSWORD})),
        &[],
    )
    .await
    .expect(200);
    let login = app.login_res(email, PASSWORD).await;
    (
        s(&body["user"]["id"]),
        s(&login.expect(200)["access_token"]),
    )
}

/// Each user-changing route, tried by `actor` on `target`: (attempted action, response).
async fn try_every_change(app: &TestApp, actor: &str, target: &str) -> Vec<(&'static str, u16)> {
    let reset = app
        .post(
            &format!("/api/v1/users/{target}/password-reset"),
            actor,
            json!({}),
        )
        .await;
    let deactivate = app
        .post(
            &format!("/api/v1/users/{target}/deactivate"),
            actor,
            json!({}),
        )
        .await;
    // Stripping the target's provider role down to one the caller may grant.
    let roles = app
        .call(
            Method::PUT,
            &format!("/api/v1/users/{target}/roles"),
            Some(actor),
            Some(json!({"roles": ["tenant_admin"]})),
            &[],
        )
        .await;
    let mut seen = Vec::new();
    for (attempted, res) in [
        ("user.password_reset", reset),
        ("user.deactivate", deactivate),
        ("user.set_roles", roles),
    ] {
        if res.status == 403 {
            assert_eq!(res.expect(403)["code"], "user_more_privileged");
        }
        seen.push((attempted, res.status.as_u16()));
    }
    seen
}

/// The `user.action_refused` records of the acting tenant's chain, oldest first.
async fn refusals(app: &TestApp, reader: &str) -> Vec<serde_json::Value> {
    let audit = app.get("/api/v1/audit?limit=200", reader).await;
    audit.expect(200)["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["action"] == "user.action_refused")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_tenant_admin_of_the_msp_cannot_reset_deactivate_or_re_role_its_msp_users() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let msp_admin = id_of(&app, &msp).await;
    let msp_agent = id_of(&app, &app.token("msp-agent@demo.test").await).await;
    let (weak_id, weak) = join(&app, &msp, "it-lead@demo.example", &["tenant_admin"]).await;

    for target in [&msp_admin, &msp_agent] {
        assert_eq!(
            try_every_change(&app, &weak, target).await,
            vec![
                ("user.password_reset", 403),
                ("user.deactivate", 403),
                ("user.set_roles", 403)
            ],
            "target {target}"
        );
    }

    // Nothing changed: the MSP admin still logs in with its role and its password.
    let login = app.login_res("msp-admin@demo.test", PASSWORD).await;
    assert_eq!(
        login.expect(200)["scope"]
            .as_str()
            .map(|s| s.contains("tenant:onboard")),
        Some(true)
    );
    let got = app.get(&format!("/api/v1/users/{msp_agent}"), &msp).await;
    let got = got.expect(200);
    assert_eq!(
        (&got["status"], &got["roles"]),
        (&json!("active"), &json!(["msp_agent"]))
    );

    // Every refusal is in the MSP's audit chain, which still verifies.
    let refused = refusals(&app, &msp).await;
    let summary: Vec<(String, String, String)> = refused
        .iter()
        .map(|r| {
            (
                s(&r["actor_id"]),
                s(&r["target_id"]),
                s(&r["data"]["attempted"]),
            )
        })
        .collect();
    let mut expected = Vec::new();
    for target in [&msp_admin, &msp_agent] {
        for attempted in ["user.password_reset", "user.deactivate", "user.set_roles"] {
            expected.push((weak_id.clone(), target.clone(), attempted.to_string()));
        }
    }
    assert_eq!(summary, expected);
    assert_eq!(refused[0]["data"]["target_roles"], json!(["msp_admin"]));
    assert_eq!(refused[0]["data"]["reason"], "user_more_privileged");
    let verified = app.get("/api/v1/audit/verify", &msp).await;
    assert_eq!(verified.expect(200)["valid"], true);

    // The same admin still manages users who hold no provider role.
    let (plain, _) = join(&app, &weak, "desk@demo.example", &["agent"]).await;
    app.post(
        &format!("/api/v1/users/{plain}/password-reset"),
        &weak,
        json!({}),
    )
    .await
    .expect(201);
}

#[tokio::test]
async fn an_msp_admin_needs_the_msp_agent_role_to_act_on_an_msp_agent_and_a_platform_admin_needs_nothing()
 {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let msp_agent = id_of(&app, &app.token("msp-agent@demo.test").await).await;
    // An MSP admin may not grant msp_agent either: the rule is "holds each such role".
    assert_eq!(
        try_every_change(&app, &msp, &msp_agent).await,
        vec![
            ("user.password_reset", 403),
            ("user.deactivate", 403),
            ("user.set_roles", 403)
        ]
    );
    let platform = app.token("platform-admin@demo.test").await;
    let reset = app
        .call(
            Method::POST,
            &format!("/api/v1/users/{msp_agent}/password-reset"),
            Some(&platform),
            Some(json!({})),
            &[("x-tenant", "demo")],
        )
        .await;
    assert!(
        reset.expect(201)["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("rst_"))
    );
}

#[tokio::test]
async fn an_api_client_never_acts_on_a_user_whose_roles_reach_other_tenants() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let msp_admin = id_of(&app, &msp).await;
    let created = app
        .post(
            "/api/v1/api-clients",
            &msp,
            json!({"name": "HR sync", "scopes": ["user:read", "user:write"]}),
        )
        .await;
    let created = created.expect(201).clone();
    let client_id = s(&created["client"]["id"]);
    let grant = app
        .token_endpoint(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &s(&created["client_secret"])),
        ])
        .await;
    let client = s(&grant.expect(200)["access_token"]);

    // Its creator is an MSP admin, yet the client cannot touch MSP admins.
    assert_eq!(
        try_every_change(&app, &client, &msp_admin).await,
        vec![
            ("user.password_reset", 403),
            ("user.deactivate", 403),
            ("user.set_roles", 403)
        ]
    );
    let refused = refusals(&app, &msp).await;
    assert_eq!(refused.len(), 3);
    assert!(refused.iter().all(|r| r["actor_id"] == client_id.as_str()
        && r["target_id"] == msp_admin.as_str()
        && r["data"]["by_api_client"] == true));

    // It still manages ordinary users of the tenant.
    let (plain, _) = join(&app, &msp, "desk@demo.example", &["agent"]).await;
    app.post(
        &format!("/api/v1/users/{plain}/password-reset"),
        &client,
        json!({}),
    )
    .await
    .expect(201);
}

#[tokio::test]
async fn an_api_client_keeps_only_the_scopes_its_creator_still_holds() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let admin_id = id_of(&app, &admin).await;
    let created = app
        .post(
            "/api/v1/api-clients",
            &admin,
            json!({"name": "RMM", "scopes": ["audit:read", "user:read", "user:write"]}),
        )
        .await;
    let created = created.expect(201).clone();
    let (id, secret) = (s(&created["client"]["id"]), s(&created["client_secret"]));
    let grant = |scope: Option<&'static str>| {
        let (app, id, secret) = (&app, id.clone(), secret.clone());
        async move {
            let mut form = vec![
                ("grant_type", "client_credentials".to_string()),
                ("client_id", id),
                ("client_secret", secret),
            ];
            if let Some(scope) = scope {
                form.push(("scope", scope.to_string()));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.token_endpoint(&form).await
        }
    };
    assert_eq!(
        grant(None).await.expect(200)["scope"],
        "audit:read user:read user:write"
    );

    // The MSP demotes the client's creator to agent.
    let msp = app.token("msp-admin@demo.test").await;
    app.call(
        Method::PUT,
        &format!("/api/v1/users/{admin_id}/roles"),
        Some(&msp),
        Some(json!({"roles": ["agent"]})),
        &[("x-tenant", "globex")],
    )
    .await
    .expect(200);
    let cut = grant(None).await;
    let token = s(&cut.expect(200)["access_token"]);
    assert_eq!(cut.body["scope"], "user:read");
    app.get("/api/v1/audit", &token).await.expect(403);
    app.get("/api/v1/users", &token).await.expect(200);
    let wide = grant(Some("user:read audit:read")).await;
    assert_eq!(wide.expect(400)["error"], "invalid_scope");

    // A deactivated creator leaves the client without tokens.
    app.call(
        Method::POST,
        &format!("/api/v1/users/{admin_id}/deactivate"),
        Some(&msp),
        Some(json!({})),
        &[("x-tenant", "globex")],
    )
    .await
    .expect(200);
    assert_eq!(grant(None).await.expect(401)["error"], "invalid_client");

    // A client created by the MSP acting in the customer answers to the MSP admin's roles.
    let by_msp = app
        .call(
            Method::POST,
            "/api/v1/api-clients",
            Some(&msp),
            Some(json!({"name": "MSP monitoring", "scopes": ["user:read", "audit:read"]})),
            &[("x-tenant", "globex")],
        )
        .await;
    let by_msp = by_msp.expect(201).clone();
    let t = app
        .token_endpoint(&[
            ("grant_type", "client_credentials"),
            ("client_id", &s(&by_msp["client"]["id"])),
            ("client_secret", &s(&by_msp["client_secret"])),
        ])
        .await;
    assert_eq!(t.expect(200)["scope"], "audit:read user:read");
}
