//! Business calendars: when SLA time counts. A calendar is a time zone, weekly working hours and
//! holidays; every computation walks local dates in that zone, so a day of 23 or 25 hours (a DST
//! change) and an hour that does not exist or happens twice are counted as a wall clock shows them.
use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use platform::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A calendar as clients send it and as clocks pin it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// IANA time zone name.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    /// Working hours; a weekday without an entry has none. Spans of one day must not overlap.
    pub weekly_hours: Vec<WorkingHours>,
    /// Dates (in the calendar's zone) without working hours.
    #[serde(default)]
    pub holidays: Vec<Holiday>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkingHours {
    pub day: Day,
    /// `HH:MM`, local time.
    #[schema(example = "09:00")]
    pub start: String,
    /// `HH:MM`, local time, after `start`; `24:00` is the end of the day.
    #[schema(example = "17:00")]
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    pub date: NaiveDate,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Day {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Day {
    fn index(self) -> usize {
        self as usize
    }
}

impl CalendarSpec {
    /// Around the clock, every day, in UTC: the calendar of a tenant that has none.
    pub fn always() -> Self {
        let days = [
            Day::Monday,
            Day::Tuesday,
            Day::Wednesday,
            Day::Thursday,
            Day::Friday,
            Day::Saturday,
            Day::Sunday,
        ];
        CalendarSpec {
            time_zone: "UTC".into(),
            weekly_hours: days
                .into_iter()
                .map(|day| WorkingHours {
                    day,
                    start: "00:00".into(),
                    end: "24:00".into(),
                })
                .collect(),
            holidays: Vec::new(),
        }
    }
}

/// Minutes after local midnight, 0..=1440.
type Minute = u16;

fn parse_minute(raw: &str) -> Option<Minute> {
    let (h, m) = raw.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// Why a stretch of time does or does not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Hours {
    /// Within working hours: counts.
    Working,
    /// Outside the day's working hours (evenings, nights, days without hours).
    OutsideHours,
    /// A holiday, by name.
    Holiday(String),
}

/// One stretch of `[from, to)` with a single meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stretch {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub hours: Hours,
}

/// A validated calendar.
#[derive(Debug, Clone)]
pub struct Calendar {
    tz: Tz,
    /// Working spans per weekday (Monday first), sorted, not overlapping.
    week: [Vec<(Minute, Minute)>; 7],
    holidays: BTreeMap<NaiveDate, String>,
}

/// How far ahead a deadline is searched before it counts as never (a calendar whose every
/// working day is a holiday).
const HORIZON_DAYS: u64 = 3_660;

impl Calendar {
    /// Validates `spec`, naming each wrong field with a JSON Pointer under `prefix`.
    pub fn parse(spec: &CalendarSpec, prefix: &str) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let tz = spec.time_zone.parse::<Tz>().map_err(|_| {
            FieldError::new(
                format!("{prefix}/time_zone"),
                "invalid_time_zone",
                format!("{:?} is not an IANA time zone", spec.time_zone),
            )
        });
        let mut week: [Vec<(Minute, Minute, usize)>; 7] = Default::default();
        for (i, h) in spec.weekly_hours.iter().enumerate() {
            let at = |field: &str| format!("{prefix}/weekly_hours/{i}/{field}");
            let start = parse_minute(&h.start).filter(|m| *m < 1440);
            let end = parse_minute(&h.end);
            if start.is_none() {
                errors.push(FieldError::new(
                    at("start"),
                    "invalid_time",
                    "use HH:MM from 00:00 to 23:59",
                ));
            }
            if end.is_none() {
                errors.push(FieldError::new(
                    at("end"),
                    "invalid_time",
                    "use HH:MM from 00:01 to 24:00",
                ));
            }
            if let (Some(s), Some(e)) = (start, end) {
                if e <= s {
                    errors.push(FieldError::new(
                        at("end"),
                        "end_before_start",
                        "the end must be after the start",
                    ));
                } else {
                    week[h.day.index()].push((s, e, i));
                }
            }
        }
        for spans in &mut week {
            spans.sort();
            for pair in spans.windows(2) {
                if pair[1].0 < pair[0].1 {
                    errors.push(FieldError::new(
                        format!("{prefix}/weekly_hours/{}", pair[1].2),
                        "overlapping_hours",
                        format!("overlaps /weekly_hours/{} on the same day", pair[0].2),
                    ));
                }
            }
        }
        if spec.weekly_hours.is_empty() {
            errors.push(FieldError::new(
                format!("{prefix}/weekly_hours"),
                "required",
                "a calendar needs working hours on at least one day",
            ));
        }
        let tz = match tz {
            Ok(tz) if errors.is_empty() => tz,
            Ok(_) => return Err(errors),
            Err(e) => {
                errors.insert(0, e);
                return Err(errors);
            }
        };
        Ok(Calendar {
            tz,
            week: week.map(|spans| spans.into_iter().map(|(s, e, _)| (s, e)).collect()),
            holidays: spec
                .holidays
                .iter()
                .map(|h| (h.date, h.name.clone()))
                .collect(),
        })
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The instant a wall clock in this zone shows `minute` on `date`. A time that happens twice
    /// (clocks go back) is its first occurrence; a time that does not exist (clocks go forward)
    /// is the first instant after the gap, so spans stay in order and a skipped hour is not
    /// worked.
    fn instant(&self, date: NaiveDate, minute: Minute) -> DateTime<Utc> {
        let (date, minute) = if minute >= 1440 {
            (date + Days::new(1), minute - 1440)
        } else {
            (date, minute)
        };
        let base = date.and_time(NaiveTime::MIN);
        for shift in 0..=24 * 60 {
            let local = base + chrono::Duration::minutes(i64::from(minute) + shift);
            if let Some(t) = self.tz.from_local_datetime(&local).earliest() {
                return t.with_timezone(&Utc);
            }
        }
        // No zone has a gap of a day; fall back to reading the wall time as UTC.
        Utc.from_utc_datetime(&base)
    }

    /// The stretches of one local date, covering the whole day from local midnight to the next.
    fn day(&self, date: NaiveDate) -> Vec<Stretch> {
        let start = self.instant(date, 0);
        let end = self.instant(date, 1440);
        if let Some(name) = self.holidays.get(&date) {
            return vec![Stretch {
                from: start,
                to: end,
                hours: Hours::Holiday(name.clone()),
            }];
        }
        let weekday: Weekday = date.weekday();
        let mut out = Vec::new();
        let mut cursor = start;
        for &(s, e) in &self.week[weekday.num_days_from_monday() as usize] {
            let (from, to) = (self.instant(date, s), self.instant(date, e));
            if to <= from {
                continue; // a span entirely inside a skipped hour
            }
            if from > cursor {
                out.push(Stretch {
                    from: cursor,
                    to: from,
                    hours: Hours::OutsideHours,
                });
            }
            out.push(Stretch {
                from,
                to,
                hours: Hours::Working,
            });
            cursor = to;
        }
        if end > cursor {
            out.push(Stretch {
                from: cursor,
                to: end,
                hours: Hours::OutsideHours,
            });
        }
        out
    }

    /// `[from, to)` split into stretches (adjacent stretches with the same meaning merged).
    pub fn stretches(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Stretch> {
        let mut out: Vec<Stretch> = Vec::new();
        if to <= from {
            return out;
        }
        // The day before too: its local day may reach past `from` in UTC.
        let mut date = self.local_date(from).pred_opt().unwrap_or(NaiveDate::MIN);
        let last = self.local_date(to);
        while date <= last {
            for s in self.day(date) {
                let (a, b) = (s.from.max(from), s.to.min(to));
                if a >= b {
                    continue;
                }
                match out.last_mut() {
                    Some(prev) if prev.hours == s.hours && prev.to == a => prev.to = b,
                    _ => out.push(Stretch {
                        from: a,
                        to: b,
                        hours: s.hours,
                    }),
                }
            }
            date = match date.succ_opt() {
                Some(d) => d,
                None => break,
            };
        }
        out
    }

    /// Working seconds in `[from, to)`.
    pub fn working_seconds(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        self.stretches(from, to)
            .iter()
            .filter(|s| s.hours == Hours::Working)
            .map(|s| (s.to - s.from).num_seconds())
            .sum()
    }

    /// The instant at which `seconds` working seconds after `from` have passed (`from` itself
    /// when `seconds` ≤ 0), or `None` if that is further than ten years ahead.
    pub fn after_working(&self, from: DateTime<Utc>, seconds: i64) -> Option<DateTime<Utc>> {
        if seconds <= 0 {
            return Some(from);
        }
        let mut left = seconds;
        let mut date = self.local_date(from).pred_opt()?;
        let stop = self
            .local_date(from)
            .checked_add_days(Days::new(HORIZON_DAYS))?;
        while date <= stop {
            for s in self.day(date) {
                if s.hours != Hours::Working || s.to <= from {
                    continue;
                }
                let a = s.from.max(from);
                let available = (s.to - a).num_seconds();
                if available >= left {
                    return Some(a + chrono::Duration::seconds(left));
                }
                left -= available;
            }
            date = date.succ_opt()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn office(tz: &str, holidays: &[(&str, &str)]) -> Calendar {
        let weekdays = [
            Day::Monday,
            Day::Tuesday,
            Day::Wednesday,
            Day::Thursday,
            Day::Friday,
        ];
        let spec = CalendarSpec {
            time_zone: tz.into(),
            weekly_hours: weekdays
                .into_iter()
                .map(|day| WorkingHours {
                    day,
                    start: "09:00".into(),
                    end: "17:00".into(),
                })
                .collect(),
            holidays: holidays
                .iter()
                .map(|(d, n)| Holiday {
                    date: d.parse().unwrap_or_default(),
                    name: (*n).into(),
                })
                .collect(),
        };
        Calendar::parse(&spec, "").unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn all_day(tz: &str) -> Calendar {
        let mut spec = CalendarSpec::always();
        spec.time_zone = tz.into();
        Calendar::parse(&spec, "").unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn a_weekend_does_not_count() {
        let cal = office("Europe/Berlin", &[]);
        // Friday 2026-11-27 16:00 CET → Monday 10:00 CET: one hour each side.
        let (from, to) = (utc("2026-11-27T15:00:00Z"), utc("2026-11-30T09:00:00Z"));
        assert_eq!(cal.working_seconds(from, to), 2 * 3600);
        assert_eq!(cal.after_working(from, 2 * 3600), Some(to));
    }

    #[test]
    fn a_holiday_does_not_count_and_is_named() {
        let cal = office("Europe/Berlin", &[("2026-12-25", "Christmas Day")]);
        // Thursday 24 Dec 16:00 → Monday 28 Dec 10:00: Friday the 25th is a holiday.
        let (from, to) = (utc("2026-12-24T15:00:00Z"), utc("2026-12-28T09:00:00Z"));
        assert_eq!(cal.working_seconds(from, to), 2 * 3600);
        let kinds: Vec<Hours> = cal
            .stretches(from, to)
            .into_iter()
            .map(|s| s.hours)
            .collect();
        assert_eq!(
            kinds,
            vec![
                Hours::Working,
                Hours::OutsideHours,
                Hours::Holiday("Christmas Day".into()),
                Hours::OutsideHours,
                Hours::Working
            ]
        );
    }

    #[test]
    fn working_hours_follow_the_wall_clock_across_dst_in_berlin() {
        let cal = office("Europe/Berlin", &[]);
        // Friday 27 March 2026 16:00 CET (UTC+1) → Monday 30 March 10:00 CEST (UTC+2).
        let (from, to) = (utc("2026-03-27T15:00:00Z"), utc("2026-03-30T08:00:00Z"));
        assert_eq!(cal.working_seconds(from, to), 2 * 3600);
        assert_eq!(cal.after_working(from, 2 * 3600), Some(to));
        // Around the clock, the spring-forward day has 23 hours and the fall-back day 25.
        let cal = all_day("Europe/Berlin");
        let spring = (utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z"));
        assert_eq!(cal.working_seconds(spring.0, spring.1), 23 * 3600);
        let autumn = (utc("2026-10-24T22:00:00Z"), utc("2026-10-25T23:00:00Z"));
        assert_eq!(cal.working_seconds(autumn.0, autumn.1), 25 * 3600);
    }

    #[test]
    fn working_hours_follow_the_wall_clock_across_dst_in_new_york() {
        // A night shift 00:00-04:00 on the day clocks go back (1 Nov 2026): 01:00-02:00 happens
        // twice, so the shift lasts five hours.
        let spec = CalendarSpec {
            time_zone: "America/New_York".into(),
            weekly_hours: vec![WorkingHours {
                day: Day::Sunday,
                start: "00:00".into(),
                end: "04:00".into(),
            }],
            holidays: vec![],
        };
        let cal = Calendar::parse(&spec, "").unwrap_or_else(|e| panic!("{e:?}"));
        let (from, to) = (utc("2026-11-01T00:00:00Z"), utc("2026-11-02T00:00:00Z"));
        assert_eq!(cal.working_seconds(from, to), 5 * 3600);
        // On the day clocks go forward (8 March 2026) 02:00-03:00 does not exist: three hours.
        let (from, to) = (utc("2026-03-08T00:00:00Z"), utc("2026-03-09T00:00:00Z"));
        assert_eq!(cal.working_seconds(from, to), 3 * 3600);
        // A deadline 4 working hours after Sunday 1 Nov 00:00 EDT lands at 03:00 EST.
        assert_eq!(
            cal.after_working(utc("2026-11-01T04:00:00Z"), 4 * 3600),
            Some(utc("2026-11-01T08:00:00Z"))
        );
    }

    #[test]
    fn stretches_cover_every_second() {
        let cal = office("America/New_York", &[("2026-11-26", "Thanksgiving")]);
        let (from, to) = (utc("2026-10-30T13:17:05Z"), utc("2026-11-30T01:02:03Z"));
        let s = cal.stretches(from, to);
        assert_eq!(s.first().map(|s| s.from), Some(from));
        assert_eq!(s.last().map(|s| s.to), Some(to));
        assert!(
            s.windows(2)
                .all(|w| w[0].to == w[1].from && w[0].hours != w[1].hours)
        );
    }

    #[test]
    fn bad_calendars_name_the_field() {
        let mut spec = CalendarSpec::always();
        spec.time_zone = "Mars/Olympus".into();
        spec.weekly_hours[0].end = "25:00".into();
        spec.weekly_hours.push(WorkingHours {
            day: Day::Tuesday,
            start: "08:00".into(),
            end: "12:00".into(),
        });
        let errors = Calendar::parse(&spec, "").err().unwrap_or_default();
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            vec!["/time_zone", "/weekly_hours/0/end", "/weekly_hours/7"]
        );
    }
}
