//! Categories over HTTP on PostgreSQL: a tree per tenant, moves that keep it a tree within its
//! depth, sibling names, scopes and isolation.
use testkit::{TestApp, app, json, reqwest::Method};

use crate::portfolio::{patch, s};

/// Creates a category (once the catalogue knows the tenant) and returns its id.
async fn category(app: &TestApp, token: &str, body: serde_json::Value) -> String {
    for _ in 0..100 {
        let res = app
            .post("/api/v1/catalogue/categories", token, body.clone())
            .await;
        if res.status.as_u16() == 201 {
            return s(&res.body["id"]);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the catalogue never learned the tenant");
}

#[tokio::test]
async fn categories_form_a_tree_that_moves_never_break() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let hardware = category(&app, &admin, json!({"name": "Hardware"})).await;
    let laptops = category(
        &app,
        &admin,
        json!({"name": "Laptops", "parent_id": hardware}),
    )
    .await;

    // Sibling names differ; the same name elsewhere in the tree is fine.
    let twin = app
        .post(
            "/api/v1/catalogue/categories",
            &admin,
            json!({"name": "Laptops", "parent_id": hardware}),
        )
        .await;
    assert_eq!(twin.expect(409)["code"], "name_taken");
    category(&app, &admin, json!({"name": "Laptops"})).await;

    // A category cannot go under itself or its own descendant.
    let path = format!("/api/v1/catalogue/categories/{hardware}");
    let cycle = patch(&app, &path, &admin, json!({"parent_id": laptops}), None).await;
    assert_eq!(cycle.expect(409)["code"], "category_cycle");
    let own = patch(&app, &path, &admin, json!({"parent_id": hardware}), None).await;
    assert_eq!(own.expect(409)["code"], "category_cycle");

    // Five levels at most, counting the subtree a move takes along.
    let mut parent = laptops.clone();
    for level in 3..=5 {
        parent = category(
            &app,
            &admin,
            json!({"name": format!("Level {level}"), "parent_id": parent}),
        )
        .await;
    }
    let too_deep = app
        .post(
            "/api/v1/catalogue/categories",
            &admin,
            json!({"name": "Level 6", "parent_id": parent}),
        )
        .await;
    assert_eq!(too_deep.expect(409)["code"], "category_too_deep");
    let software = category(&app, &admin, json!({"name": "Software"})).await;
    let deep_move = patch(&app, &path, &admin, json!({"parent_id": software}), None).await;
    assert_eq!(deep_move.expect(409)["code"], "category_too_deep");

    // Moving Laptops to the top is fine; the top level lists it with the others.
    let laptops_path = format!("/api/v1/catalogue/categories/{laptops}");
    let moved = patch(
        &app,
        &laptops_path,
        &admin,
        json!({"parent_id": null, "name": "Notebooks"}),
        Some(1),
    )
    .await;
    assert_eq!(moved.expect(200)["parent_id"], serde_json::Value::Null);
    assert_eq!(moved.body["version"], 2);
    let top = app
        .get("/api/v1/catalogue/categories?parent=top", &admin)
        .await;
    let names: Vec<String> = top.expect(200)["items"]
        .as_array()
        .map(|a| a.iter().map(|c| s(&c["name"])).collect())
        .unwrap_or_default();
    assert_eq!(names, vec!["Hardware", "Notebooks", "Laptops", "Software"]);
    let children = app
        .get(
            &format!("/api/v1/catalogue/categories?parent={laptops}"),
            &admin,
        )
        .await;
    assert_eq!(children.expect(200)["items"][0]["name"], "Level 3");
}

#[tokio::test]
async fn categories_refuse_bad_input_and_stay_in_their_tenant() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let theirs = app.token("admin@initech.demo.test").await;
    let mine = category(&app, &admin, json!({"name": "Hardware"})).await;
    let their = category(&app, &theirs, json!({"name": "Hardware"})).await;

    let blank = app
        .post(
            "/api/v1/catalogue/categories",
            &admin,
            json!({"name": "", "description": 7}),
        )
        .await;
    assert!(blank.status.is_client_error(), "{:?}", blank.body);
    let empty = app
        .post("/api/v1/catalogue/categories", &admin, json!({"name": " "}))
        .await;
    assert_eq!(empty.expect(422)["errors"][0]["pointer"], "/name");
    // Another tenant's category is no parent here.
    let foreign = app
        .post(
            "/api/v1/catalogue/categories",
            &admin,
            json!({"name": "Phones", "parent_id": their}),
        )
        .await;
    assert_eq!(
        foreign.expect(422)["errors"][0]["code"],
        "unknown_reference"
    );
    let bad_parent = app
        .get("/api/v1/catalogue/categories?parent=nope", &admin)
        .await;
    assert_eq!(bad_parent.expect(400)["code"], "invalid_query");

    let path = format!("/api/v1/catalogue/categories/{mine}");
    app.get(&path, &theirs).await.expect(404);
    patch(&app, &path, &theirs, json!({"name": "Mine"}), None)
        .await
        .expect(404);
    let requester = app.token("requester@globex.demo.test").await;
    assert_eq!(
        app.get(&path, &requester).await.expect(200)["name"],
        "Hardware"
    );
    let refused = app
        .post(
            "/api/v1/catalogue/categories",
            &requester,
            json!({"name": "Mine"}),
        )
        .await;
    assert_eq!(refused.expect(403)["code"], "insufficient_scope");
    app.call(Method::GET, &path, None, None, &[])
        .await
        .expect(401);
}
