//! The effective catalogue over HTTP on PostgreSQL: a provider's items reach every tenant below
//! it (two levels too), overrides apply nearest first, siblings never see each other's items,
//! costs never reach a customer, and `explain=true` says why.
#![allow(clippy::expect_used)]

use testkit::{Res, TestApp, app, json, reqwest::Method};

use crate::{
    items::laptop_form,
    portfolio::{create_when_known, s},
};

const PASSWORD: &str = "Correct-Horse-Battery-42";

/// A live service of `token`'s tenant with one published item per key: the items' ids.
async fn live_items(
    app: &TestApp,
    token: &str,
    owner: &str,
    group: &str,
    items: &[(&str, &str)],
) -> Vec<String> {
    let service = create_when_known(
        app,
        token,
        json!({"name": "Workplace", "owner_id": owner, "manager_id": owner, "support_group_id": group}),
    )
    .await;
    let service = s(&service["id"]);
    app.post(
        "/api/v1/catalogue/offerings",
        token,
        json!({"service_id": service, "name": "Workplace — standard"}),
    )
    .await
    .expect(201);
    let mut ids = Vec::new();
    for (key, price) in items {
        let created = app
            .post(
                "/api/v1/catalogue/items",
                token,
                json!({
                    "key": key, "name": key, "service_id": service, "form_schema": laptop_form(),
                    "price_amount": price, "currency": "EUR",
                    "fulfilment_plan": {"stages": [{"name": "Do", "tasks": [{"name": "It", "group_id": group}]}]}
                }),
            )
            .await;
        let id = s(&created.expect(201)["id"]);
        app.post(
            &format!("/api/v1/catalogue/items/{id}/transitions"),
            token,
            json!({"to": "published"}),
        )
        .await
        .expect(200);
        ids.push(id);
    }
    let stage = format!("/api/v1/services/{service}/stage");
    for to in ["design", "transition", "live"] {
        app.post(&stage, token, json!({"to": to, "rationale": "Ready"}))
            .await
            .expect(200);
    }
    ids
}

async fn effective(app: &TestApp, token: &str, query: &str, headers: &[(&str, &str)]) -> Res {
    app.call(
        Method::GET,
        &format!("/api/v1/catalogue/effective{query}"),
        Some(token),
        None,
        headers,
    )
    .await
}

/// The keys in an effective catalogue page, with their prices.
fn keys(page: &serde_json::Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| (s(&i["key"]), s(&i["price_amount"])))
        .collect();
    out.sort();
    out
}

async fn put_override(
    app: &TestApp,
    token: &str,
    item: &str,
    body: serde_json::Value,
    headers: &[(&str, &str)],
) -> Res {
    app.call(
        Method::PUT,
        &format!("/api/v1/catalogue/items/{item}/override"),
        Some(token),
        Some(body),
        headers,
    )
    .await
}

#[tokio::test]
async fn a_providers_items_reach_its_customers_as_their_overrides_leave_them() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let msp_owner = app.user_id(&msp, "msp-admin@demo.test").await;
    let fulfilment = app
        .post("/api/v1/groups", &msp, json!({"name": "Fulfilment"}))
        .await;
    let fulfilment = s(&fulfilment.expect(201)["id"]);
    let msp_items = live_items(
        &app,
        &msp,
        &msp_owner,
        &fulfilment,
        &[("new-laptop", "1200.00"), ("shared-mailbox", "15.00")],
    )
    .await;
    let (laptop, mailbox) = (&msp_items[0], &msp_items[1]);
    // The provider's cost, set on the laptop, stays with the provider.
    app.call(
        Method::PATCH,
        &format!("/api/v1/catalogue/items/{laptop}"),
        Some(&msp),
        Some(json!({"cost_amount": "900.00"})),
        &[],
    )
    .await
    .expect(200);

    let globex = app.token("admin@globex.demo.test").await;
    let globex_owner = app.user_id(&globex, "service-owner@globex.demo.test").await;
    let globex_desk = app.group_id(&globex, "Service Desk").await;
    let own = live_items(
        &app,
        &globex,
        &globex_owner,
        &globex_desk,
        &[("globex-badge", "5.00")],
    )
    .await;

    // Globex sees the provider's items and its own; initech only the provider's.
    let seen = effective(&app, &globex, "", &[]).await;
    let page = seen.expect(200).clone();
    assert_eq!(
        keys(&page),
        vec![
            ("globex-badge".into(), "5.00".into()),
            ("new-laptop".into(), "1200.00".into()),
            ("shared-mailbox".into(), "15.00".into())
        ]
    );
    let text = seen.body.to_string();
    assert!(
        !text.contains("cost_amount") && !text.contains("900.00"),
        "a customer never sees the provider's cost"
    );
    let initech = app.token("admin@initech.demo.test").await;
    let initech_requester = app.token("requester@initech.demo.test").await;
    let seen = effective(&app, &initech_requester, "", &[]).await;
    assert_eq!(
        keys(seen.expect(200)),
        vec![
            ("new-laptop".into(), "1200.00".into()),
            ("shared-mailbox".into(), "15.00".into())
        ]
    );

    // Initech hides the mailbox for itself; globex still has it.
    let hidden = put_override(&app, &initech, mailbox, json!({"hidden": true}), &[]).await;
    assert_eq!(hidden.expect(200)["hidden"], true);
    let seen = effective(&app, &initech_requester, "", &[]).await;
    assert_eq!(
        keys(seen.expect(200)),
        vec![("new-laptop".into(), "1200.00".into())]
    );
    let globex_requester = app.token("requester@globex.demo.test").await;
    let seen = effective(&app, &globex_requester, "", &[]).await;
    assert_eq!(seen.expect(200)["items"].as_array().map(Vec::len), Some(3));

    // A customer's price is the provider's to set.
    let refused = put_override(&app, &globex, laptop, json!({"price_amount": "1.00"}), &[]).await;
    assert_eq!(refused.expect(403)["code"], "price_is_the_providers");
    let priced = put_override(
        &app,
        &msp,
        laptop,
        json!({"price_amount": "1150"}),
        &[("x-tenant", "globex")],
    )
    .await;
    assert_eq!(priced.expect(200)["price_amount"], "1150.00");
    let seen = effective(&app, &globex_requester, "", &[]).await;
    assert!(keys(seen.expect(200)).contains(&("new-laptop".into(), "1150.00".into())));
    let seen = effective(&app, &initech_requester, "", &[]).await;
    assert!(keys(seen.expect(200)).contains(&("new-laptop".into(), "1200.00".into())));

    // Why: the admin's explanation names the hidden item's reason and where each value is from.
    let explained = effective(&app, &initech, "?explain=true", &[]).await;
    let items = explained.expect(200)["items"]
        .as_array()
        .expect("items")
        .clone();
    let mailbox_row = items
        .iter()
        .find(|i| i["key"] == "shared-mailbox")
        .expect("the hidden item is explained");
    assert_eq!(mailbox_row["visible"], false);
    assert_eq!(mailbox_row["reason"], "hidden_by_tenant");
    let hidden_line = mailbox_row["explain"]
        .as_array()
        .and_then(|e| e.iter().find(|x| x["field"] == "hidden"))
        .expect("hidden is explained");
    assert_eq!(hidden_line["rule"], "override");
    let price_line = mailbox_row["explain"]
        .as_array()
        .and_then(|e| e.iter().find(|x| x["field"] == "price_amount"))
        .expect("price is explained");
    assert_eq!(price_line["rule"], "inherited");
    effective(&app, &initech_requester, "?explain=true", &[])
        .await
        .expect(403);

    // Overrides of what does not reach a tenant, or of its own items, are refused.
    put_override(&app, &initech, &own[0], json!({"hidden": true}), &[])
        .await
        .expect(404);
    let mine = put_override(&app, &globex, &own[0], json!({"hidden": true}), &[]).await;
    assert_eq!(mine.expect(409)["code"], "own_item");
    app.get(
        &format!("/api/v1/catalogue/items/{laptop}/override"),
        &initech,
    )
    .await
    .expect(404);

    // Two levels down: a customer of globex inherits from both, and globex's price.
    let onboarded = app
        .call(
            Method::POST,
            "/api/v1/tenants",
            Some(&msp),
            Some(json!({"name": "Globex EMEA", "slug": "globex-emea", "admin_email": "admin@globex-emea.example"})),
            &[("x-tenant", "globex")],
        )
        .await;
    let invitation = s(&onboarded.expect(201)["invitation"]["token"]);
    app.call(
        Method::POST,
        "/api/v1/invitations/accept",
        None,
        Some(json!({"token": invitation, "password": PASSWORD})),
        &[],
    )
    .await
    .expect(200);
    let login = app.login_res("admin@globex-emea.example", PASSWORD).await;
    let emea = s(&login.expect(200)["access_token"]);
    let mut seen = effective(&app, &emea, "", &[]).await;
    for _ in 0..100 {
        if seen.status.as_u16() == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        seen = effective(&app, &emea, "", &[]).await;
    }
    assert_eq!(
        keys(seen.expect(200)),
        vec![
            ("globex-badge".into(), "5.00".into()),
            ("new-laptop".into(), "1150.00".into()),
            ("shared-mailbox".into(), "15.00".into())
        ]
    );
}
