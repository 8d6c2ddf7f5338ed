//! Login back-off: after `FREE_ATTEMPTS` consecutive failures an account is locked for a period
//! that doubles with each further failure, up to `MAX_LOCK`. A success resets the count.
use std::time::Duration;

pub const FREE_ATTEMPTS: u32 = 5;
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);

/// How long to lock the account after its `failures`-th consecutive failure.
pub fn lock_after(failures: u32) -> Option<Duration> {
    if failures < FREE_ATTEMPTS {
        return None;
    }
    let exp = (failures - FREE_ATTEMPTS).min(20);
    Some(Duration::from_secs(1u64 << exp).min(MAX_LOCK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_then_caps() {
        assert_eq!(lock_after(4), None);
        assert_eq!(lock_after(5), Some(Duration::from_secs(1)));
        assert_eq!(lock_after(6), Some(Duration::from_secs(2)));
        assert_eq!(lock_after(10), Some(Duration::from_secs(32)));
        assert_eq!(lock_after(40), Some(MAX_LOCK));
    }
}
