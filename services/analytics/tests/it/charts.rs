//! Charts over HTTP: every chart is an SVG with its title, the same figures give the same
//! bytes (and a 304 for their ETag), unknown charts and bad queries are named, other tenants'
//! figures stay out.
#![allow(clippy::expect_used)]
use testkit::{app, reqwest::Method};

use crate::store::known;

const CHARTS: [&str; 5] = [
    "incident_volume",
    "mttr_trend",
    "sla_compliance",
    "backlog_age",
    "value_stream",
];

#[tokio::test]
async fn every_chart_is_a_titled_svg_and_the_same_figures_give_the_same_bytes() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    known(&app, &agent).await;
    // A past period: no event can arrive in it between two requests.
    let period = "from=2026-11-01&to=2026-11-30";
    for chart in CHARTS {
        let path = format!("/api/v1/analytics/charts/{chart}.svg?{period}&interval=week");
        let first = app.get(&path, &agent).await;
        assert_eq!(first.status.as_u16(), 200, "{chart}: {}", first.text());
        assert_eq!(first.content_type(), "image/svg+xml", "{chart}");
        let svg = first.text();
        assert!(svg.starts_with("<svg"), "{chart}: {svg}");
        assert!(svg.contains("<title id=\"chart-title\">"), "{chart}");
        assert!(svg.contains("<desc id=\"chart-desc\">"), "{chart}");
        assert!(svg.trim_end().ends_with("</svg>"), "{chart}");
        let again = app.get(&path, &agent).await;
        assert_eq!(first.raw, again.raw, "{chart}: same figures, same bytes");
        let etag = first
            .headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .expect("etag")
            .to_string();
        let cached = app
            .call(
                Method::GET,
                &path,
                Some(&agent),
                None,
                &[("if-none-match", &etag)],
            )
            .await;
        assert_eq!(cached.status.as_u16(), 304, "{chart}");
        assert!(cached.raw.is_empty());
    }
    let change = app
        .get(
            "/api/v1/analytics/charts/value_stream.svg?stream=change_to_live",
            &agent,
        )
        .await;
    assert!(change.text().contains("Value stream change_to_live"));

    let msp = app.token("msp-agent@demo.test").await;
    known(&app, &msp).await;
    let all = app
        .get(
            "/api/v1/analytics/charts/incident_volume.svg?tenant=*",
            &msp,
        )
        .await;
    assert_eq!(all.status.as_u16(), 200);
}

#[tokio::test]
async fn unknown_charts_bad_queries_other_tenants_and_requesters_are_refused() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    known(&app, &agent).await;
    for (path, status, pointer) in [
        ("charts/pie.svg", 404, "/path/chart"),
        ("charts/mttr_trend.png", 404, "/path/chart"),
        ("charts/mttr_trend", 404, "/path/chart"),
        (
            "charts/mttr_trend.svg?interval=month",
            400,
            "/query/interval",
        ),
        (
            "charts/value_stream.svg?stream=order_to_cash",
            400,
            "/query/stream",
        ),
        (
            "charts/sla_compliance.svg?from=2026-12-08&to=2026-12-01",
            400,
            "/query/from",
        ),
        (
            "charts/incident_volume.svg?tenant=initech",
            400,
            "/query/tenant",
        ),
        (
            "charts/backlog_age.svg?tenant=initech",
            400,
            "/query/tenant",
        ),
    ] {
        let res = app.get(&format!("/api/v1/analytics/{path}"), &agent).await;
        assert_eq!(res.status.as_u16(), status, "{path}");
        assert_eq!(res.content_type(), "application/problem+json", "{path}");
        assert_eq!(res.body["errors"][0]["pointer"], pointer, "{path}");
    }
    let requester = app.token("requester@globex.demo.test").await;
    let res = app
        .get("/api/v1/analytics/charts/mttr_trend.svg", &requester)
        .await;
    assert_eq!(res.status.as_u16(), 403);
}
