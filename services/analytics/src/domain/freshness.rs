//! How far behind the events a projection is.
use chrono::{DateTime, Utc};

/// A projection's freshness: the time of the newest event it holds and the 99th percentile of
/// the delay from an event's time to its being applied, over the events given.
#[derive(Debug, Clone, PartialEq)]
pub struct Freshness {
    pub last_event_time: Option<DateTime<Utc>>,
    pub lag_p99_seconds: Option<f64>,
}

/// `kept`: (event time, applied at) of recent events, any order.
pub fn of(kept: &[(DateTime<Utc>, DateTime<Utc>)]) -> Freshness {
    let mut lags: Vec<f64> = kept
        .iter()
        .map(|(time, applied)| ((*applied - *time).num_milliseconds().max(0) as f64) / 1000.0)
        .collect();
    lags.sort_by(f64::total_cmp);
    Freshness {
        last_event_time: kept.iter().map(|(time, _)| *time).max(),
        lag_p99_seconds: nearest_rank(&lags, 0.99),
    }
}

/// The nearest-rank `q` quantile of `sorted` (ascending); `None` when empty.
fn nearest_rank(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn nothing_kept_has_no_figures() {
        assert_eq!(
            of(&[]),
            Freshness {
                last_event_time: None,
                lag_p99_seconds: None
            }
        );
    }

    #[test]
    fn the_p99_is_the_nearest_rank_and_the_newest_time_wins() {
        // 100 events: lags 1..=100 s; the 99th percentile by nearest rank is 99 s.
        let kept: Vec<_> = (1..=100).map(|i| (at(i), at(2 * i))).collect();
        let f = of(&kept);
        assert_eq!(f.lag_p99_seconds, Some(99.0));
        assert_eq!(f.last_event_time, Some(at(100)));
        // An event applied "before" its time (clock skew) counts as no delay.
        assert_eq!(of(&[(at(10), at(5))]).lag_p99_seconds, Some(0.0));
    }
}
