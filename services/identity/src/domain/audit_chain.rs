//! The per-tenant audit hash chain: each record's hash covers its content and the previous
//! record's hash, so altering, removing or reordering any record breaks every later link.
use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The `prev_hash` of a tenant's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed content of one record.
pub struct Link<'a> {
    pub tenant_id: Uuid,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<Uuid>,
    pub data: &'a serde_json::Value,
    pub prev_hash: &'a str,
}

impl Link<'_> {
    /// SHA-256 over a canonical, unambiguous rendering (JSON keys sorted, times in µs).
    pub fn hash(&self) -> String {
        let canonical = serde_json::json!([
            self.tenant_id,
            self.seq,
            self.at.to_rfc3339_opts(SecondsFormat::Micros, true),
            self.actor_id,
            self.action,
            self.target_type,
            self.target_id,
            self.data,
            self.prev_hash,
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// Why a stored chain is not intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The record's content does not match its hash.
    Tampered,
    /// The record does not point at its predecessor's hash.
    Unlinked,
    /// A sequence number is missing or repeated.
    Gap,
}

impl Break {
    pub fn as_str(&self) -> &'static str {
        match self {
            Break::Tampered => "hash_mismatch",
            Break::Unlinked => "prev_hash_mismatch",
            Break::Gap => "sequence_gap",
        }
    }
}

/// Checks one stored record against the previous one (`None` for the first).
pub fn check(link: &Link<'_>, stored_hash: &str, prev: Option<(i64, &str)>) -> Result<(), Break> {
    let (expected_seq, expected_prev) = match prev {
        None => (1, GENESIS),
        Some((seq, hash)) => (seq + 1, hash),
    };
    if link.seq != expected_seq {
        return Err(Break::Gap);
    }
    if link.prev_hash != expected_prev {
        return Err(Break::Unlinked);
    }
    if link.hash() != stored_hash {
        return Err(Break::Tampered);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link<'a>(seq: i64, data: &'a serde_json::Value, prev: &'a str) -> Link<'a> {
        Link {
            tenant_id: Uuid::nil(),
            seq,
            at: DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap_or_default(),
            actor_id: None,
            action: "user.invited",
            target_type: "user",
            target_id: None,
            data,
            prev_hash: prev,
        }
    }

    #[test]
    fn chain_detects_tampering_and_unlinking() {
        let d = serde_json::json!({"email": "a@b.co"});
        let first = link(1, &d, GENESIS);
        let h1 = first.hash();
        assert_eq!(check(&first, &h1, None), Ok(()));
        let second = link(2, &d, &h1);
        let h2 = second.hash();
        assert_eq!(check(&second, &h2, Some((1, &h1))), Ok(()));

        let forged = serde_json::json!({"email": "x@b.co"});
        assert_eq!(
            check(&link(2, &forged, &h1), &h2, Some((1, &h1))),
            Err(Break::Tampered)
        );
        assert_eq!(
            check(&link(2, &d, GENESIS), &h2, Some((1, &h1))),
            Err(Break::Unlinked)
        );
        assert_eq!(
            check(&link(3, &d, &h1), &h2, Some((1, &h1))),
            Err(Break::Gap)
        );
    }
}
