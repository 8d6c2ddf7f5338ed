//! The SLA engine over HTTP on PostgreSQL: calendars and definitions (validated, inherited from
//! the MSP, isolated between tenants), clocks that follow the incident, the explained timeline,
//! and thresholds fired exactly once by concurrent schedulers at fixed instants.
#![allow(clippy::expect_used)] // A test fails loudly on a broken set-up.

use std::{sync::Arc, time::Duration};

use crate::common::{around_the_clock, ready, s};
use chrono::Utc;
use incident::sla::{Sla, scheduler::Scheduler};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use testkit::{app, json, reqwest::Method};

fn pointers(body: &serde_json::Value) -> Vec<String> {
    let mut p: Vec<String> = body["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| s(&e["pointer"])).collect())
        .unwrap_or_default();
    p.sort();
    p
}

fn office_hours() -> serde_json::Value {
    let days = ["monday", "tuesday", "wednesday", "thursday", "friday"];
    json!(
        days.iter()
            .map(|d| json!({"day": d, "start": "09:00", "end": "17:00"}))
            .collect::<Vec<_>>()
    )
}

#[tokio::test]
async fn calendars_and_definitions_are_validated_inherited_and_isolated() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let globex = app.token("admin@globex.demo.test").await;
    let initech = app.token("admin@initech.demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    ready(&app, &globex).await;
    ready(&app, &initech).await;

    // Bad calendars: each wrong field named, nothing written.
    let r = app
        .post(
            "/api/v1/sla/calendars",
            &msp,
            json!({"name": "x", "time_zone": "Mars/Olympus", "weekly_hours": [
                {"day": "monday", "start": "09:00", "end": "17:00"},
                {"day": "monday", "start": "12:00", "end": "18:00"},
                {"day": "tuesday", "start": "09:00", "end": "25:00"}]}),
        )
        .await;
    assert_eq!(
        pointers(r.expect(422)),
        vec!["/time_zone", "/weekly_hours/1", "/weekly_hours/2/end"]
    );
    let r = app
        .post(
            "/api/v1/sla/calendars",
            &msp,
            json!({"name": "x", "time_zone": "UTC", "weekly_hours": [{"day": "caturday", "start": "09:00", "end": "17:00"}]}),
        )
        .await;
    assert_eq!(pointers(r.expect(422)), vec!["/weekly_hours/0/day"]);
    let r = app
        .post(
            "/api/v1/sla/calendars",
            &msp,
            json!({"name": "x", "time_zone": "UTC", "weekly_hours": [], "holidays": [{"date": "2026-02-30"}]}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 422, "{:?}", r.body);
    assert!(
        app.get("/api/v1/sla/calendars", &msp)
            .await
            .expect(200)
            .as_array()
            .is_some_and(|a| a.is_empty())
    );

    // The MSP's default calendar is its customers' too, read-only for them.
    let cal = app
        .post(
            "/api/v1/sla/calendars",
            &msp,
            json!({"name": "Berlin office", "is_default": true, "time_zone": "Europe/Berlin",
                   "weekly_hours": office_hours(), "holidays": [{"date": "2026-12-25", "name": "Christmas Day"}]}),
        )
        .await;
    let cal_id = s(&cal.expect(201)["id"]);
    let seen = app.get("/api/v1/sla/calendars", &globex).await;
    assert_eq!(seen.expect(200)[0]["id"], json!(cal_id));
    assert_eq!(seen.body[0]["inherited"], json!(true));
    let edit = app
        .call(
            Method::PUT,
            &format!("/api/v1/sla/calendars/{cal_id}"),
            Some(&globex),
            Some(json!({"name": "mine now", "time_zone": "UTC", "weekly_hours": office_hours()})),
            &[],
        )
        .await;
    assert_eq!(edit.expect(403)["code"], "inherited");
    // A stale ETag is refused; the current one is accepted.
    let cal_path = format!("/api/v1/sla/calendars/{cal_id}");
    let put = |etag: &'static str| {
        let (app, path, msp) = (&app, &cal_path, &msp);
        async move {
            app.call(
                Method::PUT,
                path,
                Some(msp),
                Some(json!({"name": "Berlin office", "is_default": true, "time_zone": "Europe/Berlin", "weekly_hours": office_hours()})),
                &[("If-Match", etag)],
            )
            .await
        }
    };
    put("\"7\"").await.expect(412);
    assert_eq!(put("\"1\"").await.expect(200)["version"], 2);

    // A customer's own calendar is invisible to another customer.
    let own = app
        .post(
            "/api/v1/sla/calendars",
            &globex,
            json!({"name": "Globex 24x7", "time_zone": "UTC", "weekly_hours": around_the_clock()}),
        )
        .await;
    let own_id = s(&own.expect(201)["id"]);
    app.get(&format!("/api/v1/sla/calendars/{own_id}"), &initech)
        .await
        .expect(404);
    assert!(
        app.get("/api/v1/sla/calendars", &initech)
            .await
            .expect(200)
            .as_array()
            .is_some_and(|a| a.iter().all(|c| c["id"] != json!(own_id)))
    );

    // Bad definitions: unknown condition fields, wrong values, another tenant's calendar.
    let r = app
        .post(
            "/api/v1/sla/definitions",
            &initech,
            json!({"name": "P1", "kind": "resolution", "target_seconds": 30, "calendar_id": own_id,
                   "rules": {"applies_when": [{"field": "priority", "op": "in", "value": [1, 9]}],
                             "stop_when": []}}),
        )
        .await;
    assert_eq!(
        pointers(r.expect(422)),
        vec![
            "/calendar_id",
            "/rules/applies_when/0/value",
            "/rules/stop_when",
            "/target_seconds"
        ]
    );
    let r = app
        .post(
            "/api/v1/sla/definitions",
            &initech,
            json!({"name": "P1", "kind": "resolution", "target_seconds": 3600,
                   "rules": {"applies_when": [{"field": "colour", "op": "eq", "value": "red"}],
                             "stop_when": [{"field": "state", "op": "eq", "value": "resolved"}]}}),
        )
        .await;
    assert_eq!(pointers(r.expect(422)), vec!["/rules/applies_when/0/field"]);
    let r = app
        .post(
            "/api/v1/sla/definitions",
            &initech,
            json!({"name": "P1", "kind": "eventually", "target_seconds": 3600}),
        )
        .await;
    assert_eq!(pointers(r.expect(422)), vec!["/kind"]);
    // Agents read the set-up but do not change it.
    app.post(
        "/api/v1/sla/definitions",
        &agent,
        json!({"name": "P1", "kind": "response", "target_seconds": 3600}),
    )
    .await
    .expect(403);
    app.get("/api/v1/sla/definitions", &agent).await.expect(200);
    let def = app
        .post(
            "/api/v1/sla/definitions",
            &globex,
            json!({"name": "Globex response", "kind": "response", "target_seconds": 3600}),
        )
        .await;
    let def_id = s(&def.expect(201)["id"]);
    assert_eq!(
        def.body["rules"]["stop_when"][0]["op"], "ne",
        "the usual rules"
    );
    app.get(&format!("/api/v1/sla/definitions/{def_id}"), &initech)
        .await
        .expect(404);
    let deactivated = app
        .call(
            Method::PUT,
            &format!("/api/v1/sla/definitions/{def_id}"),
            Some(&globex),
            Some(json!({"name": "Globex response", "kind": "response", "target_seconds": 3600, "active": false})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(deactivated.expect(200)["active"], false);
}

#[tokio::test]
async fn clocks_follow_the_incident_and_explain_every_second() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    let requester = app.token("requester@globex.demo.test").await;
    let other = app.token("agent@initech.demo.test").await;
    ready(&app, &agent).await;
    ready(&app, &other).await;
    // The MSP's definitions apply to its customers' incidents, on around-the-clock time.
    let cal = app
        .post(
            "/api/v1/sla/calendars",
            &msp,
            json!({"name": "24x7", "time_zone": "UTC", "weekly_hours": around_the_clock()}),
        )
        .await;
    let cal_id = s(&cal.expect(201)["id"]);
    app.post(
        "/api/v1/sla/definitions",
        &msp,
        json!({"name": "P3 resolution", "kind": "resolution", "target_seconds": 28800, "calendar_id": cal_id,
               "rules": {"applies_when": [{"field": "priority", "op": "eq", "value": 3}],
                         "pause_when": [{"field": "state", "op": "eq", "value": "on_hold"}],
                         "stop_when": [{"field": "state", "op": "in", "value": ["resolved", "closed", "canceled"]}]}}),
    )
    .await
    .expect(201);
    app.post(
        "/api/v1/sla/definitions",
        &msp,
        json!({"name": "Response", "kind": "response", "target_seconds": 3600, "calendar_id": cal_id}),
    )
    .await
    .expect(201);
    let inc = app
        .post(
            "/api/v1/incidents",
            &requester,
            json!({"title": "Mail is slow", "impact": 2, "urgency": 2}),
        )
        .await;
    let id = s(&inc.expect(201)["id"]);
    // SLA time is kept in whole seconds: let one pass before the first change.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let sla = app
        .get(&format!("/api/v1/incidents/{id}/sla"), &agent)
        .await;
    let clocks = sla.expect(200)["clocks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<String> = clocks.iter().map(|c| s(&c["name"])).collect();
    assert_eq!(names, vec!["P3 resolution", "Response"]);
    assert!(
        clocks
            .iter()
            .all(|c| c["status"] == "running" && c["due_at"].is_string())
    );

    // Work starts (response stops), then the incident waits for the caller (resolution pauses).
    let moves = format!("/api/v1/incidents/{id}/transitions");
    let go = |to: &str, extra: serde_json::Value| {
        let mut body = json!({"to": to});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        app.post(&moves, &agent, body)
    };
    go("in_progress", json!({})).await.expect(200);
    go("on_hold", json!({"hold_reason": "awaiting_caller"}))
        .await
        .expect(200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let sla = app
        .get(&format!("/api/v1/incidents/{id}/sla"), &agent)
        .await;
    let clocks = sla.expect(200)["clocks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(clocks[0]["status"], "paused");
    assert_eq!(clocks[0]["due_at"], serde_json::Value::Null);
    assert_eq!(clocks[1]["status"], "stopped");
    let timeline = clocks[0]["timeline"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let kinds: Vec<String> = timeline.iter().map(|t| s(&t["kind"])).collect();
    assert_eq!(kinds, vec!["running", "paused"]);
    assert_eq!(timeline[1]["reason"], "on_hold (awaiting_caller)");
    assert!(timeline[1]["seconds"].as_i64().unwrap_or(0) >= 1);
    let counted: i64 = timeline
        .iter()
        .filter(|t| t["counts"] == true)
        .map(|t| t["seconds"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(json!(counted), clocks[0]["elapsed_seconds"]);
    // The caller answers: the clock resumes by itself. Resolving stops it for good.
    app.post(
        &format!("/api/v1/incidents/{id}/comments"),
        &requester,
        json!({"body": "Still slow", "visibility": "public"}),
    )
    .await
    .expect(201);
    go(
        "resolved",
        json!({"resolution_code": "fixed", "resolution_notes": "Quota raised"}),
    )
    .await
    .expect(200);
    let first = app
        .get(&format!("/api/v1/incidents/{id}/sla"), &requester)
        .await;
    let marks: Vec<String> = first.expect(200)["clocks"][0]["marks"]
        .as_array()
        .map(|a| a.iter().map(|m| s(&m["mark"])).collect())
        .unwrap_or_default();
    assert_eq!(marks, vec!["started", "paused", "resumed", "stopped"]);
    // A stopped clock recomputes identically, whoever asks and whenever.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = app
        .get(&format!("/api/v1/incidents/{id}/sla"), &agent)
        .await;
    assert_eq!(again.expect(200)["clocks"], first.body["clocks"]);
    // Another tenant: 404, like the incident itself.
    app.get(&format!("/api/v1/incidents/{id}/sla"), &other)
        .await
        .expect(404);
    // A priority outside the definition's selection gets no resolution clock.
    let p5 = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "Wallpaper", "impact": 3, "urgency": 3}),
        )
        .await;
    let p5 = s(&p5.expect(201)["id"]);
    let sla = app
        .get(&format!("/api/v1/incidents/{p5}/sla"), &agent)
        .await;
    assert_eq!(sla.expect(200)["clocks"].as_array().map(Vec::len), Some(1));
    // Events announce the resolution.
    let su = app.superuser().await;
    let n = count(
        &su,
        "SELECT count(*) AS n FROM incident.outbox WHERE routing_key LIKE '%incident.resolved%'",
    )
    .await;
    assert_eq!(n, 1);
}

async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .ok()
        .flatten()
        .and_then(|r| r.try_get::<i64>("", "n").ok())
        .unwrap_or(-1)
}

#[tokio::test]
async fn two_schedulers_fire_each_threshold_exactly_once_and_never_while_paused() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    ready(&app, &agent).await;
    let cal = app
        .post(
            "/api/v1/sla/calendars",
            &admin,
            json!({"name": "24x7", "is_default": true, "time_zone": "UTC", "weekly_hours": around_the_clock()}),
        )
        .await;
    cal.expect(201);
    app.post(
        "/api/v1/sla/definitions",
        &admin,
        json!({"name": "Resolution", "kind": "resolution", "target_seconds": 3600}),
    )
    .await
    .expect(201);
    let mut ids = Vec::new();
    for i in 0..120 {
        let r = app
            .post(
                "/api/v1/incidents",
                &agent,
                json!({"title": format!("Disk full {i}"), "impact": 2, "urgency": 2}),
            )
            .await;
        ids.push(s(&r.expect(201)["id"]));
    }
    // One incident waits for a vendor from the start: its clock pauses at 0 %.
    let paused = &ids[0];
    app.post(
        &format!("/api/v1/incidents/{paused}/transitions"),
        &agent,
        json!({"to": "on_hold", "hold_reason": "awaiting_vendor"}),
    )
    .await
    .expect(200);

    let target = platform::db::Target::from_settings(&app.settings, "incident").expect("target");
    let db = platform::db::connect_app(&target, "incident", 10)
        .await
        .expect("app connection");
    let a = Scheduler::new(db.clone(), Arc::new(Sla::new(db.clone())));
    let b = Scheduler::new(db.clone(), Arc::new(Sla::new(db.clone())));
    // Fixed instants: 40 minutes in (50 % due), then three days later (everything due).
    let soon = Utc::now() + chrono::Duration::minutes(40);
    let (x, y) = tokio::join!(a.tick(soon), b.tick(soon));
    let (x, y) = (x.expect("tick"), y.expect("tick"));
    assert_eq!(
        x.thresholds + y.thresholds,
        119,
        "50 % of every running clock"
    );
    let later = Utc::now() + chrono::Duration::days(3);
    let (x, y) = tokio::join!(a.tick(later), b.tick(later));
    let (x, y) = (x.expect("tick"), y.expect("tick"));
    assert_eq!(x.thresholds + y.thresholds, 119 * 2, "75 and 100 %");
    let (x, y) = tokio::join!(a.tick(later), b.tick(later));
    assert_eq!(
        x.expect("tick").clocks + y.expect("tick").clocks,
        0,
        "nothing left"
    );

    let su = app.superuser().await;
    let per_clock = count(
        &su,
        "SELECT count(*) AS n FROM (SELECT clock_id, mark, count(*) FROM incident.sla_clock_events \
         WHERE mark LIKE '%threshold%' GROUP BY clock_id, mark HAVING count(*) <> 1) dup",
    )
    .await;
    assert_eq!(per_clock, 0, "no threshold recorded twice");
    let warnings = count(
        &su,
        "SELECT count(*) AS n FROM incident.outbox WHERE routing_key LIKE '%sla_clock.warning%'",
    )
    .await;
    let breaches = count(
        &su,
        "SELECT count(*) AS n FROM incident.outbox WHERE routing_key LIKE '%sla_clock.breached%'",
    )
    .await;
    assert_eq!((warnings, breaches), (119 * 3, 119));
    // The paused clock: nothing fired, not breached, though its target passed long ago.
    let sla = app
        .get(&format!("/api/v1/incidents/{paused}/sla"), &agent)
        .await;
    let clock = &sla.expect(200)["clocks"][0];
    assert_eq!(clock["status"], "paused");
    assert_eq!(clock["breached"], false);
    assert!(
        clock["marks"]
            .as_array()
            .is_some_and(|m| m.iter().all(|m| m["mark"] != "threshold"))
    );
    // A breached clock says so, with the instant it was reached.
    let sla = app
        .get(&format!("/api/v1/incidents/{}/sla", ids[1]), &agent)
        .await;
    let clock = &sla.expect(200)["clocks"][0];
    assert_eq!(clock["breached"], true);
    let reached: Vec<i64> = clock["marks"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter(|m| m["mark"] == "threshold")
                .map(|m| m["percent"].as_i64().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(reached, vec![50, 75, 100]);
}
