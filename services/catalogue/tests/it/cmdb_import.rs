//! CMDB imports and export over HTTP on PostgreSQL: rows matched by identity, counted and
//! reported by line and field; reconciliation between sources; all or nothing; concurrent
//! imports of the same rows; files refused whole; isolation.
#![allow(clippy::expect_used)]
use std::time::Duration;

use serde_json::Value;
use testkit::{TestApp, app, json};

use crate::{
    cmdb::{ci, known, pointers},
    portfolio::s,
};

/// Posts `body` as an import file with `query`; the response status and JSON body.
async fn upload(app: &TestApp, token: &str, query: &str, body: Vec<u8>) -> (u16, Value) {
    let res = app
        .client
        .post(format!("{}/api/v1/cmdb/imports?{query}", app.base))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Imports `body` and waits until the import ends; returns it.
pub async fn import(app: &TestApp, token: &str, query: &str, body: &str) -> Value {
    let (status, queued) = upload(app, token, query, body.as_bytes().to_vec()).await;
    assert_eq!(status, 202, "{queued}");
    finished(app, token, &s(&queued["id"])).await
}

async fn finished(app: &TestApp, token: &str, id: &str) -> Value {
    for _ in 0..1200 {
        let i = app.get(&format!("/api/v1/cmdb/imports/{id}"), token).await;
        let i = i.expect(200).clone();
        if i["status"] == "completed" || i["status"] == "failed" {
            return i;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("import {id} never finished");
}

fn counts(i: &Value) -> [i64; 4] {
    ["created", "updated", "unchanged", "failed"].map(|k| i[k].as_i64().unwrap_or(-1))
}

async fn count_named(app: &TestApp, token: &str, name: &str) -> usize {
    let res = app
        .get(&format!("/api/v1/cmdb/cis?name={name}"), token)
        .await;
    res.expect(200)["items"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn an_import_counts_each_row_and_names_the_line_and_field_of_a_bad_one() {
    let app = app!();
    let cm = app.token("configuration-manager@globex.demo.test").await;
    known(&app, &cm).await;
    let file = "class,name,status,attr.hostname,attr.cpu_count\n\
                virtual,imp-a,operational,imp-a.globex.example,2\n\
                virtual,imp-b,,imp-b.globex.example,four\n\
                linux_server,imp-c,planned,IMP-C.globex.example,\n";
    let first = import(&app, &cm, "source=discovery", file).await;
    assert_eq!(first["status"], "completed");
    assert_eq!(counts(&first), [2, 0, 0, 1]);
    assert_eq!(first["rows_total"], 3);
    let id = s(&first["id"]);
    let errors = app
        .get(&format!("/api/v1/cmdb/imports/{id}/errors"), &cm)
        .await;
    let errors = errors.expect(200)["items"].clone();
    assert_eq!(errors[0]["row"], 3);
    assert_eq!(errors[0]["field"], "attributes.cpu_count");
    // The same file again changes nothing.
    let again = import(&app, &cm, "source=discovery", file).await;
    assert_eq!(counts(&again), [0, 0, 2, 1]);
    // Case and spacing of an identifying value do not make another CI (the text is updated).
    let recased = import(
        &app,
        &cm,
        "source=discovery",
        &file.replace("IMP-C", " imp-c"),
    )
    .await;
    assert_eq!(counts(&recased), [0, 1, 1, 1]);
    assert_eq!(count_named(&app, &cm, "imp-c").await, 1);
    // History says which import changed what.
    let a = app.get("/api/v1/cmdb/cis?name=imp-a", &cm).await;
    let a = s(&a.expect(200)["items"][0]["id"]);
    let history = app.get(&format!("/api/v1/cmdb/cis/{a}/history"), &cm).await;
    let entry = history.expect(200)["items"][0].clone();
    assert_eq!(
        (entry["source"].clone(), entry["import_id"].clone()),
        (json!("discovery"), json!(id))
    );

    // Relationships by identity, from a second file.
    let hv = ci(&app, &cm, json!({"class": "hypervisor", "name": "imp-hv"})).await;
    let rels = "from,type,to\n\
                virtual:hostname=IMP-A.globex.example,hosted_on,hypervisor:name=imp-hv\n\
                virtual:hostname=nowhere,hosted_on,hypervisor:name=imp-hv\n";
    let related = import(&app, &cm, "source=discovery", rels).await;
    assert_eq!(counts(&related), [1, 0, 0, 1]);
    let impact = app
        .get(&format!("/api/v1/cmdb/cis/{}/impact", s(&hv["id"])), &cm)
        .await;
    assert_eq!(impact.expect(200)["nodes"][0]["name"], "imp-a");

    // Another tenant sees neither the import nor its CIs.
    let initech = app.token("configuration-manager@initech.demo.test").await;
    app.get(&format!("/api/v1/cmdb/imports/{id}"), &initech)
        .await
        .expect(404);
    app.get(&format!("/api/v1/cmdb/imports/{id}/errors"), &initech)
        .await
        .expect(404);
    let theirs = app.get("/api/v1/cmdb/export", &initech).await;
    assert!(!theirs.expect(200).to_string().contains("imp-a"));
    // Export gives the tenant's CMDB back in the import's shapes.
    let mine = app.get("/api/v1/cmdb/export", &cm).await;
    let mine = mine.expect(200);
    assert!(
        mine["cis"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["name"] == "imp-a"))
    );
    assert_eq!(mine["relationships"].as_array().map(Vec::len), Some(1));
    let csv = app
        .client
        .get(format!("{}/api/v1/cmdb/export?format=csv", app.base))
        .bearer_auth(&cm)
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("text");
    assert!(csv.starts_with("class,name,status,attr."), "{csv}");
    assert!(csv.contains("virtual,imp-a,operational,"), "{csv}");
}

#[tokio::test]
async fn a_lower_source_keeps_a_higher_ones_value_until_it_is_stale() {
    let app = app!();
    let cm = app.token("configuration-manager@globex.demo.test").await;
    known(&app, &cm).await;
    let recon = "/api/v1/cmdb/reconciliation-rules";
    let rule = app
        .post(recon, &cm, json!({"class": "server", "attribute": "cpu_count", "precedence": ["sccm", "discovery"], "stale_after_days": 30}))
        .await;
    let rule = s(&rule.expect(201)["id"]);
    let row = |cpus: u32| {
        format!("class,name,attr.serial_number,attr.cpu_count\nvirtual,rec-1,SN-REC,{cpus}\n")
    };
    assert_eq!(
        counts(&import(&app, &cm, "source=sccm", &row(4)).await),
        [1, 0, 0, 0]
    );
    let lower = import(&app, &cm, "source=discovery", &row(8)).await;
    assert_eq!(counts(&lower), [0, 0, 1, 0]);
    assert_eq!(lower["skipped_attributes"], 1);
    let ci = app.get("/api/v1/cmdb/cis?name=rec-1", &cm).await;
    assert_eq!(ci.expect(200)["items"][0]["attributes"]["cpu_count"], 4);
    // Once the higher source's value is older than the rule allows, the lower one sets it.
    app.call(
        testkit::reqwest::Method::DELETE,
        &format!("{recon}/{rule}"),
        Some(&cm),
        None,
        &[],
    )
    .await
    .expect(204);
    app.post(recon, &cm, json!({"class": "server", "attribute": "cpu_count", "precedence": ["sccm", "discovery"], "stale_after_days": 0}))
        .await
        .expect(201);
    tokio::time::sleep(Duration::from_millis(10)).await;
    let stale = import(&app, &cm, "source=discovery", &row(8)).await;
    assert_eq!(counts(&stale), [0, 1, 0, 0]);
    let ci = app.get("/api/v1/cmdb/cis?name=rec-1", &cm).await;
    let ci = ci.expect(200)["items"][0].clone();
    assert_eq!(ci["attributes"]["cpu_count"], 8);
    assert_eq!(ci["attribute_sources"]["cpu_count"]["source"], "discovery");
}

#[tokio::test]
async fn an_atomic_import_with_a_bad_row_writes_nothing_and_bad_files_are_refused_whole() {
    let app = app!();
    let cm = app.token("configuration-manager@globex.demo.test").await;
    known(&app, &cm).await;
    let file = "class,name\nvirtual,atomic-1\nmainframe,atomic-2\n";
    let all_or_nothing = import(&app, &cm, "source=csv&mode=atomic", file).await;
    assert_eq!(all_or_nothing["status"], "failed");
    assert_eq!(counts(&all_or_nothing), [0, 0, 0, 2]);
    assert_eq!(count_named(&app, &cm, "atomic-1").await, 0);
    let errors = app
        .get(
            &format!("/api/v1/cmdb/imports/{}/errors", s(&all_or_nothing["id"])),
            &cm,
        )
        .await;
    let errors = errors.expect(200)["items"].clone();
    assert_eq!(
        (errors[0]["row"].clone(), errors[0]["field"].clone()),
        (json!(3), json!("class"))
    );

    // Refused whole, nothing queued: missing or repeated columns, not UTF-8, bad options,
    // too large; and the scope.
    let refused = |body: &[u8]| body.to_vec();
    let (status, body) = upload(
        &app,
        &cm,
        "source=csv",
        refused(b"name,status\nx,planned\n"),
    )
    .await;
    assert_eq!(
        (status, pointers(&body)),
        (422, vec!["/columns/class".to_string()])
    );
    let (status, body) = upload(&app, &cm, "source=csv", refused(b"class,name,name\n")).await;
    assert_eq!(
        (status, pointers(&body)),
        (422, vec!["/columns/name".to_string()])
    );
    let (status, body) = upload(
        &app,
        &cm,
        "source=csv",
        refused(b"class,name\nvirtual,\xff\n"),
    )
    .await;
    assert_eq!((status, pointers(&body)), (422, vec!["/body".to_string()]));
    let (status, body) = upload(
        &app,
        &cm,
        "source=csv&format=json",
        refused(b"{\"cis\": 3}"),
    )
    .await;
    assert_eq!((status, pointers(&body)), (422, vec!["/cis".to_string()]));
    let (status, body) = upload(
        &app,
        &cm,
        "source=csv&mode=sometimes",
        refused(b"class,name\n"),
    )
    .await;
    assert_eq!(
        (status, pointers(&body)),
        (400, vec!["/query/mode".to_string()])
    );
    let (status, _) = upload(&app, &cm, "format=csv", refused(b"class,name\n")).await;
    assert_eq!(status, 400);
    let mut huge = b"class,name\n".to_vec();
    huge.resize(50 * 1024 * 1024 + 1, b'x');
    let (status, body) = upload(&app, &cm, "source=csv", huge).await;
    assert_eq!(
        (status, body["code"].clone()),
        (413, json!("payload_too_large"))
    );
    let agent = app.token("agent@globex.demo.test").await;
    let (status, _) = upload(&app, &agent, "source=csv", refused(b"class,name\n")).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn two_concurrent_imports_of_the_same_new_rows_make_each_ci_once() {
    let app = app!();
    let cm = app.token("configuration-manager@globex.demo.test").await;
    known(&app, &cm).await;
    let mut file = String::from("class,name,attr.serial_number\n");
    for n in 0..10_000 {
        file.push_str(&format!("virtual,bulk-{n},SN-BULK-{n}\n"));
    }
    let (a, b) = tokio::join!(
        upload(&app, &cm, "source=csv", file.clone().into_bytes()),
        upload(&app, &cm, "source=csv", file.clone().into_bytes()),
    );
    assert_eq!((a.0, b.0), (202, 202));
    let a = finished(&app, &cm, &s(&a.1["id"])).await;
    let b = finished(&app, &cm, &s(&b.1["id"])).await;
    let [a_created, ..] = counts(&a);
    let [b_created, ..] = counts(&b);
    assert_eq!(a_created + b_created, 10_000, "{a} {b}");
    assert_eq!(counts(&a)[3] + counts(&b)[3], 0);
    let exported = app.get("/api/v1/cmdb/export", &cm).await;
    let cis = exported.expect(200)["cis"].as_array().map_or(0, |c| {
        c.iter()
            .filter(|c| s(&c["name"]).starts_with("bulk-"))
            .count()
    });
    assert_eq!(cis, 10_000);
}
