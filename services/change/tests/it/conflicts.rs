//! Conflicts over HTTP on PostgreSQL: related CIs within two relationships (not three),
//! refreshed as soon as another change is planned, blackouts that block scheduling (an
//! emergency passes with a reason), inherited maintenance windows, dry runs, free slots, and
//! another tenant's changes never showing, even on an MSP-shared CI.
#![allow(clippy::expect_used)]
use std::time::{Duration, Instant};

use testkit::reqwest::Method;
use testkit::{TestApp, app, json};

use crate::changes::{ci, create, known, pointers, relate, s, to};

fn planned(ci: &str, start: &str, end: &str) -> serde_json::Value {
    json!({"type": "normal", "title": format!("Work on {ci}"), "affected_ci_ids": [ci],
           "planned_start": start, "planned_end": end})
}

async fn conflicts(app: &TestApp, token: &str, change: &str) -> serde_json::Value {
    app.get(&format!("/api/v1/changes/{change}/conflicts"), token)
        .await
        .expect(200)
        .clone()
}

fn others(c: &serde_json::Value) -> Vec<(String, String, i64)> {
    let mut v: Vec<(String, String, i64)> = c["conflicts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        s(&x["kind"]),
                        x["other_change_id"].as_str().unwrap_or("").to_string(),
                        x["depth"].as_i64().unwrap_or(-1),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test]
async fn related_cis_conflict_within_two_relationships_not_three_and_as_soon_as_planned() {
    let app = app!();
    let cm = app.token("change-manager@globex.demo.test").await;
    let config = app.token("configuration-manager@globex.demo.test").await;
    // a → b → c → d, each depending on the next.
    let mut chain = Vec::new();
    for name in ["cf-a", "cf-b", "cf-c", "cf-d"] {
        chain.push(ci(&app, &config, "application", name).await);
    }
    for pair in chain.windows(2) {
        relate(&app, &config, &pair[0], "depends_on", &pair[1]).await;
    }
    let (start, end) = ("2027-02-06T21:00:00Z", "2027-02-06T23:00:00Z");
    let x = s(&create(&app, &cm, planned(&chain[0], start, end)).await["id"]);
    // Back to back on the same CI: no conflict. Three relationships away: none.
    create(&app, &cm, planned(&chain[0], end, "2027-02-07T01:00:00Z")).await;
    create(&app, &cm, planned(&chain[3], start, end)).await;
    let planned_at = Instant::now();
    let y = s(&create(
        &app,
        &cm,
        planned(&chain[2], "2027-02-06T22:00:00Z", "2027-02-07T00:00:00Z"),
    )
    .await["id"]);
    let same = s(&create(
        &app,
        &cm,
        planned(&chain[0], "2027-02-06T20:00:00Z", "2027-02-06T21:30:00Z"),
    )
    .await["id"]);
    let mut found = conflicts(&app, &cm, &x).await;
    // The relationships reach change's projection asynchronously; the answer is computed on
    // every read, so it holds once they have.
    while others(&found).len() < 2 {
        assert!(planned_at.elapsed() < Duration::from_secs(10), "{found}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        found = conflicts(&app, &cm, &x).await;
    }
    eprintln!(
        "conflict seen {} ms after the other change was planned",
        planned_at.elapsed().as_millis()
    );
    let mut expected = vec![
        ("related_ci".to_string(), y.clone(), 2),
        ("same_ci".to_string(), same, 0),
    ];
    expected.sort();
    assert_eq!(others(&found), expected);
    let related = found["conflicts"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["kind"] == "related_ci"))
        .cloned()
        .expect("related");
    assert_eq!(related["ci_id"], chain[0].as_str());
    assert_eq!(related["overlap_start"], "2027-02-06T22:00:00Z");
    assert_eq!(related["overlap_end"], "2027-02-06T23:00:00Z");

    // The dry run sees the same; free slots start after what is planned on these CIs.
    let dry = app
        .post(
            "/api/v1/changes/conflict-check",
            &cm,
            json!({"affected_ci_ids": [chain[1]], "planned_start": start, "planned_end": end}),
        )
        .await;
    let kinds: Vec<String> = dry.expect(200)["conflicts"]
        .as_array()
        .map(|a| a.iter().map(|c| s(&c["kind"])).collect())
        .unwrap_or_default();
    assert!(
        kinds.iter().all(|k| k == "related_ci") && kinds.len() >= 3,
        "{kinds:?}"
    );
    let slots = app
        .get(
            &format!("/api/v1/changes/next-slot?duration_minutes=60&affected_ci_ids={}&after=2027-02-06T21:00:00Z&count=1", chain[0]),
            &cm,
        )
        .await;
    assert_eq!(
        slots.expect(200)["slots"][0]["planned_start"],
        "2027-02-07T01:00:00Z"
    );
    let backwards = app
        .post(
            "/api/v1/changes/conflict-check",
            &cm,
            json!({"affected_ci_ids": [], "planned_start": end, "planned_end": start}),
        )
        .await;
    assert_eq!(pointers(backwards.expect(422)), ["/planned_end"]);
    let no_cis = app
        .get(
            "/api/v1/changes/next-slot?duration_minutes=60&affected_ci_ids=",
            &cm,
        )
        .await;
    assert_eq!(pointers(no_cis.expect(400)), ["/query/affected_ci_ids"]);
}

#[tokio::test]
async fn a_providers_blackout_blocks_scheduling_and_its_maintenance_window_flags_work_outside_it() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let cm = app.token("change-manager@globex.demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    let config = app.token("configuration-manager@globex.demo.test").await;
    let web = ci(&app, &config, "server", "bo-web").await;
    // The provider's token works here once the change service has learned its tenant.
    known(&app, &msp).await;
    let windows = "/api/v1/change-windows";
    for (body, pointer) in [
        (
            json!({"kind": "blackout", "name": "x", "starts_at": "2027-03-01T00:00:00Z", "ends_at": "2027-03-01T00:00:00Z"}),
            "/ends_at",
        ),
        (
            json!({"kind": "blackout", "name": "x", "starts_at": "2027-03-01T00:00:00Z", "ends_at": "2027-03-02T00:00:00Z", "time_zone": "Mars/Olympus"}),
            "/time_zone",
        ),
        (
            json!({"kind": "blackout", "name": "x", "starts_at": "2027-03-01T00:00:00Z", "ends_at": "2027-03-02T00:00:00Z", "rrule": "FREQ=HOURLY"}),
            "/rrule",
        ),
    ] {
        let res = app.post(windows, &msp, body).await;
        assert_eq!(pointers(res.expect(422)), [pointer]);
    }
    app.post(windows, &agent, json!({"kind": "blackout", "name": "x", "starts_at": "2027-03-01T00:00:00Z", "ends_at": "2027-03-02T00:00:00Z"}))
        .await
        .expect(403);
    let freeze = app
        .post(windows, &msp, json!({"kind": "blackout", "name": "Freeze", "starts_at": "2027-03-01T00:00:00Z", "ends_at": "2027-03-08T00:00:00Z"}))
        .await;
    let freeze = s(&freeze.expect(201)["id"]);
    let weekend = app
        .post(windows, &msp, json!({"kind": "maintenance", "name": "Weekend", "starts_at": "2027-01-02T20:00:00Z",
                                    "ends_at": "2027-01-03T06:00:00Z", "rrule": "FREQ=WEEKLY;BYDAY=SA"}))
        .await;
    weekend.expect(201);
    // The customer sees the provider's windows and cannot remove them.
    let listed = app.get(windows, &cm).await;
    let items = listed.expect(200)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0]["inherited_from"],
        app.tenant_id("demo").await.as_str()
    );
    let removal = app
        .call(
            Method::DELETE,
            &format!("{windows}/{freeze}"),
            Some(&cm),
            None,
            &[],
        )
        .await;
    assert_eq!(removal.expect(403)["code"], "inherited_window");

    let ready = |t: &str, start: &str, end: &str| {
        json!({"type": t, "title": "Patch bo-web", "affected_ci_ids": [web], "planned_start": start,
               "planned_end": end, "implementation_plan": "Patch.", "backout_plan": "Revert.",
               "test_plan": "Check."})
    };
    // In the freeze: a standard change is refused; an emergency one passes with a reason.
    let standard = s(&create(
        &app,
        &cm,
        ready("standard", "2027-03-06T21:00:00Z", "2027-03-06T22:00:00Z"),
    )
    .await["id"]);
    let refused = to(&app, &standard, &cm, json!({"to": "scheduled"})).await;
    let refused = refused.expect(409);
    assert_eq!(refused["code"], "blackout");
    assert_eq!(
        refused["extra"]["conflicts"][0]["window_id"],
        freeze.as_str()
    );
    let emergency = s(&create(
        &app,
        &cm,
        ready("emergency", "2027-03-06T21:00:00Z", "2027-03-06T22:00:00Z"),
    )
    .await["id"]);
    to(&app, &emergency, &cm, json!({"to": "authorize"}))
        .await
        .expect(200);
    let approver = app.token("approver@globex.demo.test").await;
    let bare = to(&app, &emergency, &approver, json!({"to": "implement"})).await;
    assert_eq!(pointers(bare.expect(422)), ["/override_reason"]);
    to(
        &app,
        &emergency,
        &approver,
        json!({"to": "implement", "override_reason": "Payroll is down"}),
    )
    .await
    .expect(200);

    // Outside the freeze, inside the weekend window: fine; on a weekday: flagged, not refused.
    let weekend_change = s(&create(
        &app,
        &cm,
        ready("standard", "2027-03-13T21:00:00Z", "2027-03-13T23:00:00Z"),
    )
    .await["id"]);
    assert_eq!(
        conflicts(&app, &cm, &weekend_change).await["conflicts"],
        json!([])
    );
    let weekday = s(&create(
        &app,
        &cm,
        ready("standard", "2027-03-10T10:00:00Z", "2027-03-10T11:00:00Z"),
    )
    .await["id"]);
    let flagged = conflicts(&app, &cm, &weekday).await;
    assert_eq!(
        flagged["conflicts"][0]["kind"],
        "outside_maintenance_window"
    );
    to(&app, &weekday, &cm, json!({"to": "scheduled"}))
        .await
        .expect(200);
}

#[tokio::test]
async fn another_tenants_changes_never_conflict_even_on_a_shared_ci() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let globex = app.token("change-manager@globex.demo.test").await;
    let initech = app.token("change-manager@initech.demo.test").await;
    // Both customers know the catalogue before the provider shares with them.
    ci(
        &app,
        &app.token("configuration-manager@globex.demo.test").await,
        "server",
        "sh-g",
    )
    .await;
    ci(
        &app,
        &app.token("configuration-manager@initech.demo.test").await,
        "server",
        "sh-i",
    )
    .await;
    let hv = ci(&app, &msp, "hypervisor", "sh-hv").await;
    let grants =
        json!({"tenant_ids": [app.tenant_id("globex").await, app.tenant_id("initech").await]});
    app.call(
        Method::PUT,
        &format!("/api/v1/cmdb/cis/{hv}/grants"),
        Some(&msp),
        Some(grants),
        &[],
    )
    .await
    .expect(200);
    let (start, end) = ("2027-04-03T21:00:00Z", "2027-04-03T23:00:00Z");
    let mine = s(&create(&app, &globex, planned(&hv, start, end)).await["id"]);
    let theirs = s(&create(&app, &initech, planned(&hv, start, end)).await["id"]);
    assert_eq!(
        conflicts(&app, &globex, &mine).await["conflicts"],
        json!([])
    );
    assert_eq!(
        conflicts(&app, &initech, &theirs).await["conflicts"],
        json!([])
    );
    app.get(&format!("/api/v1/changes/{mine}/conflicts"), &initech)
        .await
        .expect(404);
    let window = app
        .post(
            "/api/v1/change-windows",
            &app.token("admin@globex.demo.test").await,
            json!({"kind": "blackout", "name": "Globex only", "starts_at": start, "ends_at": end}),
        )
        .await;
    let window = s(&window.expect(201)["id"]);
    app.get(&format!("/api/v1/change-windows/{window}"), &initech)
        .await
        .expect(404);
    assert_eq!(
        conflicts(&app, &initech, &theirs).await["conflicts"],
        json!([])
    );
}
