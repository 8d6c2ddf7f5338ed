//! The CMDB over HTTP on PostgreSQL: classes that inherit attributes and never retype them,
//! CIs checked against their class, history on every change with `?as_of=`, scopes and
//! isolation.
#![allow(clippy::expect_used)]
use testkit::{TestApp, app, json};

use crate::{
    knowledge::outbox_count,
    portfolio::{patch, s},
};

/// Creates a CI (once the catalogue knows the tenant) and returns it.
pub async fn ci(app: &TestApp, token: &str, body: serde_json::Value) -> serde_json::Value {
    for _ in 0..100 {
        let res = app.post("/api/v1/cmdb/cis", token, body.clone()).await;
        if res.status.as_u16() == 201 {
            return res.body.clone();
        }
        assert_ne!(res.status.as_u16(), 422, "{}", res.body);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the catalogue never learned the tenant");
}

/// Waits until the catalogue knows `token`'s tenant (identity's events arrive asynchronously).
pub async fn known(app: &TestApp, token: &str) {
    for _ in 0..100 {
        if app.get("/api/v1/cmdb/classes", token).await.status.as_u16() == 200 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the catalogue never learned the tenant");
}

pub fn pointers(body: &serde_json::Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| s(&e["pointer"])).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn classes_inherit_attributes_and_never_retype_them() {
    let app = app!();
    let cm = app.token("configuration-manager@globex.demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    known(&app, &agent).await;
    // Built in: a Linux server has a server's attributes.
    let classes = app.get("/api/v1/cmdb/classes", &agent).await;
    let items = classes.expect(200)["items"].clone();
    let linux = items
        .as_array()
        .and_then(|a| a.iter().find(|c| c["key"] == "linux_server"))
        .cloned()
        .expect("linux_server is built in");
    assert_eq!(linux["path"], "server/linux_server");
    assert_eq!(linux["built_in"], true);
    assert_eq!(
        linux["effective_schema"]["properties"]["cpu_count"]["type"],
        "integer"
    );
    let virt = app.get("/api/v1/cmdb/classes/virtual", &agent).await;
    assert_eq!(virt.expect(200)["path"], "server/virtual");
    app.get("/api/v1/cmdb/classes/mainframe", &agent)
        .await
        .expect(404);

    // A tenant's own class under a built-in one.
    let body = json!({
        "key": "web_server",
        "name": "Web server",
        "parent": "linux_server",
        "attribute_schema": {"type": "object", "properties": {"vhosts": {"type": "integer", "minimum": 0}}},
        "identification_rules": [["hostname"]]
    });
    app.post("/api/v1/cmdb/classes", &agent, body.clone())
        .await
        .expect(403);
    let made = app.post("/api/v1/cmdb/classes", &cm, body.clone()).await;
    let made = made.expect(201);
    assert_eq!(made["path"], "server/linux_server/web_server");
    assert_eq!(made["built_in"], false);
    assert!(made["effective_schema"]["properties"]["serial_number"].is_object());
    let again = app.post("/api/v1/cmdb/classes", &cm, body).await;
    assert_eq!(again.expect(409)["code"], "key_taken");
    let builtin_key = app
        .post(
            "/api/v1/cmdb/classes",
            &cm,
            json!({"key": "server", "name": "Mine"}),
        )
        .await;
    assert_eq!(builtin_key.expect(409)["code"], "key_taken");

    // Unhappy: retyping, unknown parent, bad key, a rule on an unknown attribute.
    let retyped = app
        .post(
            "/api/v1/cmdb/classes",
            &cm,
            json!({"key": "big_server", "name": "Big", "parent": "server",
                   "attribute_schema": {"type": "object", "properties": {"cpu_count": {"type": "string"}}}}),
        )
        .await;
    assert_eq!(
        pointers(retyped.expect(422)),
        ["/attribute_schema/properties/cpu_count"]
    );
    let orphan = app
        .post(
            "/api/v1/cmdb/classes",
            &cm,
            json!({"key": "orphan", "name": "Orphan", "parent": "no_such_class"}),
        )
        .await;
    assert_eq!(pointers(orphan.expect(422)), ["/parent"]);
    let bad = app
        .post(
            "/api/v1/cmdb/classes",
            &cm,
            json!({"key": "Bad Key", "name": "", "identification_rules": [["mac"]]}),
        )
        .await;
    assert_eq!(pointers(bad.expect(422)), ["/key", "/name"]);
    let rule = app
        .post(
            "/api/v1/cmdb/classes",
            &cm,
            json!({"key": "appliance", "name": "Appliance", "identification_rules": [["mac"]]}),
        )
        .await;
    assert_eq!(pointers(rule.expect(422)), ["/identification_rules/0/0"]);

    // Another customer does not see globex's class.
    let initech = app.token("agent@initech.demo.test").await;
    known(&app, &initech).await;
    app.get("/api/v1/cmdb/classes/web_server", &initech)
        .await
        .expect(404);
}

#[tokio::test]
async fn cis_are_checked_against_their_class_and_keep_their_history() {
    let app = app!();
    let cm = app.token("configuration-manager@globex.demo.test").await;
    let web = ci(
        &app,
        &cm,
        json!({"class": "linux_server", "name": "web-01", "status": "planned",
               "attributes": {"hostname": "web-01.globex.example", "cpu_count": 2}}),
    )
    .await;
    let id = s(&web["id"]);
    assert_eq!(web["class_path"], "server/linux_server");
    assert_eq!(web["read_only"], false);
    assert_eq!(web["attribute_sources"]["cpu_count"]["source"], "manual");

    // Attributes are checked against the class, with the inherited ones.
    let zero = app
        .post(
            "/api/v1/cmdb/cis",
            &cm,
            json!({"class": "linux_server", "name": "web-02", "attributes": {"cpu_count": 0, "colour": "red"}}),
        )
        .await;
    let mut found = pointers(zero.expect(422));
    found.sort();
    assert_eq!(found, ["/attributes/colour", "/attributes/cpu_count"]);
    let unknown = app
        .post(
            "/api/v1/cmdb/cis",
            &cm,
            json!({"class": "mainframe", "name": "big-iron", "status": "sleeping"}),
        )
        .await;
    assert_eq!(pointers(unknown.expect(422)), ["/status"]);
    let unknown = app
        .post(
            "/api/v1/cmdb/cis",
            &cm,
            json!({"class": "mainframe", "name": "big-iron"}),
        )
        .await;
    assert_eq!(unknown.expect(422)["errors"][0]["code"], "unknown_class");

    // Lists: a class with its subclasses, by name, by status.
    let switch = ci(
        &app,
        &cm,
        json!({"class": "network_device", "name": "sw-01"}),
    )
    .await;
    let servers = app.get("/api/v1/cmdb/cis?class=server", &cm).await;
    let names: Vec<String> = servers.expect(200)["items"]
        .as_array()
        .map(|a| a.iter().map(|c| s(&c["name"])).collect())
        .unwrap_or_default();
    assert!(names.contains(&"web-01".to_string()), "{names:?}");
    assert!(!names.contains(&"sw-01".to_string()));
    let by_name = app.get("/api/v1/cmdb/cis?name=sw-01", &cm).await;
    assert_eq!(by_name.expect(200)["items"][0]["id"], switch["id"]);
    let bad_status = app.get("/api/v1/cmdb/cis?status=sleeping", &cm).await;
    assert_eq!(
        bad_status.expect(400)["errors"][0]["pointer"],
        "/query/status"
    );
    app.get("/api/v1/cmdb/cis?class=mainframe", &cm)
        .await
        .expect(400);

    // Changes need the version read, merge attributes and append to the history.
    let path = format!("/api/v1/cmdb/cis/{id}");
    let stale = patch(&app, &path, &cm, json!({"status": "operational"}), Some(9)).await;
    stale.expect(412);
    let bad = patch(
        &app,
        &path,
        &cm,
        json!({"attributes": {"cpu_count": "many"}}),
        Some(1),
    )
    .await;
    assert_eq!(pointers(bad.expect(422)), ["/attributes/cpu_count"]);
    let not_object = patch(&app, &path, &cm, json!({"attributes": "many"}), Some(1)).await;
    assert_eq!(pointers(not_object.expect(422)), ["/attributes"]);
    let before_change = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let changed = patch(
        &app,
        &path,
        &cm,
        json!({"status": "operational", "attributes": {"cpu_count": 4, "hostname": null}}),
        Some(1),
    )
    .await;
    let changed = changed.expect(200).clone();
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["attributes"], json!({"cpu_count": 4}));
    assert!(
        changed["attribute_sources"]["hostname"].is_null(),
        "a removed attribute has no source"
    );
    let history = app.get(&format!("{path}/history"), &cm).await;
    let fields: Vec<String> = history.expect(200)["items"]
        .as_array()
        .map(|a| a.iter().map(|h| s(&h["field"])).collect())
        .unwrap_or_default();
    assert_eq!(
        fields,
        [
            "name",
            "status",
            "attributes.cpu_count",
            "attributes.hostname",
            "status",
            "attributes.cpu_count",
            "attributes.hostname"
        ]
    );
    // As it was before the change.
    let then = before_change.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let was = app
        .get(&format!("{path}?as_of={}", then.replace('+', "%2B")), &cm)
        .await;
    let was = was.expect(200);
    assert_eq!(was["status"], "planned");
    assert_eq!(
        was["attributes"],
        json!({"hostname": "web-01.globex.example", "cpu_count": 2})
    );
    app.get(&format!("{path}?as_of=2020-01-01T00:00:00Z"), &cm)
        .await
        .expect(404);
    let bad_as_of = app.get(&format!("{path}?as_of=yesterday"), &cm).await;
    assert_eq!(
        bad_as_of.expect(400)["errors"][0]["pointer"],
        "/query/as_of"
    );

    // Another tenant's token finds nothing; a requester has no CMDB scope.
    let initech = app.token("configuration-manager@initech.demo.test").await;
    known(&app, &initech).await;
    app.get(&path, &initech).await.expect(404);
    app.get(&format!("{path}/history"), &initech)
        .await
        .expect(404);
    patch(&app, &path, &initech, json!({"name": "mine"}), Some(2))
        .await
        .expect(404);
    let listed = app.get("/api/v1/cmdb/cis?name=web-01", &initech).await;
    assert_eq!(listed.expect(200)["items"], json!([]));
    let requester = app.token("requester@globex.demo.test").await;
    app.get(&path, &requester).await.expect(403);

    // Each change is announced; retiring keeps the CI and says so.
    let retired = patch(&app, &path, &cm, json!({"status": "retired"}), Some(2)).await;
    assert_eq!(retired.expect(200)["status"], "retired");
    assert_eq!(outbox_count(&app, "ci.created").await, 2);
    assert_eq!(outbox_count(&app, "ci.updated").await, 2);
    assert_eq!(outbox_count(&app, "ci.retired").await, 1);
}

#[tokio::test]
async fn relationships_follow_the_class_rules_their_limits_and_never_loop() {
    let app = app!();
    let cm = app.token("configuration-manager@globex.demo.test").await;
    let id = |v: &serde_json::Value| s(&v["id"]);
    let hv1 = id(&ci(&app, &cm, json!({"class": "hypervisor", "name": "hv-1"})).await);
    let hv2 = id(&ci(&app, &cm, json!({"class": "hypervisor", "name": "hv-2"})).await);
    let web = id(&ci(&app, &cm, json!({"class": "virtual", "name": "web-1"})).await);
    let db = id(&ci(&app, &cm, json!({"class": "database", "name": "db-1"})).await);
    let relate = |source: &str, rel: &str, target: &str| json!({"source_id": source, "type": rel, "target_id": target});
    let path = "/api/v1/cmdb/relationships";
    let hosted = app.post(path, &cm, relate(&web, "hosted_on", &hv1)).await;
    let hosted = hosted.expect(201).clone();
    assert_eq!(hosted["type"], "hosted_on");
    // Named from the other end, stored forward.
    let runs = app.post(path, &cm, relate(&web, "runs", &db)).await;
    let runs = runs.expect(201);
    assert_eq!(
        (
            s(&runs["source_id"]),
            s(&runs["type"]),
            s(&runs["target_id"])
        ),
        (db.clone(), "runs_on".to_string(), web.clone())
    );
    // A subclass inherits the rule's limit: one host per server.
    let second_host = app.post(path, &cm, relate(&web, "hosted_on", &hv2)).await;
    assert_eq!(second_host.expect(409)["code"], "cardinality_exceeded");
    // A hypervisor is a server: hosting it on what it hosts would loop.
    app.post(path, &cm, relate(&hv1, "hosted_on", &hv2))
        .await
        .expect(201);
    let looped = app.post(path, &cm, relate(&hv2, "hosted_on", &hv1)).await;
    assert_eq!(looped.expect(409)["code"], "cycle");
    let twice = app.post(path, &cm, relate(&db, "runs_on", &web)).await;
    assert_eq!(twice.expect(409)["code"], "relationship_exists");
    let disallowed = app.post(path, &cm, relate(&db, "hosted_on", &hv1)).await;
    assert_eq!(
        disallowed.expect(422)["errors"][0]["code"],
        "relationship_not_allowed"
    );
    let unknown = app.post(path, &cm, relate(&db, "likes", &web)).await;
    assert_eq!(pointers(unknown.expect(422)), ["/type"]);
    let self_loop = app.post(path, &cm, relate(&db, "runs_on", &db)).await;
    assert_eq!(pointers(self_loop.expect(422)), ["/target_id"]);

    // Another tenant's CI is not found, and the answer names the field.
    let initech = app.token("configuration-manager@initech.demo.test").await;
    let theirs = id(&ci(
        &app,
        &initech,
        json!({"class": "hypervisor", "name": "hv-9"}),
    )
    .await);
    let across = app
        .post(path, &cm, relate(&web, "hosted_on", &theirs))
        .await;
    assert_eq!(across.expect(404)["extra"]["pointer"], "/target_id");
    let edge = format!("{path}/{}", s(&hosted["id"]));
    app.get(&edge, &initech).await.expect(404);
    app.call(
        testkit::reqwest::Method::DELETE,
        &edge,
        Some(&initech),
        None,
        &[],
    )
    .await
    .expect(404);
    let listed = app.get(&format!("{path}?ci_id={web}"), &cm).await;
    assert_eq!(
        listed.expect(200)["items"].as_array().map(Vec::len),
        Some(2)
    );
    app.call(
        testkit::reqwest::Method::DELETE,
        &edge,
        Some(&cm),
        None,
        &[],
    )
    .await
    .expect(204);
    app.post(path, &cm, relate(&web, "hosted_on", &hv2))
        .await
        .expect(201);
    assert_eq!(outbox_count(&app, "ci_relationship.created").await, 4);
    assert_eq!(outbox_count(&app, "ci_relationship.deleted").await, 1);
}

#[tokio::test]
async fn impact_walks_each_ci_once_at_its_shortest_depth_and_says_when_cut() {
    let app = app!();
    let cm = app.token("configuration-manager@globex.demo.test").await;
    let id = |v: &serde_json::Value| s(&v["id"]);
    let hv = id(&ci(&app, &cm, json!({"class": "hypervisor", "name": "hv-a"})).await);
    let web = id(&ci(&app, &cm, json!({"class": "virtual", "name": "web-a"})).await);
    let db = id(&ci(&app, &cm, json!({"class": "virtual", "name": "db-host-a"})).await);
    let app_ci = id(&ci(
        &app,
        &cm,
        json!({"class": "application", "name": "payroll-a"}),
    )
    .await);
    let svc = id(&ci(
        &app,
        &cm,
        json!({"class": "business_service", "name": "Payroll-a", "status": "retired"}),
    )
    .await);
    for (source, rel, target) in [
        (&web, "hosted_on", &hv),
        (&db, "hosted_on", &hv),
        (&app_ci, "runs_on", &web),
        (&app_ci, "runs_on", &db),
        (&svc, "depends_on", &app_ci),
    ] {
        app.post(
            "/api/v1/cmdb/relationships",
            &cm,
            json!({"source_id": source, "type": rel, "target_id": target}),
        )
        .await
        .expect(201);
    }
    let impact = app.get(&format!("/api/v1/cmdb/cis/{hv}/impact"), &cm).await;
    let impact = impact.expect(200).clone();
    let depth_of = |ci: &str| {
        impact["nodes"]
            .as_array()
            .and_then(|a| a.iter().find(|n| n["id"] == ci))
            .map(|n| n["depth"].clone())
    };
    assert_eq!(impact["node_count"], 4, "{impact}");
    assert_eq!(depth_of(&web), Some(json!(1)));
    assert_eq!(depth_of(&db), Some(json!(1)));
    assert_eq!(
        depth_of(&app_ci),
        Some(json!(2)),
        "once, at its shortest depth"
    );
    assert_eq!(depth_of(&svc), Some(json!(3)), "a retired CI still counts");
    assert_eq!(impact["services"][0]["id"], json!(svc));
    assert_eq!(impact["truncated"], false);
    let cut = app
        .get(&format!("/api/v1/cmdb/cis/{hv}/impact?depth=1"), &cm)
        .await;
    assert_eq!(cut.expect(200)["truncated"], true);
    let few = app
        .get(&format!("/api/v1/cmdb/cis/{hv}/impact?max_nodes=3"), &cm)
        .await;
    let few = few.expect(200);
    assert_eq!(
        (few["node_count"].clone(), few["truncated"].clone()),
        (json!(3), json!(true))
    );
    let needs = app
        .get(
            &format!("/api/v1/cmdb/cis/{svc}/impact?direction=downstream&types=depends_on"),
            &cm,
        )
        .await;
    assert_eq!(needs.expect(200)["nodes"][0]["id"], json!(app_ci));
    for (query, field) in [
        ("direction=sideways", "direction"),
        ("depth=11", "depth"),
        ("depth=0", "depth"),
        ("types=likes", "types"),
        ("max_nodes=10001", "max_nodes"),
    ] {
        let bad = app
            .get(&format!("/api/v1/cmdb/cis/{hv}/impact?{query}"), &cm)
            .await;
        assert_eq!(
            bad.expect(400)["errors"][0]["pointer"],
            format!("/query/{field}"),
            "{query}"
        );
    }
    let initech = app.token("configuration-manager@initech.demo.test").await;
    known(&app, &initech).await;
    app.get(&format!("/api/v1/cmdb/cis/{hv}/impact"), &initech)
        .await
        .expect(404);
}
