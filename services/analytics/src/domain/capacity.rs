//! Capacity forecasting (ADR 43): a least-squares line through a target's recent samples of one
//! metric, and when it crosses the threshold's limit. No I/O.
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::improvement::Signal;

/// At most this many samples per ingest request.
pub const MAX_BATCH: usize = 5_000;
/// A fit needs at least this many samples …
pub const MIN_SAMPLES: usize = 10;
/// … spread over at least this long.
pub const MIN_SPAN: Duration = Duration::hours(24);
/// How far ahead of the server's clock a sample may be stamped (clock skew between agents).
pub const FUTURE_SKEW: Duration = Duration::minutes(5);

/// What a sample or threshold is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = CapacityTargetType)]
pub enum TargetType {
    Service,
    Ci,
}

/// The side of the limit that is a breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = CapacityDirection)]
pub enum Direction {
    Above,
    Below,
}

/// What a predicted breach does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = CapacityAction)]
pub enum Action {
    /// Opens (or recurs) an item in the improvement register.
    Improvement,
    /// Announces `itsm.analytics.capacity.breach_predicted.v1`; incident opens an incident.
    Incident,
}

/// A forecast's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ForecastStatus)]
pub enum Status {
    /// No breach within the horizon.
    Ok,
    /// The line crosses the limit within the horizon.
    BreachPredicted,
    /// The newest sample is already past the limit.
    Breached,
    /// Fewer than 10 samples, or less than 24 hours of them, in the lookback window.
    InsufficientData,
}

macro_rules! names {
    ($ty:ident { $($variant:ident = $name:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some($ty::$variant),)* _ => None }
            }
        }
    };
}
names!(TargetType { Service = "service", Ci = "ci" });
names!(Direction { Above = "above", Below = "below" });
names!(Action { Improvement = "improvement", Incident = "incident" });
names!(Status {
    Ok = "ok",
    BreachPredicted = "breach_predicted",
    Breached = "breached",
    InsufficientData = "insufficient_data",
});

impl Status {
    /// Whether the threshold is (about to be) breached: the states that act.
    pub fn is_alarm(self) -> bool {
        matches!(self, Status::BreachPredicted | Status::Breached)
    }
}

impl Direction {
    /// Whether `value` is on the breach side of `limit` (the limit itself is not a breach).
    pub fn breaches(self, value: f64, limit: f64) -> bool {
        match self {
            Direction::Above => value > limit,
            Direction::Below => value < limit,
        }
    }
}

/// One observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub value: f64,
}

/// What a threshold watches for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Watch {
    pub limit: f64,
    pub direction: Direction,
    pub horizon: Duration,
}

/// A threshold's forecast at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    pub status: Status,
    /// The fitted line's slope, per day (`None` without enough data).
    pub slope_per_day: Option<f64>,
    /// When the line crosses the limit towards the breach side (`None`: never, or not enough
    /// data). May lie in the past when the line crossed before the newest sample.
    pub breach_at: Option<DateTime<Utc>>,
    /// How many samples the fit used.
    pub samples: usize,
    /// The newest sample's value.
    pub last_value: Option<f64>,
}

/// The forecast for `watch` from `samples` (in any order; the caller keeps only the lookback
/// window's) at `now`.
pub fn forecast(samples: &[Sample], watch: Watch, now: DateTime<Utc>) -> Forecast {
    let newest = samples.iter().max_by_key(|s| s.at);
    let oldest = samples.iter().min_by_key(|s| s.at);
    let last_value = newest.map(|s| s.value);
    let enough = matches!((oldest, newest), (Some(o), Some(n)) if n.at - o.at >= MIN_SPAN);
    let (Some(origin), Some(newest), true) =
        (oldest, newest, samples.len() >= MIN_SAMPLES && enough)
    else {
        return Forecast {
            status: Status::InsufficientData,
            slope_per_day: None,
            breach_at: None,
            samples: samples.len(),
            last_value,
        };
    };
    let line = Line::fit(samples, origin.at);
    let breach_at = line.crossing(watch.limit, watch.direction, origin.at);
    let status = if watch.direction.breaches(newest.value, watch.limit) {
        Status::Breached
    } else if breach_at.is_some_and(|at| at <= now + watch.horizon) {
        Status::BreachPredicted
    } else {
        Status::Ok
    };
    Forecast {
        status,
        slope_per_day: Some(line.slope * 86_400.0),
        breach_at,
        samples: samples.len(),
        last_value,
    }
}

/// `value = intercept + slope · seconds since the origin`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Line {
    intercept: f64,
    slope: f64,
}

impl Line {
    /// Ordinary least squares, centred on the means so large offsets lose no precision.
    fn fit(samples: &[Sample], origin: DateTime<Utc>) -> Line {
        let n = samples.len() as f64;
        let x = |s: &Sample| (s.at - origin).num_milliseconds() as f64 / 1000.0;
        let mean_x = samples.iter().map(x).sum::<f64>() / n;
        let mean_y = samples.iter().map(|s| s.value).sum::<f64>() / n;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for s in samples {
            let dx = x(s) - mean_x;
            sxy += dx * (s.value - mean_y);
            sxx += dx * dx;
        }
        // `sxx` is positive: the samples span at least a day.
        let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        Line {
            intercept: mean_y - slope * mean_x,
            slope,
        }
    }

    /// When the line reaches `limit` moving towards the breach side, if it ever does.
    fn crossing(
        self,
        limit: f64,
        direction: Direction,
        origin: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let towards = match direction {
            Direction::Above => self.slope > 0.0,
            Direction::Below => self.slope < 0.0,
        };
        if !towards {
            return None;
        }
        let seconds = (limit - self.intercept) / self.slope;
        // Beyond ~100 years is "never" (and beyond what a timestamp holds).
        if !seconds.is_finite() || seconds.abs() > 100.0 * 365.25 * 86_400.0 {
            return None;
        }
        origin.checked_add_signed(Duration::milliseconds((seconds * 1000.0).round() as i64))
    }
}

/// Whether `name` is a metric name: lower-case letters, digits and `_`, starting with a
/// letter, at most 64 characters (`disk_used_percent`).
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// What a threshold watches, named for people: `disk_used_percent above 90 on ci 0193…`.
#[derive(Debug, Clone, Copy)]
pub struct Watched<'a> {
    pub threshold_id: uuid::Uuid,
    pub target_type: TargetType,
    pub target_id: uuid::Uuid,
    pub metric: &'a str,
    pub watch: Watch,
}

/// The improvement-register signal a breach raises: one open item per threshold.
pub fn signal(w: Watched<'_>, f: &Forecast) -> Signal {
    let verb = match f.status {
        Status::Breached => "has crossed",
        _ => "is forecast to cross",
    };
    let title = format!(
        "Capacity: {} on {} {} {} {} {}",
        w.metric,
        w.target_type.as_str(),
        w.target_id,
        verb,
        w.watch.direction.as_str(),
        w.watch.limit
    );
    let when = f
        .breach_at
        .map_or_else(|| "not dated".to_string(), |at| at.to_rfc3339());
    let description = format!(
        "Threshold {}: {} {} {}. Newest value {}; trend {} per day over {} samples; \
         crossing {}.",
        w.threshold_id,
        w.metric,
        w.watch.direction.as_str(),
        w.watch.limit,
        f.last_value.map_or_else(|| "-".into(), |v| v.to_string()),
        f.slope_per_day
            .map_or_else(|| "-".into(), |v| format!("{v:.3}")),
        f.samples,
        when
    );
    Signal {
        source: "capacity_forecast",
        source_ref: w.threshold_id.to_string(),
        title,
        description,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
    }

    /// `n` samples an hour apart from `t0`, `value(i)`.
    fn hourly(n: usize, value: impl Fn(usize) -> f64) -> Vec<Sample> {
        (0..n)
            .map(|i| Sample {
                at: t0() + Duration::hours(i as i64),
                value: value(i),
            })
            .collect()
    }

    fn disk(limit: f64, horizon_days: i64) -> Watch {
        Watch {
            limit,
            direction: Direction::Above,
            horizon: Duration::days(horizon_days),
        }
    }

    #[test]
    fn a_rising_line_crosses_when_expected() {
        // 50 % rising 1 point an hour: 90 % after 40 hours.
        let s = hourly(30, |i| 50.0 + i as f64);
        let now = t0() + Duration::hours(29);
        let f = forecast(&s, disk(90.0, 30), now);
        assert_eq!(f.status, Status::BreachPredicted);
        assert_eq!(f.breach_at, Some(t0() + Duration::hours(40)));
        assert!((f.slope_per_day.unwrap() - 24.0).abs() < 1e-9);
        assert_eq!(f.last_value, Some(79.0));
    }

    #[test]
    fn a_crossing_beyond_the_horizon_is_ok_but_still_dated() {
        let s = hourly(30, |i| 10.0 + i as f64 / 24.0);
        let f = forecast(&s, disk(90.0, 30), t0() + Duration::hours(29));
        assert_eq!(f.status, Status::Ok);
        assert_eq!(f.breach_at, Some(t0() + Duration::days(80)));
    }

    #[test]
    fn flat_or_receding_lines_never_cross() {
        let flat = forecast(&hourly(30, |_| 42.0), disk(90.0, 30), t0());
        assert_eq!((flat.status, flat.breach_at), (Status::Ok, None));
        assert_eq!(flat.slope_per_day, Some(0.0));
        let falling = forecast(&hourly(30, |i| 80.0 - i as f64), disk(90.0, 30), t0());
        assert_eq!((falling.status, falling.breach_at), (Status::Ok, None));
    }

    #[test]
    fn below_thresholds_watch_the_other_side() {
        let watch = Watch {
            limit: 10.0,
            direction: Direction::Below,
            horizon: Duration::days(30),
        };
        let s = hourly(30, |i| 50.0 - i as f64);
        let f = forecast(&s, watch, t0() + Duration::hours(29));
        assert_eq!(f.breach_at, Some(t0() + Duration::hours(40)));
        assert_eq!(f.status, Status::BreachPredicted);
    }

    #[test]
    fn a_sample_past_the_limit_is_a_breach() {
        let s = hourly(30, |i| if i == 29 { 95.0 } else { 50.0 });
        assert_eq!(forecast(&s, disk(90.0, 30), t0()).status, Status::Breached);
        // The limit itself is not past it.
        let s = hourly(30, |_| 90.0);
        assert_eq!(forecast(&s, disk(90.0, 30), t0()).status, Status::Ok);
    }

    #[test]
    fn too_few_or_too_close_samples_are_insufficient() {
        let nine = forecast(&hourly(9, |i| i as f64 * 10.0), disk(90.0, 30), t0());
        assert_eq!(nine.status, Status::InsufficientData);
        assert_eq!((nine.slope_per_day, nine.breach_at), (None, None));
        // 20 samples within 19 hours: under a day.
        let close = forecast(&hourly(20, |i| i as f64), disk(90.0, 30), t0());
        assert_eq!(close.status, Status::InsufficientData);
        assert_eq!(close.samples, 20);
        let none = forecast(&[], disk(90.0, 30), t0());
        assert_eq!(
            (none.status, none.last_value),
            (Status::InsufficientData, None)
        );
    }

    #[test]
    fn sample_order_does_not_matter() {
        let mut s = hourly(30, |i| 50.0 + i as f64);
        let now = t0() + Duration::hours(29);
        let sorted = forecast(&s, disk(90.0, 30), now);
        s.reverse();
        assert_eq!(forecast(&s, disk(90.0, 30), now), sorted);
    }

    #[test]
    fn metric_names() {
        for ok in ["disk_used_percent", "cpu", "a1_b2"] {
            assert!(is_metric_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Disk",
            "1cpu",
            "disk-used",
            "disk used",
            &"a".repeat(65),
        ] {
            assert!(!is_metric_name(bad), "{bad}");
        }
    }

    proptest! {
        /// Samples exactly on a line give the exact crossing (to the second).
        #[test]
        fn exact_lines_give_exact_breach_times(
            start in -1_000.0f64..1_000.0,
            per_hour in prop_oneof![0.1f64..50.0, -50.0f64..-0.1],
            n in 10usize..200,
            // At least 24 hours between the first and the tenth sample.
            step_minutes in 160i64..600,
            above in any::<bool>(),
            rise in 1.0f64..10_000.0,
        ) {
            let direction = if above { Direction::Above } else { Direction::Below };
            // A limit the line reaches moving towards the breach side, or one behind it.
            let towards = (per_hour > 0.0) == above;
            let limit = if above { start + rise } else { start - rise };
            let s: Vec<Sample> = (0..n)
                .map(|i| {
                    let minutes = i as i64 * step_minutes;
                    Sample {
                        at: t0() + Duration::minutes(minutes),
                        value: start + per_hour * minutes as f64 / 60.0,
                    }
                })
                .collect();
            let f = forecast(&s, Watch { limit, direction, horizon: Duration::days(30) }, t0());
            if towards {
                let hours = (limit - start) / per_hour;
                let exact = t0() + Duration::milliseconds((hours * 3_600_000.0).round() as i64);
                let got = f.breach_at.unwrap();
                prop_assert!((got - exact).num_milliseconds().abs() <= 1_000, "{got} vs {exact}");
            } else {
                prop_assert_eq!(f.breach_at, None);
            }
        }

        /// Constant samples never cross, whatever the limit.
        #[test]
        fn flat_lines_give_no_breach_time(
            value in -1e6f64..1e6,
            limit in -1e6f64..1e6,
            n in 10usize..100,
            above in any::<bool>(),
        ) {
            let direction = if above { Direction::Above } else { Direction::Below };
            let s = hourly(n.max(25), |_| value);
            let f = forecast(&s, Watch { limit, direction, horizon: Duration::days(30) }, t0());
            prop_assert_eq!(f.breach_at, None);
            prop_assert_ne!(f.status, Status::BreachPredicted);
        }
    }
}
