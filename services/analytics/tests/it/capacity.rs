//! Capacity over HTTP on PostgreSQL: samples in (all or nothing, idempotent), thresholds,
//! forecasts computed by the forecaster as samples arrive, a predicted breach opening one
//! improvement (or, for `incident`, one incident), bad input named, other tenants kept out,
//! and two forecasters acting once between them.
#![allow(clippy::expect_used)]
use std::time::Duration;

use chrono::{DateTime, Duration as Span, Utc};
use serde_json::{Value, json};
use testkit::{TestApp, app, reqwest::Method};

use crate::store::known;

const SAMPLES: &str = "/api/v1/capacity/metrics";
const THRESHOLDS: &str = "/api/v1/capacity/thresholds";
const FORECASTS: &str = "/api/v1/capacity/forecasts";

/// A new CI of `tenant` (by its configuration manager), once analytics has projected it:
/// returns its id.
async fn projected_ci(app: &TestApp, slug: &str, name: &str) -> String {
    let config = app
        .token(&format!("configuration-manager@{slug}.demo.test"))
        .await;
    for _ in 0..100 {
        let res = app
            .post(
                "/api/v1/cmdb/cis",
                &config,
                json!({"class": "database", "name": name}),
            )
            .await;
        if res.status.as_u16() == 201 {
            return res.body["id"].as_str().expect("id").to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the catalogue never learned {slug}");
}

/// Creates a threshold, retrying while analytics has not yet projected its CI.
async fn threshold(app: &TestApp, token: &str, body: Value) -> Value {
    for _ in 0..150 {
        let res = app.post(THRESHOLDS, token, body.clone()).await;
        match res.status.as_u16() {
            201 => return res.body.clone(),
            422 if res.body["errors"][0]["pointer"] == "/target_id" => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("{other}: {}", res.body),
        }
    }
    panic!("analytics never projected the CI");
}

/// `n` hourly samples of `metric` on `ci`, the newest an hour ago, rising `per_hour` from
/// `start`; and the first sample's time.
fn rising(ci: &str, metric: &str, n: i64, start: f64, per_hour: f64) -> (Value, DateTime<Utc>) {
    let first = Utc::now() - Span::hours(n);
    let samples: Vec<Value> = (0..n)
        .map(|i| {
            json!({"target_type": "ci", "target_id": ci, "metric": metric,
                   "value": start + per_hour * i as f64,
                   "observed_at": (first + Span::hours(i)).to_rfc3339()})
        })
        .collect();
    (json!({ "samples": samples }), first)
}

/// The forecast of `threshold_id` once it satisfies `done`.
async fn forecast_when(
    app: &TestApp,
    token: &str,
    threshold_id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..150 {
        let list = app
            .get(&format!("{FORECASTS}?threshold_id={threshold_id}"), token)
            .await
            .expect(200)
            .clone();
        last = list["items"][0].clone();
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the forecast never got there: {last}");
}

/// The improvements the forecaster opened for `threshold_id`.
async fn improvements_for(app: &TestApp, token: &str, threshold_id: &str) -> Vec<Value> {
    let list = app
        .get(
            "/api/v1/improvements?source=capacity_forecast&limit=200",
            token,
        )
        .await
        .expect(200)
        .clone();
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["source_ref"] == threshold_id)
        .cloned()
        .collect()
}

#[tokio::test]
async fn samples_forecast_a_breach_that_opens_one_improvement_and_other_tenants_see_none_of_it() {
    let app = app!();
    let manager = app.token("capacity-manager@globex.demo.test").await;
    known(&app, &manager).await;
    let ci = projected_ci(&app, "globex", "cap-db").await;
    let created = threshold(
        &app,
        &manager,
        json!({"target_type": "ci", "target_id": ci, "metric": "disk_used_percent",
               "limit": 90.0, "direction": "above"}),
    )
    .await;
    assert_eq!(created["lookback_days"], 14);
    assert_eq!(created["horizon_days"], 30);
    assert_eq!(created["action"], "improvement");
    let id = created["id"].as_str().expect("id").to_string();
    let first = forecast_when(&app, &manager, &id, |f| !f["computed_at"].is_null()).await;
    assert_eq!(first["status"], "insufficient_data", "{first}");
    assert_eq!(first["breach_at"], Value::Null);

    // 48 hours rising half a point an hour from 50: 90 is reached 80 hours after the first.
    let (batch, start) = rising(&ci, "disk_used_percent", 48, 50.0, 0.5);
    let stored = app
        .call(
            Method::POST,
            SAMPLES,
            Some(&manager),
            Some(batch.clone()),
            &[],
        )
        .await;
    assert_eq!(
        stored.expect(202).clone(),
        json!({"accepted": 48, "duplicates": 0})
    );
    let again = app
        .call(Method::POST, SAMPLES, Some(&manager), Some(batch), &[])
        .await;
    assert_eq!(
        again.expect(202).clone(),
        json!({"accepted": 0, "duplicates": 48})
    );
    let predicted = forecast_when(&app, &manager, &id, |f| f["status"] == "breach_predicted").await;
    assert_eq!(predicted["samples"], 48, "{predicted}");
    assert!((predicted["slope_per_day"].as_f64().expect("slope") - 12.0).abs() < 1e-6);
    let breach_at: DateTime<Utc> = predicted["breach_at"]
        .as_str()
        .expect("breach_at")
        .parse()
        .expect("a time");
    let expected = start + Span::hours(80);
    assert!(
        (breach_at - expected).num_seconds().abs() <= 1,
        "{breach_at} vs {expected}"
    );

    // One improvement, raised once however often the forecast is computed again.
    let analyst = app.token("analyst@globex.demo.test").await;
    let mut items = Vec::new();
    for _ in 0..100 {
        items = improvements_for(&app, &analyst, &id).await;
        if !items.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["status"], "proposed");
    let newer = json!({"samples": [{"target_type": "ci", "target_id": ci,
        "metric": "disk_used_percent", "value": 74.5, "observed_at": Utc::now().to_rfc3339()}]});
    app.call(Method::POST, SAMPLES, Some(&manager), Some(newer), &[])
        .await
        .expect(202);
    forecast_when(&app, &manager, &id, |f| f["samples"] == 49).await;
    let items = improvements_for(&app, &analyst, &id).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["occurrences"], 1, "{items:?}");

    // Initech's capacity manager: globex's threshold, forecast and CI are not there.
    let initech = app.token("capacity-manager@initech.demo.test").await;
    known(&app, &initech).await;
    let path = format!("{THRESHOLDS}/{id}");
    assert_eq!(app.get(&path, &initech).await.status.as_u16(), 404);
    let patched = app
        .call(
            Method::PATCH,
            &path,
            Some(&initech),
            Some(json!({"limit": 1.0})),
            &[],
        )
        .await;
    assert_eq!(patched.status.as_u16(), 404);
    let deleted = app
        .call(Method::DELETE, &path, Some(&initech), None, &[])
        .await;
    assert_eq!(deleted.status.as_u16(), 404);
    let theirs = app
        .get(&format!("{FORECASTS}?threshold_id={id}"), &initech)
        .await
        .expect(200)
        .clone();
    assert_eq!(theirs["items"], json!([]));
    let listed = app.get(THRESHOLDS, &initech).await.expect(200).clone();
    assert_eq!(listed["items"], json!([]));
    let foreign = app
        .call(
            Method::POST,
            SAMPLES,
            Some(&initech),
            Some(json!({"samples": [{"target_type": "ci", "target_id": ci,
                "metric": "disk_used_percent", "value": 1.0, "observed_at": Utc::now().to_rfc3339()}]})),
            &[],
        )
        .await;
    assert_eq!(foreign.status.as_u16(), 422);
    assert_eq!(foreign.body["errors"][0]["pointer"], "/samples/0/target_id");
    let initech_analyst = app.token("analyst@initech.demo.test").await;
    assert!(
        improvements_for(&app, &initech_analyst, &id)
            .await
            .is_empty()
    );

    // Its owner edits and deletes it.
    let path_ok = app
        .call(
            Method::PATCH,
            &path,
            Some(&manager),
            Some(json!({"limit": 95.0})),
            &[],
        )
        .await;
    assert_eq!(path_ok.expect(200)["version"], 2);
    let gone = app
        .call(Method::DELETE, &path, Some(&manager), None, &[])
        .await;
    assert_eq!(gone.status.as_u16(), 204);
    assert_eq!(app.get(&path, &manager).await.status.as_u16(), 404);
}

#[tokio::test]
async fn an_incident_threshold_breach_opens_one_incident_through_the_bus() {
    let app = app!();
    let manager = app.token("capacity-manager@globex.demo.test").await;
    known(&app, &manager).await;
    let ci = projected_ci(&app, "globex", "cap-mem").await;
    let created = threshold(
        &app,
        &manager,
        json!({"target_type": "ci", "target_id": ci, "metric": "memory_used_percent",
               "limit": 80.0, "direction": "above", "action": "incident"}),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_string();
    // Already past the limit: breached.
    let (batch, _) = rising(&ci, "memory_used_percent", 30, 60.0, 1.0);
    app.call(Method::POST, SAMPLES, Some(&manager), Some(batch), &[])
        .await
        .expect(202);
    forecast_when(&app, &manager, &id, |f| f["status"] == "breached").await;
    let agent = app.token("agent@globex.demo.test").await;
    let capacity_incidents = |list: &Value| -> Vec<Value> {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|i| i["category"] == "capacity")
            .cloned()
            .collect()
    };
    let mut opened = Vec::new();
    for _ in 0..150 {
        let list = app
            .get("/api/v1/incidents?limit=200", &agent)
            .await
            .expect(200)
            .clone();
        opened = capacity_incidents(&list);
        if !opened.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(
        opened[0]["configuration_item_id"],
        ci.as_str(),
        "{opened:?}"
    );
    assert!(
        opened[0]["title"]
            .as_str()
            .expect("title")
            .contains("memory_used_percent"),
        "{opened:?}"
    );
    // More samples: the breach goes on, and no second incident opens.
    let newer = json!({"samples": [{"target_type": "ci", "target_id": ci,
        "metric": "memory_used_percent", "value": 91.0, "observed_at": Utc::now().to_rfc3339()}]});
    app.call(Method::POST, SAMPLES, Some(&manager), Some(newer), &[])
        .await
        .expect(202);
    forecast_when(&app, &manager, &id, |f| f["samples"] == 31).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let list = app
        .get("/api/v1/incidents?limit=200", &agent)
        .await
        .expect(200)
        .clone();
    assert_eq!(capacity_incidents(&list).len(), 1);
    let initech = app.token("agent@initech.demo.test").await;
    let theirs = app
        .get("/api/v1/incidents?limit=200", &initech)
        .await
        .expect(200)
        .clone();
    assert!(capacity_incidents(&theirs).is_empty());
}

#[tokio::test]
async fn bad_samples_and_thresholds_are_named_nothing_is_stored_and_scopes_hold() {
    let app = app!();
    let manager = app.token("capacity-manager@globex.demo.test").await;
    known(&app, &manager).await;
    let ci = projected_ci(&app, "globex", "cap-bad").await;
    let good = json!({"target_type": "ci", "target_id": ci, "metric": "cpu_percent",
                      "value": 10.0, "observed_at": (Utc::now() - Span::hours(1)).to_rfc3339()});
    let with = |field: &str, value: Value| {
        let mut s = good.clone();
        s[field] = value;
        s
    };
    let future = (Utc::now() + Span::hours(1)).to_rfc3339();
    let stranger = "01a24233-c456-7186-af34-ba4716863c54";
    for (samples, pointer) in [
        (json!([]), "/samples"),
        (json!(vec![good.clone(); 5_001]), "/samples"),
        (
            json!([good.clone(), with("value", json!("NaN"))]),
            "/samples/1/value",
        ),
        (
            json!([with("observed_at", json!(future))]),
            "/samples/0/observed_at",
        ),
        (json!([with("metric", json!("CPU %"))]), "/samples/0/metric"),
        (
            json!([with("target_type", json!("rack"))]),
            "/samples/0/target_type",
        ),
        (
            json!([good.clone(), with("target_id", json!(stranger))]),
            "/samples/1/target_id",
        ),
    ] {
        let res = app
            .call(
                Method::POST,
                SAMPLES,
                Some(&manager),
                Some(json!({"samples": samples})),
                &[],
            )
            .await;
        assert_eq!(res.status.as_u16(), 422, "{pointer}: {}", res.body);
        assert_eq!(res.body["errors"][0]["pointer"], pointer, "{}", res.body);
    }
    // All or nothing: the good sample of a refused batch was not stored.
    let res = app
        .call(
            Method::POST,
            SAMPLES,
            Some(&manager),
            Some(json!({"samples": [good]})),
            &[],
        )
        .await;
    assert_eq!(res.expect(202)["accepted"], 1);

    let base = json!({"target_type": "ci", "target_id": ci, "metric": "cpu_percent",
                      "limit": 80.0, "direction": "above"});
    let with = |field: &str, value: Value| {
        let mut t = base.clone();
        t[field] = value;
        t
    };
    for (body, pointer) in [
        (with("lookback_days", json!(0)), "/lookback_days"),
        (with("horizon_days", json!(366)), "/horizon_days"),
        (with("metric", json!("")), "/metric"),
        (with("direction", json!("sideways")), "/direction"),
        (with("action", json!("page_someone")), "/action"),
        (with("target_id", json!(stranger)), "/target_id"),
    ] {
        let res = app.post(THRESHOLDS, &manager, body.clone()).await;
        assert_eq!(res.status.as_u16(), 422, "{body}: {}", res.body);
        assert_eq!(res.body["errors"][0]["pointer"], pointer, "{}", res.body);
    }
    let made = threshold(&app, &manager, base.clone()).await;
    let twice = app.post(THRESHOLDS, &manager, base).await;
    assert_eq!(twice.expect(409)["code"], "duplicate_threshold");
    let path = format!("{THRESHOLDS}/{}", made["id"].as_str().expect("id"));
    let moved = app
        .call(
            Method::PATCH,
            &path,
            Some(&manager),
            Some(json!({"target_id": stranger})),
            &[],
        )
        .await;
    assert_eq!(moved.status.as_u16(), 422);
    let bad_query = app
        .get(&format!("{FORECASTS}?threshold_id=nope"), &manager)
        .await;
    assert_eq!(bad_query.status.as_u16(), 400);
    let missing = app.get(&format!("{THRESHOLDS}/{stranger}"), &manager).await;
    assert_eq!(missing.status.as_u16(), 404);

    // Capacity is for capacity managers and admins.
    for login in ["agent", "analyst", "requester"] {
        let token = app.token(&format!("{login}@globex.demo.test")).await;
        for path in [THRESHOLDS, FORECASTS] {
            assert_eq!(
                app.get(path, &token).await.status.as_u16(),
                403,
                "{login} {path}"
            );
        }
    }
    let admin = app.token("admin@globex.demo.test").await;
    app.get(THRESHOLDS, &admin).await.expect(200);
}

#[tokio::test]
async fn two_forecasters_at_once_act_on_a_breach_once() {
    use analytics::{
        domain::capacity::{Action, Direction, TargetType},
        forecaster::Forecaster,
        store::capacity::{self, NewSample, NewThreshold},
    };
    use platform::tenancy::{TenantId, begin_scoped};

    let app = app!();
    let analyst = app.token("analyst@globex.demo.test").await;
    known(&app, &analyst).await;
    let tenant = TenantId(app.tenant_id("globex").await.parse().expect("a tenant id"));
    let db = app
        .service_schema::<analytics::migration::Migrator>("analytics")
        .await;
    // Written to the tables directly, so the platform's own forecaster is not woken.
    let now = Utc::now();
    let target = uuid::Uuid::now_v7();
    let txn = begin_scoped(&db, &[tenant]).await.expect("txn");
    let samples: Vec<NewSample> = (0..30)
        .map(|i| NewSample {
            target_type: TargetType::Ci,
            target_id: target,
            metric: "disk_used_percent".into(),
            value: 60.0 + f64::from(i),
            observed_at: now - Span::hours(30 - i64::from(i)),
        })
        .collect();
    capacity::insert_samples(&txn, tenant, &samples)
        .await
        .expect("samples");
    let row = capacity::insert(
        &txn,
        tenant,
        NewThreshold {
            target_type: TargetType::Ci,
            target_id: target,
            metric: "disk_used_percent".into(),
            limit: 95.0,
            direction: Direction::Above,
            lookback_days: 14,
            horizon_days: 30,
            action: Action::Improvement,
        },
        now,
    )
    .await
    .expect("threshold");
    txn.commit().await.expect("commit");

    let numbers = std::sync::Arc::new(platform::numbers::Numbers::default());
    let (a, b) = (
        Forecaster::new(db.clone(), numbers.clone()),
        Forecaster::new(db.clone(), std::sync::Arc::default()),
    );
    let (a, b) = tokio::join!(a.tick(now), b.tick(now));
    let alarms = a.expect("tick").alarms + b.expect("tick").alarms;
    assert!(alarms <= 1, "{alarms}");
    let items = improvements_for(&app, &analyst, &row.id.to_string()).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["occurrences"], 1, "{items:?}");
}
