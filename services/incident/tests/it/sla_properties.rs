//! Property tests of SLA clocks: whatever happens to an incident, the clock's running count,
//! its timeline recomputed from the marks, and the calendar agree to the second.
use chrono::{DateTime, Duration, Utc};
use incident::domain::{
    calendar::{Calendar, CalendarSpec, Day, Holiday, WorkingHours},
    lifecycle::{HoldReason, State},
    sla::{Clock, Condition, Facts, Field, Kind, Mark, Op, Rules, timeline},
};
use proptest::prelude::*;
use serde_json::json;

fn calendar(tz: &str) -> Calendar {
    let spec = CalendarSpec {
        time_zone: tz.into(),
        weekly_hours: [
            (Day::Monday, "08:00", "12:00"),
            (Day::Monday, "13:00", "17:30"),
            (Day::Tuesday, "09:00", "17:00"),
            (Day::Wednesday, "00:00", "24:00"),
            (Day::Thursday, "01:30", "03:30"),
            (Day::Friday, "09:00", "17:00"),
            (Day::Sunday, "02:00", "04:00"),
        ]
        .into_iter()
        .map(|(day, start, end)| WorkingHours {
            day,
            start: start.into(),
            end: end.into(),
        })
        .collect(),
        holidays: vec![Holiday {
            date: "2026-03-27".parse().unwrap_or_default(),
            name: "Closed".into(),
        }],
    };
    Calendar::parse(&spec, "").unwrap_or_else(|e| panic!("{e:?}"))
}

fn facts(state: State) -> Facts {
    Facts {
        state: incident::domain::sla::name_of(state),
        hold_reason: (state == State::OnHold)
            .then(|| incident::domain::sla::name_of(HoldReason::AwaitingVendor)),
        priority: 2,
        impact: 1,
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

fn start() -> DateTime<Utc> {
    // Around the spring DST changes of both zones.
    DateTime::parse_from_rfc3339("2026-03-05T10:17:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn running_count_and_replayed_timeline_agree(
        tz in prop::sample::select(vec!["Europe/Berlin", "America/New_York", "UTC"]),
        reset in any::<bool>(),
        steps in prop::collection::vec(
            (1i64..200_000, prop::sample::select(State::ALL.to_vec())),
            1..12,
        ),
        target in 60i64..200_000,
    ) {
        let cal = calendar(tz);
        let mut rules = Rules::default_for(Kind::Resolution);
        if reset {
            rules.reset_when = vec![Condition { field: Field::State, op: Op::Eq, value: json!("in_progress") }];
        }
        let mut now = start();
        let mut clock = Clock::new(target, now);
        let mut marks = clock.on_change(&rules, &cal, None, &facts(State::New), now);
        let mut before = facts(State::New);
        for (gap, state) in steps {
            now += Duration::seconds(gap);
            let after = facts(state);
            marks.extend(clock.on_change(&rules, &cal, Some(&before), &after, now));
            before = after;
        }
        let end = now + Duration::seconds(100_000);
        marks.extend(clock.reach(&cal, end));
        let t = timeline(&cal, &marks, end);
        prop_assert_eq!(t.elapsed_seconds, clock.elapsed_at(&cal, end));
        // Every second from the first start is in exactly one segment.
        prop_assert!(t.segments.windows(2).all(|w| w[0].to <= w[1].from));
        let started = marks.iter().find(|m| m.mark == Mark::Started).map(|m| m.at);
        if let (Some(first), Some(last)) = (t.segments.first(), t.segments.last()) {
            prop_assert_eq!(Some(first.from), started);
            let covered: i64 = t.segments.iter().map(|s| s.seconds).sum();
            prop_assert!(covered <= (last.to - first.from).num_seconds());
        }
        // Each threshold is marked at most once per run (resets start a new run).
        let mut seen = Vec::new();
        for m in &marks {
            match m.mark {
                Mark::Reset => seen.clear(),
                Mark::Threshold { percent } => {
                    prop_assert!(!seen.contains(&percent));
                    seen.push(percent);
                }
                _ => {}
            }
        }
        prop_assert_eq!(clock.breached(), seen.contains(&100));
    }
}
