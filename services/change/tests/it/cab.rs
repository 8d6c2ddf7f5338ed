//! Risk and the CAB over HTTP on PostgreSQL: rules and questionnaires weigh a change and say
//! why, an approval policy sends it to a vote, votes decide it once, and bad input is refused
//! field by field.
#![allow(clippy::expect_used)]
use testkit::{TestApp, app, json};

use crate::changes::{ci, create, known, pointers, s, to};

async fn put(app: &TestApp, path: &str, token: &str, body: serde_json::Value) -> testkit::Res {
    app.call(
        testkit::reqwest::Method::PUT,
        path,
        Some(token),
        Some(body),
        &[],
    )
    .await
}

/// A normal change of `requester`'s on a new database, planned, and moved to `authorize`.
async fn authorizing(app: &TestApp, requester: &str, config: &str, name: &str) -> String {
    let db = ci(app, config, "database", name).await;
    let c = create(
        app,
        requester,
        json!({"type": "normal", "title": format!("Patch {name}"), "affected_ci_ids": [db],
               "planned_start": "2027-02-06T21:00:00Z", "planned_end": "2027-02-06T23:00:00Z",
               "implementation_plan": "Patch.", "backout_plan": "Restore.", "test_plan": "Smoke."}),
    )
    .await;
    let id = s(&c["id"]);
    to(app, &id, requester, json!({"to": "assess"}))
        .await
        .expect(200);
    to(app, &id, requester, json!({"to": "authorize"}))
        .await
        .expect(200);
    id
}

/// How many `event`s change published about `change` (about any change when empty).
pub async fn outbox_count(app: &TestApp, event: &str, change: &str) -> i64 {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let row = app
        .superuser()
        .await
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT count(*) AS n FROM change.outbox WHERE routing_key LIKE '%{event}%' \
                 AND envelope LIKE '%{change}%'"
            ),
        ))
        .await
        .expect("query")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

#[tokio::test]
async fn risk_rules_and_answers_explain_the_risk_and_thresholds_have_no_gaps() {
    let app = app!();
    let cm = app.token("change-manager@globex.demo.test").await;
    let config = app.token("configuration-manager@globex.demo.test").await;
    let requester = app.token("requester@globex.demo.test").await;
    known(&app, &cm).await;

    // Bad rules and gapped thresholds are refused field by field.
    let bad = put(
        &app,
        "/api/v1/change-risk/rules",
        &cm,
        json!({"rules": [{"order": 1, "name": "x", "condition": {"fact": "ci_count", "op": "gte", "value": "ten"}, "risk": "high"}]}),
    )
    .await;
    assert_eq!(pointers(bad.expect(422)), ["/rules/0/condition/value"]);
    let rules = json!({"rules": [
        {"order": 20, "name": "Short notice", "condition": {"fact": "lead_time_hours", "op": "lt", "value": 24}, "risk": "very_high"},
        {"order": 10, "name": "Two or more CIs", "condition": {"fact": "ci_count", "op": "gte", "value": 2}, "risk": "high"}
    ]});
    let set = put(&app, "/api/v1/change-risk/rules", &cm, rules).await;
    assert_eq!(set.expect(200)["rules"][0]["order"], 10, "sorted by order");
    let forbidden = put(
        &app,
        "/api/v1/change-risk/rules",
        &requester,
        json!({"rules": []}),
    )
    .await;
    assert_eq!(forbidden.status.as_u16(), 403);

    let questions = json!([
        {"key": "outage", "text": "Outage?", "choices": [
            {"value": "no", "label": "No", "score": 0}, {"value": "yes", "label": "Yes", "score": 3}]},
        {"key": "tested", "text": "Tested?", "choices": [
            {"value": "yes", "label": "Yes", "score": 0}, {"value": "no", "label": "No", "score": 2}]}
    ]);
    let gap = put(
        &app,
        "/api/v1/change-risk/questionnaire",
        &cm,
        json!({"questions": questions, "thresholds": [
            {"min_score": 0, "max_score": 1, "risk": "low"},
            {"min_score": 3, "max_score": 5, "risk": "high"}]}),
    )
    .await;
    let gap = gap.expect(422);
    assert_eq!(pointers(gap), ["/thresholds/1/min_score"]);
    assert_eq!(gap["errors"][0]["code"], "threshold_gap");
    let q = put(
        &app,
        "/api/v1/change-risk/questionnaire",
        &cm,
        json!({"questions": questions, "thresholds": [
            {"min_score": 0, "max_score": 1, "risk": "low"},
            {"min_score": 2, "max_score": 3, "risk": "moderate"},
            {"min_score": 4, "max_score": 5, "risk": "very_high"}]}),
    )
    .await;
    assert_eq!(q.expect(200)["max_score"], 5);

    let a = ci(&app, &config, "database", "risk-a").await;
    let b = ci(&app, &config, "database", "risk-b").await;
    let c = create(
        &app,
        &cm,
        json!({"type": "normal", "title": "Two databases", "affected_ci_ids": [a, b],
               "planned_start": "2027-03-06T21:00:00Z", "planned_end": "2027-03-06T23:00:00Z"}),
    )
    .await;
    assert_eq!(c["risk"], "high", "weighed on create: {c}");
    let id = s(&c["id"]);
    let risk = app.get(&format!("/api/v1/changes/{id}/risk"), &cm).await;
    let risk = risk.expect(200);
    assert_eq!(risk["risk"], "high");
    assert_eq!(
        risk["explanation"],
        json!([{"source": "rule", "name": "Two or more CIs", "order": 10, "risk": "high"}])
    );

    let path = format!("/api/v1/changes/{id}/risk-assessment");
    let missing = put(&app, &path, &cm, json!({"answers": {"outage": "yes"}})).await;
    assert_eq!(pointers(missing.expect(422)), ["/answers/tested"]);
    let answered = put(
        &app,
        &path,
        &cm,
        json!({"answers": {"outage": "yes", "tested": "no"}}),
    )
    .await;
    let answered = answered.expect(200);
    assert_eq!(answered["risk"], "very_high");
    assert_eq!(answered["explanation"][1]["source"], "questionnaire");
    let stored = app.get(&format!("/api/v1/changes/{id}"), &cm).await;
    assert_eq!(stored.expect(200)["risk"], "very_high");

    // Another tenant's change is not there.
    let other = app.token("change-manager@initech.demo.test").await;
    let hidden = app.get(&format!("/api/v1/changes/{id}/risk"), &other).await;
    assert_eq!(hidden.status.as_u16(), 404);
    let hidden = put(&app, &path, &other, json!({"answers": {}})).await;
    assert_eq!(hidden.status.as_u16(), 404);
}

#[tokio::test]
async fn the_cab_votes_a_change_through_and_never_on_its_own() {
    let app = app!();
    let cm = app.token("change-manager@globex.demo.test").await;
    let approver = app.token("approver@globex.demo.test").await;
    let config = app.token("configuration-manager@globex.demo.test").await;
    let cab = app.group_id(&cm, "CAB").await;
    known(&app, &cm).await;

    // `required` above the group's members is refused.
    let too_many = app
        .post(
            "/api/v1/change-approval-policies",
            &cm,
            json!({"name": "Big", "change_types": ["normal"],
                   "stages": [{"name": "CAB", "group_id": cab, "rule": "n_of_m", "required": 3}]}),
        )
        .await;
    let too_many = too_many.expect(422);
    assert_eq!(pointers(too_many), ["/stages/0/required"]);
    assert_eq!(too_many["errors"][0]["code"], "exceeds_approvers");
    app.post(
        "/api/v1/change-approval-policies",
        &cm,
        json!({"name": "normal", "change_types": ["normal"],
               "stages": [{"name": "CAB", "group_id": cab, "rule": "any"}]}),
    )
    .await
    .expect(201);

    let id = authorizing(&app, &cm, &config, "cab-db").await;
    let votes = format!("/api/v1/changes/{id}/votes");
    // With a policy, the CAB decides, not a transition.
    let direct = to(&app, &id, &approver, json!({"to": "scheduled"})).await;
    assert_eq!(direct.expect(409)["code"], "decided_by_votes");
    // The voter comes from the token; a reason is required; no one votes on their own change.
    let forged = app
        .post(
            &votes,
            &approver,
            json!({"decision": "approve", "reason": "ok", "voter_id": id}),
        )
        .await;
    assert_eq!(pointers(forged.expect(422)), ["/voter_id"]);
    let bare = app
        .post(
            &votes,
            &approver,
            json!({"decision": "approve", "reason": " "}),
        )
        .await;
    assert_eq!(pointers(bare.expect(422)), ["/reason"]);
    let own = app
        .post(
            &votes,
            &cm,
            json!({"decision": "approve", "reason": "mine"}),
        )
        .await;
    assert_eq!(own.expect(403)["code"], "own_change");
    let other = app.token("approver@initech.demo.test").await;
    let foreign = app
        .post(
            &votes,
            &other,
            json!({"decision": "approve", "reason": "x"}),
        )
        .await;
    assert_eq!(foreign.status.as_u16(), 404);

    // The approver rejects: back to new, another round.
    let rejected = app
        .post(
            &votes,
            &approver,
            json!({"decision": "reject", "reason": "No backout test."}),
        )
        .await;
    let rejected = rejected.expect(201);
    // Out of reach: the requester does not count, so the one eligible member rejected.
    assert_eq!(rejected["state"], "rejected");
    assert_eq!(rejected["stages"][0]["eligible"], 1);
    let c = app.get(&format!("/api/v1/changes/{id}"), &cm).await;
    assert_eq!(c.expect(200)["state"], "new");
    assert_eq!(c.body["approval_round"], 2);
    let again = app
        .post(
            &votes,
            &approver,
            json!({"decision": "approve", "reason": "again"}),
        )
        .await;
    assert_eq!(again.expect(409)["code"], "not_awaiting_approval");

    to(&app, &id, &cm, json!({"to": "assess"}))
        .await
        .expect(200);
    to(&app, &id, &cm, json!({"to": "authorize"}))
        .await
        .expect(200);
    let awaiting = app.get("/api/v1/changes/awaiting-my-vote", &approver).await;
    assert_eq!(awaiting.expect(200)["items"][0]["id"], id.as_str());
    let approved = app
        .post(
            &votes,
            &approver,
            json!({"decision": "approve", "reason": "Tested now."}),
        )
        .await;
    assert_eq!(approved.expect(201)["state"], "approved");
    let c = app.get(&format!("/api/v1/changes/{id}"), &cm).await;
    assert_eq!(c.expect(200)["state"], "scheduled");
    let round1 = app
        .get(&format!("/api/v1/changes/{id}/approvals?round=1"), &cm)
        .await;
    let round1 = round1.expect(200);
    assert_eq!(round1["state"], "rejected");
    assert_eq!(
        round1["stages"][0]["votes"][0]["reason"],
        "No backout test."
    );
    assert_eq!(outbox_count(&app, "approval.vote_cast", &id).await, 2);
    assert_eq!(outbox_count(&app, "approval.decided", &id).await, 2);
    let awaiting = app.get("/api/v1/changes/awaiting-my-vote", &approver).await;
    assert_eq!(awaiting.expect(200)["items"], json!([]));
}

#[tokio::test]
async fn concurrent_votes_decide_a_round_once() {
    let app = app!();
    let cm = app.token("change-manager@globex.demo.test").await;
    let approver = app.token("approver@globex.demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    let config = app.token("configuration-manager@globex.demo.test").await;
    let cab = app.group_id(&cm, "CAB").await;
    known(&app, &cm).await;
    app.post(
        "/api/v1/change-approval-policies",
        &cm,
        json!({"name": "normal", "change_types": ["normal"],
               "stages": [{"name": "CAB", "group_id": cab, "rule": "any"}]}),
    )
    .await
    .expect(201);
    for n in 0..3 {
        let id = authorizing(&app, &agent, &config, &format!("race-db-{n}")).await;
        let votes = format!("/api/v1/changes/{id}/votes");
        let body = json!({"decision": "approve", "reason": "Fine."});
        let (a, b) = tokio::join!(
            app.post(&votes, &approver, body.clone()),
            app.post(&votes, &cm, body.clone())
        );
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort();
        assert_eq!(statuses, [201, 409], "{} / {}", a.body, b.body);
        assert_eq!(outbox_count(&app, "approval.decided", &id).await, 1);
        let c = app.get(&format!("/api/v1/changes/{id}"), &cm).await;
        assert_eq!(c.expect(200)["state"], "scheduled");
    }
}

/// Posts `body` to `votes` until the change service knows the delegation it names (or its
/// end): the catalogue announces delegations on the bus.
async fn vote_when_projected(
    app: &TestApp,
    votes: &str,
    token: &str,
    body: serde_json::Value,
    expect: u16,
) -> serde_json::Value {
    for _ in 0..100 {
        let r = app.post(votes, token, body.clone()).await;
        if r.status.as_u16() == expect {
            return r.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{votes} never answered {expect}");
}

#[tokio::test]
async fn a_delegate_fills_their_principals_place_once_and_one_level_deep() {
    let app = app!();
    let cm = app.token("change-manager@globex.demo.test").await;
    let approver = app.token("approver@globex.demo.test").await;
    let admin = app.token("admin@globex.demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    let config = app.token("configuration-manager@globex.demo.test").await;
    let cab = app.group_id(&cm, "CAB").await;
    let approver_id = app.user_id(&admin, "approver@globex.demo.test").await;
    let cm_id = app.user_id(&admin, "change-manager@globex.demo.test").await;
    let admin_id = app.user_id(&admin, "admin@globex.demo.test").await;
    known(&app, &cm).await;
    app.post(
        "/api/v1/change-approval-policies",
        &cm,
        json!({"name": "normal", "change_types": ["normal"],
               "stages": [{"name": "CAB", "group_id": cab, "rule": "all"}]}),
    )
    .await
    .expect(201);
    let id = authorizing(&app, &agent, &config, "delegated-db").await;
    let votes = format!("/api/v1/changes/{id}/votes");
    let for_approver =
        json!({"decision": "approve", "reason": "Covering.", "on_behalf_of": approver_id});

    // No delegation yet: refused at the field; the admin is no CAB member of their own.
    let none = app.post(&votes, &admin, for_approver.clone()).await;
    let none = none.expect(422);
    assert_eq!(none["errors"][0]["code"], "no_delegation");
    assert_eq!(pointers(none), ["/on_behalf_of"]);
    let alone = app
        .post(
            &votes,
            &admin,
            json!({"decision": "approve", "reason": "x"}),
        )
        .await;
    assert_eq!(alone.expect(403)["code"], "not_an_approver");

    // The approver delegates to the admin, the change manager to the approver.
    let now = chrono::Utc::now();
    let period = |to: &str| json!({"delegate_id": to, "starts_at": now - chrono::Duration::hours(1), "ends_at": now + chrono::Duration::days(2)});
    let given = app
        .post("/api/v1/approval-delegations", &approver, period(&admin_id))
        .await;
    let delegation = s(&given.expect(201)["id"]);
    app.post("/api/v1/approval-delegations", &cm, period(&approver_id))
        .await
        .expect(201);

    let counted = vote_when_projected(&app, &votes, &admin, for_approver.clone(), 201).await;
    let vote = &counted["stages"][0]["votes"][0];
    assert_eq!(vote["voter_id"], admin_id.as_str());
    assert_eq!(vote["on_behalf_of"], approver_id.as_str());
    assert_eq!(
        counted["state"], "pending",
        "`all` still waits for the change manager"
    );
    // The approver's place is filled, by them or by their delegate.
    let twice = app.post(&votes, &admin, for_approver.clone()).await;
    assert_eq!(twice.expect(409)["code"], "already_voted");
    let own = app
        .post(
            &votes,
            &approver,
            json!({"decision": "approve", "reason": "me too"}),
        )
        .await;
    assert_eq!(own.expect(409)["code"], "already_voted");
    // One level: the change manager's delegate (the approver) does not pass it on to the admin.
    let for_cm = json!({"decision": "approve", "reason": "Chain.", "on_behalf_of": cm_id});
    let chain = app.post(&votes, &admin, for_cm).await;
    assert_eq!(chain.expect(422)["errors"][0]["code"], "no_delegation");
    let decided = vote_when_projected(
        &app,
        &votes,
        &approver,
        json!({"decision": "approve", "reason": "For the change manager.", "on_behalf_of": cm_id}),
        201,
    )
    .await;
    assert_eq!(decided["state"], "approved");
    let c = app.get(&format!("/api/v1/changes/{id}"), &cm).await;
    assert_eq!(c.expect(200)["state"], "scheduled");

    // A delegate never votes for the requester of the change.
    let mine = authorizing(&app, &cm, &config, "delegated-own").await;
    let own_change = app
        .post(
            &format!("/api/v1/changes/{mine}/votes"),
            &approver,
            json!({"decision": "approve", "reason": "x", "on_behalf_of": cm_id}),
        )
        .await;
    assert_eq!(own_change.expect(403)["code"], "own_change");

    // Withdrawn, the delegation no longer lets the admin vote for the approver.
    app.call(
        testkit::reqwest::Method::DELETE,
        &format!("/api/v1/approval-delegations/{delegation}"),
        Some(&approver),
        None,
        &[],
    )
    .await
    .expect(200);
    let next = authorizing(&app, &agent, &config, "delegated-revoked").await;
    let next_votes = format!("/api/v1/changes/{next}/votes");
    let refused = vote_when_projected(&app, &next_votes, &admin, for_approver, 422).await;
    assert_eq!(refused["errors"][0]["code"], "no_delegation");
    let awaiting = app.get("/api/v1/changes/awaiting-my-vote", &approver).await;
    let awaiting = awaiting.expect(200)["items"].clone();
    assert!(
        awaiting
            .as_array()
            .expect("items")
            .iter()
            .any(|c| c["id"] == next.as_str()),
        "the approver's own place is still open: {awaiting}"
    );
}
