//! Sign-in under attack: the back-off budget holds however parallel the attempts, a locked
//! account and an unknown email answer alike, a stranger's address cannot lock anyone else out,
//! and each address has a request budget of its own on the endpoints anyone can reach.
use futures_util::future::join_all;
use testkit::{PASSWORD, TestApp, json, reqwest::Method};

/// The app behind a trusted proxy at 127.0.0.1, so `X-Forwarded-For` names the client.
async fn behind_proxy(per_address: u32) -> Option<TestApp> {
    TestApp::builder()
        .settings(|s| {
            s.http_trusted_proxies = vec!["127.0.0.1".into()];
            s.rate_limit_address_per_minute = per_address;
        })
        .spawn()
        .await
}

async fn login_from(app: &TestApp, address: &str, email: &str, password: &str) -> testkit::Res {
    app.call(
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"email": email, "password": password})),
        &[("x-forwarded-for", address)],
    )
    .await
}

#[tokio::test]
async fn forty_parallel_wrong_passwords_check_at_most_five_and_lock_only_that_address() {
    let Some(app) = behind_proxy(1000).await else {
        return;
    };
    let email = "analyst@globex.demo.test";
    let attempts = (0..40).map(|_| login_from(&app, "192.0.2.10", email, "wrong password!"));
    let statuses: Vec<u16> = join_all(attempts)
        .await
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(checked <= 5, "{checked} passwords checked: {statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    // The right password from the attacking address is refused until the back-off ends …
    login_from(&app, "192.0.2.10", email, PASSWORD)
        .await
        .expect(429);
    // … while the account's owner, elsewhere, signs in at once.
    login_from(&app, "198.51.100.20", email, PASSWORD)
        .await
        .expect(200);
}

#[tokio::test]
async fn a_locked_account_and_an_unknown_email_answer_alike() {
    let Some(app) = behind_proxy(1000).await else {
        return;
    };
    let mut answers = Vec::new();
    for email in ["analyst@globex.demo.test", "nobody@globex.demo.test"] {
        let mut seen = Vec::new();
        for _ in 0..7 {
            let r = login_from(&app, "192.0.2.11", email, "wrong password!").await;
            seen.push((
                r.status.as_u16(),
                r.code().to_string(),
                r.body["detail"].clone(),
                r.headers.contains_key("retry-after"),
            ));
        }
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0][4].0, 401);
    assert_eq!(answers[0][5].0, 429);
}

#[tokio::test]
async fn an_address_over_its_budget_gets_429_before_any_password_check() {
    let Some(app) = behind_proxy(5).await else {
        return;
    };
    for _ in 0..5 {
        login_from(&app, "192.0.2.12", "nobody@initech.demo.test", "x")
            .await
            .expect(401);
    }
    let refused = login_from(&app, "192.0.2.12", "admin@initech.demo.test", PASSWORD).await;
    refused.expect(429);
    assert!(refused.headers.contains_key("retry-after"));
    // The token endpoint shares the address's budget.
    let token = app
        .call(
            Method::POST,
            "/oauth/token",
            None,
            None,
            &[("x-forwarded-for", "192.0.2.12")],
        )
        .await;
    assert_eq!(token.status.as_u16(), 429);
    login_from(&app, "192.0.2.13", "admin@initech.demo.test", PASSWORD)
        .await
        .expect(200);
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let Some(app) = TestApp::builder()
        .settings(|s| s.rate_limit_address_per_minute = 3)
        .spawn()
        .await
    else {
        return;
    };
    for forged in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        login_from(&app, forged, "nobody@globex.demo.test", "x")
            .await
            .expect(401);
    }
    // Every request came from 127.0.0.1, whatever the header claimed.
    login_from(&app, "192.0.2.4", "nobody@globex.demo.test", "x")
        .await
        .expect(429);
}
