//! Per-tenant settings inherited down the tenant tree. The catalogue below is the only set of
//! keys a tenant may override; each value is validated, and the effective value of a key names
//! the tenant it came from (or `null` for the platform default).
use std::collections::HashMap;

use platform::FieldError;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

pub struct Definition {
    pub key: &'static str,
    pub description: &'static str,
    pub default: fn() -> Value,
    pub validate: fn(&Value) -> Result<(), &'static str>,
}

fn string_matching(v: &Value, max: usize, ok: fn(&str) -> bool) -> Result<(), &'static str> {
    match v.as_str() {
        Some(s) if s.len() <= max && ok(s) => Ok(()),
        _ => Err("invalid value"),
    }
}

fn int_between(v: &Value, lo: i64, hi: i64) -> Result<(), &'static str> {
    match v.as_i64() {
        Some(n) if (lo..=hi).contains(&n) => Ok(()),
        _ => Err("out of range"),
    }
}

pub const CATALOGUE: &[Definition] = &[
    Definition {
        key: "time_zone",
        description: "IANA time zone for business hours and reports",
        default: || json!("UTC"),
        validate: |v| {
            string_matching(v, 64, |s| {
                s == "UTC"
                    || (s.contains('/')
                        && s.split('/').all(|p| {
                            !p.is_empty()
                                && p.chars()
                                    .all(|c| c.is_ascii_alphanumeric() || "_-+".contains(c))
                        }))
            })
        },
    },
    Definition {
        key: "locale",
        description: "BCP 47 language tag for the portal and notifications",
        default: || json!("en"),
        validate: |v| {
            string_matching(v, 16, |s| {
                let mut parts = s.split('-');
                parts.next().is_some_and(|l| {
                    (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_lowercase())
                }) && parts.all(|p| {
                    (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric())
                })
            })
        },
    },
    Definition {
        key: "branding_name",
        description: "Name shown in the portal header (null: the tenant's name)",
        default: || Value::Null,
        validate: |v| {
            string_matching(v, 100, |s| {
                !s.trim().is_empty() && !s.chars().any(char::is_control)
            })
        },
    },
    Definition {
        key: "branding_primary_color",
        description: "Portal accent colour as #RRGGBB",
        default: || json!("#1f6feb"),
        validate: |v| {
            string_matching(v, 7, |s| {
                s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit())
            })
        },
    },
    Definition {
        key: platform::ratelimit::TENANT_LIMIT_SETTING,
        description: "Requests per minute the tenant's users and API clients share (60-1000000; \
                      null: the platform default)",
        default: || Value::Null,
        validate: |v| int_between(v, 60, 1_000_000),
    },
    Definition {
        key: "password_min_length",
        description: "Minimum password length for the tenant's users (12-128)",
        default: || json!(12),
        validate: |v| int_between(v, 12, 128),
    },
];

pub fn definition(key: &str) -> Option<&'static Definition> {
    CATALOGUE.iter().find(|d| d.key == key)
}

/// Validates a patch `{key: value | null}`; `null` removes the override.
pub fn validate_patch(patch: &serde_json::Map<String, Value>) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    for (key, value) in patch {
        let pointer = format!("/{key}");
        match definition(key) {
            None => errors.push(FieldError::new(
                pointer,
                "unknown_setting",
                "no such setting",
            )),
            Some(_) if value.is_null() => {}
            Some(def) => {
                if let Err(why) = (def.validate)(value) {
                    errors.push(FieldError::new(pointer, "invalid_setting", why));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// One effective setting and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EffectiveSetting {
    pub key: String,
    /// Any JSON value (string, number, boolean or null, depending on the key).
    pub value: Value,
    /// The tenant whose override applies; `null` when the platform default applies.
    pub source_tenant_id: Option<Uuid>,
    /// True when the value comes from an ancestor or the default, not this tenant.
    pub inherited: bool,
    pub description: String,
}

/// Resolves every catalogue key for the tenant at the end of `path` (root first), given the
/// overrides stored by each tenant on that path.
pub fn effective(
    path: &[Uuid],
    overrides: &HashMap<(Uuid, String), Value>,
) -> Vec<EffectiveSetting> {
    let own = path.last().copied();
    CATALOGUE
        .iter()
        .map(|def| {
            let found = path.iter().rev().find_map(|t| {
                overrides
                    .get(&(*t, def.key.to_string()))
                    .map(|v| (*t, v.clone()))
            });
            let (source, value) = match found {
                Some((t, v)) => (Some(t), v),
                None => (None, (def.default)()),
            };
            EffectiveSetting {
                key: def.key.to_string(),
                value,
                inherited: source != own || source.is_none(),
                source_tenant_id: source,
                description: def.description.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_override_wins_and_names_its_source() {
        let (root, msp, cust) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut o = HashMap::new();
        o.insert((msp, "time_zone".to_string()), json!("Europe/Berlin"));
        o.insert((cust, "locale".to_string()), json!("de"));
        o.insert((root, "locale".to_string()), json!("fr"));
        let eff = effective(&[root, msp, cust], &o);
        let get = |k: &str| eff.iter().find(|e| e.key == k).cloned();
        let tz = get("time_zone");
        assert_eq!(
            tz.as_ref()
                .map(|e| (&e.value, e.source_tenant_id, e.inherited)),
            Some((&json!("Europe/Berlin"), Some(msp), true))
        );
        let loc = get("locale");
        assert_eq!(
            loc.as_ref()
                .map(|e| (&e.value, e.source_tenant_id, e.inherited)),
            Some((&json!("de"), Some(cust), false))
        );
        let color = get("branding_primary_color");
        assert_eq!(color.map(|e| e.source_tenant_id), Some(None));
    }

    #[test]
    fn patch_validation_names_each_bad_key() {
        let patch =
            json!({"time_zone": "Mars", "nope": 1, "locale": null, "password_min_length": 8});
        let errs = validate_patch(patch.as_object().unwrap_or(&serde_json::Map::new()))
            .err()
            .unwrap_or_default();
        let mut pointers: Vec<_> = errs.iter().map(|e| e.pointer.as_str()).collect();
        pointers.sort();
        assert_eq!(
            pointers,
            vec!["/nope", "/password_min_length", "/time_zone"]
        );
    }
}
