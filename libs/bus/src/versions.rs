//! Aggregate versions in projections. A producer's version is the aggregate's `updated_at` in
//! microseconds since the epoch (`outbox::version_of`), so a real version is never far ahead
//! of any clock. Projections keep the newest version they applied and ignore older events; the
//! rules here stop one event from pinning a row so that the producer's later events are ignored
//! (ADR 19):
//!
//! - an event whose version is more than [`MAX_LEAD`] ahead of this consumer's clock is refused
//!   (dead-lettered, replayable once the clocks agree);
//! - a stored version that far ahead (written before the rule existed) outranks nothing.
use std::time::Duration;

use events::Envelope;

use crate::HandlerError;

/// How far ahead of the consumer's clock a version may be (clock skew between services).
pub const MAX_LEAD: Duration = Duration::from_secs(300);

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn lead_micros() -> i64 {
    MAX_LEAD.as_micros() as i64
}

/// Refuses an event whose version lies more than [`MAX_LEAD`] in this consumer's future.
pub fn check_lead(env: &Envelope) -> Result<(), HandlerError> {
    let limit = now_micros().saturating_add(lead_micros());
    if env.aggregateversion > limit {
        return Err(HandlerError::Invalid(format!(
            "aggregate version {} of {} is more than {} s ahead of this consumer's clock",
            env.aggregateversion,
            env.event_type,
            MAX_LEAD.as_secs()
        )));
    }
    Ok(())
}

/// Whether an event at `incoming` replaces what a projection stored at `stored`: it is newer,
/// or the stored version is one no real event can have (beyond the lead).
pub fn supersedes(stored: i64, incoming: i64) -> bool {
    incoming > stored || stored > now_micros().saturating_add(lead_micros())
}

/// Whether a stored version lies in this consumer's future (a suspension outranks it).
pub fn is_ahead_of_clock(stored: i64) -> bool {
    stored > now_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_versions_supersede_and_a_version_beyond_the_lead_never_blocks() {
        let now = now_micros();
        assert!(supersedes(now - 10, now));
        assert!(!supersedes(now, now - 10));
        assert!(!supersedes(now, now));
        assert!(supersedes(i64::MAX, now));
        assert!(supersedes(now + lead_micros() + 60_000_000, now - 10));
        assert!(!supersedes(now + 60_000_000, now));
        assert!(is_ahead_of_clock(now + 60_000_000));
        assert!(!is_ahead_of_clock(now - 1));
    }
}
