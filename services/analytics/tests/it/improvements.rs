//! The improvement register over HTTP on PostgreSQL: an item's life through every status and
//! step, refused moves listing what is allowed, bad fields named, other tenants' items absent,
//! and the feeder opening one item per signal (a known-error problem), counting repeats.
#![allow(clippy::expect_used)]
use std::time::Duration;

use serde_json::{Value, json};
use testkit::{TestApp, app, reqwest::Method};

use crate::store::known;

const ITEMS: &str = "/api/v1/improvements";

async fn patch(app: &TestApp, token: &str, path: &str, body: Value) -> testkit::Res {
    app.call(Method::PATCH, path, Some(token), Some(body), &[])
        .await
}

#[tokio::test]
async fn an_item_goes_through_its_steps_and_statuses_and_refused_moves_say_what_is_allowed() {
    let app = app!();
    let analyst = app.token("analyst@globex.demo.test").await;
    known(&app, &analyst).await;
    let created = app
        .post(
            ITEMS,
            &analyst,
            json!({"title": "Halve MTTR for mail", "description": "Mail incidents wait too long.",
                   "value": 4, "effort": 2, "target": {"metric": "incidents.mttr_seconds", "value": 3600.0}}),
        )
        .await;
    let item = created.expect(201).clone();
    assert!(
        item["number"].as_str().expect("number").starts_with("IMP"),
        "{item}"
    );
    assert_eq!(item["status"], "proposed");
    assert_eq!(item["step"], "vision");
    assert_eq!(item["source"], "manual");
    let path = format!("{ITEMS}/{}", item["id"].as_str().expect("id"));
    let moves = format!("{path}/transitions");

    // Review before evaluate: refused, naming the moves that are allowed.
    for to in ["accepted", "in_progress"] {
        app.post(&moves, &analyst, json!({"to": to}))
            .await
            .expect(200);
    }
    let early = app.post(&moves, &analyst, json!({"to": "review"})).await;
    let early = early.expect(409).clone();
    assert_eq!(early["code"], "step_not_reached", "{early}");
    assert_eq!(early["extra"]["allowed"], json!(["on_hold"]));
    let illegal = app.post(&moves, &analyst, json!({"to": "closed"})).await;
    assert_eq!(illegal.expect(409)["code"], "illegal_transition");

    // Steps in order only; a skipped one lists the next.
    let skipped = patch(&app, &analyst, &path, json!({"step": "plan"})).await;
    let skipped = skipped.expect(409).clone();
    assert_eq!(
        skipped["extra"]["allowed"],
        json!(["current_state"]),
        "{skipped}"
    );
    for step in ["current_state", "target_state", "plan", "act", "evaluate"] {
        let res = patch(&app, &analyst, &path, json!({"step": step})).await;
        assert_eq!(res.expect(200)["step"], step);
    }
    // At evaluate, the target's figure was measured (no resolutions: no median yet).
    let evaluated = app.get(&path, &analyst).await.expect(200).clone();
    assert!(evaluated.get("measured").is_some(), "{evaluated}");
    for to in ["on_hold", "in_progress", "review", "closed"] {
        let res = app.post(&moves, &analyst, json!({"to": to})).await;
        assert_eq!(res.expect(200)["status"], to);
    }
    let closed = app
        .post(&moves, &analyst, json!({"to": "in_progress"}))
        .await;
    assert_eq!(closed.expect(409)["extra"]["allowed"], json!([]));

    // Listed, filtered by status and source.
    let list = app
        .get(&format!("{ITEMS}?status=closed&source=manual"), &analyst)
        .await
        .expect(200)
        .clone();
    assert!(
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["id"] == item["id"])
    );

    // Another customer: its analyst cannot see, change or move the item.
    let initech = app.token("analyst@initech.demo.test").await;
    known(&app, &initech).await;
    assert_eq!(app.get(&path, &initech).await.status.as_u16(), 404);
    let theirs = app.get(ITEMS, &initech).await.expect(200).clone();
    assert!(
        !theirs["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["id"] == item["id"])
    );
    let moved = app
        .post(&moves, &initech, json!({"to": "in_progress"}))
        .await;
    assert_eq!(moved.status.as_u16(), 404);
    let changed = patch(&app, &initech, &path, json!({"title": "Mine now"})).await;
    assert_eq!(changed.status.as_u16(), 404);
}

#[tokio::test]
async fn bad_fields_are_named_and_scopes_are_enforced() {
    let app = app!();
    let analyst = app.token("analyst@globex.demo.test").await;
    known(&app, &analyst).await;
    for (body, pointer) in [
        (json!({"title": "", "value": 3, "effort": 3}), "/title"),
        (json!({"title": "x", "value": 0, "effort": 3}), "/value"),
        (json!({"title": "x", "value": 3, "effort": 6}), "/effort"),
        (
            json!({"title": "x", "value": 3, "effort": 3, "target": {"metric": "nope", "value": 1.0}}),
            "/target/metric",
        ),
        (
            json!({"title": "x", "value": 3, "effort": 3, "owner_id": "01a24233-c456-7186-af34-ba4716863c54"}),
            "/owner_id",
        ),
    ] {
        let res = app.post(ITEMS, &analyst, body.clone()).await;
        assert_eq!(res.status.as_u16(), 422, "{body}");
        assert_eq!(res.body["errors"][0]["pointer"], pointer, "{body}");
    }
    let unknown = app
        .post(
            ITEMS,
            &analyst,
            json!({"title": "x", "value": 3, "effort": 3, "colour": "red"}),
        )
        .await;
    assert_eq!(unknown.status.as_u16(), 422);
    for query in ["status=done", "source=gut_feeling", "limit=0"] {
        let res = app.get(&format!("{ITEMS}?{query}"), &analyst).await;
        assert_eq!(res.status.as_u16(), 400, "{query}");
    }
    let missing = app
        .get(
            &format!("{ITEMS}/01a24233-c456-7186-af34-ba4716863c54"),
            &analyst,
        )
        .await;
    assert_eq!(missing.status.as_u16(), 404);

    // Agents read the register but do not write it; requesters do neither.
    let agent = app.token("agent@globex.demo.test").await;
    app.get(ITEMS, &agent).await.expect(200);
    let write = app
        .post(
            ITEMS,
            &agent,
            json!({"title": "x", "value": 3, "effort": 3}),
        )
        .await;
    assert_eq!(write.status.as_u16(), 403);
    let requester = app.token("requester@globex.demo.test").await;
    assert_eq!(app.get(ITEMS, &requester).await.status.as_u16(), 403);
}

/// The open items raised for `source_ref`.
async fn raised(app: &TestApp, token: &str, source_ref: &str) -> Vec<Value> {
    let list = app
        .get(&format!("{ITEMS}?source=problem&limit=200"), token)
        .await
        .expect(200)
        .clone();
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["source_ref"] == source_ref)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_known_error_opens_one_item_and_each_repeat_counts_an_occurrence() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    known(&app, &agent).await;
    let problem = app
        .post(
            "/api/v1/problems",
            &agent,
            json!({"title": "VPN drops hourly", "description": "Tunnel resets", "root_cause": "", "workaround": "Reconnect"}),
        )
        .await;
    let id = problem.expect(201)["id"].as_str().expect("id").to_string();
    let path = format!("/api/v1/problems/{id}");
    patch(&app, &agent, &path, json!({"known_error": true}))
        .await
        .expect(200);
    patch(
        &app,
        &agent,
        &path,
        json!({"description": "Tunnel resets at the hour"}),
    )
    .await
    .expect(200);
    let mut items = Vec::new();
    for _ in 0..150 {
        items = raised(&app, &agent, &id).await;
        if items.first().and_then(|i| i["occurrences"].as_i64()) == Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["occurrences"], 2, "{items:?}");
    assert_eq!(items[0]["status"], "proposed");
    let initech = app.token("agent@initech.demo.test").await;
    known(&app, &initech).await;
    assert!(raised(&app, &initech, &id).await.is_empty());
}

#[tokio::test]
async fn two_feeders_raising_one_signal_at_once_open_exactly_one_item() {
    use analytics::{domain::improvement::Signal, feeder};
    use platform::{
        numbers::Numbers,
        tenancy::{TenantId, begin_scoped},
    };

    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    known(&app, &agent).await;
    let tenant = TenantId(app.tenant_id("globex").await.parse().expect("a tenant id"));
    let db = app
        .service_schema::<analytics::migration::Migrator>("analytics")
        .await;
    let source_ref = uuid::Uuid::now_v7().to_string();
    let signal = Signal {
        source: "problem",
        source_ref: source_ref.clone(),
        title: "Remove the cause of a problem that is a known error".into(),
        description: "Raised twice at once.".into(),
    };
    // Two feeders (two processes: each its own number blocks), each holding its transaction
    // open a while after raising, so the second raises while the first has not committed.
    let feed = |numbers: Numbers| {
        let (db, signal) = (db.clone(), signal.clone());
        async move {
            let txn = begin_scoped(&db, &[tenant]).await.expect("txn");
            feeder::raise(&txn, &db, &numbers, tenant, signal)
                .await
                .expect("raised");
            tokio::time::sleep(Duration::from_millis(300)).await;
            txn.commit().await.expect("commit");
        }
    };
    tokio::join!(feed(Numbers::default()), feed(Numbers::default()));
    let items = raised(&app, &agent, &source_ref).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["occurrences"], 2, "{items:?}");
}

/// Delivers incident's events about `incidents` incidents of `service` in `tenant` to
/// analytics' consumer: each created, classified under the service and resolved, the first
/// `late` of them after a resolution breach.
async fn resolve_for_service(
    runner: &bus::ConsumerRunner,
    tenant: uuid::Uuid,
    service: uuid::Uuid,
    incidents: usize,
    late: usize,
) {
    use events::{Envelope, Event, incident::*};
    fn envelope<E: Event>(
        tenant: uuid::Uuid,
        subject: uuid::Uuid,
        version: i64,
        e: &E,
    ) -> Envelope {
        Envelope::new(tenant, subject, version, e, None).expect("envelope")
    }
    let sender = bus::provenance::Sender::Service(Some("incident".into()));
    for i in 0..incidents {
        let id = uuid::Uuid::now_v7();
        let mut all = vec![
            envelope(
                tenant,
                id,
                1,
                &IncidentCreated {
                    incident_id: id,
                    number: format!("INC{i:07}"),
                    title: "Payroll slow".into(),
                    caller_id: None,
                    impact: 2,
                    urgency: 2,
                    priority: 3,
                    state: "new".into(),
                },
            ),
            envelope(
                tenant,
                id,
                1,
                &IncidentClassified {
                    incident_id: id,
                    category: None,
                    subcategory: None,
                    service_id: Some(service),
                    configuration_item_id: None,
                    channel: Some("phone".into()),
                },
            ),
        ];
        if i < late {
            let clock = uuid::Uuid::now_v7();
            all.push(envelope(
                tenant,
                clock,
                1,
                &SlaBreached {
                    clock_id: clock,
                    incident_id: id,
                    definition_id: uuid::Uuid::now_v7(),
                    name: "P3 resolution".into(),
                    kind: "resolution".into(),
                    target_seconds: 60,
                    breached_at: chrono::Utc::now(),
                },
            ));
        }
        all.push(envelope(
            tenant,
            id,
            2,
            &IncidentStateChanged {
                incident_id: id,
                from: "new".into(),
                to: "resolved".into(),
                hold_reason: None,
                resolution_code: Some("fixed".into()),
            },
        ));
        for env in all {
            runner.accept(&env, &sender).await.expect("applied");
        }
    }
}

#[tokio::test]
async fn a_service_whose_resolution_breaches_rise_over_the_ratio_gets_one_item() {
    let app = app!();
    let analyst = app.token("analyst@globex.demo.test").await;
    known(&app, &analyst).await;
    let tenant: uuid::Uuid = app.tenant_id("globex").await.parse().expect("a tenant id");
    let db = app
        .service_schema::<analytics::migration::Migrator>("analytics")
        .await;
    let identity = bus::people::IdentityProjection::new(db.clone(), analytics::CONSUMER);
    let runner = analytics::consumer(&db, &identity);
    // 3 of 10 late (30 %, nothing before): over 10 % and rising. 10 of 10 on time: nothing.
    let (late, fine) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    resolve_for_service(&runner, tenant, late, 10, 3).await;
    resolve_for_service(&runner, tenant, fine, 10, 0).await;
    let list = app
        .get(
            &format!("{ITEMS}?source=sla_breach_trend&limit=200"),
            &analyst,
        )
        .await
        .expect(200)
        .clone();
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["source_ref"], late.to_string());
    // Raised at the fifth resolution (3 of 5 late), then again at each of the next five.
    assert_eq!(items[0]["occurrences"], 6, "{list}");
    assert!(
        items[0]["description"]
            .as_str()
            .expect("description")
            .starts_with("3 of 5 incidents"),
        "{list}"
    );
    let initech = app.token("analyst@initech.demo.test").await;
    known(&app, &initech).await;
    let theirs = app
        .get(&format!("{ITEMS}?source=sla_breach_trend"), &initech)
        .await
        .expect(200)
        .clone();
    assert_eq!(theirs["items"], json!([]));
}
