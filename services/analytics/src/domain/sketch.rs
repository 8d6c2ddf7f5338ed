//! Mergeable log-bucket histograms of durations (the DDSketch mapping): a value `x > 0` falls
//! in bucket `ceil(log_γ x)` with `γ = (1 + α) / (1 - α)`, and a bucket's estimate
//! `2γⁱ / (γ + 1)` is within `α` of every value in it. Histograms of days and tenants merge by
//! adding counts, and a sample is withdrawn by subtracting one from its bucket, so figures never
//! need the samples themselves.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The relative error bound; a little under the 1 % promised, to leave room for rounding.
pub const RELATIVE_ERROR: f64 = 0.0099;

/// The bucket a zero (or negative, clock skew) duration is counted in; its estimate is 0.
pub const ZERO_BUCKET: i32 = i32::MIN;

fn gamma() -> f64 {
    (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR)
}

/// The bucket of `seconds`.
pub fn bucket_of(seconds: f64) -> i32 {
    if seconds.is_nan() || seconds <= 0.0 {
        return ZERO_BUCKET;
    }
    (seconds.ln() / gamma().ln()).ceil() as i32
}

/// The value a bucket stands for.
pub fn estimate(bucket: i32) -> f64 {
    if bucket == ZERO_BUCKET {
        return 0.0;
    }
    let g = gamma();
    2.0 * g.powi(bucket) / (g + 1.0)
}

/// Counts per bucket (none zero), stored as a JSON object of bucket → count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sketch {
    counts: BTreeMap<i32, i64>,
}

impl Sketch {
    pub fn add_bucket(&mut self, bucket: i32, count: i64) {
        let c = self.counts.entry(bucket).or_default();
        *c += count;
        if *c == 0 {
            self.counts.remove(&bucket);
        }
    }

    pub fn add(&mut self, seconds: f64) {
        self.add_bucket(bucket_of(seconds), 1);
    }

    pub fn merge(&mut self, other: &Sketch) {
        for (b, c) in &other.counts {
            self.add_bucket(*b, *c);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// How many samples it holds (withdrawn ones no longer count).
    pub fn n(&self) -> i64 {
        self.counts.values().filter(|c| **c > 0).sum()
    }

    /// The nearest-rank `q` quantile (0 < q ≤ 1); `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.n();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as i64).clamp(1, n);
        let mut seen = 0;
        for (b, c) in self.counts.iter().filter(|(_, c)| **c > 0) {
            seen += c;
            if seen >= rank {
                return Some(estimate(*b));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn exact(values: &mut [f64], q: f64) -> f64 {
        values.sort_by(f64::total_cmp);
        let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
        values[rank - 1]
    }

    proptest! {
        /// Every quantile is within 1 % of the exact nearest-rank quantile, for durations from
        /// a millisecond to three years.
        #[test]
        fn quantiles_are_within_one_percent(
            values in prop::collection::vec(
                prop_oneof![Just(0.0), 0.001f64..1e8], 1..400),
            q in 0.01f64..=1.0,
        ) {
            let mut sketch = Sketch::default();
            for v in &values {
                sketch.add(*v);
            }
            let mut sorted = values.clone();
            let truth = exact(&mut sorted, q);
            let got = sketch.quantile(q).unwrap_or(f64::NAN);
            prop_assert!((got - truth).abs() <= 0.01 * truth, "q {q}: {got} vs {truth}");
            prop_assert_eq!(sketch.n(), values.len() as i64);
        }

        /// Splitting the samples and merging the halves gives the same histogram; withdrawing
        /// a sample gives the histogram without it.
        #[test]
        fn merging_and_withdrawing_are_exact(
            values in prop::collection::vec(0.001f64..1e7, 2..100),
            split in 0usize..100,
        ) {
            let split = split % values.len();
            let (mut whole, mut left, mut right) = (Sketch::default(), Sketch::default(), Sketch::default());
            for (i, v) in values.iter().enumerate() {
                whole.add(*v);
                if i < split { left.add(*v) } else { right.add(*v) }
            }
            left.merge(&right);
            prop_assert_eq!(&left, &whole);
            let mut without_first = Sketch::default();
            for v in &values[1..] {
                without_first.add(*v);
            }
            whole.add_bucket(bucket_of(values[0]), -1);
            prop_assert_eq!(whole, without_first);
        }
    }

    #[test]
    fn an_empty_sketch_has_no_quantiles() {
        assert_eq!(Sketch::default().quantile(0.5), None);
        assert_eq!(Sketch::default().n(), 0);
    }
}
