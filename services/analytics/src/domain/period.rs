//! The period a figure covers: inclusive local dates, 30 days to today by default.
use chrono::{Datelike, Days, NaiveDate};

/// The longest period asked for at once (three years).
pub const MAX_DAYS: u64 = 1_096;
/// The default period's length, today included.
pub const DEFAULT_DAYS: u64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// A query parameter that is wrong: its name, a code and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub name: &'static str,
    pub code: &'static str,
    pub detail: String,
}

fn date(name: &'static str, raw: Option<&str>) -> Result<Option<NaiveDate>, QueryError> {
    raw.map(|r| {
        NaiveDate::parse_from_str(r, "%Y-%m-%d").map_err(|_| QueryError {
            name,
            code: "invalid_date",
            detail: format!("{r:?} is not a date (YYYY-MM-DD)"),
        })
    })
    .transpose()
}

impl Period {
    /// `from`/`to` as given (inclusive dates), defaulting to the 30 days that end `today`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: NaiveDate,
    ) -> Result<Period, QueryError> {
        let to = date("to", to)?.unwrap_or(today);
        let from = date("from", from)?.unwrap_or_else(|| {
            to.checked_sub_days(Days::new(DEFAULT_DAYS - 1))
                .unwrap_or(to)
        });
        if from > to {
            return Err(QueryError {
                name: "from",
                code: "from_after_to",
                detail: format!("from ({from}) is after to ({to})"),
            });
        }
        if (to - from).num_days() as u64 >= MAX_DAYS {
            return Err(QueryError {
                name: "to",
                code: "period_too_long",
                detail: format!("a period spans at most {MAX_DAYS} days"),
            });
        }
        Ok(Period { from, to })
    }

    /// The start of the interval `day` falls in: the day itself, or the Monday of its week.
    pub fn start_of(day: NaiveDate, interval: Interval) -> NaiveDate {
        match interval {
            Interval::Day => day,
            Interval::Week => day
                .checked_sub_days(Days::new(u64::from(day.weekday().num_days_from_monday())))
                .unwrap_or(day),
        }
    }

    /// The starts of the intervals that cover the period, in order.
    pub fn intervals(&self, interval: Interval) -> Vec<NaiveDate> {
        let step = match interval {
            Interval::Day => 1,
            Interval::Week => 7,
        };
        let mut out = Vec::new();
        let mut at = Self::start_of(self.from, interval);
        while at <= self.to {
            out.push(at);
            let Some(next) = at.checked_add_days(Days::new(step)) else {
                break;
            };
            at = next;
        }
        out
    }
}

/// A time series' step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Day,
    /// ISO weeks, from Monday.
    Week,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(iso: &str) -> NaiveDate {
        iso.parse().unwrap_or_default()
    }

    #[test]
    fn the_default_is_the_thirty_days_to_today() {
        let p = Period::parse(None, None, d("2026-12-07"));
        assert_eq!(
            p,
            Ok(Period {
                from: d("2026-11-08"),
                to: d("2026-12-07")
            })
        );
    }

    #[test]
    fn bad_periods_name_the_parameter() {
        let today = d("2026-12-07");
        let name = |from, to| {
            Period::parse(from, to, today)
                .err()
                .map(|e| (e.name, e.code))
        };
        assert_eq!(
            name(Some("2026-12-08"), Some("2026-12-07")),
            Some(("from", "from_after_to"))
        );
        assert_eq!(
            name(Some("7.12.2026"), None),
            Some(("from", "invalid_date"))
        );
        assert_eq!(name(None, Some("2026-02-30")), Some(("to", "invalid_date")));
        assert_eq!(
            name(Some("2020-01-01"), Some("2026-01-01")),
            Some(("to", "period_too_long"))
        );
        assert_eq!(name(Some("2026-12-07"), Some("2026-12-07")), None);
    }

    #[test]
    fn weeks_start_on_monday() {
        let p = Period {
            from: d("2026-12-02"),
            to: d("2026-12-15"),
        };
        assert_eq!(
            p.intervals(Interval::Week),
            vec![d("2026-11-30"), d("2026-12-07"), d("2026-12-14")]
        );
        assert_eq!(p.intervals(Interval::Day).len(), 14);
    }
}
