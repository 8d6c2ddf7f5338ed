//! Per-tenant settings inherited down the tenant tree. The catalogue below is the only set of
//! keys a tenant may override; each value is validated, and the effective value of a key names
//! the tenant it came from (or `null` for the platform default).
//!
//! Some keys belong to the providers above a tenant (a quota, a password floor): a tenant may
//! only tighten them below what it inherits, and the tightest value on the path applies, so a
//! provider that tightens later caps every tenant below it (ADR 17).
use std::collections::HashMap;

use platform::FieldError;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

/// Who owns a key, and so which way a tenant may move it from what it inherits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The tenant: any valid value.
    Tenant,
    /// The providers, as an upper limit (a quota): a tenant sets at most the inherited value.
    Ceiling,
    /// The providers, as a lower limit (a floor): a tenant sets at least the inherited value.
    Floor,
}

pub struct Definition {
    pub key: &'static str,
    pub description: &'static str,
    pub default: fn() -> Value,
    pub validate: fn(&Value) -> Result<(), &'static str>,
    pub owner: Owner,
}

/// What the deployment sets for keys whose catalogue default is `null` ("the platform
/// default"): it bounds a tenant whose providers set nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deployment {
    /// `ITSM_RATE_LIMIT_TENANT_PER_MINUTE`; None when tenant limits are off.
    pub tenant_rate_limit: Option<u32>,
}

impl Deployment {
    pub fn of(settings: &platform::settings::Settings) -> Self {
        Self {
            tenant_rate_limit: (settings.rate_limit_tenant_per_minute > 0)
                .then_some(settings.rate_limit_tenant_per_minute),
        }
    }

    fn default_of(&self, key: &str) -> Option<Value> {
        match key {
            platform::ratelimit::TENANT_LIMIT_SETTING => self.tenant_rate_limit.map(Value::from),
            _ => None,
        }
    }
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
        owner: Owner::Tenant,
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
        owner: Owner::Tenant,
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
        owner: Owner::Tenant,
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
        owner: Owner::Tenant,
        validate: |v| {
            string_matching(v, 7, |s| {
                s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit())
            })
        },
    },
    Definition {
        key: platform::ratelimit::TENANT_LIMIT_SETTING,
        description: "Requests per minute the tenant's users and API clients share (60-1000000; \
                      null: the platform default); at most its provider's",
        default: || Value::Null,
        validate: |v| int_between(v, 60, 1_000_000),
        owner: Owner::Ceiling,
    },
    Definition {
        key: "password_min_length",
        description: "Minimum password length for the tenant's users (12-128); at least its \
                      provider's",
        default: || json!(12),
        validate: |v| int_between(v, 12, 128),
        owner: Owner::Floor,
    },
];

pub fn definition(key: &str) -> Option<&'static Definition> {
    CATALOGUE.iter().find(|d| d.key == key)
}

/// Validates a patch `{key: value | null}` for a tenant whose settings are now `current` (see
/// [`effective`]); `null` removes the override, which is always allowed. A provider-owned key
/// may only be set on the tight side of its `bound`.
pub fn validate_patch(
    patch: &serde_json::Map<String, Value>,
    current: &[EffectiveSetting],
) -> Result<(), Vec<FieldError>> {
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
                    continue;
                }
                let bound = current
                    .iter()
                    .find(|s| s.key == def.key)
                    .and_then(|s| s.bound.as_ref());
                if let Some(e) = bound.and_then(|b| out_of_bound(def, value, b, &pointer)) {
                    errors.push(e);
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

/// The error for `value` on the loose side of the provider's `bound`, if it is.
fn out_of_bound(
    def: &Definition,
    value: &Value,
    bound: &Value,
    pointer: &str,
) -> Option<FieldError> {
    let (v, b) = (value.as_i64()?, bound.as_i64()?);
    match def.owner {
        Owner::Ceiling if v > b => Some(FieldError::new(
            pointer,
            "above_provider_limit",
            format!("at most {b}: the value set by the tenant's provider"),
        )),
        Owner::Floor if v < b => Some(FieldError::new(
            pointer,
            "below_provider_minimum",
            format!("at least {b}: the value set by the tenant's provider"),
        )),
        _ => None,
    }
}

/// Which way a tenant may change a setting from what it inherits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum May {
    /// Any valid value.
    Any,
    /// Only at most `bound` (a quota its provider owns).
    Lower,
    /// Only at least `bound` (a floor its provider owns).
    Raise,
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
    /// True for keys the tenant's providers own (a quota, a password floor): the tenant may
    /// only tighten them, and the tightest value on its path applies.
    pub provider_owned: bool,
    /// Which way this tenant may set the key: `any`, `lower` (at most `bound`) or `raise` (at
    /// least `bound`). `any` for keys the tenant owns and where nothing bounds it.
    pub may: May,
    /// The value this tenant's own may not pass (a number for today's keys): its parent's
    /// effective value (for a limit left at the platform default, the deployment's). `null`
    /// when nothing bounds it.
    pub bound: Option<Value>,
}

/// The value of `def` for the tenant at the end of `path` (root first) and the tenant it comes
/// from: the nearest override for a key the tenant owns, the tightest on the path for a key
/// its providers own (the nearer wins a tie), else the default.
fn resolve(
    def: &Definition,
    path: &[Uuid],
    overrides: &HashMap<(Uuid, String), Value>,
) -> (Option<Uuid>, Value) {
    let set = path.iter().filter_map(|t| {
        overrides
            .get(&(*t, def.key.to_string()))
            .map(|v| (*t, v.clone()))
    });
    let tighter = |new: &Value, best: &Value| match (new.as_i64(), best.as_i64()) {
        (Some(n), Some(b)) => match def.owner {
            Owner::Tenant => true,
            Owner::Ceiling => n <= b,
            Owner::Floor => n >= b,
        },
        _ => true,
    };
    set.fold(None, |best: Option<(Uuid, Value)>, (t, v)| match best {
        Some((bt, bv)) if !tighter(&v, &bv) => Some((bt, bv)),
        _ => Some((t, v)),
    })
    .map_or_else(|| (None, (def.default)()), |(t, v)| (Some(t), v))
}

/// Resolves every catalogue key for the tenant at the end of `path` (root first), given the
/// overrides stored by each tenant on that path, with what bounds the tenant's own values.
pub fn effective(
    path: &[Uuid],
    overrides: &HashMap<(Uuid, String), Value>,
    deployment: &Deployment,
) -> Vec<EffectiveSetting> {
    let own = path.last().copied();
    let parents = path.split_last().map(|(_, p)| p).unwrap_or_default();
    CATALOGUE
        .iter()
        .map(|def| {
            let (source, value) = resolve(def, path, overrides);
            let bound = match def.owner {
                Owner::Tenant => None,
                // The root has no provider: only the catalogue's range applies.
                _ if parents.is_empty() => None,
                _ => match resolve(def, parents, overrides).1 {
                    Value::Null => deployment.default_of(def.key),
                    inherited => Some(inherited),
                },
            };
            let may = match (def.owner, &bound) {
                (Owner::Ceiling, Some(_)) => May::Lower,
                (Owner::Floor, Some(_)) => May::Raise,
                _ => May::Any,
            };
            EffectiveSetting {
                key: def.key.to_string(),
                value,
                inherited: source != own || source.is_none(),
                source_tenant_id: source,
                description: def.description.to_string(),
                provider_owned: def.owner != Owner::Tenant,
                may,
                bound,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: &str = platform::ratelimit::TENANT_LIMIT_SETTING;

    fn get<'a>(eff: &'a [EffectiveSetting], key: &str) -> Option<&'a EffectiveSetting> {
        eff.iter().find(|e| e.key == key)
    }

    #[test]
    fn nearest_override_wins_and_names_its_source() {
        let (root, msp, cust) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut o = HashMap::new();
        o.insert((msp, "time_zone".to_string()), json!("Europe/Berlin"));
        o.insert((cust, "locale".to_string()), json!("de"));
        o.insert((root, "locale".to_string()), json!("fr"));
        let eff = effective(&[root, msp, cust], &o, &Deployment::default());
        let tz = get(&eff, "time_zone");
        assert_eq!(
            tz.map(|e| (&e.value, e.source_tenant_id, e.inherited, e.may)),
            Some((&json!("Europe/Berlin"), Some(msp), true, May::Any))
        );
        let loc = get(&eff, "locale");
        assert_eq!(
            loc.map(|e| (&e.value, e.source_tenant_id, e.inherited)),
            Some((&json!("de"), Some(cust), false))
        );
        let color = get(&eff, "branding_primary_color");
        assert_eq!(color.map(|e| e.source_tenant_id), Some(None));
    }

    #[test]
    fn provider_owned_keys_take_the_tightest_value_on_the_path() {
        let (root, msp, cust) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut o = HashMap::new();
        // The customer set its values before the MSP tightened its own.
        o.insert((cust, LIMIT.to_string()), json!(600));
        o.insert((msp, LIMIT.to_string()), json!(120));
        o.insert((cust, "password_min_length".to_string()), json!(14));
        o.insert((msp, "password_min_length".to_string()), json!(16));
        let deployment = Deployment {
            tenant_rate_limit: Some(6000),
        };
        let eff = effective(&[root, msp, cust], &o, &deployment);
        let limit = get(&eff, LIMIT);
        assert_eq!(
            limit.map(|e| (&e.value, e.source_tenant_id, e.inherited)),
            Some((&json!(120), Some(msp), true))
        );
        assert_eq!(
            limit.map(|e| (e.provider_owned, e.may, e.bound.clone())),
            Some((true, May::Lower, Some(json!(120))))
        );
        let floor = get(&eff, "password_min_length");
        assert_eq!(
            floor.map(|e| (&e.value, e.source_tenant_id, e.may, e.bound.clone())),
            Some((&json!(16), Some(msp), May::Raise, Some(json!(16))))
        );
        // The MSP itself is bounded by the deployment (its parent sets no limit) and the
        // default floor; the root by nothing.
        let msp_eff = effective(&[root, msp], &o, &deployment);
        assert_eq!(
            get(&msp_eff, LIMIT).map(|e| e.bound.clone()),
            Some(Some(json!(6000)))
        );
        assert_eq!(
            get(&msp_eff, "password_min_length").map(|e| e.bound.clone()),
            Some(Some(json!(12)))
        );
        let root_eff = effective(&[root], &o, &deployment);
        assert_eq!(
            get(&root_eff, LIMIT).map(|e| (e.provider_owned, e.may, e.bound.clone())),
            Some((true, May::Any, None))
        );
        // With tenant limits off and no provider limit, nothing bounds the customer's.
        let unbounded = effective(&[root, cust], &HashMap::new(), &Deployment::default());
        assert_eq!(
            get(&unbounded, LIMIT).map(|e| (e.may, e.bound.clone())),
            Some((May::Any, None))
        );
    }

    #[test]
    fn patch_validation_names_each_bad_key() {
        let patch =
            json!({"time_zone": "Mars", "nope": 1, "locale": null, "password_min_length": 8});
        let errs = validate_patch(patch.as_object().unwrap_or(&serde_json::Map::new()), &[])
            .err()
            .unwrap_or_default();
        let mut pointers: Vec<_> = errs.iter().map(|e| e.pointer.as_str()).collect();
        pointers.sort();
        assert_eq!(
            pointers,
            vec!["/nope", "/password_min_length", "/time_zone"]
        );
    }

    #[test]
    fn a_patch_may_only_tighten_provider_owned_keys() {
        let (root, msp, cust) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut o = HashMap::new();
        o.insert((msp, LIMIT.to_string()), json!(60));
        o.insert((msp, "password_min_length".to_string()), json!(16));
        let current = effective(&[root, msp, cust], &o, &Deployment::default());
        let codes = |patch: Value| {
            validate_patch(
                patch.as_object().unwrap_or(&serde_json::Map::new()),
                &current,
            )
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| format!("{}:{}", e.pointer, e.code))
            .collect::<Vec<_>>()
        };
        assert_eq!(
            codes(json!({LIMIT: 1_000_000, "password_min_length": 12})),
            vec![
                "/api_rate_limit_per_minute:above_provider_limit",
                "/password_min_length:below_provider_minimum"
            ]
        );
        assert!(codes(json!({LIMIT: 60, "password_min_length": 16})).is_empty());
        assert!(codes(json!({LIMIT: 60, "password_min_length": 40})).is_empty());
        assert!(codes(json!({LIMIT: null, "password_min_length": null})).is_empty());
    }
}
