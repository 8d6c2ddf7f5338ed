//! Users, roles, passwords, groups and API clients.
use testkit::{PASSWORD, app, json, reqwest::Method};

fn s(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn admin_invites_a_user_who_accepts_and_gets_the_granted_roles() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let r = app.post("/api/v1/users", &admin, json!({"email": "new.agent@globex.example", "display_name": "New Agent", "roles": ["agent", "approver"]})).await;
    let body = r.expect(201).clone();
    assert_eq!(body["user"]["status"], "invited");
    assert_eq!(body["user"]["roles"], json!(["agent", "approver"]));
    let id = s(&body["user"]["id"]);
    // Invited users cannot log in yet.
    app.login_res("new.agent@globex.example", "whatever password")
        .await
        .expect(401);
    let short = app
        .call(
            Method::POST,
            "/api/v1/invitations/accept",
            None,
            Some(json!({"token": s(&body["invitation"]["token"]), "password": "short"})),
            &[],
        )
        .await;
    assert_eq!(short.expect(422)["errors"][0]["code"], "too_short");
    app.call(
        Method::POST,
        "/api/v1/invitations/accept",
        None,
        Some(
            json!({"token": s(&body["invitation"]["token"]), "password": "correct horse battery"}),
        ),
        &[],
    )
    .await
    .expect(200);
    let login = app
        .login_res("new.agent@globex.example", "correct horse battery")
        .await;
    let token = s(&login.expect(200)["access_token"]);
    let me = app.get("/api/v1/users/me", &token).await;
    assert_eq!(me.expect(200)["roles"], json!(["agent", "approver"]));
    let got = app.get(&format!("/api/v1/users/{id}"), &admin).await;
    assert_eq!(got.expect(200)["status"], "active");
}

#[tokio::test]
async fn invite_rejects_bad_input() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let r = app.post("/api/v1/users", &admin, json!({"email": "bad", "display_name": "", "roles": ["wizard", "msp_admin", "platform_admin"]})).await;
    let mut codes: Vec<String> = r.expect(422)["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| format!("{}:{}", s(&e["pointer"]), s(&e["code"])))
                .collect()
        })
        .unwrap_or_default();
    codes.sort();
    assert_eq!(
        codes,
        vec![
            "/display_name:required",
            "/email:invalid_email",
            "/roles/0:unknown_role",
            "/roles/1:role_not_allowed",
            "/roles/2:role_not_allowed"
        ]
    );
    let dup = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "AGENT@initech.demo.test", "display_name": "Dup"}),
        )
        .await;
    assert_eq!(dup.expect(409)["code"], "email_taken");
    let requester = app.token("requester@globex.demo.test").await;
    app.post(
        "/api/v1/users",
        &requester,
        json!({"email": "x@y.co", "display_name": "X"}),
    )
    .await
    .expect(403);
}

#[tokio::test]
async fn role_changes_are_audited_and_apply_at_next_login() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let me = app
        .get(
            "/api/v1/users/me",
            &app.token("requester@globex.demo.test").await,
        )
        .await;
    let id = s(&me.body["id"]);
    let r = app
        .call(
            Method::PUT,
            &format!("/api/v1/users/{id}/roles"),
            Some(&admin),
            Some(json!({"roles": ["agent"]})),
            &[],
        )
        .await;
    assert_eq!(r.expect(200)["roles"], json!(["agent"]));
    let login = app.login_res("requester@globex.demo.test", PASSWORD).await;
    assert!(s(&login.body["scope"]).contains("incident:write"));
    let audit = app.get("/api/v1/audit?limit=200", &admin).await;
    let change = audit.expect(200)["items"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|r| r["action"] == "user.roles_changed")
                .cloned()
        })
        .unwrap_or_default();
    assert_eq!(
        change["data"],
        json!({"before": ["requester"], "after": ["agent"]})
    );
    let bad = app
        .call(
            Method::PUT,
            &format!("/api/v1/users/{id}/roles"),
            Some(&admin),
            Some(json!({"roles": ["msp_agent"]})),
            &[],
        )
        .await;
    assert_eq!(bad.expect(422)["errors"][0]["pointer"], "/roles/0");
    let unknown = app
        .call(
            Method::PUT,
            &format!("/api/v1/users/{}/roles", uuid_like()),
            Some(&admin),
            Some(json!({"roles": []})),
            &[],
        )
        .await;
    unknown.expect(404);
}

fn uuid_like() -> &'static str {
    "01900000-0000-7000-8000-000000000000"
}

#[tokio::test]
async fn deactivation_ends_sessions_and_logins() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let login = app.login_res("analyst@globex.demo.test", PASSWORD).await;
    let rt = s(&login.body["refresh_token"]);
    let id = s(&app
        .get("/api/v1/users/me", &s(&login.body["access_token"]))
        .await
        .body["id"]);
    let r = app
        .post(&format!("/api/v1/users/{id}/deactivate"), &admin, json!({}))
        .await;
    assert_eq!(r.expect(200)["status"], "deactivated");
    app.login_res("analyst@globex.demo.test", PASSWORD)
        .await
        .expect(401);
    app.token_endpoint(&[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .await
        .expect(400);
    let self_id = s(&app.get("/api/v1/users/me", &admin).await.body["id"]);
    assert_eq!(
        app.post(
            &format!("/api/v1/users/{self_id}/deactivate"),
            &admin,
            json!({})
        )
        .await
        .expect(409)["code"],
        "cannot_deactivate_self"
    );
    app.post(
        &format!("/api/v1/users/{}/deactivate", uuid_like()),
        &admin,
        json!({}),
    )
    .await
    .expect(404);
}

#[tokio::test]
async fn password_change_and_admin_reset() {
    let app = app!();
    let token = app.token("change-manager@globex.demo.test").await;
    let wrong = app
        .post(
            "/api/v1/users/me/password",
            &token,
            json!({"current_password": "nope", "new_password": "a brand new password"}),
        )
        .await;
    assert_eq!(
        wrong.expect(422)["errors"][0]["pointer"],
        "/current_password"
    );
    let weak = app
        .post(
            "/api/v1/users/me/password",
            &token,
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(weak.expect(422)["errors"][0]["pointer"], "/new_password");
    app.post(
        "/api/v1/users/me/password",
        &token,
        json!({"current_password": PASSWORD, "new_password": "a brand new password"}),
    )
    .await
    .expect(204);
    app.login_res("change-manager@globex.demo.test", PASSWORD)
        .await
        .expect(401);
    app.login_res("change-manager@globex.demo.test", "a brand new password")
        .await
        .expect(200);

    let admin = app.token("admin@globex.demo.test").await;
    let id = s(&app.get("/api/v1/users/me", &token).await.body["id"]);
    let reset = app
        .post(
            &format!("/api/v1/users/{id}/password-reset"),
            &admin,
            json!({}),
        )
        .await;
    let secret = s(&reset.expect(201)["token"]);
    app.call(
        Method::POST,
        "/api/v1/auth/password-reset/confirm",
        None,
        Some(json!({"token": secret, "password": "reset password value"})),
        &[],
    )
    .await
    .expect(204);
    app.login_res("change-manager@globex.demo.test", "reset password value")
        .await
        .expect(200);
    let reused = app
        .call(
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            None,
            Some(json!({"token": secret, "password": "another password 1"})),
            &[],
        )
        .await;
    assert_eq!(reused.expect(422)["errors"][0]["code"], "invalid_token");
    // An invitation token is not a reset token.
    let inv = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "x@globex.example", "display_name": "X"}),
        )
        .await;
    let inv_token = s(&inv.body["invitation"]["token"]);
    app.call(
        Method::POST,
        "/api/v1/auth/password-reset/confirm",
        None,
        Some(json!({"token": inv_token, "password": "another password 1"})),
        &[],
    )
    .await
    .expect(422);
}

#[tokio::test]
async fn groups_with_members() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let g = app
        .post(
            "/api/v1/groups",
            &admin,
            json!({"name": "Network Team", "description": "Routers"}),
        )
        .await;
    let gid = s(&g.expect(201)["id"]);
    let agent = s(&app
        .get(
            "/api/v1/users/me",
            &app.token("agent@globex.demo.test").await,
        )
        .await
        .body["id"]);
    let added = app
        .call(
            Method::PUT,
            &format!("/api/v1/groups/{gid}/members/{agent}"),
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(added.expect(200)["members"], json!([agent]));
    // Idempotent.
    app.call(
        Method::PUT,
        &format!("/api/v1/groups/{gid}/members/{agent}"),
        Some(&admin),
        None,
        &[],
    )
    .await
    .expect(200);
    let got = app.get(&format!("/api/v1/groups/{gid}"), &admin).await;
    assert_eq!(got.expect(200)["members"], json!([agent]));
    let list = app.get("/api/v1/groups", &admin).await;
    // The seeded groups plus the new one.
    assert_eq!(
        list.expect(200)["items"].as_array().map(Vec::len),
        Some(identity::seed::CUSTOMER_GROUPS.len() + 1)
    );
    app.call(
        Method::DELETE,
        &format!("/api/v1/groups/{gid}/members/{agent}"),
        Some(&admin),
        None,
        &[],
    )
    .await
    .expect(200);
    app.call(
        Method::DELETE,
        &format!("/api/v1/groups/{gid}/members/{agent}"),
        Some(&admin),
        None,
        &[],
    )
    .await
    .expect(404);
    let dup = app
        .post("/api/v1/groups", &admin, json!({"name": "Network Team"}))
        .await;
    assert_eq!(dup.expect(409)["code"], "name_taken");
    app.post("/api/v1/groups", &admin, json!({"name": ""}))
        .await
        .expect(422);
    app.post(
        "/api/v1/groups",
        &admin,
        json!({"name": "x", "description": "d".repeat(2001)}),
    )
    .await
    .expect(422);
    // A user of another tenant cannot be added.
    let other = s(&app
        .get(
            "/api/v1/users/me",
            &app.token("agent@initech.demo.test").await,
        )
        .await
        .body["id"]);
    app.call(
        Method::PUT,
        &format!("/api/v1/groups/{gid}/members/{other}"),
        Some(&admin),
        None,
        &[],
    )
    .await
    .expect(404);
    let requester = app.token("requester@globex.demo.test").await;
    app.post("/api/v1/groups", &requester, json!({"name": "Mine"}))
        .await
        .expect(403);
}

#[tokio::test]
async fn api_clients_use_client_credentials_and_can_be_rotated_and_revoked() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let r = app
        .post(
            "/api/v1/api-clients",
            &admin,
            json!({"name": "RMM", "scopes": ["user:read", "group:read"]}),
        )
        .await;
    let body = r.expect(201).clone();
    let (id, secret) = (s(&body["client"]["id"]), s(&body["client_secret"]));
    let t = app
        .token_endpoint(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .await;
    let t = t.expect(200).clone();
    assert_eq!(t["scope"], "group:read user:read");
    assert!(t.get("refresh_token").is_none());
    let token = s(&t["access_token"]);
    let users = app.get("/api/v1/users", &token).await;
    assert_eq!(
        users.expect(200)["items"].as_array().map(Vec::len),
        Some(identity::seed::CUSTOMER_LOGINS.len())
    );
    app.get("/api/v1/audit", &token).await.expect(403);
    let me = app.get("/api/v1/users/me", &token).await;
    assert_eq!(me.expect(200)["id"], id.as_str());
    // HTTP Basic and narrowed scope.
    let basic = app
        .client
        .post(format!("{}/oauth/token", app.base))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "user:read")])
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(basic.ok(), Some(200));
    let wide = app
        .token_endpoint(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", "audit:read"),
        ])
        .await;
    assert_eq!(wide.expect(400)["error"], "invalid_scope");

    let rotated = app
        .post(
            &format!("/api/v1/api-clients/{id}/rotate"),
            &admin,
            json!({}),
        )
        .await;
    let new_secret = s(&rotated.expect(200)["client_secret"]);
    app.token_endpoint(&[
        ("grant_type", "client_credentials"),
        ("client_id", &id),
        ("client_secret", &secret),
    ])
    .await
    .expect(401);
    app.token_endpoint(&[
        ("grant_type", "client_credentials"),
        ("client_id", &id),
        ("client_secret", &new_secret),
    ])
    .await
    .expect(200);
    let revoked = app
        .post(
            &format!("/api/v1/api-clients/{id}/revoke"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(revoked.expect(200)["status"], "revoked");
    app.token_endpoint(&[
        ("grant_type", "client_credentials"),
        ("client_id", &id),
        ("client_secret", &new_secret),
    ])
    .await
    .expect(401);
    assert_eq!(
        app.post(
            &format!("/api/v1/api-clients/{id}/rotate"),
            &admin,
            json!({})
        )
        .await
        .expect(409)["code"],
        "client_revoked"
    );
    let got = app.get(&format!("/api/v1/api-clients/{id}"), &admin).await;
    assert!(got.expect(200).get("client_secret").is_none());
    assert_eq!(
        app.get("/api/v1/api-clients", &admin).await.expect(200)["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

/// The `pointer:code` of every field error of a 422, in the order the answer lists them.
fn field_errors(body: &serde_json::Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| format!("{}:{}", s(&e["pointer"]), s(&e["code"])))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn grants_the_caller_may_not_make_are_reported_with_the_bad_fields_in_request_order() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let invite = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "bad", "display_name": "X", "roles": ["msp_admin", "wizard", "agent"]}),
        )
        .await;
    assert_eq!(
        field_errors(invite.expect(422)),
        vec![
            "/email:invalid_email",
            "/roles/0:role_not_allowed",
            "/roles/1:unknown_role"
        ]
    );
    let client = app
        .post(
            "/api/v1/api-clients",
            &admin,
            json!({"name": " ", "scopes": ["nope:nope", "signing_key:rotate", "incident:read"]}),
        )
        .await;
    assert_eq!(
        field_errors(client.expect(422)),
        vec![
            "/name:required",
            "/scopes/0:unknown_scope",
            "/scopes/1:scope_not_grantable"
        ]
    );
}

#[tokio::test]
async fn api_client_scopes_cannot_exceed_the_creator() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let r = app
        .post(
            "/api/v1/api-clients",
            &admin,
            json!({"name": "x", "scopes": ["signing_key:rotate", "nope:nope"]}),
        )
        .await;
    let codes: Vec<String> = r.expect(422)["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| s(&e["code"])).collect())
        .unwrap_or_default();
    assert_eq!(codes, vec!["scope_not_grantable", "unknown_scope"]);
    app.post(
        "/api/v1/api-clients",
        &admin,
        json!({"name": "x", "scopes": []}),
    )
    .await
    .expect(422);
    let agent = app.token("agent@globex.demo.test").await;
    app.post(
        "/api/v1/api-clients",
        &agent,
        json!({"name": "x", "scopes": ["user:read"]}),
    )
    .await
    .expect(403);
}

#[tokio::test]
async fn a_users_manager_is_an_active_colleague_and_never_closes_a_loop() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let requester = app.user_id(&admin, "requester@globex.demo.test").await;
    let approver = app.user_id(&admin, "approver@globex.demo.test").await;
    let agent = app.user_id(&admin, "agent@globex.demo.test").await;
    // The demo data makes the approver the requester's manager.
    let read = app.get(&format!("/api/v1/users/{requester}"), &admin).await;
    assert_eq!(read.expect(200)["manager_id"], approver.as_str());

    let put = |user: String, manager: serde_json::Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.call(
                Method::PUT,
                &format!("/api/v1/users/{user}/manager"),
                Some(&admin),
                Some(json!({"manager_id": manager})),
                &[],
            )
            .await
        }
    };
    let set = put(approver.clone(), json!(agent)).await;
    assert_eq!(set.expect(200)["manager_id"], agent.as_str());
    // agent → approver → requester: the agent cannot report to the requester.
    let cycle = put(agent.clone(), json!(requester)).await;
    assert_eq!(cycle.expect(422)["errors"][0]["code"], "manager_cycle");
    let own = put(agent.clone(), json!(agent)).await;
    assert_eq!(own.expect(422)["errors"][0]["code"], "self_manager");
    let initech = app.token("admin@initech.demo.test").await;
    let foreign = app.user_id(&initech, "approver@initech.demo.test").await;
    let other = put(agent.clone(), json!(foreign)).await;
    assert_eq!(other.expect(422)["errors"][0]["pointer"], "/manager_id");
    // Another tenant's admin cannot touch globex's users.
    let refused = app
        .call(
            Method::PUT,
            &format!("/api/v1/users/{agent}/manager"),
            Some(&initech),
            Some(json!({"manager_id": null})),
            &[],
        )
        .await;
    refused.expect(404);
    let cleared = put(approver.clone(), json!(null)).await;
    assert_eq!(cleared.expect(200)["manager_id"], json!(null));
    let requester_token = app.token("requester@globex.demo.test").await;
    let forbidden = app
        .call(
            Method::PUT,
            &format!("/api/v1/users/{agent}/manager"),
            Some(&requester_token),
            Some(json!({"manager_id": null})),
            &[],
        )
        .await;
    forbidden.expect(403);
}
