//! Incidents over HTTP on PostgreSQL: lifecycle, numbers, priority, comments and work notes,
//! tenant isolation.
#![allow(clippy::expect_used)] // A test fails loudly on a broken set-up.

use std::time::Duration;

use crate::common::{ready, s};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use testkit::{TestApp, app, json, reqwest::Method};

#[tokio::test]
async fn agents_open_numbered_incidents_with_matrix_priority() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    ready(&app, &agent).await;
    let r = app.post("/api/v1/incidents", &agent, json!({"title": "VPN down", "description": "All remote staff", "impact": 1, "urgency": 2})).await;
    let body = r.expect(201).clone();
    assert_eq!(body["number"], "INC0001001");
    assert_eq!(body["priority"], 2);
    assert_eq!(body["state"], "new");
    assert_eq!(
        body["allowed_transitions"],
        json!(["in_progress", "on_hold", "resolved", "canceled"])
    );
    assert_eq!(
        r.headers.get("etag").and_then(|v| v.to_str().ok()),
        Some("\"1\"")
    );
    let second = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "Printer", "impact": 3, "urgency": 3}),
        )
        .await;
    assert_eq!(second.expect(201)["number"], "INC0001002");
    assert_eq!(second.body["priority"], 5);
    // Numbers are per tenant.
    let other = app.token("agent@initech.demo.test").await;
    ready(&app, &other).await;
    let theirs = app
        .post(
            "/api/v1/incidents",
            &other,
            json!({"title": "Laptop", "impact": 2, "urgency": 2}),
        )
        .await;
    assert_eq!(theirs.expect(201)["number"], "INC0001001");
    let got = app
        .get(&format!("/api/v1/incidents/{}", s(&body["id"])), &agent)
        .await;
    assert_eq!(got.expect(200)["title"], "VPN down");
}

#[tokio::test]
async fn bad_input_names_every_field_and_writes_nothing() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    ready(&app, &agent).await;
    let r = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": " ", "impact": 0, "urgency": 4}),
        )
        .await;
    let mut pointers: Vec<String> = r.expect(422)["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| s(&e["pointer"])).collect())
        .unwrap_or_default();
    pointers.sort();
    assert_eq!(pointers, vec!["/impact", "/title", "/urgency"]);
    let r = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "x", "impact": "high", "urgency": 1}),
        )
        .await;
    assert_eq!(r.expect(422)["errors"][0]["pointer"], "/impact");
    let r = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "x", "impact": 1, "urgency": 1, "channel": "pigeon"}),
        )
        .await;
    assert_eq!(r.expect(422)["errors"][0]["pointer"], "/channel");
    let r = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "x", "impact": 1, "urgency": 1, "state": "closed"}),
        )
        .await;
    assert_eq!(r.expect(422)["errors"][0]["code"], "unknown_field");
    assert_eq!(
        app.get("/api/v1/incidents", &agent).await.expect(200)["items"],
        json!([])
    );
    app.get("/api/v1/incidents?state=bogus", &agent)
        .await
        .expect(400);
    app.get("/api/v1/incidents?priority=9", &agent)
        .await
        .expect(400);
    app.get("/api/v1/incidents/not-a-uuid", &agent)
        .await
        .expect(404);
}

#[tokio::test]
async fn the_lifecycle_refuses_illegal_moves_and_lost_updates() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    ready(&app, &agent).await;
    let id = s(&app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "Mail", "impact": 2, "urgency": 2}),
        )
        .await
        .body["id"]);
    let path = format!("/api/v1/incidents/{id}/transitions");
    let r = app.post(&path, &agent, json!({"to": "closed"})).await;
    assert_eq!(r.expect(409)["code"], "transition_not_allowed");
    assert_eq!(
        r.body["extra"]["allowed"],
        json!(["in_progress", "on_hold", "resolved", "canceled"])
    );
    assert_eq!(
        app.post(&path, &agent, json!({"to": "on_hold"}))
            .await
            .expect(422)["errors"][0]["pointer"],
        "/hold_reason"
    );
    assert_eq!(
        app.post(&path, &agent, json!({"to": "sideways"}))
            .await
            .expect(422)["errors"][0]["pointer"],
        "/to"
    );
    let r = app
        .post(
            &path,
            &agent,
            json!({"to": "on_hold", "hold_reason": "awaiting_vendor"}),
        )
        .await;
    assert_eq!(r.expect(200)["hold_reason"], "awaiting_vendor");
    let stale = app
        .call(
            Method::POST,
            &path,
            Some(&agent),
            Some(json!({"to": "in_progress"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(stale.expect(412)["code"], "precondition_failed");
    let ok = app
        .call(
            Method::POST,
            &path,
            Some(&agent),
            Some(json!({"to": "in_progress"})),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(ok.expect(200)["state"], "in_progress");
    assert_eq!(
        app.post(
            &path,
            &agent,
            json!({"to": "resolved", "resolution_code": "fixed"})
        )
        .await
        .expect(422)["errors"][0]["pointer"],
        "/resolution_notes"
    );
    let resolved = app.post(&path, &agent, json!({"to": "resolved", "resolution_code": "fixed", "resolution_notes": "Replaced the certificate"})).await;
    assert_eq!(resolved.expect(200)["resolution_code"], "fixed");
    let closed = app.post(&path, &agent, json!({"to": "closed"})).await;
    assert_eq!(closed.expect(200)["allowed_transitions"], json!([]));
    assert_eq!(closed.body["resolution_notes"], "Replaced the certificate");
    let after = app.post(&path, &agent, json!({"to": "in_progress"})).await;
    assert_eq!(after.expect(409)["extra"]["allowed"], json!([]));
}

#[tokio::test]
async fn requesters_see_their_own_incidents_and_never_a_work_note() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    let requester = app.token("requester@globex.demo.test").await;
    ready(&app, &requester).await;
    let mine = app
        .post(
            "/api/v1/incidents",
            &requester,
            json!({"title": "Cannot log in", "impact": 3, "urgency": 2}),
        )
        .await;
    let id = s(&mine.expect(201)["id"]);
    let others = s(&app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "Internal", "impact": 3, "urgency": 3}),
        )
        .await
        .body["id"]);
    app.get(&format!("/api/v1/incidents/{others}"), &requester)
        .await
        .expect(404);
    let list = app.get("/api/v1/incidents", &requester).await;
    assert_eq!(list.expect(200)["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        app.get("/api/v1/incidents", &agent).await.expect(200)["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    let comments = format!("/api/v1/incidents/{id}/comments");
    app.post(
        &comments,
        &agent,
        json!({"body": "Looks like the SSO cert", "visibility": "internal"}),
    )
    .await
    .expect(201);
    app.post(&comments, &agent, json!({"body": "We are on it"}))
        .await
        .expect(201);
    let seen = app.get(&comments, &requester).await;
    let bodies: Vec<String> = seen.expect(200)["items"]
        .as_array()
        .map(|a| a.iter().map(|c| s(&c["body"])).collect())
        .unwrap_or_default();
    assert_eq!(bodies, vec!["We are on it"]);
    // Agents see both, a page at a time.
    let first = app.get(&format!("{comments}?limit=1"), &agent).await;
    assert!(first.headers.contains_key("link"));
    let first = first.expect(200);
    assert_eq!(first["items"][0]["body"], "Looks like the SSO cert");
    let cursor = s(&first["next_cursor"]);
    let second = app
        .get(&format!("{comments}?limit=1&cursor={cursor}"), &agent)
        .await;
    let second = second.expect(200);
    assert_eq!(second["items"][0]["body"], "We are on it");
    assert_eq!(second["next_cursor"], serde_json::Value::Null);
    for bad in ["limit=0", "limit=201", "cursor=nonsense"] {
        let r = app.get(&format!("{comments}?{bad}"), &agent).await;
        assert_eq!(
            r.expect(400)["errors"][0]["pointer"]
                .as_str()
                .map(|p| p.starts_with("/query/")),
            Some(true),
            "{bad}"
        );
    }
    let internal = app
        .post(
            &comments,
            &requester,
            json!({"body": "secret", "visibility": "internal"}),
        )
        .await;
    assert_eq!(internal.expect(422)["errors"][0]["pointer"], "/visibility");
    // No event a requester could read carries the work note.
    let su = app.superuser().await;
    let rows = su
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT envelope FROM incident.outbox",
        ))
        .await
        .unwrap_or_default();
    let all: Vec<String> = rows
        .iter()
        .filter_map(|r| r.try_get::<String>("", "envelope").ok())
        .collect();
    assert!(
        all.iter()
            .any(|e| e.contains("\"visibility\":\"internal\""))
    );
    assert!(
        !all.iter().any(|e| e.contains("SSO cert")),
        "a work note leaked into an event"
    );

    // Awaiting caller ends with the caller's comment.
    let path = format!("/api/v1/incidents/{id}/transitions");
    app.post(
        &path,
        &agent,
        json!({"to": "on_hold", "hold_reason": "awaiting_caller"}),
    )
    .await
    .expect(200);
    app.post(
        &comments,
        &requester,
        json!({"body": "Tried again, still failing"}),
    )
    .await
    .expect(201);
    let now = app.get(&format!("/api/v1/incidents/{id}"), &agent).await;
    assert_eq!(now.expect(200)["state"], "in_progress");
    assert!(now.body["hold_reason"].is_null());
    // Requesters may cancel or reopen, not work the incident.
    assert_eq!(
        app.post(
            &path,
            &requester,
            json!({"to": "resolved", "resolution_code": "x", "resolution_notes": "y"})
        )
        .await
        .expect(403)["code"],
        "requester_not_allowed"
    );
    app.post(&path, &requester, json!({"to": "canceled"}))
        .await
        .expect(200);
}

#[tokio::test]
async fn another_tenants_incidents_are_404_and_msps_see_their_customers() {
    let app = app!();
    let globex = app.token("agent@globex.demo.test").await;
    let initech = app.token("agent@initech.demo.test").await;
    ready(&app, &globex).await;
    ready(&app, &initech).await;
    let theirs = s(&app
        .post(
            "/api/v1/incidents",
            &initech,
            json!({"title": "Theirs", "impact": 1, "urgency": 1}),
        )
        .await
        .body["id"]);
    app.post(
        "/api/v1/incidents",
        &globex,
        json!({"title": "Ours", "impact": 2, "urgency": 2}),
    )
    .await
    .expect(201);
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/incidents/{theirs}"), None),
        (
            Method::POST,
            format!("/api/v1/incidents/{theirs}/transitions"),
            Some(json!({"to": "in_progress"})),
        ),
        (
            Method::POST,
            format!("/api/v1/incidents/{theirs}/comments"),
            Some(json!({"body": "hi"})),
        ),
        (
            Method::GET,
            format!("/api/v1/incidents/{theirs}/comments"),
            None,
        ),
    ] {
        let r = app
            .call(method.clone(), &path, Some(&globex), body, &[])
            .await;
        assert_eq!(r.status.as_u16(), 404, "{method} {path}");
    }
    let list = app.get("/api/v1/incidents?limit=200", &globex).await;
    let titles: Vec<String> = list.expect(200)["items"]
        .as_array()
        .map(|a| a.iter().map(|i| s(&i["title"])).collect())
        .unwrap_or_default();
    assert_eq!(titles, vec!["Ours"]);
    app.get("/api/v1/incidents?tenant=initech", &globex)
        .await
        .expect(400);
    let msp = app.token("msp-agent@demo.test").await;
    ready(&app, &msp).await;
    let queue = app.get("/api/v1/incidents?tenant=*&limit=200", &msp).await;
    assert_eq!(queue.expect(200)["items"].as_array().map(Vec::len), Some(2));
    let one = app
        .call(
            Method::GET,
            "/api/v1/incidents",
            Some(&msp),
            None,
            &[("x-tenant", "initech")],
        )
        .await;
    assert_eq!(one.expect(200)["items"][0]["title"], "Theirs");
    let requester = app.token("approver@globex.demo.test").await;
    app.post(
        "/api/v1/incidents",
        &requester,
        json!({"title": "x", "impact": 1, "urgency": 1}),
    )
    .await
    .expect(403);
}

#[tokio::test]
async fn incident_tables_enforce_row_level_security() {
    let app = app!();
    app.token("agent@globex.demo.test").await;
    let su = app.superuser().await;
    let rows = su
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity AS forced FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'incident' AND c.relkind = 'r' \
             AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)",
        ))
        .await
        .unwrap_or_default();
    assert!(rows.len() >= 4, "incidents, counters, comments, outbox");
    for r in rows {
        let name: String = r.try_get("", "relname").unwrap_or_default();
        assert!(
            r.try_get::<bool>("", "forced").unwrap_or(false),
            "{name} lacks forced RLS"
        );
    }
}

/// The one-statement write a create uses scopes itself: a row of its own tenant goes in, a row
/// of another tenant is refused by row-level security, and the scope ends with the statement;
/// the one-statement read of a queue page likewise.
#[tokio::test]
async fn scoped_statements_touch_only_their_tenants_rows_and_leave_no_scope_behind() {
    use bus::entities::outbox;
    use platform::scoped_write::ScopedWrite;
    let app = app!();
    app.token("agent@globex.demo.test").await;
    let (globex, initech) = (
        app.tenant_id("globex").await,
        app.tenant_id("initech").await,
    );
    let mut opt = sea_orm::ConnectOptions::new(app.app_url.clone());
    opt.set_schema_search_path("incident").max_connections(1);
    let db = sea_orm::Database::connect(opt).await.expect("app role");
    let row = |tenant: &str| outbox::Model {
        id: uuid::Uuid::now_v7(),
        tenant_id: tenant.parse().expect("tenant id"),
        routing_key: "test.scoped_write".into(),
        envelope: "{}".into(),
        created_at: chrono::Utc::now(),
        sent_at: None,
    };
    let write = |tenant: &str| {
        let mut w = ScopedWrite::new(DbBackend::Postgres, &[globex.parse().expect("tenant id")])
            .expect("one tenant");
        w.insert::<outbox::Entity>([row(tenant)]).expect("row");
        w
    };
    let refused = write(&initech)
        .run(&db, "SELECT id FROM written")
        .await
        .expect_err("another tenant's row");
    assert!(
        refused.to_string().contains("row-level security"),
        "{refused}"
    );
    let written = write(&globex)
        .run(&db, "SELECT id FROM written")
        .await
        .expect("own row")
        .expect("PostgreSQL returns rows");
    assert_eq!(written.len(), 1);
    let after = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT coalesce(current_setting('app.tenant_ids', true), '') AS s, \
             (SELECT count(*) FROM outbox WHERE routing_key = 'test.scoped_write') AS n",
        ))
        .await
        .expect("query")
        .expect("a row");
    assert_eq!(after.try_get::<String>("", "s").expect("s"), "");
    assert_eq!(
        after.try_get::<i64>("", "n").expect("n"),
        0,
        "unscoped: sees nothing"
    );
    // The one-statement read a queue page uses sees its own scope's rows only, and leaves none.
    let read = |tenant: &str| {
        let tenant: uuid::Uuid = tenant.parse().expect("tenant id");
        let select = sea_orm::QueryTrait::into_query(sea_orm::QuerySelect::select_only(
            <outbox::Entity as sea_orm::EntityTrait>::find(),
        ))
        .expr(sea_orm::sea_query::Expr::cust("count(*) AS n"))
        .and_where(sea_orm::sea_query::Expr::cust(
            "routing_key = 'test.scoped_write'",
        ))
        .to_owned();
        let db = &db;
        async move {
            let rows: Vec<sea_orm::JsonValue> =
                platform::tenancy::scoped_all(db, &[tenant.into()], select)
                    .await
                    .expect("read");
            rows[0]["n"].as_i64().expect("count")
        }
    };
    assert_eq!(read(&globex).await, 1);
    assert_eq!(read(&initech).await, 0);
    assert_eq!(read(&globex).await, 1);
    let su = app.superuser().await;
    let stored = su
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM incident.outbox WHERE routing_key = 'test.scoped_write'",
        ))
        .await
        .expect("query")
        .expect("a row");
    assert_eq!(stored.try_get::<i64>("", "n").expect("n"), 1);
}

/// Retries `post` while the incident service has not yet learned identity's users and groups
/// (events are asynchronous); returns the last response.
async fn eventually_created(
    app: &TestApp,
    token: &str,
    path: &str,
    body: serde_json::Value,
    want: u16,
) -> testkit::Res {
    let mut last = app.post(path, token, body.clone()).await;
    for _ in 0..100 {
        if last.status.as_u16() == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = app.post(path, token, body.clone()).await;
    }
    last
}

#[tokio::test]
async fn assignment_is_validated_against_identitys_groups_and_users() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    ready(&app, &agent).await;
    let desk = app.get("/api/v1/groups", &admin).await.body["items"][0].clone();
    let (desk_id, agent_id) = (s(&desk["id"]), s(&desk["members"][0]));
    let requester_id = s(&app
        .get(
            "/api/v1/users/me",
            &app.token("requester@globex.demo.test").await,
        )
        .await
        .body["id"]);
    let body = json!({"title": "Disk full", "impact": 2, "urgency": 1, "caller_id": requester_id, "assignment_group_id": desk_id, "assignee_id": agent_id});
    let created = eventually_created(&app, &agent, "/api/v1/incidents", body, 201).await;
    let created = created.expect(201).clone();
    assert_eq!(created["assignee_id"], agent_id.as_str());
    assert_eq!(created["caller_id"], requester_id.as_str());
    // The requester now sees it as theirs.
    let requester = app.token("requester@globex.demo.test").await;
    app.get(
        &format!("/api/v1/incidents/{}", s(&created["id"])),
        &requester,
    )
    .await
    .expect(200);

    // An assignee outside the group, a group or caller of another tenant, a random id: 422,
    // the same answer for foreign and unknown ids.
    let initech_admin = app.token("admin@initech.demo.test").await;
    let foreign_group = s(&app.get("/api/v1/groups", &initech_admin).await.body["items"][0]["id"]);
    let foreign_user = s(&app
        .get(
            "/api/v1/users/me",
            &app.token("agent@initech.demo.test").await,
        )
        .await
        .body["id"]);
    let path = format!("/api/v1/incidents/{}/assignment", s(&created["id"]));
    let r = app
        .post(
            &path,
            &agent,
            json!({"assignment_group_id": desk_id, "assignee_id": requester_id}),
        )
        .await;
    assert_eq!(r.expect(422)["errors"][0]["code"], "not_in_group");
    let foreign = app
        .post(
            &path,
            &agent,
            json!({"assignment_group_id": foreign_group, "assignee_id": null}),
        )
        .await;
    let random = app.post(&path, &agent, json!({"assignment_group_id": "01900000-0000-7000-8000-000000000000", "assignee_id": null})).await;
    assert_eq!(foreign.expect(422)["errors"], random.expect(422)["errors"]);
    let r = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "x", "impact": 1, "urgency": 1, "caller_id": foreign_user}),
        )
        .await;
    assert_eq!(r.expect(422)["errors"][0]["pointer"], "/caller_id");
    let r = app
        .post(
            &path,
            &agent,
            json!({"assignment_group_id": null, "assignee_id": agent_id}),
        )
        .await;
    assert_eq!(r.expect(422)["errors"][0]["code"], "group_required");
    let ok = app
        .post(
            &path,
            &agent,
            json!({"assignment_group_id": desk_id, "assignee_id": null}),
        )
        .await;
    assert!(ok.expect(200)["assignee_id"].is_null());
    app.post(
        &path,
        &requester,
        json!({"assignment_group_id": desk_id, "assignee_id": null}),
    )
    .await
    .expect(403);
    let r = app
        .post(
            "/api/v1/incidents",
            &requester,
            json!({"title": "x", "impact": 1, "urgency": 1, "assignment_group_id": desk_id}),
        )
        .await;
    assert_eq!(r.expect(422)["errors"][0]["code"], "not_allowed");
}

#[tokio::test]
async fn search_finds_words_in_titles_and_comments_but_never_shows_requesters_work_notes() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    let requester = app.token("requester@globex.demo.test").await;
    ready(&app, &agent).await;
    let vpn = s(&app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "VPN outage in the Berlin office", "impact": 1, "urgency": 1}),
        )
        .await
        .body["id"]);
    let printer = s(&app.post("/api/v1/incidents", &agent, json!({"title": "Printer jam", "description": "Third floor", "impact": 3, "urgency": 3})).await.body["id"]);
    app.post(
        &format!("/api/v1/incidents/{printer}/comments"),
        &agent,
        json!({"body": "firmware regression", "visibility": "internal"}),
    )
    .await
    .expect(201);
    app.post(
        &format!("/api/v1/incidents/{vpn}/comments"),
        &agent,
        json!({"body": "tunnel restarted"}),
    )
    .await
    .expect(201);
    let laptop = s(&app
        .post(
            "/api/v1/incidents",
            &requester,
            json!({"title": "Laptop slow", "impact": 3, "urgency": 2}),
        )
        .await
        .body["id"]);
    app.post(
        &format!("/api/v1/incidents/{laptop}/comments"),
        &agent,
        json!({"body": "malware suspected", "visibility": "internal"}),
    )
    .await
    .expect(201);

    let ids = |r: &testkit::Res| -> Vec<String> {
        r.body["items"]
            .as_array()
            .map(|a| a.iter().map(|i| s(&i["id"])).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        ids(&app.get("/api/v1/incidents?q=berlin", &agent).await),
        vec![vpn.clone()]
    );
    assert_eq!(
        ids(&app.get("/api/v1/incidents?q=tunnel", &agent).await),
        vec![vpn.clone()]
    );
    assert_eq!(
        ids(&app.get("/api/v1/incidents?q=firmware", &agent).await),
        vec![printer.clone()]
    );
    assert_eq!(
        ids(&app.get("/api/v1/incidents?q=malware", &agent).await),
        vec![laptop.clone()]
    );
    // The requester's own incident does not match on the agent's work note.
    assert!(ids(&app.get("/api/v1/incidents?q=malware", &requester).await).is_empty());
    assert_eq!(
        ids(&app.get("/api/v1/incidents?q=laptop", &requester).await),
        vec![laptop.clone()]
    );
    assert!(ids(&app.get("/api/v1/incidents?q=berlin", &requester).await).is_empty());
    // Filters combine; a future lower bound finds nothing.
    assert_eq!(
        ids(&app.get("/api/v1/incidents?priority=5", &agent).await),
        vec![printer.clone()]
    );
    assert!(
        ids(&app
            .get(
                "/api/v1/incidents?created_after=2999-01-01T00:00:00Z",
                &agent
            )
            .await)
        .is_empty()
    );
    app.get("/api/v1/incidents?created_after=yesterday", &agent)
        .await
        .expect(400);
    app.get(&format!("/api/v1/incidents?q={}", "x".repeat(201)), &agent)
        .await
        .expect(400);
}

#[tokio::test]
async fn parents_resolve_their_children_and_priority_overrides_are_recorded() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    let requester = app.token("requester@globex.demo.test").await;
    ready(&app, &agent).await;
    let parent = app.post("/api/v1/incidents", &agent, json!({"title": "Datacenter power", "impact": 1, "urgency": 1, "major": true, "category": "infrastructure", "subcategory": "power"})).await;
    let parent = parent.expect(201).clone();
    assert_eq!(parent["major"], true);
    assert_eq!(parent["category"], "infrastructure");
    let pid = s(&parent["id"]);
    let child = app.post("/api/v1/incidents", &agent, json!({"title": "Mail down", "impact": 2, "urgency": 2, "parent_id": pid, "priority": 1})).await;
    let child = child.expect(201).clone();
    assert_eq!(child["priority"], 1);
    assert_eq!(child["priority_overridden"], true);
    let cid = s(&child["id"]);
    let done = s(&app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "Already closed child", "impact": 3, "urgency": 3, "parent_id": pid}),
        )
        .await
        .body["id"]);
    app.post(
        &format!("/api/v1/incidents/{done}/transitions"),
        &agent,
        json!({"to": "canceled"}),
    )
    .await
    .expect(200);

    app.post(
        &format!("/api/v1/incidents/{pid}/transitions"),
        &agent,
        json!({"to": "resolved", "resolution_code": "fixed", "resolution_notes": "Power restored"}),
    )
    .await
    .expect(200);
    let c = app.get(&format!("/api/v1/incidents/{cid}"), &agent).await;
    assert_eq!(c.expect(200)["state"], "resolved");
    assert!(s(&c.body["resolution_notes"]).contains("Power restored"));
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{done}"), &agent)
            .await
            .body["state"],
        "canceled"
    );

    // The override is on record as an event.
    let su = app.superuser().await;
    let rows = su.query_all_raw(Statement::from_string(DbBackend::Postgres, "SELECT envelope FROM incident.outbox WHERE routing_key = 'incident.incident.priority_overridden'")).await.unwrap_or_default();
    assert_eq!(rows.len(), 1);

    // Bad classification, unknown parents, and requester-only fields.
    let r = app.post("/api/v1/incidents", &agent, json!({"title": "x", "impact": 1, "urgency": 1, "category": "Bad Code", "subcategory": "x", "priority": 9})).await;
    let mut pointers: Vec<String> = r.expect(422)["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| s(&e["pointer"])).collect())
        .unwrap_or_default();
    pointers.sort();
    assert_eq!(pointers, vec!["/category", "/priority"]);
    let r = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "x", "impact": 1, "urgency": 1, "subcategory": "x"}),
        )
        .await;
    assert_eq!(r.expect(422)["errors"][0]["code"], "category_required");
    let initech = app.token("agent@initech.demo.test").await;
    ready(&app, &initech).await;
    let theirs = s(&app
        .post(
            "/api/v1/incidents",
            &initech,
            json!({"title": "Theirs", "impact": 1, "urgency": 1}),
        )
        .await
        .body["id"]);
    let r = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "x", "impact": 1, "urgency": 1, "parent_id": theirs}),
        )
        .await;
    assert_eq!(r.expect(422)["errors"][0]["pointer"], "/parent_id");
    let r = app
        .post(
            "/api/v1/incidents",
            &requester,
            json!({"title": "x", "impact": 1, "urgency": 1, "major": true, "priority": 1}),
        )
        .await;
    assert_eq!(r.expect(422)["errors"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn updates_recompute_priority_and_refuse_stale_etags() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    ready(&app, &agent).await;
    let created = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "Slow wifi", "impact": 3, "urgency": 3}),
        )
        .await;
    let id = s(&created.expect(201)["id"]);
    let path = format!("/api/v1/incidents/{id}");
    let r = app
        .call(
            Method::PATCH,
            &path,
            Some(&agent),
            Some(json!({"impact": 1, "title": "No wifi at all"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    let body = r.expect(200).clone();
    assert_eq!(body["priority"], 3);
    assert_eq!(body["title"], "No wifi at all");
    assert_eq!(
        r.headers.get("etag").and_then(|v| v.to_str().ok()),
        Some("\"2\"")
    );
    let stale = app
        .call(
            Method::PATCH,
            &path,
            Some(&agent),
            Some(json!({"urgency": 1})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(stale.expect(412)["code"], "precondition_failed");
    let bad = app
        .call(
            Method::PATCH,
            &path,
            Some(&agent),
            Some(json!({"impact": 7, "title": ""})),
            &[],
        )
        .await;
    assert_eq!(bad.expect(422)["errors"].as_array().map(Vec::len), Some(2));
    let unknown = app
        .call(
            Method::PATCH,
            &path,
            Some(&agent),
            Some(json!({"state": "closed"})),
            &[],
        )
        .await;
    assert_eq!(unknown.expect(422)["errors"][0]["code"], "unknown_field");
    let requester = app.token("requester@globex.demo.test").await;
    app.call(
        Method::PATCH,
        &path,
        Some(&requester),
        Some(json!({"title": "mine"})),
        &[],
    )
    .await
    .expect(403);
    let other = app.token("agent@initech.demo.test").await;
    ready(&app, &other).await;
    app.call(
        Method::PATCH,
        &path,
        Some(&other),
        Some(json!({"title": "theirs"})),
        &[],
    )
    .await
    .expect(404);
    assert_eq!(app.get(&path, &agent).await.body["title"], "No wifi at all");
}

/// What one set of roles must be allowed, from the union of its roles' grants.
struct Reach {
    reads_all: bool,
    works_all: bool,
    reads_own: bool,
    writes_own: bool,
}

impl Reach {
    fn of(roles: &[&str]) -> Reach {
        let any = |set: &[&str]| roles.iter().any(|r| set.contains(r));
        let reads_all = any(&[
            "tenant_admin",
            "service_owner",
            "agent",
            "configuration_manager",
            "change_manager",
            "analyst",
        ]);
        let works_all = any(&["tenant_admin", "agent"]);
        Reach {
            reads_all,
            works_all,
            reads_own: reads_all || roles.contains(&"requester"),
            writes_own: works_all || roles.contains(&"requester"),
        }
    }

    /// The status for an incident someone else raised: `ok` when the set works (or reads) the
    /// whole queue, 403 when it may see but not act, 404 when it may not see, 403 without
    /// any incident scope.
    fn on_others(&self, all: bool, ok: u16) -> u16 {
        match (all, self.reads_all, self.reads_own) {
            (true, _, _) => ok,
            (false, true, _) => 403,
            (false, false, true) => 404,
            (false, false, false) => 403,
        }
    }
}

#[tokio::test]
async fn a_second_role_never_widens_what_requester_allows() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    ready(&app, &agent).await;
    let email = "requester@globex.demo.test";
    let me = app.token(email).await;
    let me_id = s(&app.get("/api/v1/users/me", &me).await.expect(200)["id"]);
    let tenant_roles = [
        "tenant_admin",
        "service_owner",
        "agent",
        "configuration_manager",
        "change_manager",
        "approver",
        "requester",
        "analyst",
    ];
    let mut sets: Vec<Vec<&str>> = tenant_roles.iter().map(|r| vec![*r]).collect();
    sets.extend(
        tenant_roles
            .iter()
            .filter(|r| **r != "requester")
            .map(|r| vec![*r, "requester"]),
    );
    for roles in sets {
        let reach = Reach::of(&roles);
        let set = app
            .call(
                Method::PUT,
                &format!("/api/v1/users/{me_id}/roles"),
                Some(&admin),
                Some(json!({ "roles": roles })),
                &[],
            )
            .await;
        set.expect(200);
        let login = app.login_res(email, testkit::PASSWORD).await;
        let token = s(&login.expect(200)["access_token"]);
        // Someone else's incident with a work note.
        let theirs = s(&app
            .post(
                "/api/v1/incidents",
                &agent,
                json!({"title": format!("Printer jam {roles:?}"), "impact": 3, "urgency": 3}),
            )
            .await
            .expect(201)["id"]);
        let notes = format!("/api/v1/incidents/{theirs}/comments");
        app.post(
            &notes,
            &agent,
            json!({"body": "vendor ticket 4411", "visibility": "internal"}),
        )
        .await
        .expect(201);

        let list = app.get("/api/v1/incidents?limit=200", &token).await;
        if reach.reads_own {
            let ids: Vec<String> = list.expect(200)["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| s(&i["id"]))
                .collect();
            assert_eq!(ids.contains(&theirs), reach.reads_all, "{roles:?} list");
        } else {
            list.expect(403);
        }
        let get = app
            .get(&format!("/api/v1/incidents/{theirs}"), &token)
            .await;
        assert_eq!(
            get.status.as_u16(),
            reach.on_others(reach.reads_all, 200),
            "{roles:?} get"
        );
        let comments = app.get(&notes, &token).await;
        assert_eq!(
            comments.status.as_u16(),
            reach.on_others(reach.reads_all, 200),
            "{roles:?} comments"
        );
        if reach.reads_all {
            assert!(
                comments.body.to_string().contains("vendor ticket 4411"),
                "{roles:?} reads the tenant's work notes"
            );
        }
        let comment = app
            .post(
                &notes,
                &token,
                json!({"body": "me too", "visibility": "public"}),
            )
            .await;
        let expected = match (reach.works_all, reach.writes_own) {
            (true, _) => 201,
            (false, true) => reach.on_others(false, 201),
            (false, false) => 403,
        };
        assert_eq!(comment.status.as_u16(), expected, "{roles:?} comment");
        let transition = app
            .post(
                &format!("/api/v1/incidents/{theirs}/transitions"),
                &token,
                json!({"to": "canceled"}),
            )
            .await;
        let expected = match (reach.works_all, reach.writes_own) {
            (true, _) => 200,
            (false, true) => reach.on_others(false, 200),
            (false, false) => 403,
        };
        assert_eq!(transition.status.as_u16(), expected, "{roles:?} transition");
        let other = s(&app
            .post(
                "/api/v1/incidents",
                &agent,
                json!({"title": "Another", "impact": 3, "urgency": 3}),
            )
            .await
            .expect(201)["id"]);
        let assign = app
            .post(
                &format!("/api/v1/incidents/{other}/assignment"),
                &token,
                json!({"assignment_group_id": null, "assignee_id": null}),
            )
            .await;
        assert_eq!(
            assign.status.as_u16(),
            if reach.works_all { 200 } else { 403 },
            "{roles:?} assignment"
        );
        let update = app
            .call(
                Method::PATCH,
                &format!("/api/v1/incidents/{other}"),
                Some(&token),
                Some(json!({"title": "Renamed"})),
                &[],
            )
            .await;
        assert_eq!(
            update.status.as_u16(),
            if reach.works_all { 200 } else { 403 },
            "{roles:?} update"
        );
        // Their own incident: raised, commented publicly; a work note needs the queue.
        if reach.writes_own {
            let mine = s(&app
                .post(
                    "/api/v1/incidents",
                    &token,
                    json!({"title": "My laptop", "impact": 3, "urgency": 3}),
                )
                .await
                .expect(201)["id"]);
            let internal = app
                .post(
                    &format!("/api/v1/incidents/{mine}/comments"),
                    &token,
                    json!({"body": "note", "visibility": "internal"}),
                )
                .await;
            assert_eq!(
                internal.status.as_u16(),
                if reach.works_all { 201 } else { 422 },
                "{roles:?} work note on their own"
            );
        }
    }
}

#[tokio::test]
async fn every_response_carries_security_headers_and_docs_cannot_be_framed() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    for res in [
        app.get("/api/v1/incidents", &agent).await,
        app.get("/api/v1/incidents/not-an-id", &agent).await,
        app.call(Method::GET, "/healthz", None, None, &[]).await,
    ] {
        let h = |name: &str| {
            res.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(h("x-content-type-options"), "nosniff");
        assert_eq!(h("referrer-policy"), "no-referrer");
        assert!(h("content-security-policy").contains("frame-ancestors 'none'"));
        // Served over plain HTTP here: no HSTS.
        assert_eq!(h("strict-transport-security"), "");
    }
    let docs = app.call(Method::GET, "/docs/", None, None, &[]).await;
    let csp = docs
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}
