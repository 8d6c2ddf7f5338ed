//! Properties of the CMDB on PostgreSQL, over generated cases: the database's impact walk
//! equals a breadth-first walk in memory on random cyclic graphs; any row order of an import
//! gives the same CIs; `as_of` at each history entry gives the CI as it was then.
#![allow(clippy::expect_used)]
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::Value;
use testkit::{TestApp, app, json};

use crate::{
    cmdb::{ci, known},
    cmdb_import::import,
    portfolio::{patch, s},
};

/// SplitMix64: the cases are reproducible from the seed printed on failure.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }
}

async fn upload(app: &TestApp, token: &str, file: String) -> Value {
    import(app, token, "source=prop", &file).await
}

#[tokio::test]
async fn impact_equals_a_breadth_first_walk_on_random_cyclic_graphs() {
    let app = app!();
    let cm = app.token("configuration-manager@globex.demo.test").await;
    known(&app, &cm).await;
    for seed in 1..=3u64 {
        let mut rng = Rng(seed);
        let n = 25 + rng.below(15) as usize;
        let mut file = String::from("class,name\n");
        for i in 0..n {
            file.push_str(&format!("application,g{seed}-{i}\n"));
        }
        assert_eq!(upload(&app, &cm, file).await["created"], n);
        let edges = testkit::graph::random_edges(n, n * 2, seed);
        let mut rels = String::from("from,type,to\n");
        for (a, b) in &edges {
            rels.push_str(&format!(
                "application:name=g{seed}-{a},depends_on,application:name=g{seed}-{b}\n"
            ));
        }
        let related = upload(&app, &cm, rels).await;
        assert_eq!(related["created"], edges.len(), "seed {seed}: {related}");
        let listed = app
            .get("/api/v1/cmdb/cis?limit=200&class=application", &cm)
            .await;
        let ids: HashMap<String, usize> = listed.expect(200)["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|c| {
                let name = s(&c["name"]);
                let i = name.strip_prefix(&format!("g{seed}-"))?.parse().ok()?;
                Some((s(&c["id"]), i))
            })
            .collect();
        let by_index: HashMap<usize, String> = ids.iter().map(|(k, v)| (*v, k.clone())).collect();
        for _ in 0..5 {
            let root = rng.below(n as u64) as usize;
            let depth = 1 + rng.below(5) as u32;
            let url = format!("/api/v1/cmdb/cis/{}/impact?depth={depth}", by_index[&root]);
            let impact = app.get(&url, &cm).await;
            let got: BTreeMap<usize, u32> = impact.expect(200)["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .map(|node| {
                    (
                        ids[&s(&node["id"])],
                        node["depth"].as_u64().expect("depth") as u32,
                    )
                })
                .collect();
            let want = testkit::graph::upstream(&edges, root, depth);
            assert_eq!(got, want, "seed {seed}, root {root}, depth {depth}");
            // Cut by size: the walk stops early, yet what it lists is at its shortest depth.
            let max_nodes = 1 + rng.below(6) as usize;
            let cut = app.get(&format!("{url}&max_nodes={max_nodes}"), &cm).await;
            let cut = cut.expect(200);
            let nodes = cut["nodes"].as_array().expect("nodes");
            assert_eq!(nodes.len(), want.len().min(max_nodes), "seed {seed}: {cut}");
            if want.len() > max_nodes {
                assert_eq!(cut["truncated"], true, "seed {seed}: {cut}");
            }
            for node in nodes {
                let i = ids[&s(&node["id"])];
                assert_eq!(
                    node["depth"].as_u64().map(|d| d as u32),
                    want.get(&i).copied(),
                    "seed {seed}, root {root}, max_nodes {max_nodes}: {cut}"
                );
            }
        }
    }
}

#[tokio::test]
async fn any_row_order_of_an_import_gives_the_same_cis() {
    let app = app!();
    let globex = app.token("configuration-manager@globex.demo.test").await;
    let initech = app.token("configuration-manager@initech.demo.test").await;
    known(&app, &globex).await;
    known(&app, &initech).await;
    // Rows naming the same CI by its serial number written three ways, each adding something.
    let mut rows = Vec::new();
    for i in 0..20 {
        rows.push(format!("virtual,ord-{i},SN-{i},,{}", 1 + i % 4));
        rows.push(format!("virtual,ord-{i}, sn-{i} ,host-{i}.example,"));
        rows.push(format!("virtual,ord-{i},Sn-{i},,"));
    }
    let mut rng = Rng(7);
    let header = "class,name,attr.serial_number,attr.hostname,attr.cpu_count\n";
    let mut cis_of = Vec::new();
    for token in [&globex, &initech] {
        for k in (1..rows.len()).rev() {
            rows.swap(k, rng.below(k as u64 + 1) as usize);
        }
        let done = upload(&app, token, format!("{header}{}\n", rows.join("\n"))).await;
        assert_eq!(done["failed"], 0, "{done}");
        let export = app.get("/api/v1/cmdb/export", token).await;
        let mut cis: Vec<(String, Value, Value)> = export.expect(200)["cis"]
            .as_array()
            .expect("cis")
            .iter()
            .filter(|c| s(&c["name"]).starts_with("ord-"))
            .map(|c| {
                let a = &c["attributes"];
                (s(&c["name"]), a["cpu_count"].clone(), a["hostname"].clone())
            })
            .collect();
        cis.sort_by(|a, b| a.0.cmp(&b.0));
        cis_of.push(cis);
    }
    assert_eq!(cis_of[0].len(), 20);
    assert_eq!(cis_of[0], cis_of[1]);
}

#[tokio::test]
async fn as_of_each_history_entry_gives_the_ci_as_it_was() {
    let app = app!();
    let cm = app.token("configuration-manager@globex.demo.test").await;
    let made = ci(
        &app,
        &cm,
        json!({"class": "linux_server", "name": "h-0", "attributes": {"cpu_count": 1}}),
    )
    .await;
    let id = s(&made["id"]);
    let mut states = vec![made];
    let mut rng = Rng(11);
    for step in 1..=8 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let body = match rng.below(3) {
            0 => json!({"name": format!("h-{step}")}),
            1 => {
                json!({"attributes": {"cpu_count": step + 1, "kernel": if step % 2 == 0 { Value::Null } else { json!("6.1") }}})
            }
            _ => {
                let status = ["planned", "operational", "maintenance"][step % 3];
                json!({"status": status})
            }
        };
        let version = states.last().and_then(|c| c["version"].as_i64());
        let changed = patch(&app, &format!("/api/v1/cmdb/cis/{id}"), &cm, body, version).await;
        states.push(changed.expect(200).clone());
    }
    let history = app
        .get(&format!("/api/v1/cmdb/cis/{id}/history?limit=200"), &cm)
        .await;
    let history = history.expect(200)["items"]
        .as_array()
        .expect("items")
        .clone();
    for state in &states {
        let at = s(&state["updated_at"]);
        let was = app
            .get(
                &format!("/api/v1/cmdb/cis/{id}?as_of={}", at.replace('+', "%2B")),
                &cm,
            )
            .await;
        let was = was.expect(200);
        for field in ["name", "status", "attributes"] {
            assert_eq!(was[field], state[field], "{field} as of {at}");
        }
    }
    assert!(history.len() >= states.len(), "one entry per changed field");
}
