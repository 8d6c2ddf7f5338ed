//! CMDB sharing and rules over HTTP on PostgreSQL: an MSP's CI shared read-only with its
//! customers, each of whom sees only its own side of it; tenants' relationship and
//! reconciliation rules; identities that keep CIs unique.
#![allow(clippy::expect_used)]
use testkit::reqwest::Method;
use testkit::{TestApp, app, json};

use crate::{
    cmdb::{ci, known, pointers},
    cmdb_import::import,
    portfolio::{patch, s},
};

fn names(impact: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = impact["nodes"]
        .as_array()
        .map(|a| a.iter().map(|n| s(&n["name"])).collect())
        .unwrap_or_default();
    names.sort();
    names
}

async fn put(app: &TestApp, path: &str, token: &str, body: serde_json::Value) -> testkit::Res {
    app.call(Method::PUT, path, Some(token), Some(body), &[])
        .await
}

#[tokio::test]
async fn a_shared_hypervisor_is_read_only_to_customers_who_each_see_only_their_side() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let globex = app.token("configuration-manager@globex.demo.test").await;
    let initech = app.token("configuration-manager@initech.demo.test").await;
    let umbrella = app.token("msp-admin@umbrella.demo.test").await;
    known(&app, &umbrella).await;
    let hv = ci(
        &app,
        &msp,
        json!({"class": "hypervisor", "name": "hv-shared"}),
    )
    .await;
    let hv = s(&hv["id"]);
    let g_web = s(&ci(&app, &globex, json!({"class": "virtual", "name": "g-web"})).await["id"]);
    let i_web = s(&ci(&app, &initech, json!({"class": "virtual", "name": "i-web"})).await["id"]);
    let hosted = |web: &str| json!({"source_id": web, "type": "hosted_on", "target_id": hv});
    let rels = "/api/v1/cmdb/relationships";

    // Not shared yet: the customer cannot see it, nor relate to it.
    app.get(&format!("/api/v1/cmdb/cis/{hv}"), &globex)
        .await
        .expect(404);
    let hidden = app.post(rels, &globex, hosted(&g_web)).await;
    assert_eq!(hidden.expect(404)["extra"]["pointer"], "/target_id");

    // Shared with the MSP's customers only.
    let grants = format!("/api/v1/cmdb/cis/{hv}/grants");
    let (globex_id, initech_id) = (
        app.tenant_id("globex").await,
        app.tenant_id("initech").await,
    );
    let other_msps = app.tenant_id("soylent").await;
    let refused = put(
        &app,
        &grants,
        &msp,
        json!({"tenant_ids": [globex_id, other_msps]}),
    )
    .await;
    assert_eq!(pointers(refused.expect(422)), ["/tenant_ids/1"]);
    let shared = put(
        &app,
        &grants,
        &msp,
        json!({"tenant_ids": [initech_id, globex_id]}),
    )
    .await;
    assert_eq!(
        shared.expect(200)["tenant_ids"].as_array().map(Vec::len),
        Some(2)
    );
    app.get(&grants, &globex).await.expect(404);

    // Read-only to the customer: it reads and relates, never changes.
    let seen = app.get(&format!("/api/v1/cmdb/cis/{hv}"), &globex).await;
    let seen = seen.expect(200);
    assert_eq!(
        (seen["shared"].clone(), seen["read_only"].clone()),
        (json!(true), json!(true))
    );
    let edit = patch(
        &app,
        &format!("/api/v1/cmdb/cis/{hv}"),
        &globex,
        json!({"name": "mine"}),
        Some(1),
    )
    .await;
    assert_eq!(edit.expect(403)["code"], "read_only");
    let regrant = put(&app, &grants, &globex, json!({"tenant_ids": []})).await;
    assert_eq!(regrant.expect(403)["code"], "read_only");
    app.get(&format!("/api/v1/cmdb/cis/{hv}"), &umbrella)
        .await
        .expect(404);
    app.post(rels, &globex, hosted(&g_web)).await.expect(201);
    app.post(rels, &initech, hosted(&i_web)).await.expect(201);

    // Each customer's impact of the shared CI is its own side; the MSP sees both with `*`.
    let impact = format!("/api/v1/cmdb/cis/{hv}/impact");
    assert_eq!(
        names(app.get(&impact, &globex).await.expect(200)),
        ["g-web"]
    );
    assert_eq!(
        names(app.get(&impact, &initech).await.expect(200)),
        ["i-web"]
    );
    assert!(names(app.get(&impact, &msp).await.expect(200)).is_empty());
    let all = app.get(&format!("{impact}?tenant=*"), &msp).await;
    assert_eq!(names(all.expect(200)), ["g-web", "i-web"]);
    let everyone = app.get(&format!("{impact}?tenant=*"), &globex).await;
    assert_eq!(names(everyone.expect(200)), ["g-web"]);

    // A customer's list shows the shared CI, marked read-only.
    let listed = app.get("/api/v1/cmdb/cis?class=hypervisor", &globex).await;
    let listed = listed.expect(200)["items"].clone();
    assert!(listed.as_array().is_some_and(|a| {
        a.iter()
            .any(|c| c["id"] == hv.as_str() && c["read_only"] == true)
    }));

    // Unshared: gone from the customer's view.
    put(&app, &grants, &msp, json!({"tenant_ids": []}))
        .await
        .expect(200);
    app.get(&format!("/api/v1/cmdb/cis/{hv}"), &globex)
        .await
        .expect(404);
}

#[tokio::test]
async fn tenants_add_relationship_and_reconciliation_rules_of_their_own() {
    let app = app!();
    let cm = app.token("configuration-manager@globex.demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    let initech = app.token("configuration-manager@initech.demo.test").await;
    known(&app, &cm).await;
    known(&app, &initech).await;
    let rules = "/api/v1/cmdb/relationship-rules";
    let built_in = app.get(rules, &agent).await;
    let hosted = built_in.expect(200)["items"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["type"] == "hosted_on").cloned())
        .expect("hosted_on is built in");
    assert_eq!(
        (hosted["built_in"].clone(), hosted["max_targets"].clone()),
        (json!(true), json!(1))
    );

    let app_runs_on_cluster =
        json!({"source_class": "application", "type": "runs_on", "target_class": "cluster"});
    let payroll = s(&ci(
        &app,
        &cm,
        json!({"class": "application", "name": "payroll"}),
    )
    .await["id"]);
    let cluster = s(&ci(&app, &cm, json!({"class": "cluster", "name": "k8s"})).await["id"]);
    let relate = json!({"source_id": payroll, "type": "runs_on", "target_id": cluster});
    let before = app
        .post("/api/v1/cmdb/relationships", &cm, relate.clone())
        .await;
    assert_eq!(
        before.expect(422)["errors"][0]["code"],
        "relationship_not_allowed"
    );
    app.post(rules, &agent, app_runs_on_cluster.clone())
        .await
        .expect(403);
    let made = app.post(rules, &cm, app_runs_on_cluster.clone()).await;
    let rule_id = s(&made.expect(201)["id"]);
    let again = app.post(rules, &cm, app_runs_on_cluster).await;
    assert_eq!(again.expect(409)["code"], "rule_exists");
    let builtin_again = app
        .post(
            rules,
            &cm,
            json!({"source_class": "hypervisor", "type": "hosts", "target_class": "server"}),
        )
        .await;
    assert_eq!(builtin_again.expect(409)["code"], "rule_exists");
    let bad = app
        .post(rules, &cm, json!({"source_class": "mainframe", "type": "loves", "target_class": "cluster", "max_targets": 0}))
        .await;
    assert_eq!(
        pointers(bad.expect(422)),
        ["/source_class", "/type", "/max_targets"]
    );
    app.post("/api/v1/cmdb/relationships", &cm, relate)
        .await
        .expect(201);
    // The rule is globex's: initech neither sees nor removes it.
    let theirs = app.get(rules, &initech).await;
    assert!(!theirs.expect(200)["items"].to_string().contains(&rule_id));
    let path = format!("{rules}/{rule_id}");
    app.call(Method::DELETE, &path, Some(&initech), None, &[])
        .await
        .expect(404);
    app.call(Method::DELETE, &path, Some(&cm), None, &[]).await;
    app.call(Method::DELETE, &path, Some(&cm), None, &[])
        .await
        .expect(404);

    let recon = "/api/v1/cmdb/reconciliation-rules";
    let rule = json!({"class": "server", "attribute": "cpu_count", "precedence": ["sccm", "discovery"], "stale_after_days": 30});
    let made = app.post(recon, &cm, rule.clone()).await;
    assert_eq!(made.expect(201)["precedence"], json!(["sccm", "discovery"]));
    assert_eq!(
        app.post(recon, &cm, rule).await.expect(409)["code"],
        "rule_exists"
    );
    let bad = app
        .post(
            recon,
            &cm,
            json!({"class": "server", "attribute": "colour", "precedence": ["a", "a"]}),
        )
        .await;
    assert_eq!(pointers(bad.expect(422)), ["/attribute", "/precedence/1"]);
    let listed = app.get(recon, &initech).await;
    assert_eq!(listed.expect(200)["items"], json!([]));
}

#[tokio::test]
async fn identities_keep_cis_unique_whatever_their_case_or_spacing() {
    let app = app!();
    let cm = app.token("configuration-manager@globex.demo.test").await;
    let first = ci(
        &app,
        &cm,
        json!({"class": "linux_server", "name": "a", "attributes": {"serial_number": "SN-1"}}),
    )
    .await;
    // A server and a Linux server share one class tree, so one serial number.
    let twin = app
        .post(
            "/api/v1/cmdb/cis",
            &cm,
            json!({"class": "server", "name": "b", "attributes": {"serial_number": "  sn-1 "}}),
        )
        .await;
    let twin = twin.expect(409);
    assert_eq!(
        (twin["code"].clone(), twin["extra"]["pointer"].clone()),
        (
            json!("duplicate_identity"),
            json!("/attributes/serial_number")
        )
    );
    assert_eq!(twin["extra"]["ci_id"], first["id"]);
    // Without a rule's values, the name identifies: once per class tree.
    ci(
        &app,
        &cm,
        json!({"class": "application", "name": "Payroll"}),
    )
    .await;
    let again = app
        .post(
            "/api/v1/cmdb/cis",
            &cm,
            json!({"class": "application", "name": "payroll "}),
        )
        .await;
    assert_eq!(again.expect(409)["extra"]["pointer"], "/name");
    // Another tenant may use the same values.
    let initech = app.token("configuration-manager@initech.demo.test").await;
    ci(
        &app,
        &initech,
        json!({"class": "server", "name": "b", "attributes": {"serial_number": "SN-1"}}),
    )
    .await;
}

/// Posts an incident on `ci` until incident has projected the CI (its events arrive
/// asynchronously) and the answer stops being `unknown_reference`.
async fn incident_on(app: &TestApp, token: &str, ci: &str) -> testkit::Res {
    let body = json!({"title": "Down", "impact": 2, "urgency": 2, "configuration_item_id": ci});
    for _ in 0..100 {
        let res = app.post("/api/v1/incidents", token, body.clone()).await;
        if res.body["errors"][0]["code"] != "unknown_reference" {
            return res;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("incident never learned CI {ci}");
}

#[tokio::test]
async fn an_incident_names_a_ci_its_tenant_sees_and_never_a_retired_one() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let cm = app.token("configuration-manager@globex.demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    let initech = app.token("agent@initech.demo.test").await;
    let web = ci(&app, &cm, json!({"class": "virtual", "name": "inc-web"})).await;
    let web = s(&web["id"]);
    incident_on(&app, &agent, &web).await.expect(201);
    // Another tenant's CI is as unknown as none.
    let theirs = app
        .post(
            "/api/v1/incidents",
            &initech,
            json!({"title": "Down", "impact": 2, "urgency": 2, "configuration_item_id": web}),
        )
        .await;
    assert_eq!(
        theirs.expect(422)["errors"][0]["pointer"],
        "/configuration_item_id"
    );
    // Retired: 422 once incident has heard.
    patch(
        &app,
        &format!("/api/v1/cmdb/cis/{web}"),
        &cm,
        json!({"status": "retired"}),
        Some(1),
    )
    .await
    .expect(200);
    let mut answer = json!(null);
    for _ in 0..100 {
        let res = incident_on(&app, &agent, &web).await;
        answer = res.body.clone();
        if res.status.as_u16() == 422 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(answer["errors"][0]["code"], "ci_retired", "{answer}");
    // A provider's CI shared with the customer may be named by it.
    let hv = s(&ci(&app, &msp, json!({"class": "hypervisor", "name": "inc-hv"})).await["id"]);
    let globex_id = app.tenant_id("globex").await;
    put(
        &app,
        &format!("/api/v1/cmdb/cis/{hv}/grants"),
        &msp,
        json!({"tenant_ids": [globex_id]}),
    )
    .await
    .expect(200);
    incident_on(&app, &agent, &hv).await.expect(201);
}

#[tokio::test]
async fn an_incident_lists_the_business_services_upstream_of_its_ci() {
    let app = app!();
    let cm = app.token("configuration-manager@globex.demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    let initech = app.token("agent@initech.demo.test").await;
    let web = s(&ci(&app, &cm, json!({"class": "virtual", "name": "aff-web"})).await["id"]);
    let service = s(&ci(
        &app,
        &cm,
        json!({"class": "application", "name": "aff-app"}),
    )
    .await["id"]);
    let business = ci(
        &app,
        &cm,
        json!({"class": "business_service", "name": "aff-svc"}),
    )
    .await;
    for (source, rel, target) in [
        (&service, "runs_on", &web),
        (&s(&business["id"]), "depends_on", &service),
    ] {
        app.post(
            "/api/v1/cmdb/relationships",
            &cm,
            json!({"source_id": source, "type": rel, "target_id": target}),
        )
        .await
        .expect(201);
    }
    let incident = s(&incident_on(&app, &agent, &web).await.expect(201)["id"]);
    let path = format!("/api/v1/incidents/{incident}/affected-services");
    let mut affected = json!(null);
    for _ in 0..100 {
        affected = app.get(&path, &agent).await.expect(200).clone();
        if affected["items"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(affected["items"][0]["ci_id"], business["id"], "{affected}");
    assert_eq!(affected["items"][0]["depth"], 2);
    let near = app.get(&format!("{path}?depth=1"), &agent).await;
    assert_eq!(near.expect(200)["items"], json!([]));
    let bad = app.get(&format!("{path}?depth=11"), &agent).await;
    assert_eq!(bad.expect(400)["errors"][0]["pointer"], "/query/depth");
    app.get(&path, &initech).await.expect(404);
}

/// The CIs and live relationships of `tenant` in `schema`: how many, and a digest of their ids.
async fn projected(
    db: &sea_orm::DatabaseConnection,
    schema: &str,
    tenant: &str,
) -> (String, String) {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    // Incident and change hold a copy of each CI shared with the tenant: only its own are compared.
    let (cis, own, rels) = if schema == "catalogue" {
        ("id", "", "")
    } else {
        ("ci_id", "AND owner_id = tenant_id", "AND NOT deleted")
    };
    let sql = format!(
        "SELECT (SELECT count(*) || ':' || md5(coalesce(string_agg({cis}::text, ',' ORDER BY {cis}), '')) \
           FROM {schema}.cmdb_cis WHERE tenant_id = '{tenant}' {own}) AS c, \
         (SELECT count(*) || ':' || md5(coalesce(string_agg(id::text, ',' ORDER BY id), '')) \
           FROM {schema}.cmdb_relationships WHERE tenant_id = '{tenant}' {rels}) AS r"
    );
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect("query")
        .expect("row");
    (
        row.try_get("", "c").expect("c"),
        row.try_get("", "r").expect("r"),
    )
}

#[tokio::test]
async fn incident_and_change_project_an_imported_graph_exactly() {
    let app = app!();
    let cm = app.token("configuration-manager@initech.demo.test").await;
    known(&app, &cm).await;
    let tenant = app.tenant_id("initech").await;
    let (cis, edges) = (1_000, 3_000);
    let mut file = String::from("class,name\n");
    for i in 0..cis {
        file.push_str(&format!("application,proj-{i}\n"));
    }
    import(&app, &cm, "source=proj", &file).await;
    let mut rels = String::from("from,type,to\n");
    let mut seen = std::collections::HashSet::new();
    let mut x: u64 = 42;
    while seen.len() < edges {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let (a, b) = ((x >> 33) % cis, (x >> 13) % cis);
        if a != b && seen.insert((a, b)) {
            rels.push_str(&format!(
                "application:name=proj-{a},depends_on,application:name=proj-{b}\n"
            ));
        }
    }
    assert_eq!(
        import(&app, &cm, "source=proj", &rels).await["created"],
        edges
    );
    let su = app.superuser().await;
    let expected = projected(&su, "catalogue", &tenant).await;
    let started = std::time::Instant::now();
    for schema in ["incident", "change"] {
        while projected(&su, schema, &tenant).await != expected {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "{schema}'s projection never matched"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        eprintln!(
            "{schema}'s projection matched {:.1} s after the import",
            started.elapsed().as_secs_f64()
        );
    }
}
