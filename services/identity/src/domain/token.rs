//! Opaque secrets (refresh tokens, invitations, reset tokens, client secrets): 256 random bits,
//! shown once, stored only as a SHA-256 hash.
use chrono::Duration;

pub use platform::secret::{digest, generate};

/// An invitation is valid this long.
pub const INVITATION_TTL: Duration = Duration::days(7);
/// A password-reset token is valid this long.
pub const RESET_TTL: Duration = Duration::hours(1);
