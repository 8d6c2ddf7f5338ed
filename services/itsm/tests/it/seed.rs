//! `itsm seed --tenants N --incidents M` against a fresh PostgreSQL database: the real binary
//! seeds, then the running platform serves the seeded data at once (no relay needed), each
//! tenant seeing only its own incidents, numbers continuing where the seed left off.
use std::{collections::BTreeSet, time::Duration};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use testkit::{TestApp, json};

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    match db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
    {
        Ok(Some(row)) => row.try_get_by_index::<i64>(0).unwrap_or(-1),
        other => panic!("{sql}: {other:?}"),
    }
}

/// Every incident a token sees, following `next_cursor` (200 per page).
async fn list_all(app: &TestApp, token: &str, query: &str) -> Vec<serde_json::Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/incidents?limit=200{query}&cursor={c}"),
            None => format!("/api/v1/incidents?limit=200{query}"),
        };
        let page = app.get(&path, token).await;
        let body = page.expect(200);
        items.extend(body["items"].as_array().cloned().unwrap_or_default());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
}

#[tokio::test]
async fn seeded_tenants_log_in_and_list_only_their_incidents() {
    let app = testkit::app!();
    let Some(owner_url) = app
        .settings
        .migration_database_url
        .as_ref()
        .map(|u| u.expose().to_string())
    else {
        panic!("the test app has no owner URL")
    };
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_itsm"))
        .args(["seed", "--tenants", "3", "--incidents", "200"])
        .env("ITSM_DATABASE_URL", &app.app_url)
        .env("ITSM_MIGRATION_DATABASE_URL", &owner_url)
        .env("ITSM_KEY_ENCRYPTION_KEY", testkit::KEY_ENCRYPTION_KEY)
        .env("ITSM_DEMO_PASSWORD", testkit::PASSWORD)
        .env("ITSM_LOG_FILTER", "warn")
        .output()
        .await;
    let Ok(out) = out else {
        panic!("cannot run itsm seed: {out:?}")
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "itsm seed failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("seeded 3 load-test tenants (3 new") && stdout.contains("200 incidents"),
        "{stdout}"
    );

    let db = app.superuser().await;
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM incident.incidents").await,
        200
    );
    let count_of = |slug: &str| {
        format!(
            "SELECT count(*) FROM incident.incidents i JOIN identity.tenants t \
             ON t.id = i.tenant_id WHERE t.slug = '{slug}'"
        )
    };
    let (n1, n2) = (
        scalar(&db, &count_of("load-0001")).await,
        scalar(&db, &count_of("load-0002")).await,
    );
    assert!(n1 > 0 && n2 > 0, "{n1} {n2}");
    // Skewed: the first tenant is the largest.
    assert!(n1 > scalar(&db, &count_of("load-0003")).await);

    // The agent logs in with the demo password and sees exactly its tenant's incidents,
    // numbered INC0001001 … in order.
    let agent = app.token("agent@load-0001.demo.test").await;
    let tenant = app.tenant_id("load-0001").await;
    let mine = list_all(&app, &agent, "&sort=created_at").await;
    assert_eq!(mine.len() as i64, n1);
    assert!(mine.iter().all(|i| i["tenant_id"] == tenant.as_str()));
    let numbers: BTreeSet<String> = mine
        .iter()
        .filter_map(|i| i["number"].as_str().map(str::to_string))
        .collect();
    let expected: BTreeSet<String> = (0..n1).map(|k| format!("INC{:07}", 1001 + k)).collect();
    assert_eq!(numbers, expected);
    // Id order (`sort=created_at`) is creation order.
    let created: Vec<&str> = mine
        .iter()
        .filter_map(|i| i["created_at"].as_str())
        .collect();
    let mut sorted = created.clone();
    sorted.sort();
    assert_eq!(created, sorted);

    // The requester of another tenant sees their own incidents (they are every one's caller).
    let requester = app.token("requester@load-0002.demo.test").await;
    assert_eq!(list_all(&app, &requester, "").await.len() as i64, n2);

    // The MSP agent sees every customer's incidents.
    let msp = app.token("msp-agent@demo.test").await;
    assert_eq!(list_all(&app, &msp, "&tenant=*").await.len(), 200);

    // The incident service knows the seeded group and agent (its projections), and the
    // tenant's counter continues after the seeded numbers.
    let Some(seeded) = mine.iter().find(|i| !i["assignee_id"].is_null()) else {
        panic!("no seeded incident is assigned")
    };
    let created = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({
                "title": "Projector in room 2.14 shows no signal",
                "impact": 2,
                "urgency": 2,
                "assignment_group_id": seeded["assignment_group_id"],
                "assignee_id": seeded["assignee_id"],
            }),
        )
        .await;
    let created = created.expect(201);
    assert_eq!(created["number"], format!("INC{:07}", 1001 + n1));
    assert_eq!(created["priority"], 3);

    // The seeded tenants' events reach the incident service's consumer and change nothing.
    let mut pending = 1;
    for _ in 0..100 {
        pending = scalar(
            &db,
            "SELECT count(*) FROM identity.outbox WHERE sent_at IS NULL",
        )
        .await;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pending, 0, "identity's outbox did not drain");
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM incident.dead_letters").await,
        0
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM incident.tenant_directory WHERE slug LIKE 'load-%'"
        )
        .await,
        3
    );
}

/// `itsm seed --demo` on PostgreSQL: each demo customer gets SLA calendars and definitions, 25
/// incidents whose clocks are in mixed states (breached, paused, stopped in time) and 2
/// problems; a second run changes nothing.
#[tokio::test]
async fn demo_work_data_is_seeded_once_with_clocks_in_mixed_states() {
    let app = testkit::app!();
    let Some(owner_url) = app
        .settings
        .migration_database_url
        .as_ref()
        .map(|u| u.expose().to_string())
    else {
        panic!("the test app has no owner URL")
    };
    let seed = || async {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_itsm"))
            .args(["seed", "--demo"])
            .env("ITSM_DATABASE_URL", &app.app_url)
            .env("ITSM_MIGRATION_DATABASE_URL", &owner_url)
            .env("ITSM_KEY_ENCRYPTION_KEY", testkit::KEY_ENCRYPTION_KEY)
            .env("ITSM_DEMO_PASSWORD", testkit::PASSWORD)
            .env("ITSM_LOG_FILTER", "warn")
            .output()
            .await;
        let Ok(out) = out else {
            panic!("cannot run itsm seed: {out:?}")
        };
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "itsm seed failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let first = seed().await;
    assert!(
        first.contains("Demo work data: 75 incidents and 6 problems in 3 customers"),
        "{first}"
    );
    let db = app.superuser().await;
    let counts = [
        "SELECT count(*) FROM incident.incidents",
        "SELECT count(*) FROM incident.problems",
        "SELECT count(*) FROM incident.sla_definitions",
        // The incidents' clocks: the requests' start once their events arrive.
        "SELECT count(*) FROM incident.sla_clocks WHERE subject = 'incident'",
        "SELECT count(*) FROM catalogue.request_items",
    ];
    let mut before = Vec::new();
    for sql in counts {
        before.push(scalar(&db, sql).await);
    }
    // Three customers (globex, initech; soylent of the second MSP), 25 incidents each, and
    // five SLA definitions each (four for incidents, one for request items).
    assert_eq!(before[..3], [75, 6, 15]);
    // Three laptop requests per customer: in fulfilment, awaiting the line manager (asked
    // through identity's people, delivered before the catalogue seeds), awaiting the requester.
    assert_eq!(before[4], 9);
    for (sql, n) in [
        (
            "SELECT count(*) FROM catalogue.request_items WHERE state = 'in_fulfilment'",
            3,
        ),
        (
            "SELECT count(*) FROM catalogue.request_items WHERE state = 'pending_approval'",
            3,
        ),
        (
            "SELECT count(*) FROM catalogue.request_items WHERE state = 'awaiting_requester'",
            3,
        ),
        (
            "SELECT count(*) FROM catalogue.approvals WHERE state = 'pending'",
            3,
        ),
        (
            "SELECT count(*) FROM catalogue.fulfilment_tasks WHERE state = 'open'",
            12,
        ),
    ] {
        assert_eq!(scalar(&db, sql).await, n, "{sql}");
    }
    for (what, sql) in [
        (
            "breached",
            "SELECT count(*) FROM incident.sla_clocks WHERE reached >= 3",
        ),
        (
            "paused",
            "SELECT count(*) FROM incident.sla_clocks WHERE status = 'paused'",
        ),
        (
            "stopped in time",
            "SELECT count(*) FROM incident.sla_clocks WHERE status = 'stopped' AND reached < 3",
        ),
        (
            "running",
            "SELECT count(*) FROM incident.sla_clocks WHERE status = 'running'",
        ),
    ] {
        assert!(scalar(&db, sql).await > 0, "no {what} clock");
    }
    // The requests' events reach the incident service, whose "Request fulfilment" clocks
    // start (pending until fulfilment, running, paused), and their standing reaches the items.
    let standing = "SELECT count(*) FROM catalogue.request_items WHERE sla_state IN \
                    ('pending', 'on_track', 'paused')";
    let mut settled = 0;
    for _ in 0..100 {
        settled = scalar(&db, standing).await;
        if settled == 9 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(settled, 9, "the requests' SLA standing never arrived");
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM incident.sla_clocks WHERE subject = 'request_item' \
             AND status = 'paused'"
        )
        .await,
        3
    );
    let again = seed().await;
    assert!(
        again.contains("Demo work data: 0 incidents and 0 problems in 0 customers"),
        "{again}"
    );
    for (sql, n) in counts.into_iter().zip(before) {
        assert_eq!(scalar(&db, sql).await, n, "{sql}");
    }

    // What a customer's agent sees: the incidents with their clocks.
    let agent = app.token("agent@globex.demo.test").await;
    let incidents = list_all(&app, &agent, "").await;
    assert_eq!(incidents.len(), 25);
    let on_hold = incidents
        .iter()
        .find(|i| i["state"] == "on_hold")
        .and_then(|i| i["id"].as_str())
        .unwrap_or_default();
    let sla = app
        .get(&format!("/api/v1/incidents/{on_hold}/sla"), &agent)
        .await;
    let sla = sla.expect(200);
    let statuses: Vec<&str> = sla["clocks"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["status"].as_str()).collect())
        .unwrap_or_default();
    assert!(statuses.contains(&"paused"), "{sla}");
}
