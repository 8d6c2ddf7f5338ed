//! The queue on PostgreSQL: every `?sort=` is a stable keyset (pages in any size give the same
//! order, nothing twice, nothing lost), filters combine with it, a row carries the names and the
//! next SLA target, a cursor is read only under its sort, and no order leaks another tenant.
#![allow(clippy::expect_used)] // A test fails loudly on a broken set-up.

use crate::common::{around_the_clock, ready, s};
use testkit::{TestApp, json};

const SORTS: [&str; 5] = [
    "sla_due",
    "priority",
    "-created_at",
    "-updated_at",
    "created_at",
];

/// Every item of `path` read `limit` at a time, following `next_cursor`.
async fn all_pages(app: &TestApp, token: &str, path: &str, limit: u32) -> Vec<serde_json::Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let url = match &cursor {
            None => format!("{path}{sep}limit={limit}"),
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
        };
        let page = app.get(&url, token).await;
        let page = page.expect(200);
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
    panic!("{path} never ended");
}

fn ids(items: &[serde_json::Value]) -> Vec<String> {
    items.iter().map(|i| s(&i["id"])).collect()
}

/// The queue key of a row under `sort` (the SLA deadline, `~` when no clock runs: after any
/// timestamp), for checking the order.
fn key(sort: &str, i: &serde_json::Value) -> String {
    match sort.trim_start_matches('-') {
        "sla_due" => i["next_sla"]["due_at"]
            .as_str()
            .map_or("~".to_string(), str::to_string),
        "priority" => i["priority"].to_string(),
        "created_at" => s(&i["created_at"]),
        "updated_at" => s(&i["updated_at"]),
        other => panic!("no key for {other}"),
    }
}

fn assert_ordered(sort: &str, items: &[serde_json::Value]) {
    for pair in items.windows(2) {
        let (a, b) = (key(sort, &pair[0]), key(sort, &pair[1]));
        if sort.starts_with('-') {
            assert!(a >= b, "{sort}: {a} before {b}");
        } else {
            assert!(a <= b, "{sort}: {a} before {b}");
        }
    }
}

#[tokio::test]
async fn every_sort_pages_stably_carries_queue_rows_and_combines_with_filters() {
    let app = testkit::app!();
    let msp = app.token("msp-admin@demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    let requester = app.token("requester@globex.demo.test").await;
    let other = app.token("agent@initech.demo.test").await;
    ready(&app, &agent).await;
    ready(&app, &other).await;
    let cal = app
        .post(
            "/api/v1/sla/calendars",
            &msp,
            json!({"name": "24x7", "time_zone": "UTC", "weekly_hours": around_the_clock()}),
        )
        .await;
    let cal_id = s(&cal.expect(201)["id"]);
    // Resolution targets shorten with priority, and pause while the caller is awaited.
    for (priority, seconds) in [(1, 3600), (2, 7200), (3, 14400), (4, 28800), (5, 57600)] {
        app.post(
            "/api/v1/sla/definitions",
            &msp,
            json!({"name": format!("P{priority} resolution"), "kind": "resolution",
                   "target_seconds": seconds, "calendar_id": cal_id,
                   "rules": {"applies_when": [{"field": "priority", "op": "eq", "value": priority}],
                             "pause_when": [{"field": "state", "op": "eq", "value": "on_hold"}],
                             "stop_when": [{"field": "state", "op": "in", "value": ["resolved", "closed", "canceled"]}]}}),
        )
        .await
        .expect(201);
    }
    let groups = app
        .get("/api/v1/groups", &app.token("admin@globex.demo.test").await)
        .await;
    let desk = groups.expect(200)["items"][0].clone();
    let agent_id = s(&app.get("/api/v1/users/me", &agent).await.expect(200)["id"]);
    assert_eq!(desk["name"], "Service Desk");

    // Globex: 18 incidents over the matrix, some assigned, some on hold, some resolved.
    let mut created = Vec::new();
    for n in 0..18u32 {
        let (impact, urgency) = (1 + n % 3, 1 + (n / 3) % 3);
        let mut body =
            json!({"title": format!("Queue item {n}"), "impact": impact, "urgency": urgency});
        if n % 4 == 0 {
            body["assignment_group_id"] = desk["id"].clone();
            body["assignee_id"] = json!(agent_id);
        }
        let token = if n % 4 == 2 { &requester } else { &agent };
        let inc = app.post("/api/v1/incidents", token, body).await;
        created.push(inc.expect(201).clone());
    }
    let moves = |id: &str| format!("/api/v1/incidents/{id}/transitions");
    for inc in created.iter().skip(1).step_by(6) {
        app.post(&moves(&s(&inc["id"])), &agent, json!({"to": "in_progress"}))
            .await
            .expect(200);
        let held = app
            .post(
                &moves(&s(&inc["id"])),
                &agent,
                json!({"to": "on_hold", "hold_reason": "awaiting_caller"}),
            )
            .await;
        assert_eq!(
            held.expect(200)["next_sla"],
            serde_json::Value::Null,
            "paused"
        );
    }
    let resolved = app
        .post(
            &moves(&s(&created[2]["id"])),
            &agent,
            json!({"to": "resolved", "resolution_code": "solved", "resolution_notes": "done"}),
        )
        .await;
    assert_eq!(resolved.expect(200)["next_sla"], serde_json::Value::Null);
    // Initech has its own, which no Globex order shows.
    for n in 0..4 {
        app.post(
            "/api/v1/incidents",
            &other,
            json!({"title": format!("Initech {n}"), "impact": 1, "urgency": 1}),
        )
        .await
        .expect(201);
    }

    // A row says what the queue shows.
    let first = created[0].clone();
    assert!(first["caller_name"].is_string(), "{first}");
    assert_eq!(first["assignment_group_name"], desk["name"]);
    assert!(first["assignee_name"].is_string(), "{first}");
    assert_eq!(first["next_sla"]["kind"], "resolution");
    assert_eq!(first["next_sla"]["state"], "running");
    let read = app
        .get(&format!("/api/v1/incidents/{}", s(&first["id"])), &agent)
        .await;
    assert_eq!(read.expect(200)["next_sla"], first["next_sla"]);

    // Every sort: one page and pages of 4 agree, in order, each incident once.
    let globex_total = 18;
    for sort in SORTS {
        let whole = all_pages(&app, &agent, &format!("/api/v1/incidents?sort={sort}"), 200).await;
        let paged = all_pages(&app, &agent, &format!("/api/v1/incidents?sort={sort}"), 4).await;
        assert_eq!(whole.len(), globex_total, "{sort}");
        assert_eq!(ids(&whole), ids(&paged), "{sort}");
        let mut unique = ids(&whole);
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), globex_total, "{sort}");
        assert_ordered(sort, &whole);
        // Filters combine with any order.
        let open = all_pages(
            &app,
            &agent,
            &format!("/api/v1/incidents?sort={sort}&state=new"),
            3,
        )
        .await;
        assert!(open.iter().all(|i| i["state"] == "new"), "{sort}");
        assert_ordered(sort, &open);
        // The MSP's view over every customer, in the same order.
        let all = all_pages(
            &app,
            &msp,
            &format!("/api/v1/incidents?tenant=*&sort={sort}"),
            5,
        )
        .await;
        assert_eq!(all.len(), globex_total + 4, "{sort}");
        assert_ordered(sort, &all);
        // Another tenant's agent never sees a Globex row, in any order or page size.
        let theirs = all_pages(&app, &other, &format!("/api/v1/incidents?sort={sort}"), 3).await;
        assert_eq!(theirs.len(), 4, "{sort}");
    }
    // The agent's default is the SLA order; running clocks first, then the rest.
    let default = all_pages(&app, &agent, "/api/v1/incidents", 200).await;
    let by_due = all_pages(&app, &agent, "/api/v1/incidents?sort=sla_due", 200).await;
    assert_eq!(ids(&default), ids(&by_due));
    let running = default
        .iter()
        .take_while(|i| i["next_sla"].is_object())
        .count();
    assert!(default[running..].iter().all(|i| i["next_sla"].is_null()));
    assert_eq!(
        running,
        globex_total - 3 - 1,
        "held and resolved have no running clock"
    );
    // A requester follows their own incidents in the order they raised them.
    let mine = all_pages(&app, &requester, "/api/v1/incidents", 2).await;
    assert_eq!(mine.len(), 4);
    assert_ordered("created_at", &mine);

    // Unhappy paths: an unknown sort, and a cursor read under another sort, each named.
    let r = app.get("/api/v1/incidents?sort=title", &agent).await;
    assert_eq!(r.expect(400)["errors"][0]["pointer"], "/query/sort");
    let page = app
        .get("/api/v1/incidents?sort=priority&limit=2", &agent)
        .await;
    let cursor = s(&page.expect(200)["next_cursor"]);
    for sort in ["sla_due", "created_at", "-updated_at"] {
        let r = app
            .get(
                &format!("/api/v1/incidents?sort={sort}&cursor={cursor}"),
                &agent,
            )
            .await;
        let body = r.expect(400);
        assert_eq!(body["errors"][0]["pointer"], "/query/cursor", "{sort}");
        assert_eq!(body["errors"][0]["code"], "invalid_cursor", "{sort}");
    }
}

#[tokio::test]
async fn problems_sort_newest_and_recently_changed_first() {
    let app = testkit::app!();
    let manager = app.token("agent@globex.demo.test").await;
    ready(&app, &manager).await;
    let mut ids_in_order = Vec::new();
    for n in 0..7 {
        let p = app
            .post(
                "/api/v1/problems",
                &manager,
                json!({"title": format!("Problem {n}")}),
            )
            .await;
        ids_in_order.push(s(&p.expect(201)["id"]));
    }
    let oldest = all_pages(&app, &manager, "/api/v1/problems", 3).await;
    assert_eq!(ids(&oldest), ids_in_order);
    let newest = all_pages(&app, &manager, "/api/v1/problems?sort=-created_at", 3).await;
    let mut reversed = ids_in_order.clone();
    reversed.reverse();
    assert_eq!(ids(&newest), reversed);
    // Touch the oldest: it leads the recently-changed order.
    let patched = app
        .call(
            testkit::reqwest::Method::PATCH,
            &format!("/api/v1/problems/{}", ids_in_order[0]),
            Some(&manager),
            Some(json!({"root_cause": "a certificate expired"})),
            &[],
        )
        .await;
    patched.expect(200);
    let changed = all_pages(&app, &manager, "/api/v1/problems?sort=-updated_at", 2).await;
    assert_eq!(s(&changed[0]["id"]), ids_in_order[0]);
    assert_eq!(changed.len(), 7);
    let r = app.get("/api/v1/problems?sort=priority", &manager).await;
    assert_eq!(r.expect(400)["errors"][0]["pointer"], "/query/sort");
}
