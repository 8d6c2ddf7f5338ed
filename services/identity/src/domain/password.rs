//! Password policy and argon2id hashing (argon2 0.6 defaults: m=19456 KiB, t=2, p=1). Every
//! secret identity keeps (user passwords and API client secrets) is hashed here.
use argon2::{Argon2, PasswordHasher, PasswordVerifier, password_hash::phc::PasswordHash};
use platform::{ApiError, FieldError};

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 256;

/// NIST SP 800-63B style: length matters, composition rules do not. `min_len` is the
/// tenant's `password_min_length` setting (never below [`MIN_LEN`]).
pub fn check_policy(pointer: &str, password: &str, min_len: usize) -> Result<(), FieldError> {
    let n = password.chars().count();
    let min_len = min_len.max(MIN_LEN);
    if n < min_len {
        return Err(FieldError::new(
            pointer,
            "too_short",
            format!("must be at least {min_len} characters"),
        ));
    }
    if n > MAX_LEN {
        return Err(FieldError::new(
            pointer,
            "too_long",
            format!("must be at most {MAX_LEN} characters"),
        ));
    }
    Ok(())
}

/// Hashes with argon2id and a fresh salt. CPU-heavy: call from `spawn_blocking`.
pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Verifies against a PHC string. CPU-heavy: call from `spawn_blocking`.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// [`hash`] on the blocking pool, so a request handler never stalls the async runtime.
pub async fn spawn_hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// [`verify`] on the blocking pool. Without a stored hash (unknown email, no password yet) it
/// checks against [`decoy_hash`], so the answer takes as long as a real check and is `false`.
pub async fn spawn_verify(password: String, phc: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let phc = phc.unwrap_or_else(|| decoy_hash().to_string());
        verify(&password, &phc)
    })
    .await
    .map_err(ApiError::internal)
}

/// A hash of nothing anyone knows, verified against when the email is unknown so that a
/// failed login costs the same time either way (no user-enumeration oracle).
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password that never matches").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_and_is_argon2id() {
        let h = hash("correct horse battery").unwrap_or_default();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong horse battery", &h));
        assert!(!verify("x", "not a phc string"));
    }

    #[tokio::test]
    async fn spawned_checks_match_and_a_missing_hash_never_does() {
        let h = spawn_hash("correct horse battery".into())
            .await
            .unwrap_or_default();
        let verified = |password: &str, phc: Option<String>| spawn_verify(password.into(), phc);
        assert!(matches!(
            verified("correct horse battery", Some(h.clone())).await,
            Ok(true)
        ));
        assert!(matches!(
            verified("wrong horse battery", Some(h)).await,
            Ok(false)
        ));
        assert!(matches!(verified("", None).await, Ok(false)));
    }

    #[test]
    fn policy_counts_characters() {
        assert!(check_policy("/p", "short", MIN_LEN).is_err());
        assert!(check_policy("/p", "twelve chars", MIN_LEN).is_ok());
        assert!(check_policy("/p", "twelve chars", 16).is_err());
        assert!(check_policy("/p", "twelve chars", 4).is_ok());
        assert!(check_policy("/p", &"x".repeat(257), MIN_LEN).is_err());
    }
}
