//! Knowledge over HTTP on PostgreSQL: articles reviewed and published by someone other than
//! their writers, new versions superseding old ones, links pinning a version, suggestions from
//! the tenant's and its provider's shared articles, views, deflection (solved, raised by a
//! ticket, or swept after the window by two sweepers at once) and isolation.
#![allow(clippy::expect_used)]

use std::time::Duration as StdDuration;

use catalogue::workers::{ApprovalWorkers, Job};
use chrono::{Duration, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use testkit::{TestApp, app, json, reqwest::Method};

use crate::portfolio::{known, patch, s};

const ARTICLES: &str = "/api/v1/knowledge/articles";

/// Writes an article as `author` and has `publisher` publish it: its id.
async fn published(
    app: &TestApp,
    author: &str,
    publisher: &str,
    body: serde_json::Value,
) -> String {
    let id = s(&app.post(ARTICLES, author, body).await.expect(201)["id"]);
    let moves = format!("{ARTICLES}/{id}/transitions");
    app.post(&moves, author, json!({"to": "review"}))
        .await
        .expect(200);
    app.post(&moves, publisher, json!({"to": "published"}))
        .await
        .expect(200);
    id
}

pub(crate) async fn outbox_count(app: &TestApp, event: &str) -> i64 {
    let su = app.superuser().await;
    let row = su
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT count(*) AS n FROM catalogue.outbox WHERE routing_key LIKE '%{event}%'"
            ),
        ))
        .await
        .expect("query")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

#[tokio::test]
async fn articles_are_published_by_someone_else_and_new_versions_supersede_old_ones() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    let owner = app.token("service-owner@globex.demo.test").await;
    let admin = app.token("admin@globex.demo.test").await;
    let requester = app.token("requester@globex.demo.test").await;
    known(&app, &agent).await;

    // Bad input: every field at its pointer, nothing written.
    let bad = app
        .post(ARTICLES, &agent, json!({"title": " ", "body": ""}))
        .await;
    let pointers: Vec<String> = bad.expect(422)["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| s(&e["pointer"]))
        .collect();
    assert_eq!(pointers, vec!["/title", "/body"]);
    let bad = app
        .post(
            ARTICLES,
            &agent,
            json!({"title": "A", "body": "B", "audience": "everyone"}),
        )
        .await;
    assert_eq!(bad.status.as_u16(), 422, "{:?}", bad.body);
    app.post(ARTICLES, &requester, json!({"title": "A", "body": "B"}))
        .await
        .expect(403);

    let created = app
        .post(
            ARTICLES,
            &agent,
            json!({"title": "Printer jams on tray 2", "body": "Fan the paper before loading tray 2."}),
        )
        .await;
    let created = created.expect(201).clone();
    assert_eq!(created["version"], 1);
    assert_eq!(created["state"], "draft");
    assert!(s(&created["number"]).starts_with("KB"));
    let id = s(&created["id"]);
    let path = format!("{ARTICLES}/{id}");
    let moves = format!("{path}/transitions");
    // A draft is nobody's to read but its tenant's staff.
    app.get(&path, &requester).await.expect(404);

    // The service owner edits the draft and so joins its writers.
    let edited = patch(
        &app,
        &path,
        &owner,
        json!({"body": "Fan the paper, then load tray 2."}),
        None,
    )
    .await;
    assert_eq!(edited.expect(200)["version"], 1);
    let r = app.post(&moves, &admin, json!({"to": "published"})).await;
    assert_eq!(r.expect(409)["code"], "transition_not_allowed");
    assert_eq!(r.body["extra"]["allowed"], json!(["review"]));
    app.post(&moves, &agent, json!({"to": "review"}))
        .await
        .expect(200);
    let r = patch(&app, &path, &agent, json!({"title": "Tray 2"}), None).await;
    assert_eq!(r.expect(409)["code"], "in_review");
    // Agents may not publish; a writer may not publish what they wrote.
    let r = app.post(&moves, &agent, json!({"to": "published"})).await;
    assert_eq!(r.expect(403)["code"], "insufficient_scope");
    let r = app.post(&moves, &owner, json!({"to": "published"})).await;
    assert_eq!(r.expect(403)["code"], "publisher_is_author");
    let done = app.post(&moves, &admin, json!({"to": "published"})).await;
    assert_eq!(done.expect(200)["state"], "published");
    assert_eq!(outbox_count(&app, "article.published").await, 1);
    let read = app.get(&path, &requester).await;
    assert_eq!(read.expect(200)["body"], "Fan the paper, then load tray 2.");

    // Linking pins the published version.
    let incident = uuid::Uuid::now_v7().to_string();
    let link = json!({"target_type": "incident", "target_id": incident});
    let linked = app
        .post(&format!("{path}/links"), &agent, link.clone())
        .await;
    assert_eq!(linked.expect(201)["article_version"], 1);
    let again = app.post(&format!("{path}/links"), &agent, link).await;
    assert_eq!(again.expect(409)["code"], "already_linked");
    let r = app
        .post(
            &format!("{path}/links"),
            &agent,
            json!({"target_type": "change", "target_id": incident}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 422);

    // An edit drafts version 2; readers keep version 1 until it is published.
    let etag = app.get(&path, &agent).await;
    let revision: i64 = etag
        .headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_matches('"').parse().ok())
        .expect("an etag");
    let stale = patch(
        &app,
        &path,
        &agent,
        json!({"body": "x"}),
        Some(revision + 7),
    )
    .await;
    stale.expect(412);
    let v2 = patch(
        &app,
        &path,
        &agent,
        json!({"body": "Use tray 1 instead."}),
        Some(revision),
    )
    .await;
    let v2 = v2.expect(200).clone();
    assert_eq!(
        (v2["version"].clone(), v2["state"].clone()),
        (json!(2), json!("draft"))
    );
    assert_eq!(v2["published_version"], 1);
    let read = app.get(&path, &requester).await;
    assert_eq!(read.expect(200)["version"], 1);
    app.post(&moves, &agent, json!({"to": "review"}))
        .await
        .expect(200);
    app.post(&moves, &owner, json!({"to": "published"}))
        .await
        .expect(200);
    let read = app.get(&path, &requester).await;
    assert_eq!(read.expect(200)["body"], "Use tray 1 instead.");
    let versions = app.get(&format!("{path}/versions"), &agent).await;
    let states: Vec<String> = versions.expect(200)["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|v| s(&v["state"]))
        .collect();
    assert_eq!(states, vec!["retired", "published"]);
    let links = app.get(&format!("{path}/links"), &agent).await;
    assert_eq!(
        links.expect(200)["items"][0]["article_version"],
        1,
        "still pinned"
    );

    // Another tenant's staff and requesters find nothing of it.
    let initech = app.token("agent@initech.demo.test").await;
    app.get(&path, &initech).await.expect(404);
    patch(&app, &path, &initech, json!({"body": "mine"}), None)
        .await
        .expect(404);
    app.post(&moves, &initech, json!({"to": "review"}))
        .await
        .expect(404);
    app.get(&format!("{path}/links"), &initech)
        .await
        .expect(404);
    app.get(&format!("{path}/versions"), &initech)
        .await
        .expect(404);

    // Retiring withdraws it.
    app.post(&moves, &admin, json!({"to": "retired"}))
        .await
        .expect(200);
    app.get(&path, &requester).await.expect(404);
    assert_eq!(outbox_count(&app, "article.retired").await, 1);
}

#[tokio::test]
async fn suggestions_deflect_when_solved_or_quiet_and_not_when_a_ticket_follows() {
    let app = app!();
    let msp_agent = app.token("msp-agent@demo.test").await;
    let msp_admin = app.token("msp-admin@demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    let admin = app.token("admin@globex.demo.test").await;
    let requester = app.token("requester@globex.demo.test").await;
    known(&app, &agent).await;
    known(&app, &msp_agent).await;

    let shared = published(
        &app,
        &msp_agent,
        &msp_admin,
        json!({"title": "Reset your VPN password", "body": "Open the password page and follow the reset link.", "share_with_customers": true}),
    )
    .await;
    let internal = published(
        &app,
        &msp_agent,
        &msp_admin,
        json!({"title": "VPN concentrator runbook", "body": "Restart the VPN password service on the concentrator."}),
    )
    .await;
    let for_agents = published(
        &app,
        &agent,
        &admin,
        json!({"title": "VPN password sync lag", "body": "Password changes reach the VPN within five minutes.", "audience": "agents"}),
    )
    .await;
    let own = published(
        &app,
        &agent,
        &admin,
        json!({"title": "VPN disconnects every hour", "body": "Turn off sleep on battery, then reconnect the VPN."}),
    )
    .await;

    let suggest = |token: String, text: &'static str| {
        let app = &app;
        async move {
            let r = app
                .post(
                    "/api/v1/knowledge/suggestions",
                    &token,
                    json!({"text": text, "context": "incident_create"}),
                )
                .await;
            r.expect(201).clone()
        }
    };
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["articles"]
            .as_array()
            .expect("articles")
            .iter()
            .map(|a| s(&a["id"]))
            .collect()
    };
    // The requester: their tenant's and the provider's shared article, never the provider's
    // unshared one nor one for agents; the best match first.
    let seen = suggest(requester.clone(), "forgot my vpn password").await;
    let found = ids(&seen);
    assert_eq!(found.first(), Some(&shared), "{seen}");
    assert!(found.contains(&own), "{seen}");
    assert!(
        !found.contains(&internal) && !found.contains(&for_agents),
        "{seen}"
    );
    assert!(!s(&seen["articles"][0]["snippet"]).is_empty());
    let read = app.get(&format!("{ARTICLES}/{shared}"), &requester).await;
    assert_eq!(
        read.expect(200)["inherited"],
        true,
        "the provider's, shared"
    );
    let read = app.get(&format!("{ARTICLES}/{own}"), &requester).await;
    assert_eq!(read.expect(200)["inherited"], false);
    // An agent also gets the agents' article.
    let staff = suggest(agent.clone(), "vpn password").await;
    assert!(ids(&staff).contains(&for_agents), "{staff}");
    // Another customer gets the shared article only.
    let initech = app.token("requester@initech.demo.test").await;
    let other = suggest(initech.clone(), "vpn password disconnects").await;
    assert_eq!(ids(&other), vec![shared.clone()], "{other}");
    let r = app
        .post(
            "/api/v1/knowledge/suggestions",
            &requester,
            json!({"text": "", "context": "incident_create"}),
        )
        .await;
    assert_eq!(r.expect(422)["errors"][0]["pointer"], "/text");

    // Solved: deflected at once, announced.
    let session = s(&seen["suggestion_session_id"]);
    let views = format!("/api/v1/knowledge/suggestions/{session}/views");
    let r = app
        .post(&views, &requester, json!({"article_id": internal}))
        .await;
    assert_eq!(r.expect(422)["errors"][0]["code"], "not_suggested");
    app.post(&views, &initech, json!({"article_id": shared}))
        .await
        .expect(404);
    app.post(&views, &agent, json!({"article_id": shared}))
        .await
        .expect(404);
    let viewed = app
        .post(
            &views,
            &requester,
            json!({"article_id": shared, "solved": true}),
        )
        .await;
    assert_eq!(viewed.expect(200)["outcome"], "deflected");
    assert_eq!(outbox_count(&app, "suggestion.deflected").await, 1);

    // Viewed, then an incident raised for the requester within the window: raised.
    let raised = suggest(requester.clone(), "vpn disconnects").await;
    let raised_views = format!(
        "/api/v1/knowledge/suggestions/{}/views",
        s(&raised["suggestion_session_id"])
    );
    let viewed = app
        .post(&raised_views, &requester, json!({"article_id": own}))
        .await;
    assert_eq!(viewed.expect(200)["outcome"], "pending");
    assert!(viewed.body["decides_at"].is_string());
    let requester_id = app.user_id(&admin, "requester@globex.demo.test").await;
    let incident = json!({"title": "VPN keeps dropping", "impact": 3, "urgency": 3, "caller_id": requester_id});
    let mut created = false;
    for _ in 0..100 {
        if app
            .post("/api/v1/incidents", &agent, incident.clone())
            .await
            .status
            .as_u16()
            == 201
        {
            created = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert!(created, "the incident service never learned the requester");

    // Viewed several times and nothing raised: two sweepers past the window deflect each
    // once.
    const QUIET: usize = 4;
    let quiet_requester = app.token("service-owner@globex.demo.test").await;
    for _ in 0..QUIET {
        let q = suggest(quiet_requester.clone(), "vpn password").await;
        let path = format!(
            "/api/v1/knowledge/suggestions/{}/views",
            s(&q["suggestion_session_id"])
        );
        assert!(ids(&q).contains(&shared), "{q}");
        app.post(&path, &quiet_requester, json!({"article_id": shared}))
            .await
            .expect(200);
    }
    let figures = |token: String| {
        let app = &app;
        async move {
            let r = app.get("/api/v1/knowledge/deflection", &token).await;
            r.expect(200).clone()
        }
    };
    // The incident's event reaches the catalogue: the session is raised.
    let mut f = figures(agent.clone()).await;
    for _ in 0..100 {
        if f["raised"] == 1 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        f = figures(agent.clone()).await;
    }
    assert_eq!(f["raised"], 1, "{f}");

    let target = platform::db::Target::from_settings(&app.settings, "catalogue").expect("target");
    let db = platform::db::connect_app(&target, "catalogue", 10)
        .await
        .expect("app connection");
    let (a, b) = (ApprovalWorkers::new(db.clone()), ApprovalWorkers::new(db));
    let now = Utc::now();
    assert_eq!(
        a.tick(Job::Deflection, now).await.expect("tick"),
        0,
        "not yet"
    );
    let later = now + Duration::minutes(45);
    let (x, y) = tokio::join!(
        a.tick(Job::Deflection, later),
        b.tick(Job::Deflection, later)
    );
    assert_eq!(x.expect("tick") + y.expect("tick"), QUIET);
    let (x, y) = tokio::join!(
        a.tick(Job::Deflection, later),
        b.tick(Job::Deflection, later)
    );
    assert_eq!(x.expect("tick") + y.expect("tick"), 0, "decided once");
    assert_eq!(
        outbox_count(&app, "suggestion.deflected").await,
        1 + QUIET as i64
    );

    // globex's figures: 1 solved + 4 quiet deflected, 1 raised, of 7 sessions (the agent's
    // unviewed one included); initech's own figures are its own.
    let f = figures(agent.clone()).await;
    assert_eq!(f["sessions"], 7, "{f}");
    assert_eq!(f["viewed"], 6);
    assert_eq!(f["deflected"], 1 + QUIET);
    assert_eq!(f["raised"], 1);
    let ratio = f["deflection_ratio"].as_f64().expect("ratio");
    assert!((ratio - 5.0 / 7.0).abs() < 1e-9);
    let top = &f["by_article"][0];
    assert_eq!(top["article_id"], shared.as_str());
    assert_eq!(top["title"], "Reset your VPN password");
    let f = figures(app.token("agent@initech.demo.test").await).await;
    assert_eq!(
        (f["sessions"].clone(), f["deflected"].clone()),
        (json!(1), json!(0))
    );
    app.get("/api/v1/knowledge/deflection", &requester)
        .await
        .expect(403);
    let r = app
        .call(
            Method::GET,
            "/api/v1/knowledge/deflection?from=2026-12-10&to=2026-12-01",
            Some(&agent),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status.as_u16(), 400);
}
