//! Identification and reconciliation, free of I/O: which stored CI a CI's values name (its
//! class tree's identification rules, values trimmed and case-folded), and which source may
//! set an attribute (reconciliation rules: a lower source never overwrites a higher one's
//! fresh value).
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use uuid::Uuid;

/// The rule a CI falls back to when it satisfies none of its class's.
pub const NAME_RULE: &str = "name";

/// One identification rule a CI satisfies: the rule's attributes joined by `+` and their
/// normalised values joined by a unit separator.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdentityKey {
    pub rule: String,
    pub value: String,
}

/// A value as identification compares it: text trimmed and case-folded, numbers and booleans
/// as written; empty text and anything else identify nothing.
pub fn normalise(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim().to_lowercase(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

fn name_key(name: &str) -> Option<IdentityKey> {
    normalise(&Value::String(name.into())).map(|value| IdentityKey {
        rule: NAME_RULE.into(),
        value,
    })
}

/// The keys `rules` give a CI with `name` and `attributes`, in the rules' order (a rule
/// counts when every attribute it names has a value). Stored, they make the CI unique: when
/// it satisfies no rule, its name is its identity.
pub fn stored_keys(rules: &[Vec<String>], name: &str, attributes: &Value) -> Vec<IdentityKey> {
    let keys: Vec<IdentityKey> = rules
        .iter()
        .filter_map(|rule| {
            let values: Option<Vec<String>> = rule
                .iter()
                .map(|a| attributes.get(a).and_then(normalise))
                .collect();
            Some(IdentityKey {
                rule: rule.join("+"),
                value: values?.join("\u{1f}"),
            })
        })
        .collect();
    if keys.is_empty() {
        name_key(name).into_iter().collect()
    } else {
        keys
    }
}

/// The keys an incoming CI is looked up by: its stored keys, then its name, so a row that now
/// carries a serial number still finds the CI recorded by name alone.
pub fn lookup_keys(rules: &[Vec<String>], name: &str, attributes: &Value) -> Vec<IdentityKey> {
    let mut keys = stored_keys(rules, name, attributes);
    if let Some(by_name) = name_key(name)
        && !keys.contains(&by_name)
    {
        keys.push(by_name);
    }
    keys
}

/// Two keys of one CI named different stored CIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguous {
    /// The rule of the second match.
    pub rule: String,
}

/// The stored CI `keys` (in order) name, given what each key `found`: none, one, or
/// ambiguous when two keys lead to different CIs.
pub fn identify(
    keys: &[IdentityKey],
    found: &BTreeMap<IdentityKey, Uuid>,
) -> Result<Option<Uuid>, Ambiguous> {
    let mut matched: Option<Uuid> = None;
    for key in keys {
        match (found.get(key), matched) {
            (Some(id), Some(m)) if *id != m => {
                return Err(Ambiguous {
                    rule: key.rule.clone(),
                });
            }
            (Some(id), None) => matched = Some(*id),
            _ => {}
        }
    }
    Ok(matched)
}

/// Which sources may set an attribute, highest first, and after how long a value no longer
/// holds a lower source back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconRule {
    /// The class it was written for; it covers subclasses.
    pub class: String,
    /// An attribute, or `*` for the class's attributes without a rule of their own.
    pub attribute: String,
    pub precedence: Vec<String>,
    pub stale_after_days: Option<u32>,
}

/// The rule governing `attribute` of a CI at `class_path`: one naming the attribute before a
/// `*` one, and the most specific class first.
pub fn governing<'a>(
    rules: &'a [ReconRule],
    class_path: &str,
    attribute: &str,
) -> Option<&'a ReconRule> {
    let depth = |class: &str| class_path.split('/').position(|s| s == class);
    rules
        .iter()
        .filter(|r| r.attribute == attribute || r.attribute == "*")
        .filter_map(|r| depth(&r.class).map(|d| (r, d)))
        .max_by_key(|(r, d)| (r.attribute == attribute, *d))
        .map(|(r, _)| r)
}

/// Who set a value, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetBy {
    pub source: String,
    pub at: DateTime<Utc>,
}

/// Whether `incoming` may set a value `current` set, under `rule`: no rule, no current
/// value or the same source may; otherwise a source ranked at least as high (unlisted ones
/// rank lowest), or any source once the current value is stale.
pub fn may_set(
    rule: Option<&ReconRule>,
    current: Option<&SetBy>,
    incoming: &str,
    now: DateTime<Utc>,
) -> bool {
    let (Some(rule), Some(current)) = (rule, current) else {
        return true;
    };
    if current.source == incoming {
        return true;
    }
    let rank = |s: &str| {
        rule.precedence
            .iter()
            .position(|p| p == s)
            .unwrap_or(usize::MAX)
    };
    if rank(incoming) <= rank(&current.source) {
        return true;
    }
    rule.stale_after_days
        .is_some_and(|days| now - current.at > Duration::days(i64::from(days)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn server_rules() -> Vec<Vec<String>> {
        vec![vec!["serial_number".into()], vec!["hostname".into()]]
    }

    #[test]
    fn values_are_trimmed_and_case_folded() {
        let keys = stored_keys(
            &server_rules(),
            "web-01",
            &json!({"hostname": "  Web-01.Example "}),
        );
        assert_eq!(
            keys,
            [IdentityKey {
                rule: "hostname".into(),
                value: "web-01.example".into()
            }]
        );
    }

    #[test]
    fn a_ci_satisfying_no_rule_is_identified_by_name() {
        let keys = stored_keys(&server_rules(), " Web-01", &json!({"cpu_count": 2}));
        assert_eq!(keys[0].rule, NAME_RULE);
        assert_eq!(keys[0].value, "web-01");
        let lookup = lookup_keys(&server_rules(), "web-01", &json!({"serial_number": "S1"}));
        assert_eq!(lookup.len(), 2);
        assert_eq!(lookup[1].rule, NAME_RULE);
    }

    #[test]
    fn two_rules_naming_different_cis_are_ambiguous() {
        let keys = lookup_keys(
            &server_rules(),
            "x",
            &json!({"serial_number": "S1", "hostname": "h"}),
        );
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut found = BTreeMap::new();
        found.insert(keys[0].clone(), a);
        assert_eq!(identify(&keys, &found), Ok(Some(a)));
        found.insert(keys[1].clone(), a);
        assert_eq!(identify(&keys, &found), Ok(Some(a)));
        found.insert(keys[1].clone(), b);
        assert_eq!(
            identify(&keys, &found),
            Err(Ambiguous {
                rule: "hostname".into()
            })
        );
    }

    #[test]
    fn a_lower_source_waits_until_the_higher_value_is_stale() {
        let rule = ReconRule {
            class: "server".into(),
            attribute: "cpu_count".into(),
            precedence: vec!["sccm".into(), "discovery".into()],
            stale_after_days: Some(7),
        };
        let now = Utc::now();
        let fresh = SetBy {
            source: "sccm".into(),
            at: now - Duration::days(1),
        };
        let stale = SetBy {
            source: "sccm".into(),
            at: now - Duration::days(8),
        };
        assert!(!may_set(Some(&rule), Some(&fresh), "discovery", now));
        assert!(!may_set(Some(&rule), Some(&fresh), "spreadsheet", now));
        assert!(may_set(Some(&rule), Some(&stale), "discovery", now));
        assert!(may_set(Some(&rule), Some(&fresh), "sccm", now));
        let low = SetBy {
            source: "discovery".into(),
            at: now,
        };
        assert!(may_set(Some(&rule), Some(&low), "sccm", now));
        assert!(may_set(None, Some(&fresh), "discovery", now));
    }

    #[test]
    fn the_most_specific_rule_governs() {
        let rule = |class: &str, attribute: &str| ReconRule {
            class: class.into(),
            attribute: attribute.into(),
            precedence: vec![],
            stale_after_days: None,
        };
        let rules = vec![
            rule("server", "*"),
            rule("server", "cpu_count"),
            rule("linux_server", "*"),
        ];
        let path = "server/linux_server";
        assert_eq!(governing(&rules, path, "cpu_count"), Some(&rules[1]));
        assert_eq!(governing(&rules, path, "kernel"), Some(&rules[2]));
        assert_eq!(governing(&rules, "server", "kernel"), Some(&rules[0]));
        assert_eq!(governing(&rules, "database", "kernel"), None);
    }
}
