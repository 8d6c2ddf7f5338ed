//! Problems over HTTP on PostgreSQL: analysis, known errors, linked incidents, resolution that
//! resolves incidents, and isolation.

use crate::common::{ready, s};
use testkit::{app, json, reqwest::Method};

#[tokio::test]
async fn resolving_a_problem_resolves_its_open_incidents() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    ready(&app, &agent).await;
    let a = s(&app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "Mail slow", "impact": 2, "urgency": 2}),
        )
        .await
        .body["id"]);
    let b = s(&app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "Mail bounces", "impact": 2, "urgency": 1}),
        )
        .await
        .body["id"]);
    let c = s(&app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "Mail canceled", "impact": 3, "urgency": 3}),
        )
        .await
        .body["id"]);
    app.post(
        &format!("/api/v1/incidents/{c}/transitions"),
        &agent,
        json!({"to": "canceled"}),
    )
    .await
    .expect(200);

    let created = app
        .post(
            "/api/v1/problems",
            &agent,
            json!({"title": "Mail relay overloaded"}),
        )
        .await;
    let problem = created.expect(201).clone();
    assert_eq!(problem["number"], "PRB0001001");
    assert_eq!(problem["state"], "open");
    let id = s(&problem["id"]);
    for inc in [&a, &b, &c] {
        app.call(
            Method::PUT,
            &format!("/api/v1/problems/{id}/incidents/{inc}"),
            Some(&agent),
            None,
            &[],
        )
        .await
        .expect(200);
    }
    // Known error needs analysis first.
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/v1/problems/{id}"),
            Some(&agent),
            Some(json!({"known_error": true})),
            &[],
        )
        .await;
    assert_eq!(r.expect(422)["errors"][0]["pointer"], "/known_error");
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/v1/problems/{id}"),
            Some(&agent),
            Some(json!({"workaround": "Route via the backup relay", "known_error": true})),
            &[],
        )
        .await;
    assert_eq!(r.expect(200)["known_error"], true);
    assert_eq!(r.body["linked_incidents"].as_array().map(Vec::len), Some(3));
    let known = app.get("/api/v1/problems?known_error=true", &agent).await;
    assert_eq!(known.expect(200)["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        known.body["items"][0]["linked_incidents"],
        r.body["linked_incidents"]
    );

    let resolved = app
        .post(
            &format!("/api/v1/problems/{id}/resolve"),
            &agent,
            json!({"resolution_notes": "Relay scaled out", "resolve_incidents": true}),
        )
        .await;
    assert_eq!(resolved.expect(200)["state"], "resolved");
    for inc in [&a, &b] {
        let i = app.get(&format!("/api/v1/incidents/{inc}"), &agent).await;
        assert_eq!(i.expect(200)["state"], "resolved");
        assert_eq!(i.body["resolution_code"], "problem_resolved");
        assert!(s(&i.body["resolution_notes"]).starts_with("Resolved by PRB0001001"));
    }
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{c}"), &agent)
            .await
            .body["state"],
        "canceled"
    );
    let again = app
        .post(
            &format!("/api/v1/problems/{id}/resolve"),
            &agent,
            json!({"resolution_notes": "x"}),
        )
        .await;
    assert_eq!(again.expect(409)["code"], "problem_not_open");
    app.call(
        Method::DELETE,
        &format!("/api/v1/problems/{id}/incidents/{c}"),
        Some(&agent),
        None,
        &[],
    )
    .await
    .expect(200);
    app.call(
        Method::DELETE,
        &format!("/api/v1/problems/{id}/incidents/{c}"),
        Some(&agent),
        None,
        &[],
    )
    .await
    .expect(404);
}

#[tokio::test]
async fn problems_reject_bad_input_and_are_invisible_to_other_tenants_and_requesters() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    let other = app.token("agent@initech.demo.test").await;
    ready(&app, &agent).await;
    ready(&app, &other).await;
    app.post("/api/v1/problems", &agent, json!({"title": ""}))
        .await
        .expect(422);
    app.post(
        "/api/v1/problems",
        &agent,
        json!({"title": "x", "severity": 1}),
    )
    .await
    .expect(422);
    app.post(
        "/api/v1/problems",
        &agent,
        json!({"title": "x", "root_cause": "\u{0}"}),
    )
    .await
    .expect(422);
    let id = s(&app
        .post("/api/v1/problems", &agent, json!({"title": "Ours"}))
        .await
        .body["id"]);
    let theirs_incident = s(&app
        .post(
            "/api/v1/incidents",
            &other,
            json!({"title": "Theirs", "impact": 1, "urgency": 1}),
        )
        .await
        .body["id"]);
    // Their incident cannot be linked to our problem.
    app.call(
        Method::PUT,
        &format!("/api/v1/problems/{id}/incidents/{theirs_incident}"),
        Some(&agent),
        None,
        &[],
    )
    .await
    .expect(404);
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/problems/{id}"), None),
        (
            Method::PATCH,
            format!("/api/v1/problems/{id}"),
            Some(json!({"workaround": "x"})),
        ),
        (
            Method::POST,
            format!("/api/v1/problems/{id}/resolve"),
            Some(json!({"resolution_notes": "x"})),
        ),
        (
            Method::PUT,
            format!("/api/v1/problems/{id}/incidents/{theirs_incident}"),
            None,
        ),
    ] {
        let r = app
            .call(method.clone(), &path, Some(&other), body, &[])
            .await;
        assert_eq!(r.status.as_u16(), 404, "{method} {path}");
    }
    assert_eq!(
        app.get("/api/v1/problems", &other).await.expect(200)["items"],
        json!([])
    );
    let requester = app.token("requester@globex.demo.test").await;
    app.get("/api/v1/problems", &requester).await.expect(403);
    app.post("/api/v1/problems", &requester, json!({"title": "x"}))
        .await
        .expect(403);
}
