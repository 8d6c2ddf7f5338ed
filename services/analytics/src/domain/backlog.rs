//! The backlog: open incidents by age, from the hour each was created.
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Buckets {
    pub under_1d: i64,
    #[serde(rename = "1d_to_3d")]
    pub d1_to_3d: i64,
    #[serde(rename = "3d_to_7d")]
    pub d3_to_7d: i64,
    #[serde(rename = "7d_to_30d")]
    pub d7_to_30d: i64,
    pub over_30d: i64,
}

impl Buckets {
    /// Adds `open` incidents created in the hour starting `hour`, aged at `now`.
    pub fn add(&mut self, hour: DateTime<Utc>, open: i64, now: DateTime<Utc>) {
        let hours = (now - hour).num_hours();
        let bucket = match hours {
            h if h < 24 => &mut self.under_1d,
            h if h < 72 => &mut self.d1_to_3d,
            h if h < 168 => &mut self.d3_to_7d,
            h if h < 720 => &mut self.d7_to_30d,
            _ => &mut self.over_30d,
        };
        *bucket += open;
    }

    /// Each bucket's name (as serialized) and count, youngest first.
    pub fn as_pairs(&self) -> [(&'static str, i64); 5] {
        [
            ("under_1d", self.under_1d),
            ("1d_to_3d", self.d1_to_3d),
            ("3d_to_7d", self.d3_to_7d),
            ("7d_to_30d", self.d7_to_30d),
            ("over_30d", self.over_30d),
        ]
    }

    pub fn total(&self) -> i64 {
        self.under_1d + self.d1_to_3d + self.d3_to_7d + self.d7_to_30d + self.over_30d
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn ages_fall_in_their_buckets() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let ago = |h| now - Duration::hours(h);
        let mut b = Buckets::default();
        b.add(ago(0), 1, now);
        b.add(ago(23), 2, now);
        b.add(ago(24), 3, now);
        b.add(ago(71), 1, now);
        b.add(ago(100), 4, now);
        b.add(ago(200), 5, now);
        b.add(ago(720), 6, now);
        assert_eq!(
            b,
            Buckets {
                under_1d: 3,
                d1_to_3d: 4,
                d3_to_7d: 4,
                d7_to_30d: 5,
                over_30d: 6
            }
        );
        assert_eq!(b.total(), 22);
    }
}
