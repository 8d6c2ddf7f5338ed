//! Tenant isolation: another tenant's ids answer 404 on every route, lists never leak, MSPs
//! reach only their own customers, and PostgreSQL itself enforces it (row-level security).
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use testkit::{app, json, reqwest::Method};

fn s(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn every_route_answers_404_for_another_tenants_ids() {
    let app = app!();
    // Tenant B (initech) owns a user, a group and an API client.
    let b_admin = app.token("admin@initech.demo.test").await;
    let b_tenant = app.tenant_id("initech").await;
    let b_user = s(&app
        .get(
            "/api/v1/users/me",
            &app.token("agent@initech.demo.test").await,
        )
        .await
        .body["id"]);
    let b_group = s(&app.get("/api/v1/groups", &b_admin).await.body["items"][0]["id"]);
    let b_client = s(&app
        .post(
            "/api/v1/api-clients",
            &b_admin,
            json!({"name": "b", "scopes": ["user:read"]}),
        )
        .await
        .body["client"]["id"]);
    let a_user = s(&app
        .get(
            "/api/v1/users/me",
            &app.token("agent@globex.demo.test").await,
        )
        .await
        .body["id"]);
    let a_group = s(&app
        .get("/api/v1/groups", &app.token("admin@globex.demo.test").await)
        .await
        .body["items"][0]["id"]);

    // Tenant A's admin holds every identity scope a customer can hold.
    let a = app.token("admin@globex.demo.test").await;
    let probes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/api/v1/tenants/{b_tenant}"), None),
        (
            Method::POST,
            format!("/api/v1/tenants/{b_tenant}/suspend"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/tenants/{b_tenant}/reactivate"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("/api/v1/tenants/{b_tenant}/settings"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/tenants/{b_tenant}/settings"),
            Some(json!({"locale": "fr"})),
        ),
        (Method::GET, format!("/api/v1/users/{b_user}"), None),
        (
            Method::POST,
            format!("/api/v1/users/{b_user}/deactivate"),
            Some(json!({})),
        ),
        (
            Method::PUT,
            format!("/api/v1/users/{b_user}/roles"),
            Some(json!({"roles": ["agent"]})),
        ),
        (
            Method::POST,
            format!("/api/v1/users/{b_user}/password-reset"),
            Some(json!({})),
        ),
        (Method::GET, format!("/api/v1/groups/{b_group}"), None),
        (
            Method::PUT,
            format!("/api/v1/groups/{b_group}/members/{a_user}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/v1/groups/{b_group}/members/{b_user}"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/groups/{a_group}/members/{b_user}"),
            None,
        ),
        (Method::GET, format!("/api/v1/api-clients/{b_client}"), None),
        (
            Method::POST,
            format!("/api/v1/api-clients/{b_client}/rotate"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/api-clients/{b_client}/revoke"),
            Some(json!({})),
        ),
    ];
    for (method, path, body) in probes {
        let r = app.call(method.clone(), &path, Some(&a), body, &[]).await;
        assert_eq!(r.status.as_u16(), 404, "{method} {path}: {}", r.body);
        assert_eq!(r.content_type(), "application/problem+json");
    }
    // Nothing of B changed.
    let b_user_now = app.get(&format!("/api/v1/users/{b_user}"), &b_admin).await;
    assert_eq!(b_user_now.expect(200)["status"], "active");
    assert_eq!(b_user_now.body["roles"], json!(["agent"]));
    let client = app
        .get(&format!("/api/v1/api-clients/{b_client}"), &b_admin)
        .await;
    assert_eq!(client.expect(200)["status"], "active");
    let tenant = app
        .get(&format!("/api/v1/tenants/{b_tenant}"), &b_admin)
        .await;
    assert_eq!(tenant.expect(200)["status"], "active");
}

#[tokio::test]
async fn lists_never_return_another_tenants_rows() {
    let app = app!();
    let a = app.token("admin@globex.demo.test").await;
    let a_tenant = app.tenant_id("globex").await;
    let b_admin = app.token("admin@initech.demo.test").await;
    app.post(
        "/api/v1/api-clients",
        &b_admin,
        json!({"name": "b", "scopes": ["user:read"]}),
    )
    .await
    .expect(201);
    app.post(
        "/api/v1/api-clients",
        &a,
        json!({"name": "a", "scopes": ["user:read"]}),
    )
    .await
    .expect(201);
    for path in [
        "/api/v1/users?limit=200",
        "/api/v1/users?limit=200&tenant=*",
        "/api/v1/groups?limit=200&tenant=*",
        "/api/v1/api-clients?limit=200",
        "/api/v1/audit?limit=200",
        "/api/v1/tenants?limit=200",
    ] {
        let r = app.get(path, &a).await;
        let items = r.expect(200)["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!items.is_empty(), "{path}");
        for item in items {
            let owner = item.get("tenant_id").unwrap_or(&item["id"]);
            assert_eq!(owner, a_tenant.as_str(), "{path} leaked {item}");
        }
    }
    let r = app.get("/api/v1/users?tenant=initech", &a).await;
    r.expect(400);
}

#[tokio::test]
async fn msp_agent_reaches_its_customers_but_not_another_msps() {
    let app = app!();
    // The demo data's second MSP, umbrella, and its customer soylent (DEMO.md).
    let umbrella = app.tenant_id("umbrella").await;
    let soylent = app.tenant_id("soylent").await;
    let globex = app.tenant_id("globex").await;
    let demo = app.tenant_id("demo").await;
    for (agent, own, foreign) in [
        ("msp-agent@demo.test", &globex, [&umbrella, &soylent]),
        ("msp-agent@umbrella.demo.test", &soylent, [&demo, &globex]),
    ] {
        let agent = app.token(agent).await;
        app.call(
            Method::GET,
            "/api/v1/users",
            Some(&agent),
            None,
            &[("x-tenant", own)],
        )
        .await
        .expect(200);
        for target in foreign {
            let r = app
                .call(
                    Method::GET,
                    "/api/v1/users",
                    Some(&agent),
                    None,
                    &[("x-tenant", target)],
                )
                .await;
            assert_eq!(r.status.as_u16(), 404, "{target}");
            app.get(&format!("/api/v1/tenants/{target}"), &agent)
                .await
                .expect(404);
        }
    }
    let agent = app.token("msp-agent@demo.test").await;
    for slug in ["soylent", "umbrella"] {
        let r = app
            .call(
                Method::GET,
                "/api/v1/users",
                Some(&agent),
                None,
                &[("x-tenant", slug)],
            )
            .await;
        assert_eq!(r.status.as_u16(), 404, "{slug}");
    }
    let all = app.get("/api/v1/users?tenant=*&limit=200", &agent).await;
    let emails: Vec<String> = all.expect(200)["items"]
        .as_array()
        .map(|a| a.iter().map(|u| s(&u["email"])).collect())
        .unwrap_or_default();
    assert_eq!(
        emails.len(),
        2 + 2 * identity::seed::CUSTOMER_LOGINS.len(),
        "{emails:?}"
    );
    assert!(
        emails.iter().all(|e| e.ends_with("@demo.test")
            || e.ends_with("@globex.demo.test")
            || e.ends_with("@initech.demo.test")),
        "{emails:?}"
    );
    let tenants = app.get("/api/v1/tenants?limit=200", &agent).await;
    assert_eq!(
        tenants.expect(200)["items"].as_array().map(Vec::len),
        Some(3)
    );
}

#[tokio::test]
async fn postgres_enforces_isolation_itself() {
    let app = app!();
    app.token("admin@globex.demo.test").await; // a login writes an audit record
    let su = app.superuser().await;
    // Every table with a tenant_id column has RLS enabled and forced.
    let rows = su
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'identity' AND c.relkind = 'r' \
             AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)",
        ))
        .await
        .unwrap_or_default();
    assert!(
        rows.len() >= 9,
        "expected the tenant tables, found {}",
        rows.len()
    );
    for row in &rows {
        let name: String = row.try_get("", "relname").unwrap_or_default();
        let enabled: bool = row.try_get("", "relrowsecurity").unwrap_or(false);
        let forced: bool = row.try_get("", "relforcerowsecurity").unwrap_or(false);
        assert!(
            enabled && forced,
            "{name}: enabled={enabled} forced={forced}"
        );
    }
    // The app role cannot bypass it.
    let role = su
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'itsm_app'",
        ))
        .await
        .ok()
        .flatten();
    let flags = role.map(|r| {
        (
            r.try_get::<bool>("", "rolsuper").unwrap_or(true),
            r.try_get::<bool>("", "rolbypassrls").unwrap_or(true),
        )
    });
    assert_eq!(flags, Some((false, false)));
    let owned = su
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT count(*) AS n FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = 'itsm_app'"))
        .await
        .ok()
        .flatten()
        .and_then(|r| r.try_get::<i64>("", "n").ok());
    assert_eq!(owned, Some(0));

    // As the app role with no tenant set, every tenant table is empty.
    let app_db = app.app_role().await;
    for row in &rows {
        let name: String = row.try_get("", "relname").unwrap_or_default();
        let n = app_db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT count(*) AS n FROM {name}"),
            ))
            .await
            .ok()
            .flatten()
            .and_then(|r| r.try_get::<i64>("", "n").ok());
        assert_eq!(n, Some(0), "{name} is visible without app.tenant_ids");
        let total = su
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT count(*) AS n FROM {name}"),
            ))
            .await
            .ok()
            .flatten()
            .and_then(|r| r.try_get::<i64>("", "n").ok())
            .unwrap_or(0);
        if ["users", "user_roles", "audit_log", "groups"].contains(&name.as_str()) {
            assert!(total > 0, "{name} has rows the app role must not see");
        }
    }
    let tenants = app_db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM tenants",
        ))
        .await
        .ok()
        .flatten()
        .and_then(|r| r.try_get::<i64>("", "n").ok());
    assert_eq!(tenants, Some(0));

    // Scoped to one tenant, a query without any WHERE sees only that tenant's users; the
    // setting ends with the transaction.
    let globex = app.tenant_id("globex").await;
    let txn = app_db.begin().await.ok();
    let Some(txn) = txn else { panic!("begin") };
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('app.tenant_ids', $1, true)",
        [globex.clone().into()],
    ))
    .await
    .ok();
    let owners = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT DISTINCT tenant_id::text AS t FROM users",
        ))
        .await
        .unwrap_or_default();
    let owners: Vec<String> = owners
        .iter()
        .filter_map(|r| r.try_get("", "t").ok())
        .collect();
    assert_eq!(owners, vec![globex.clone()]);
    // Writing a row for another tenant is refused by the policy's WITH CHECK.
    let initech = app.tenant_id("initech").await;
    let sneaky = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO groups (id, tenant_id, name, description, created_at, updated_at) VALUES (gen_random_uuid(), $1::uuid, 'x', '', now(), now())",
            [initech.into()],
        ))
        .await;
    assert!(
        sneaky.is_err(),
        "RLS WITH CHECK must refuse another tenant's row"
    );
    txn.rollback().await.ok();
    let after = app_db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM users",
        ))
        .await
        .ok()
        .flatten()
        .and_then(|r| r.try_get::<i64>("", "n").ok());
    assert_eq!(after, Some(0));
}

#[tokio::test]
async fn altering_an_audit_row_breaks_verification_at_that_row() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    for name in ["One", "Two", "Three"] {
        app.post("/api/v1/groups", &admin, json!({"name": name}))
            .await
            .expect(201);
    }
    let ok = app.get("/api/v1/audit/verify", &admin).await;
    let ok = ok.expect(200).clone();
    assert_eq!(ok["valid"], true);
    let total = ok["checked"].as_u64().unwrap_or(0);
    assert!(total >= 4);
    let records = app.get("/api/v1/audit?limit=200", &admin).await;
    let target = records.expect(200)["items"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["data"]["name"] == "Two").cloned())
        .unwrap_or_default();
    let (seq, id) = (target["seq"].as_i64().unwrap_or(0), s(&target["id"]));

    // The application role may only append.
    let app_db = app.app_role().await;
    let denied = app_db
        .execute_unprepared("UPDATE audit_log SET action = 'x'")
        .await;
    assert!(denied.is_err_and(|e| e.to_string().contains("permission denied")));

    let su = app.superuser().await;
    su.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE audit_log SET data = '{\"name\": \"Forged\"}' WHERE id = $1::uuid",
        [id.clone().into()],
    ))
    .await
    .ok();
    let broken = app.get("/api/v1/audit/verify", &admin).await;
    let broken = broken.expect(200);
    assert_eq!(broken["valid"], false);
    assert_eq!(broken["first_broken"]["seq"], seq);
    assert_eq!(broken["first_broken"]["id"], id.as_str());
    assert_eq!(broken["first_broken"]["reason"], "hash_mismatch");
    assert_eq!(broken["checked"], seq - 1);
    // Another tenant's chain is unaffected.
    let other = app
        .get(
            "/api/v1/audit/verify",
            &app.token("admin@initech.demo.test").await,
        )
        .await;
    assert_eq!(other.expect(200)["valid"], true);
    // Deleting a record is a gap.
    su.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "DELETE FROM audit_log WHERE id = $1::uuid",
        [id.into()],
    ))
    .await
    .ok();
    let gap = app.get("/api/v1/audit/verify", &admin).await;
    assert_eq!(gap.expect(200)["first_broken"]["reason"], "sequence_gap");
    let requester = app.token("requester@globex.demo.test").await;
    app.get("/api/v1/audit/verify", &requester)
        .await
        .expect(403);
}

/// The tenants owning the users a transaction sees.
async fn owners(txn: &sea_orm::DatabaseTransaction) -> Vec<String> {
    let sql = Statement::from_string(
        DbBackend::Postgres,
        "SELECT DISTINCT tenant_id::text AS t FROM users ORDER BY 1",
    );
    txn.query_all_raw(sql)
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.try_get::<String>("", "t").ok())
        .collect()
}

/// A large scope is cached on the connection (see `platform::tenancy::scope_to`); the cache
/// must serve only transactions that name its digest, and never one without a scope.
#[tokio::test]
async fn a_scope_cached_on_a_connection_serves_only_its_own_transactions() {
    use platform::tenancy::{LARGE_SCOPE, scope_to};
    let app = app!();
    let mut opt = sea_orm::ConnectOptions::new(app.app_url.clone());
    opt.set_schema_search_path("identity").max_connections(1);
    let Ok(db) = sea_orm::Database::connect(opt).await else {
        panic!("app role connection")
    };
    let large = |tenant: &str| -> Vec<uuid::Uuid> {
        let mut ids: Vec<_> = (1..LARGE_SCOPE).map(|_| uuid::Uuid::now_v7()).collect();
        ids.push(tenant.parse().unwrap_or_default());
        ids
    };
    let (globex, initech) = (
        app.tenant_id("globex").await,
        app.tenant_id("initech").await,
    );
    let mut seen = Vec::new();
    for scope in [Some(large(&globex)), None, Some(large(&initech)), None] {
        let Ok(txn) = db.begin().await else {
            panic!("begin")
        };
        if let Some(scope) = &scope {
            assert!(
                scope_to(&txn, &platform::tenancy::TenantId::many(scope))
                    .await
                    .is_ok()
            );
        }
        seen.push(owners(&txn).await);
        txn.commit().await.ok();
    }
    assert_eq!(
        seen,
        vec![vec![globex.clone()], vec![], vec![initech], vec![]]
    );
    // The connection now caches initech's scope: pointing at any other digest shows nothing.
    let Ok(txn) = db.begin().await else {
        panic!("begin")
    };
    txn.execute_unprepared("SELECT set_config('app.tenant_ids', '#0000', true)")
        .await
        .ok();
    assert_eq!(owners(&txn).await, Vec::<String>::new());
}
