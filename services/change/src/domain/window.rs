//! Change windows: blackouts (no change may run) and maintenance windows (changes should run
//! inside one), once or repeating by an RFC 5545 `RRULE` in the window's IANA time zone. A
//! repetition starts at the same wall-clock time as the first and lasts the same wall-clock
//! span, so a Saturday 20:00 window stays at 20:00 across daylight-saving changes; a start
//! that falls in a spring-forward gap moves to the first instant after it.
use chrono::{DateTime, Datelike, Duration, NaiveDateTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::change::Window;

/// `blackout` or `maintenance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    Blackout,
    Maintenance,
}

impl WindowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WindowKind::Blackout => "blackout",
            WindowKind::Maintenance => "maintenance",
        }
    }

    pub fn parse(raw: &str) -> Option<WindowKind> {
        match raw {
            "blackout" => Some(WindowKind::Blackout),
            "maintenance" => Some(WindowKind::Maintenance),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freq {
    Daily,
    Weekly,
}

/// The `RRULE` subset windows use: `FREQ=DAILY|WEEKLY`, `INTERVAL`, `BYDAY` (weekly),
/// `COUNT` or `UNTIL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RRule {
    pub freq: Freq,
    pub interval: u32,
    pub by_day: Vec<Weekday>,
    pub count: Option<u32>,
    pub until: Option<DateTime<Utc>>,
}

fn weekday(code: &str) -> Option<Weekday> {
    Some(match code {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    })
}

impl RRule {
    /// Parses `raw` (with or without the `RRULE:` prefix); the error says what is wrong.
    pub fn parse(raw: &str) -> Result<RRule, String> {
        let raw = raw.trim();
        let raw = raw.strip_prefix("RRULE:").unwrap_or(raw);
        let (mut freq, mut interval, mut by_day, mut count, mut until) =
            (None, 1, vec![], None, None);
        for part in raw.split(';').filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not KEY=VALUE"))?;
            match key {
                "FREQ" => {
                    freq = Some(match value {
                        "DAILY" => Freq::Daily,
                        "WEEKLY" => Freq::Weekly,
                        _ => return Err(format!("FREQ={value}: windows repeat DAILY or WEEKLY")),
                    })
                }
                "INTERVAL" => {
                    interval = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=52).contains(n))
                        .ok_or_else(|| format!("INTERVAL={value}: 1 to 52"))?
                }
                "BYDAY" => {
                    for code in value.split(',') {
                        by_day.push(
                            weekday(code).ok_or_else(|| format!("BYDAY: unknown day `{code}`"))?,
                        );
                    }
                }
                "COUNT" => {
                    count = Some(
                        value
                            .parse::<u32>()
                            .ok()
                            .filter(|n| *n >= 1)
                            .ok_or_else(|| format!("COUNT={value}: a positive number"))?,
                    )
                }
                "UNTIL" => {
                    let t = NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%SZ")
                        .map_err(|_| format!("UNTIL={value}: YYYYMMDDTHHMMSSZ"))?;
                    until = Some(t.and_utc());
                }
                _ => {
                    return Err(format!(
                        "{key} is not supported (FREQ, INTERVAL, BYDAY, COUNT, UNTIL)"
                    ));
                }
            }
        }
        let freq = freq.ok_or("FREQ is required")?;
        if count.is_some() && until.is_some() {
            return Err("COUNT and UNTIL exclude each other".into());
        }
        if freq == Freq::Daily && !by_day.is_empty() {
            return Err("BYDAY applies to WEEKLY".into());
        }
        Ok(RRule {
            freq,
            interval,
            by_day,
            count,
            until,
        })
    }
}

/// A window as stored: its first occurrence, its zone and how it repeats.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub first: Window,
    pub zone: Tz,
    pub rule: Option<RRule>,
}

/// The instant of wall-clock `local` in `zone`: the earlier of two in a fall-back overlap,
/// the first after the gap in a spring-forward one.
fn instant(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    for _ in 0..4 {
        if let Some(t) = zone.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
        probe += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&local)
}

/// The most occurrences looked at for one question (a daily window over 25 years).
const MAX_STEPS: usize = 10_000;

impl Schedule {
    /// The occurrences that overlap `range`, in order.
    pub fn occurrences(&self, range: Window) -> Vec<Window> {
        let Some(rule) = &self.rule else {
            return if self.first.overlaps(&range) {
                vec![self.first]
            } else {
                vec![]
            };
        };
        let start_local = self.first.start.with_timezone(&self.zone).naive_local();
        let span = self.first.end.with_timezone(&self.zone).naive_local() - start_local;
        let days: Vec<Weekday> = if rule.by_day.is_empty() {
            vec![start_local.weekday()]
        } else {
            rule.by_day.clone()
        };
        let mut out = Vec::new();
        let mut emitted = 0u32;
        // Day by day from the first; a day counts when its period and weekday match.
        let week_start = start_local.date()
            - Duration::days(i64::from(start_local.weekday().num_days_from_monday()));
        for step in 0..MAX_STEPS {
            let date = start_local.date() + Duration::days(step as i64);
            let matches = match rule.freq {
                Freq::Daily => (step as u32).is_multiple_of(rule.interval),
                Freq::Weekly => {
                    let week = (date - week_start).num_days() / 7;
                    week % i64::from(rule.interval) == 0 && days.contains(&date.weekday())
                }
            };
            if !matches {
                continue;
            }
            let local = date.and_time(start_local.time());
            let occurrence = Window {
                start: instant(self.zone, local),
                end: instant(self.zone, local + span),
            };
            if rule.until.is_some_and(|u| occurrence.start > u) || occurrence.start >= range.end {
                break;
            }
            emitted += 1;
            if occurrence.overlaps(&range) {
                out.push(occurrence);
            }
            if rule.count.is_some_and(|c| emitted >= c) {
                break;
            }
        }
        out
    }

    /// Whether `w` lies wholly inside one occurrence.
    pub fn contains(&self, w: Window) -> bool {
        self.occurrences(w)
            .iter()
            .any(|o| o.start <= w.start && w.end <= o.end)
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("a time")
            .with_timezone(&Utc)
    }

    fn w(a: &str, b: &str) -> Window {
        Window {
            start: utc(a),
            end: utc(b),
        }
    }

    #[test]
    fn rules_outside_the_subset_are_refused_with_a_reason() {
        for (raw, says) in [
            ("FREQ=MONTHLY", "DAILY or WEEKLY"),
            ("FREQ=WEEKLY;BYDAY=XX", "unknown day"),
            ("INTERVAL=2", "FREQ is required"),
            ("FREQ=DAILY;COUNT=2;UNTIL=20270101T000000Z", "exclude"),
            ("FREQ=DAILY;BYSETPOS=1", "not supported"),
            ("FREQ=DAILY;INTERVAL=0", "1 to 52"),
            ("FREQ", "KEY=VALUE"),
        ] {
            let err = RRule::parse(raw).expect_err(raw);
            assert!(err.contains(says), "{raw}: {err}");
        }
        assert!(RRule::parse("RRULE:FREQ=WEEKLY;BYDAY=SA,SU;INTERVAL=2").is_ok());
    }

    /// Table: a weekly Saturday 20:00–Sunday 02:00 window in Europe/London keeps its wall-clock
    /// times across both daylight-saving changes, so its UTC times move by an hour.
    #[test]
    fn repetitions_keep_their_wall_clock_times_across_daylight_saving() {
        let s = Schedule {
            first: w("2027-03-20T20:00:00Z", "2027-03-21T02:00:00Z"), // GMT, before the change
            zone: "Europe/London".parse().expect("zone"),
            rule: Some(RRule::parse("FREQ=WEEKLY;BYDAY=SA").expect("rule")),
        };
        let cases = [
            // (a week's range, the occurrence in UTC)
            (
                "2027-03-20T00:00:00Z",
                ("2027-03-20T20:00:00Z", "2027-03-21T02:00:00Z"),
            ),
            // BST from 28 March: 20:00 local is 19:00 UTC.
            (
                "2027-03-27T00:00:00Z",
                ("2027-03-27T20:00:00Z", "2027-03-28T01:00:00Z"),
            ),
            (
                "2027-04-03T00:00:00Z",
                ("2027-04-03T19:00:00Z", "2027-04-04T01:00:00Z"),
            ),
            // Back to GMT on 31 October.
            (
                "2027-10-30T00:00:00Z",
                ("2027-10-30T19:00:00Z", "2027-10-31T02:00:00Z"),
            ),
            (
                "2027-11-06T00:00:00Z",
                ("2027-11-06T20:00:00Z", "2027-11-07T02:00:00Z"),
            ),
        ];
        for (from, (start, end)) in cases {
            let from = utc(from);
            let range = Window {
                start: from,
                end: from + Duration::days(7),
            };
            assert_eq!(s.occurrences(range), vec![w(start, end)], "week of {from}");
        }
    }

    #[test]
    fn a_start_in_the_spring_forward_gap_moves_past_it() {
        // 01:30 on 28 March 2027 does not exist in London; the window starts at 02:00 BST.
        let s = Schedule {
            first: w("2027-03-27T01:30:00Z", "2027-03-27T02:30:00Z"),
            zone: "Europe/London".parse().expect("zone"),
            rule: Some(RRule::parse("FREQ=DAILY;COUNT=3").expect("rule")),
        };
        let all = s.occurrences(w("2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"));
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].start, utc("2027-03-28T01:00:00Z"));
    }

    #[test]
    fn count_until_and_containment() {
        let s = Schedule {
            first: w("2027-01-02T20:00:00Z", "2027-01-03T06:00:00Z"),
            zone: chrono_tz::UTC,
            rule: Some(RRule::parse("FREQ=WEEKLY;UNTIL=20270110T000000Z").expect("rule")),
        };
        let year = w("2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z");
        assert_eq!(s.occurrences(year).len(), 2);
        assert!(s.contains(w("2027-01-09T21:00:00Z", "2027-01-09T23:00:00Z")));
        assert!(!s.contains(w("2027-01-09T19:00:00Z", "2027-01-09T23:00:00Z")));
        assert!(!s.contains(w("2027-01-16T21:00:00Z", "2027-01-16T23:00:00Z")));
        // Half-open: a change ending as the window starts does not overlap it.
        let once = Schedule { rule: None, ..s };
        assert!(
            once.occurrences(w("2027-01-02T18:00:00Z", "2027-01-02T20:00:00Z"))
                .is_empty()
        );
    }
}
