//! `export.csv` over HTTP: each report as RFC 4180 CSV for those who may export, another
//! tenant's never, and bad queries named.
#![allow(clippy::expect_used)]
use testkit::app;

use crate::store::known;

#[tokio::test]
async fn reports_export_as_csv_within_reach_and_only_with_the_export_scope() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    known(&app, &admin).await;

    let summary = app
        .get("/api/v1/analytics/export.csv?report=summary", &admin)
        .await;
    assert_eq!(summary.status.as_u16(), 200);
    assert_eq!(
        summary
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/csv; charset=utf-8")
    );
    let text = summary.text();
    let mut lines = text.split("\r\n");
    assert_eq!(lines.next(), Some("tenant_id,scope,metric,value,p90,n"));
    assert!(text.contains(",tenant,incidents.created,"), "{text}");
    assert!(text.contains(",tenant,incidents.mttr_seconds,"), "{text}");
    assert!(text.ends_with("\r\n"));

    let series = app
        .get(
            "/api/v1/analytics/export.csv?report=timeseries&metric=incidents.created&from=2026-11-01&to=2026-11-30",
            &admin,
        )
        .await;
    let series = series.text();
    assert_eq!(series.lines().count(), 31, "{series}");
    assert!(
        series.starts_with("period_start,value,p90,n\r\n2026-11-01,"),
        "{series}"
    );

    let backlog = app
        .get("/api/v1/analytics/export.csv?report=backlog", &admin)
        .await;
    assert!(
        backlog
            .text()
            .starts_with("tenant_id,total,under_1d,1d_to_3d,3d_to_7d,7d_to_30d,over_30d\r\n")
    );

    // Another customer's figures: refused, nothing written.
    let foreign = app
        .get(
            "/api/v1/analytics/export.csv?report=summary&tenant=initech",
            &admin,
        )
        .await;
    assert_eq!(foreign.expect(400)["errors"][0]["pointer"], "/query/tenant");

    for (query, pointer) in [
        ("", "/query/report"),
        ("?report=pivot", "/query/report"),
        ("?report=timeseries", "/query/metric"),
        (
            "?report=timeseries&metric=incidents.created&interval=hour",
            "/query/interval",
        ),
        (
            "?report=summary&from=2026-12-02&to=2026-12-01",
            "/query/from",
        ),
    ] {
        let res = app
            .get(&format!("/api/v1/analytics/export.csv{query}"), &admin)
            .await;
        assert_eq!(res.expect(400)["errors"][0]["pointer"], pointer, "{query}");
    }

    // Reading figures is not exporting them.
    let agent = app.token("agent@globex.demo.test").await;
    let refused = app
        .get("/api/v1/analytics/export.csv?report=summary", &agent)
        .await;
    assert_eq!(refused.expect(403)["code"], "insufficient_scope");

    // The MSP admin exports every customer, each and together.
    let msp = app.token("msp-admin@demo.test").await;
    known(&app, &msp).await;
    let all = app
        .get("/api/v1/analytics/export.csv?report=summary&tenant=*", &msp)
        .await
        .text();
    assert!(all.contains(",rollup,incidents.created,"), "{all}");
    let tenants: std::collections::BTreeSet<&str> = all
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    assert!(tenants.len() >= 3, "{all}");
}
