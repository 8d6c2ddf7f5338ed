//! When and where the incidents happen: tenants by a Zipf law, creation times over the last
//! months weighted towards office hours, numbers per tenant in creation order.
use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};

use super::rng::Rng;

/// How far back incidents are created.
const HISTORY_DAYS: i64 = 180;

/// One planned incident: its tenant (index), creation time (µs since the epoch) and number.
#[derive(Clone, Copy)]
pub(super) struct Planned {
    pub(super) tenant: u32,
    pub(super) at: i64,
    pub(super) number: i64,
}

/// Chooses each incident's tenant (Zipf, exponent 1: `load-0001` largest) and creation time,
/// and numbers each tenant's incidents from 0 in creation order.
pub(super) fn plan(rng: &mut Rng, tenants: usize, count: u64, now: DateTime<Utc>) -> Vec<Planned> {
    let mut cdf = Vec::with_capacity(tenants);
    let mut total = 0.0;
    for rank in 1..=tenants {
        total += 1.0 / rank as f64;
        cdf.push(total);
    }
    let end = now.timestamp_micros();
    let span = HISTORY_DAYS * 86_400 * 1_000_000;
    let mut plan: Vec<Planned> = (0..count)
        .map(|_| {
            let x = rng.f64() * total;
            let tenant = cdf.partition_point(|c| *c < x).min(tenants - 1) as u32;
            Planned {
                tenant,
                at: created_at(rng, end, span),
                number: 0,
            }
        })
        .collect();
    plan.sort_unstable_by_key(|p| (p.tenant, p.at));
    let mut last = u32::MAX;
    let mut n = 0;
    for p in plan.iter_mut() {
        if p.tenant != last {
            last = p.tenant;
            n = 0;
        }
        p.number = n;
        n += 1;
    }
    plan
}

/// A creation time in the last [`HISTORY_DAYS`], weighted towards weekdays and office hours.
fn created_at(rng: &mut Rng, end: i64, span: i64) -> i64 {
    loop {
        let at = end - (rng.f64() * span as f64) as i64;
        let Some(t) = Utc.timestamp_micros(at).single() else {
            continue;
        };
        let weekend = t.weekday().num_days_from_monday() >= 5;
        let hour_weight = match t.hour() {
            8..=17 => 1.0,
            6..=7 | 18..=20 => 0.45,
            _ => 0.12,
        };
        let weight = hour_weight * if weekend { 0.3 } else { 1.0 };
        if rng.f64() < weight {
            return at;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn plan_numbers_each_tenant_in_creation_order_and_skews_towards_the_first() {
        let mut rng = Rng(42);
        let now = Utc::now();
        let plan = plan(&mut rng, 50, 20_000, now);
        assert_eq!(plan.len(), 20_000);
        let mut by_tenant: HashMap<u32, Vec<(i64, i64)>> = HashMap::new();
        for p in &plan {
            by_tenant
                .entry(p.tenant)
                .or_default()
                .push((p.at, p.number));
            assert!(p.at <= now.timestamp_micros());
            assert!(p.at >= now.timestamp_micros() - HISTORY_DAYS * 86_400_000_000);
        }
        for rows in by_tenant.values_mut() {
            rows.sort();
            for (k, (_, n)) in rows.iter().enumerate() {
                assert_eq!(*n, k as i64);
            }
        }
        let first = by_tenant.get(&0).map(Vec::len).unwrap_or(0);
        let last = by_tenant.get(&49).map(Vec::len).unwrap_or(0);
        assert!(first > 10 * last, "first {first}, last {last}");
    }
}
