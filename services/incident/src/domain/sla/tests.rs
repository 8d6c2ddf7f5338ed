use super::*;
use crate::domain::calendar::{CalendarSpec, Day, Holiday, WorkingHours};
use crate::domain::lifecycle::{HoldReason, State};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn office(tz: &str, holidays: &[&str]) -> Calendar {
    let spec = CalendarSpec {
        time_zone: tz.into(),
        weekly_hours: [
            Day::Monday,
            Day::Tuesday,
            Day::Wednesday,
            Day::Thursday,
            Day::Friday,
        ]
        .into_iter()
        .map(|day| WorkingHours {
            day,
            start: "09:00".into(),
            end: "17:00".into(),
        })
        .collect(),
        holidays: holidays
            .iter()
            .map(|d| Holiday {
                date: d.parse().unwrap_or_default(),
                name: "Holiday".into(),
            })
            .collect(),
    };
    Calendar::parse(&spec, "").unwrap_or_else(|e| panic!("{e:?}"))
}

fn facts(state: State) -> Facts {
    Facts {
        state: name_of(state),
        hold_reason: (state == State::OnHold).then(|| name_of(HoldReason::AwaitingCaller)),
        priority: 3,
        impact: 2,
        urgency: 2,
        category: None,
        subcategory: None,
        major: false,
        assignment_group_id: None,
        assignee_id: None,
        service_id: None,
        configuration_item_id: None,
    }
}

/// Drives a resolution clock through `(time, state)` changes; returns it and its marks.
fn drive(
    cal: &Calendar,
    rules: &Rules,
    target: i64,
    steps: &[(&str, State)],
) -> (Clock, Vec<Event>) {
    let mut clock = Clock::new(target, utc(steps[0].0));
    let mut events = Vec::new();
    let mut before: Option<Facts> = None;
    for (at, state) in steps {
        let f = facts(*state);
        events.extend(clock.on_change(rules, cal, before.as_ref(), &f, utc(at)));
        before = Some(f);
    }
    (clock, events)
}

#[test]
fn a_pause_over_a_weekend_counts_nothing_and_is_explained() {
    let cal = office("Europe/Berlin", &[]);
    let rules = Rules::default_for(Kind::Resolution);
    // Opened Friday 10:00 CET, on hold Friday 16:00 until Monday 11:00, resolved Monday 12:00.
    let (clock, events) = drive(
        &cal,
        &rules,
        8 * 3600,
        &[
            ("2026-11-27T09:00:00Z", State::New),
            ("2026-11-27T15:00:00Z", State::OnHold),
            ("2026-11-30T10:00:00Z", State::InProgress),
            ("2026-11-30T11:00:00Z", State::Resolved),
        ],
    );
    assert_eq!(clock.status, Status::Stopped);
    assert_eq!(clock.elapsed, 7 * 3600);
    let t = timeline(&cal, &events, utc("2026-12-01T00:00:00Z"));
    assert_eq!(t.elapsed_seconds, clock.elapsed);
    let kinds: Vec<_> = t.segments.iter().map(|s| (s.kind, s.seconds)).collect();
    assert_eq!(
        kinds,
        vec![
            (SegmentKind::Running, 6 * 3600),
            (SegmentKind::Paused, 67 * 3600),
            (SegmentKind::Running, 3600),
        ]
    );
    assert_eq!(
        t.segments[1].reason.as_deref(),
        Some("on_hold (awaiting_caller)")
    );
}

#[test]
fn a_holiday_moves_the_deadline() {
    let cal = office("Europe/Berlin", &["2026-12-25"]);
    let mut clock = Clock::new(4 * 3600, utc("2026-12-24T14:00:00Z"));
    clock.on_change(
        &Rules::default_for(Kind::Resolution),
        &cal,
        None,
        &facts(State::New),
        utc("2026-12-24T14:00:00Z"),
    );
    // Thursday 15:00-17:00 local, then Monday 09:00-11:00 (Friday is the holiday).
    assert_eq!(clock.due(&cal), Some(utc("2026-12-28T10:00:00Z")));
}

#[test]
fn deadlines_follow_dst_in_berlin_and_new_york() {
    let rules = Rules::default_for(Kind::Resolution);
    for (tz, start, due) in [
        // Friday 16:00 CET + 2 working hours → Monday 10:00 CEST.
        (
            "Europe/Berlin",
            "2026-03-27T15:00:00Z",
            "2026-03-30T08:00:00Z",
        ),
        // Friday 16:00 EST + 2 working hours → Monday 10:00 EDT.
        (
            "America/New_York",
            "2026-03-06T21:00:00Z",
            "2026-03-09T14:00:00Z",
        ),
        // Friday 16:00 EDT + 2 working hours → Monday 10:00 EST.
        (
            "America/New_York",
            "2026-10-30T20:00:00Z",
            "2026-11-02T15:00:00Z",
        ),
    ] {
        let cal = office(tz, &[]);
        let mut clock = Clock::new(2 * 3600, utc(start));
        clock.on_change(&rules, &cal, None, &facts(State::New), utc(start));
        assert_eq!(clock.due(&cal), Some(utc(due)), "{tz} from {start}");
        let events = clock.reach(&cal, utc(due));
        assert_eq!(events.len(), 3, "50, 75 and 100 %");
        assert_eq!(events[2].at, utc(due));
    }
}

#[test]
fn a_reset_restarts_the_count() {
    let cal = office("UTC", &[]);
    let mut rules = Rules::default_for(Kind::Resolution);
    rules.reset_when = vec![Condition {
        field: Field::State,
        op: Op::Eq,
        value: json!("in_progress"),
    }];
    rules.stop_when = vec![Condition {
        field: Field::State,
        op: Op::Eq,
        value: json!("closed"),
    }];
    // Runs Mon 09:00-11:00, reset at 11:00 (work starts), runs to 12:00.
    let (clock, events) = drive(
        &cal,
        &rules,
        8 * 3600,
        &[
            ("2026-11-23T09:00:00Z", State::New),
            ("2026-11-23T11:00:00Z", State::InProgress),
        ],
    );
    let now = utc("2026-11-23T12:00:00Z");
    assert_eq!(clock.elapsed_at(&cal, now), 3600);
    assert!(events.iter().any(|e| e.mark == Mark::Reset));
    let t = timeline(&cal, &events, now);
    assert_eq!(t.elapsed_seconds, 3600);
    assert_eq!(t.segments.iter().map(|s| s.seconds).sum::<i64>(), 3 * 3600);
}

#[test]
fn no_breach_while_paused() {
    let cal = office("UTC", &[]);
    let rules = Rules::default_for(Kind::Resolution);
    let (mut clock, _) = drive(
        &cal,
        &rules,
        2 * 3600,
        &[
            ("2026-11-23T09:00:00Z", State::New),
            ("2026-11-23T10:00:00Z", State::OnHold),
        ],
    );
    assert_eq!(clock.next_threshold(&cal), None);
    let events = clock.reach(&cal, utc("2026-12-23T09:00:00Z"));
    assert!(events.is_empty());
    assert_eq!(
        clock.reached, 1,
        "only the 50 % mark, reached before the pause"
    );
    assert!(!clock.breached());
}

#[test]
fn a_late_stop_records_the_missed_breach_once() {
    let cal = office("UTC", &[]);
    let rules = Rules::default_for(Kind::Response);
    let (clock, events) = drive(
        &cal,
        &rules,
        3600,
        &[
            ("2026-11-23T09:00:00Z", State::New),
            ("2026-11-23T12:00:00Z", State::InProgress),
        ],
    );
    assert!(clock.breached());
    let thresholds: Vec<_> = events
        .iter()
        .filter_map(|e| match e.mark {
            Mark::Threshold { percent } => Some((percent, e.at)),
            _ => None,
        })
        .collect();
    assert_eq!(thresholds.len(), 3);
    assert_eq!(thresholds[2], (100, utc("2026-11-23T10:00:00Z")));
}

#[test]
fn conditions_check_values_against_fields() {
    let mut rules = Rules::default_for(Kind::Resolution);
    rules.applies_when = vec![
        Condition {
            field: Field::Priority,
            op: Op::In,
            value: json!([1, 7]),
        },
        Condition {
            field: Field::State,
            op: Op::Eq,
            value: json!("sleeping"),
        },
        Condition {
            field: Field::Major,
            op: Op::In,
            value: json!(true),
        },
    ];
    let pointers: Vec<String> = rules
        .check(Subject::Incident, "")
        .into_iter()
        .map(|e| e.pointer)
        .collect();
    assert_eq!(
        pointers,
        vec![
            "/applies_when/0/value",
            "/applies_when/1/value",
            "/applies_when/2/value"
        ]
    );
}

#[test]
fn request_item_rules_test_its_states_only() {
    assert!(
        Rules::for_request_item()
            .check(Subject::RequestItem, "")
            .is_empty()
    );
    let mut rules = Rules::for_request_item();
    rules.applies_when = vec![
        Condition {
            field: Field::Priority,
            op: Op::Eq,
            value: json!(1),
        },
        Condition {
            field: Field::State,
            op: Op::Eq,
            value: json!("on_hold"),
        },
    ];
    let errors = rules.check(Subject::RequestItem, "");
    let found: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.pointer.as_str(), e.code.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            ("/applies_when/0/field", "not_applicable"),
            ("/applies_when/1/value", "invalid_value")
        ]
    );
    // An incident's definition may not name a request item's state.
    let pointers = Rules::for_request_item().check(Subject::Incident, "");
    assert_eq!(pointers.len(), 3);
}

#[test]
fn a_request_items_clock_runs_in_fulfilment_and_pauses_for_the_requester() {
    let rules = Rules::for_request_item();
    let cal = Calendar::parse(&CalendarSpec::always(), "").unwrap_or_else(|e| panic!("{e:?}"));
    let at = |h: i64| utc("2026-11-23T09:00:00Z") + chrono::Duration::hours(h);
    let mut clock = Clock::new(8 * 3600, at(0));
    let pending = Facts::request_item("pending_approval");
    clock.on_change(&rules, &cal, None, &pending, at(0));
    assert_eq!(clock.status, Status::Pending);
    let working = Facts::request_item("in_fulfilment");
    clock.on_change(&rules, &cal, Some(&pending), &working, at(1));
    assert_eq!(clock.status, Status::Running);
    let waiting = Facts::request_item("awaiting_requester");
    clock.on_change(&rules, &cal, Some(&working), &waiting, at(3));
    assert_eq!(clock.status, Status::Paused);
    clock.on_change(&rules, &cal, Some(&waiting), &working, at(10));
    let done = Facts::request_item("fulfilled");
    clock.on_change(&rules, &cal, Some(&working), &done, at(11));
    assert_eq!(clock.status, Status::Stopped);
    // In fulfilment from 1 to 3 and from 10 to 11: three hours.
    assert_eq!(clock.elapsed, 3 * 3600);
    assert_eq!(
        standing(&[(clock.status, clock.reached)]),
        Some(Standing::Met)
    );
}

#[test]
fn standing_sums_up_clocks() {
    use Status::*;
    assert_eq!(standing(&[]), None);
    assert_eq!(standing(&[(Pending, 0)]), Some(Standing::Pending));
    assert_eq!(standing(&[(Running, 1)]), Some(Standing::OnTrack));
    assert_eq!(
        standing(&[(Running, 2), (Paused, 0)]),
        Some(Standing::AtRisk)
    );
    assert_eq!(standing(&[(Paused, 2)]), Some(Standing::Paused));
    assert_eq!(
        standing(&[(Stopped, 3), (Running, 0)]),
        Some(Standing::Breached)
    );
    assert_eq!(
        standing(&[(Stopped, 1), (Canceled, 0)]),
        Some(Standing::Met)
    );
    assert_eq!(standing(&[(Canceled, 0)]), Some(Standing::Canceled));
}
