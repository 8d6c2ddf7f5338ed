//! The figures over HTTP on PostgreSQL: an incident's life as the summary, time series and
//! backlog count it; bad queries name their parameter; other tenants' figures stay out.
#![allow(clippy::expect_used)]
use std::time::Duration;

use serde_json::{Value, json};
use testkit::{TestApp, app};

use crate::store::known;

async fn summary(app: &TestApp, token: &str, query: &str) -> Value {
    app.get(&format!("/api/v1/analytics/summary{query}"), token)
        .await
        .expect(200)
        .clone()
}

/// Polls the summary until `done` holds for it.
async fn summary_until(
    app: &TestApp,
    token: &str,
    query: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..150 {
        let s = summary(app, token, query).await;
        if done(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the summary never showed {what}: {}",
        summary(app, token, query).await
    );
}

fn n(v: &Value) -> i64 {
    v.as_i64().expect("a count")
}

/// Resolved incidents that had been reopened.
fn reopened(s: &Value) -> i64 {
    let ratio = s["incidents"]["reopen_ratio"].as_f64().unwrap_or(0.0);
    (ratio * n(&s["incidents"]["resolved"]) as f64).round() as i64
}

#[tokio::test]
async fn an_incidents_life_reaches_the_summary_series_and_backlog() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    known(&app, &agent).await;
    let before = summary(&app, &agent, "").await;
    assert_eq!(before["time_zone"].as_str().map(str::is_empty), Some(false));
    let backlog_before = app
        .get("/api/v1/analytics/backlog", &agent)
        .await
        .expect(200)
        .clone();
    let stream = "/api/v1/analytics/value-streams/incident_to_resolved";
    let stream_before = app.get(stream, &agent).await.expect(200).clone();

    let created = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "Mail queue stuck", "description": "Outbound", "impact": 2, "urgency": 2}),
        )
        .await;
    let id = created.expect(201)["id"].as_str().expect("id").to_string();
    let path = format!("/api/v1/incidents/{id}/transitions");
    let resolve =
        json!({"to": "resolved", "resolution_code": "fixed", "resolution_notes": "Flushed"});
    for body in [
        json!({"to": "in_progress"}),
        resolve.clone(),
        json!({"to": "in_progress"}),
        resolve,
    ] {
        app.post(&path, &agent, body).await.expect(200);
    }
    let created_before = n(&before["incidents"]["created"]);
    let resolved_before = n(&before["incidents"]["resolved"]);
    let reopened_before = reopened(&before);
    // Resolved once more than before, and the one resolution is after a reopen.
    let after = summary_until(&app, &agent, "", "the final resolution", |s| {
        n(&s["incidents"]["resolved"]) == resolved_before + 1 && reopened(s) == reopened_before + 1
    })
    .await;
    assert_eq!(n(&after["incidents"]["created"]), created_before + 1);
    assert!(n(&after["incidents"]["mttr_seconds"]["n"]) >= 1);
    assert!(
        after["incidents"]["mttr_seconds"]["p50"]
            .as_f64()
            .expect("p50")
            >= 0.0
    );
    assert!(after.get("rollup").is_none());

    // Its value stream: completed once (the reopen withdrew the first), every step listed.
    let flow = app.get(stream, &agent).await.expect(200).clone();
    assert_eq!(
        n(&flow["completed"]),
        n(&stream_before["completed"]) + 1,
        "{flow}"
    );
    let steps: Vec<&str> = flow["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(steps, ["queue", "acknowledge", "work", "on_hold"]);
    assert!(flow["bottleneck"]["step"].is_string(), "{flow}");
    assert!(flow["lead_time_seconds"].as_f64() >= Some(0.0), "{flow}");

    // The series: today's point holds the incident created.
    let series = app
        .get(
            "/api/v1/analytics/timeseries?metric=incidents.created&interval=day",
            &agent,
        )
        .await
        .expect(200)
        .clone();
    let points = series["items"].as_array().expect("points");
    assert_eq!(points.len(), 30);
    assert!(
        points.iter().any(|p| p["value"].as_f64() >= Some(1.0)),
        "{series}"
    );
    let weekly = app
        .get(
            "/api/v1/analytics/timeseries?metric=incidents.mttr_seconds&interval=week",
            &agent,
        )
        .await
        .expect(200)
        .clone();
    assert!(
        weekly["items"]
            .as_array()
            .expect("points")
            .iter()
            .any(|p| p["n"].as_i64() >= Some(1)),
        "{weekly}"
    );

    // Resolved: the backlog is back where it was.
    let backlog = app
        .get("/api/v1/analytics/backlog", &agent)
        .await
        .expect(200)
        .clone();
    assert_eq!(backlog["total"], backlog_before["total"]);

    // Another customer's agent sees none of it.
    let initech = app.token("agent@initech.demo.test").await;
    known(&app, &initech).await;
    let theirs = summary(&app, &initech, "").await;
    assert_eq!(
        theirs["incidents"]["resolved"],
        summary(&app, &initech, "").await["incidents"]["resolved"]
    );
    let peek = app
        .get("/api/v1/analytics/summary?tenant=globex", &initech)
        .await;
    assert_eq!(peek.expect(400)["errors"][0]["pointer"], "/query/tenant");
    let series_peek = app
        .get(
            "/api/v1/analytics/timeseries?metric=incidents.created&tenant=globex",
            &initech,
        )
        .await;
    assert_eq!(series_peek.status.as_u16(), 400);
    let backlog_peek = app
        .get("/api/v1/analytics/backlog?tenant=globex", &initech)
        .await;
    assert_eq!(backlog_peek.status.as_u16(), 400);
    let stream_peek = app.get(&format!("{stream}?tenant=globex"), &initech).await;
    assert_eq!(stream_peek.status.as_u16(), 400);

    // The MSP sees its customers one by one and together.
    let msp = app.token("msp-agent@demo.test").await;
    known(&app, &msp).await;
    let all = summary(&app, &msp, "?tenant=*").await;
    let by_tenant = all["by_tenant"].as_array().expect("by_tenant");
    assert!(by_tenant.len() >= 3, "{all}");
    let total: i64 = by_tenant
        .iter()
        .map(|t| n(&t["incidents"]["created"]))
        .sum();
    assert_eq!(n(&all["rollup"]["incidents"]["created"]), total);
    let backlog_all = app
        .get("/api/v1/analytics/backlog?tenant=*", &msp)
        .await
        .expect(200)
        .clone();
    let open: i64 = backlog_all["by_tenant"]
        .as_array()
        .expect("by_tenant")
        .iter()
        .map(|t| n(&t["total"]))
        .sum();
    assert_eq!(n(&backlog_all["rollup"]["total"]), open);
    let flow_all = app
        .get(&format!("{stream}?tenant=*"), &msp)
        .await
        .expect(200)
        .clone();
    let completed: i64 = flow_all["by_tenant"]
        .as_array()
        .expect("by_tenant")
        .iter()
        .map(|t| n(&t["completed"]))
        .sum();
    assert_eq!(n(&flow_all["rollup"]["completed"]), completed);
}

#[tokio::test]
async fn bad_queries_name_the_parameter_and_requesters_are_refused() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    known(&app, &agent).await;
    let pointer = |r: testkit::Res| {
        assert_eq!(r.content_type(), "application/problem+json");
        r.expect(400)["errors"][0]["pointer"]
            .as_str()
            .expect("pointer")
            .to_string()
    };
    for (query, field) in [
        ("summary?from=2026-12-08&to=2026-12-07", "/query/from"),
        ("summary?from=yesterday", "/query/from"),
        ("summary?to=2026-02-30", "/query/to"),
        ("summary?from=2020-01-01&to=2026-01-01", "/query/to"),
        ("timeseries?metric=incidents.nope", "/query/metric"),
        ("timeseries", "/query/metric"),
        (
            "timeseries?metric=incidents.created&interval=month",
            "/query/interval",
        ),
        (
            "timeseries?metric=incidents.created&from=2026-12-08&to=2026-12-01",
            "/query/from",
        ),
        ("value-streams/change_to_live?to=tomorrow", "/query/to"),
    ] {
        let res = app.get(&format!("/api/v1/analytics/{query}"), &agent).await;
        assert_eq!(pointer(res), field, "{query}");
    }
    let unknown = app
        .get("/api/v1/analytics/value-streams/order_to_cash", &agent)
        .await;
    assert_eq!(
        unknown.expect(404)["errors"][0]["pointer"],
        "/path/stream",
        "an unknown stream is named"
    );
    let idle = app
        .get(
            "/api/v1/analytics/value-streams/change_to_live?from=2001-01-01&to=2001-01-01",
            &agent,
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(idle["completed"], 0);
    assert_eq!(idle["bottleneck"], Value::Null);
    // An empty period of one day is a 200 with zeros and null ratios.
    let empty = summary(&app, &agent, "?from=2001-01-01&to=2001-01-01").await;
    assert_eq!(empty["incidents"]["created"], 0);
    assert_eq!(empty["incidents"]["reopen_ratio"], Value::Null);
    assert_eq!(empty["incidents"]["mtta_seconds"]["p50"], Value::Null);
    assert_eq!(empty["changes"]["success_ratio"], Value::Null);

    let definitions = app
        .get("/api/v1/analytics/definitions", &agent)
        .await
        .expect(200)
        .clone();
    let names: Vec<&str> = definitions["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|d| d["metric"].as_str())
        .collect();
    assert!(names.contains(&"incidents.mttr_excluding_hold_seconds"));

    let requester = app.token("requester@globex.demo.test").await;
    for route in [
        "summary",
        "timeseries?metric=incidents.created",
        "backlog",
        "definitions",
        "value-streams/request_to_fulfilled",
    ] {
        let res = app
            .get(&format!("/api/v1/analytics/{route}"), &requester)
            .await;
        assert_eq!(res.status.as_u16(), 403, "{route}");
    }
}
