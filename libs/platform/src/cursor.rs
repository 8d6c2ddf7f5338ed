//! The opaque cursor a page ends with: the base64url-encoded last id of the page, or for a
//! list sorted otherwise, the sort's name, the last row's sort key and its id ([`Position`]).
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::json;
use uuid::Uuid;

/// Where a page of a sorted list starts: after the row with this sort key (as the list writes
/// it) and id. Lists in id order need no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub key: Option<String>,
    pub id: Uuid,
}

impl Position {
    /// The cursor of a page that ends at this position of the list sorted by `sort`: the
    /// sort's name travels with it, so a cursor is never read under another order.
    pub fn encode(&self, sort: &str) -> String {
        match &self.key {
            None => encode_cursor(self.id),
            Some(key) => URL_SAFE_NO_PAD.encode(json!([sort, key, self.id]).to_string()),
        }
    }

    pub(crate) fn decode(cursor: &str, sort: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        if bytes.len() == 16 {
            return Some(Position {
                key: None,
                id: Uuid::from_slice(&bytes).ok()?,
            });
        }
        let (name, key, id): (String, String, Uuid) = serde_json::from_slice(&bytes).ok()?;
        (name == sort).then_some(Position { key: Some(key), id })
    }
}

pub(crate) fn decode_cursor(c: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(c).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// The cursor of a page in id order that ends at `id`.
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sorted_cursor_names_its_sort() {
        let at = Position {
            key: Some("2026-12-05T07:00:00.123456Z".into()),
            id: Uuid::now_v7(),
        };
        let cursor = at.encode("sla_due");
        assert_eq!(Position::decode(&cursor, "sla_due"), Some(at));
        assert_eq!(Position::decode(&cursor, "priority"), None);
        let id = Uuid::now_v7();
        assert_eq!(
            Position::decode(&encode_cursor(id), "created_at"),
            Some(Position { key: None, id })
        );
    }
}
