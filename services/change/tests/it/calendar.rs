//! The change calendar over HTTP on PostgreSQL, read back by Python's `icalendar`: CRLF,
//! lines of at most 75 octets, a multibyte title that survives folding, reschedules counted in
//! `SEQUENCE`, window occurrences, no plans, and a revoked token that stops at once.
#![allow(clippy::expect_used)]
use std::{path::PathBuf, process::Command};

use testkit::{TestApp, app, json, reqwest::Method};

use crate::changes::{ci, create, known, s};

/// A Python with `icalendar`, in a virtual environment kept between runs.
fn python_with_icalendar() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    let venv = PathBuf::from(home).join(".cache/itsm-tools/icalendar-7.3.2");
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import icalendar"])
        .status()
        .is_ok_and(|s| s.success());
    if !ready {
        eprintln!("[test] installing icalendar 7.3.2 into {}", venv.display());
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(made.success(), "python3 -m venv failed");
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "icalendar==7.3.2"])
            .status()
            .expect("pip");
        assert!(installed.success(), "pip install icalendar failed");
    }
    python
}

/// The VEVENTs `icalendar` reads from `text`: uid, summary, status, sequence, start.
fn parse(text: &str) -> Vec<serde_json::Value> {
    let dir = std::env::temp_dir().join(format!("itsm-ics-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("feed.ics");
    std::fs::write(&file, text).expect("write");
    let script = r#"
import json, sys, icalendar
cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())
print(json.dumps([{
    "uid": str(e.get("UID")), "summary": str(e.get("SUMMARY")), "status": str(e.get("STATUS")),
    "sequence": int(e.get("SEQUENCE")), "start": e.decoded("DTSTART").isoformat(),
} for e in cal.walk("VEVENT")]))
"#;
    let out = Command::new(python_with_icalendar())
        .args(["-c", script])
        .arg(&file)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "icalendar refused the feed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

async fn ics(app: &TestApp, url: &str) -> (u16, String, String) {
    let res = app
        .client
        .get(format!("{}{}", app.base, url))
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    let media = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, media, res.text().await.expect("body"))
}

#[tokio::test]
async fn the_calendar_feed_parses_folds_safely_and_stops_when_revoked() {
    let app = app!();
    let cm = app.token("change-manager@globex.demo.test").await;
    let config = app.token("configuration-manager@globex.demo.test").await;
    known(&app, &cm).await;
    let db = ci(&app, &config, "database", "ics-db").await;
    let title = "Wartung ✓ Datenbank-Cluster äöü 数据库维护, Teil 1; Nacht".to_string();
    let c = create(
        &app,
        &cm,
        json!({"type": "normal", "title": title, "affected_ci_ids": [db],
               "planned_start": "2027-01-09T20:00:00Z", "planned_end": "2027-01-09T22:00:00Z",
               "implementation_plan": "SECRET-PLAN-TEXT"}),
    )
    .await;
    let id = s(&c["id"]);
    let moved =
        json!({"planned_start": "2027-01-10T20:00:00Z", "planned_end": "2027-01-10T22:00:00Z"});
    app.call(
        Method::PATCH,
        &format!("/api/v1/changes/{id}"),
        Some(&cm),
        Some(moved),
        &[],
    )
    .await
    .expect(200);
    let window = app
        .post(
            "/api/v1/change-windows",
            &cm,
            json!({"kind": "blackout", "name": "Quarter end", "starts_at": "2027-01-29T18:00:00Z",
                   "ends_at": "2027-01-30T06:00:00Z", "rrule": "FREQ=WEEKLY;COUNT=3"}),
        )
        .await;
    let window_id = s(&window.expect(201)["id"]);

    let feed = app
        .post(
            "/api/v1/change-calendar/feeds",
            &cm,
            json!({"name": "Globex changes"}),
        )
        .await;
    let feed = feed.expect(201).clone();
    let url = s(&feed["url"]);
    let (status, media, text) = ics(&app, &url).await;
    assert_eq!(status, 200);
    assert!(media.starts_with("text/calendar"), "{media}");
    assert!(text.ends_with("\r\n"));
    assert!(!text.replace("\r\n", "").contains('\n'), "a bare LF");
    for line in text.split("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line}", line.len());
    }
    assert!(
        !text.contains("SECRET-PLAN-TEXT"),
        "the feed holds no plans"
    );

    let events = parse(&text);
    let change = events
        .iter()
        .find(|e| e["uid"] == id.as_str())
        .expect("the change's event");
    assert_eq!(change["summary"], format!("{} {title}", s(&c["number"])));
    assert_eq!(change["sequence"], 1, "one reschedule");
    assert_eq!(change["status"], "TENTATIVE");
    assert_eq!(change["start"], "2027-01-10T20:00:00+00:00");
    let occurrences = events
        .iter()
        .filter(|e| s(&e["uid"]).starts_with(&window_id))
        .count();
    assert_eq!(occurrences, 3);

    // Another tenant cannot revoke it; the owner can, and the token stops at once.
    let feed_id = s(&feed["id"]);
    let other = app.token("change-manager@initech.demo.test").await;
    let path = format!("/api/v1/change-calendar/feeds/{feed_id}");
    let foreign = app
        .call(Method::DELETE, &path, Some(&other), None, &[])
        .await;
    assert_eq!(foreign.status.as_u16(), 404);
    let listed = app.get("/api/v1/change-calendar/feeds", &cm).await;
    assert_eq!(listed.expect(200)[0]["id"], feed_id.as_str());
    assert!(listed.body[0].get("token").is_none());
    app.call(Method::DELETE, &path, Some(&cm), None, &[])
        .await
        .expect(204);
    assert_eq!(ics(&app, &url).await.0, 404);
    assert_eq!(
        ics(&app, "/api/v1/change-calendar/cal_nope.ics").await.0,
        404
    );
}
