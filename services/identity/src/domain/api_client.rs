//! An API client as a request describes one: a name and the scopes it may ask tokens for.
use platform::{FieldError, auth::ALL_SCOPES, validate::Validator};

/// An API client to create: every value already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiClient {
    /// Trimmed, 1–200 characters.
    pub name: String,
    /// At least one scope, each a scope that exists, each once, sorted.
    pub scopes: Vec<String>,
}

/// Parses a request's `/scopes`: empty is `required` at `/scopes`, a name that is no scope is
/// `unknown_scope` at `/scopes/<index>`, both recorded in `v`. The rest are kept, each once,
/// sorted.
pub fn parse_scopes(names: &[String], v: &mut Validator) -> Vec<String> {
    if names.is_empty() {
        v.push(FieldError::new(
            "/scopes",
            "required",
            "grant at least one scope",
        ));
    }
    let mut scopes = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if !ALL_SCOPES.contains(&name.as_str()) {
            v.push(FieldError::new(
                format!("/scopes/{i}"),
                "unknown_scope",
                format!("no scope named {name:?}"),
            ));
        } else if !scopes.contains(name) {
            scopes.push(name.clone());
        }
    }
    scopes.sort();
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(v: Validator) -> Vec<(String, String)> {
        let errors = v.finish_with(None::<()>).err().unwrap_or_default();
        errors.into_iter().map(|e| (e.pointer, e.code)).collect()
    }

    #[test]
    fn scopes_parse_into_a_sorted_set_and_unknown_ones_are_reported_by_index() {
        let mut v = Validator::new();
        let names = [
            "incident:write",
            "nope:nope",
            "incident:read",
            "incident:write",
        ];
        let scopes = parse_scopes(&names.map(String::from), &mut v);
        assert_eq!(scopes, vec!["incident:read", "incident:write"]);
        assert_eq!(codes(v), vec![("/scopes/1".into(), "unknown_scope".into())]);
    }

    #[test]
    fn no_scope_at_all_is_required() {
        let mut v = Validator::new();
        assert!(parse_scopes(&[], &mut v).is_empty());
        assert_eq!(codes(v), vec![("/scopes".into(), "required".into())]);
    }
}
