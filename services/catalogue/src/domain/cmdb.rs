//! The CMDB's rules, free of I/O: classes (a tree of kinds of configuration item, each adding
//! typed attributes to its parent's, inherited and never retyped), the built-in classes every
//! tenant starts with, a CI's status, and the history a change to a CI leaves.
use std::collections::BTreeMap;

use platform::FieldError;
use serde_json::{Map, Value, json};

use super::form::Form;

/// The deepest a class sits (`server/linux_server` is 2): enough for any real taxonomy, and a
/// bound on every walk up the tree.
pub const MAX_CLASS_DEPTH: usize = 8;

/// A class as defined: its own attributes only.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassDef {
    pub key: String,
    pub name: String,
    pub parent: Option<String>,
    /// JSON Schema 2020-12 of the attributes this class adds (`{"type": "object", "properties"}`).
    pub attribute_schema: Value,
    /// Ordered attribute sets that identify a CI of the class (`[["serial_number"], ["hostname"]]`).
    pub identification_rules: Vec<Vec<String>>,
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

/// The classes every tenant has: a class tree a service desk can use on day one.
pub fn built_in() -> Vec<ClassDef> {
    let class =
        |key: &str, name: &str, parent: Option<&str>, schema: Value, rules: &[&[&str]]| ClassDef {
            key: key.into(),
            name: name.into(),
            parent: parent.map(Into::into),
            attribute_schema: schema,
            identification_rules: rules
                .iter()
                .map(|r| r.iter().map(|a| (*a).to_string()).collect())
                .collect(),
        };
    let empty = || object(json!({}), &[]);
    vec![
        class("business_service", "Business service", None, empty(), &[]),
        class(
            "application",
            "Application",
            None,
            object(
                json!({"version": {"type": "string", "maxLength": 64},
                       "vendor": {"type": "string", "maxLength": 120}}),
                &[],
            ),
            &[],
        ),
        class(
            "database",
            "Database",
            None,
            object(
                json!({"engine": {"type": "string", "maxLength": 64},
                       "version": {"type": "string", "maxLength": 64}}),
                &[],
            ),
            &[],
        ),
        class(
            "server",
            "Server",
            None,
            object(
                json!({"serial_number": {"type": "string", "maxLength": 120},
                       "hostname": {"type": "string", "maxLength": 253},
                       "cpu_count": {"type": "integer", "minimum": 1}}),
                &[],
            ),
            &[&["serial_number"], &["hostname"]],
        ),
        class(
            "linux_server",
            "Linux server",
            Some("server"),
            object(json!({"kernel": {"type": "string", "maxLength": 120}}), &[]),
            &[],
        ),
        class("virtual", "Virtual server", Some("server"), empty(), &[]),
        class(
            "hypervisor",
            "Hypervisor",
            Some("server"),
            object(
                json!({"platform": {"type": "string", "maxLength": 64}}),
                &[],
            ),
            &[],
        ),
        class("cluster", "Cluster", None, empty(), &[]),
        class(
            "network_device",
            "Network device",
            None,
            object(
                json!({"serial_number": {"type": "string", "maxLength": 120},
                       "management_ip": {"type": "string", "maxLength": 45}}),
                &[],
            ),
            &[&["serial_number"]],
        ),
    ]
}

/// A class key: lower-case letters, digits and `_`, starting with a letter, 2–48 long.
pub fn check_key(pointer: &str, key: &str) -> Result<(), FieldError> {
    let ok = (2..=48).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            pointer,
            "invalid_format",
            "a class key is 2–48 lower-case letters, digits or _, starting with a letter",
        ))
    }
}

/// The path of a class under a parent whose path is `parent_path` (`server/linux_server`).
pub fn path_of(parent_path: Option<&str>, key: &str) -> String {
    match parent_path {
        Some(p) => format!("{p}/{key}"),
        None => key.to_string(),
    }
}

/// The attributes a class has: its ancestors' (`inherited`, root first) and its own `schema`,
/// merged into one form. A class may add attributes, never redeclare one it inherits (so a
/// `server`'s `cpu_count` is an integer in every subclass); every problem is reported.
pub fn effective_schema(inherited: &[&Value], own: &Value) -> Result<Value, Vec<FieldError>> {
    let own_form = Form::parse("/attribute_schema", own.clone())?;
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    for schema in inherited {
        merge_into(&mut properties, &mut required, schema);
    }
    let errors: Vec<FieldError> = own_form
        .variables()
        .filter(|name| properties.contains_key(*name))
        .map(|name| {
            FieldError::new(
                format!("/attribute_schema/properties/{name}"),
                "retyped",
                "an inherited attribute keeps its parent's definition",
            )
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    merge_into(&mut properties, &mut required, own);
    Ok(json!({"type": "object", "properties": properties, "required": required}))
}

fn merge_into(properties: &mut Map<String, Value>, required: &mut Vec<Value>, schema: &Value) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            properties.insert(k.clone(), v.clone());
        }
    }
    for r in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if !required.contains(r) {
            required.push(r.clone());
        }
    }
}

/// Each identification rule is a non-empty set of attributes the class has.
pub fn check_identification_rules(
    rules: &[Vec<String>],
    effective: &Value,
) -> Result<(), Vec<FieldError>> {
    let known = |a: &str| effective["properties"].get(a).is_some();
    let mut errors = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        if rule.is_empty() {
            errors.push(FieldError::new(
                format!("/identification_rules/{i}"),
                "invalid_length",
                "a rule names at least one attribute",
            ));
        }
        for (j, attribute) in rule.iter().enumerate() {
            if !known(attribute) {
                errors.push(FieldError::new(
                    format!("/identification_rules/{i}/{j}"),
                    "unknown_attribute",
                    "the class has no such attribute",
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A class as a tenant sees it: built in, or defined by the tenant or one of its ancestors.
#[derive(Debug, Clone, PartialEq)]
pub struct Class {
    pub def: ClassDef,
    /// The defining tenant; `None` for a built-in class.
    pub tenant_id: Option<uuid::Uuid>,
    pub path: String,
    /// Its own attributes and every ancestor's, as one form.
    pub effective_schema: Value,
}

/// The classes a tenant sees, by key.
#[derive(Debug, Clone, Default)]
pub struct ClassTree {
    classes: BTreeMap<String, Class>,
}

impl ClassTree {
    /// The built-in classes and `defined` (the tenant's lineage's), each `(definition, tenant,
    /// path)`. Effective schemas are merged root first; a stored class whose parent is
    /// missing is left out rather than guessed at.
    pub fn new(defined: Vec<(ClassDef, uuid::Uuid, String)>) -> ClassTree {
        let mut all: Vec<(ClassDef, Option<uuid::Uuid>, String)> = built_in()
            .into_iter()
            .map(|d| {
                let path = path_of(d.parent.as_deref(), &d.key);
                (d, None, path)
            })
            .collect();
        all.extend(defined.into_iter().map(|(d, t, p)| (d, Some(t), p)));
        // Parents before children: a path has one more `/` per level.
        all.sort_by_key(|(_, _, path)| path.matches('/').count());
        let mut tree = ClassTree::default();
        for (def, tenant_id, path) in all {
            let inherited: Option<Vec<&Value>> = match &def.parent {
                None => Some(Vec::new()),
                Some(p) => tree
                    .classes
                    .get(p)
                    .map(|parent| vec![&parent.effective_schema]),
            };
            // A key is one class: the first definition seen wins (built-in classes first).
            let (Some(inherited), false) = (inherited, tree.classes.contains_key(&def.key)) else {
                continue;
            };
            let Ok(effective_schema) = effective_schema(&inherited, &def.attribute_schema) else {
                continue;
            };
            tree.classes.insert(
                def.key.clone(),
                Class {
                    def,
                    tenant_id,
                    path,
                    effective_schema,
                },
            );
        }
        tree
    }

    pub fn get(&self, key: &str) -> Option<&Class> {
        self.classes.get(key)
    }

    /// The identification rules a CI of `class` is matched by: the nearest class on its path,
    /// itself first, that has any.
    pub fn identification_rules(&self, class: &Class) -> Vec<Vec<String>> {
        class
            .path
            .rsplit('/')
            .filter_map(|key| self.classes.get(key))
            .map(|c| &c.def.identification_rules)
            .find(|rules| !rules.is_empty())
            .cloned()
            .unwrap_or_default()
    }

    /// Every class, root classes first, then by key.
    pub fn all(&self) -> Vec<&Class> {
        let mut all: Vec<&Class> = self.classes.values().collect();
        all.sort_by(|a, b| a.path.cmp(&b.path));
        all
    }
}

/// Where a CI is in its life. Retired CIs stay (no hard delete) and still count for impact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiStatus {
    Planned,
    Operational,
    Maintenance,
    Retired,
}

impl CiStatus {
    pub const ALL: [CiStatus; 4] = [
        CiStatus::Planned,
        CiStatus::Operational,
        CiStatus::Maintenance,
        CiStatus::Retired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CiStatus::Planned => "planned",
            CiStatus::Operational => "operational",
            CiStatus::Maintenance => "maintenance",
            CiStatus::Retired => "retired",
        }
    }

    pub fn parse(pointer: &str, s: &str) -> Result<CiStatus, FieldError> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                FieldError::new(
                    pointer,
                    "not_allowed",
                    "status is planned, operational, maintenance or retired",
                )
            })
    }
}

/// A CI's fields that history follows, as they are or will be.
#[derive(Debug, Clone, PartialEq)]
pub struct CiFields {
    pub name: String,
    pub status: String,
    pub attributes: BTreeMap<String, Value>,
}

/// One changed field: `name`, `status` or `attributes.<name>`; `Null` for an absent value.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub field: String,
    pub old: Value,
    pub new: Value,
}

/// What changed from `before` (nothing for a new CI) to `after`, field by field, in a stable
/// order: the history a write appends.
pub fn changes(before: Option<&CiFields>, after: &CiFields) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut push = |field: String, old: Value, new: Value| {
        if old != new {
            out.push(FieldChange { field, old, new });
        }
    };
    let old_name = before.map_or(Value::Null, |b| Value::from(b.name.clone()));
    push("name".into(), old_name, Value::from(after.name.clone()));
    let old_status = before.map_or(Value::Null, |b| Value::from(b.status.clone()));
    push(
        "status".into(),
        old_status,
        Value::from(after.status.clone()),
    );
    let empty = BTreeMap::new();
    let old_attrs = before.map_or(&empty, |b| &b.attributes);
    let names: std::collections::BTreeSet<&String> =
        old_attrs.keys().chain(after.attributes.keys()).collect();
    for name in names {
        push(
            format!("attributes.{name}"),
            old_attrs.get(name).cloned().unwrap_or(Value::Null),
            after.attributes.get(name).cloned().unwrap_or(Value::Null),
        );
    }
    out
}

/// Replays `history` (oldest first) into the fields it describes: how `?as_of=` rebuilds a CI.
pub fn replay<'a>(history: impl IntoIterator<Item = &'a FieldChange>) -> CiFields {
    let mut fields = CiFields {
        name: String::new(),
        status: String::new(),
        attributes: BTreeMap::new(),
    };
    for change in history {
        match change.field.as_str() {
            "name" => fields.name = change.new.as_str().unwrap_or_default().to_string(),
            "status" => fields.status = change.new.as_str().unwrap_or_default().to_string(),
            other => {
                if let Some(attr) = other.strip_prefix("attributes.") {
                    if change.new.is_null() {
                        fields.attributes.remove(attr);
                    } else {
                        fields
                            .attributes
                            .insert(attr.to_string(), change.new.clone());
                    }
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Value {
        built_in()
            .into_iter()
            .find(|c| c.key == "server")
            .map(|c| c.attribute_schema)
            .unwrap_or_default()
    }

    #[test]
    fn a_subclass_inherits_its_parents_attributes() {
        let own = object(json!({"kernel": {"type": "string"}}), &[]);
        let schema = effective_schema(&[&server()], &own).unwrap_or_default();
        let form = Form::parse("/s", schema);
        assert!(form.is_ok());
        let form = form.unwrap_or_else(|_| unreachable!());
        assert!(
            form.check("/attributes", &json!({"cpu_count": 4, "kernel": "6.1"}))
                .is_ok()
        );
        let errors = form
            .check("/attributes", &json!({"cpu_count": 0}))
            .err()
            .unwrap_or_default();
        assert_eq!(errors[0].pointer, "/attributes/cpu_count");
    }

    #[test]
    fn an_inherited_attribute_is_never_retyped() {
        let own = object(json!({"cpu_count": {"type": "string"}}), &[]);
        let errors = effective_schema(&[&server()], &own)
            .err()
            .unwrap_or_default();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, "retyped");
        assert_eq!(errors[0].pointer, "/attribute_schema/properties/cpu_count");
    }

    #[test]
    fn identification_rules_name_known_attributes() {
        let schema = effective_schema(&[], &server()).unwrap_or_default();
        assert!(check_identification_rules(&[vec!["hostname".into()]], &schema).is_ok());
        let errors = check_identification_rules(&[vec![], vec!["mac".into()]], &schema)
            .err()
            .unwrap_or_default();
        let pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            ["/identification_rules/0", "/identification_rules/1/0"]
        );
    }

    #[test]
    fn a_tenants_class_extends_a_built_in_one_and_never_replaces_it() {
        let tenant = uuid::Uuid::now_v7();
        let def = |key: &str, parent: Option<&str>| ClassDef {
            key: key.into(),
            name: key.into(),
            parent: parent.map(Into::into),
            attribute_schema: object(json!({"vhosts": {"type": "integer"}}), &[]),
            identification_rules: Vec::new(),
        };
        let tree = ClassTree::new(vec![
            (
                def("web_server", Some("linux_server")),
                tenant,
                "server/linux_server/web_server".into(),
            ),
            (def("server", None), tenant, "server".into()),
            (
                def("orphan", Some("missing")),
                tenant,
                "missing/orphan".into(),
            ),
        ]);
        let web = tree.get("web_server").map(|c| c.effective_schema.clone());
        let web = web.unwrap_or_default();
        assert!(web["properties"]["cpu_count"].is_object());
        assert!(web["properties"]["vhosts"].is_object());
        assert_eq!(tree.get("server").and_then(|c| c.tenant_id), None);
        assert!(tree.get("orphan").is_none());
        assert_eq!(
            tree.all().first().map(|c| c.path.as_str()),
            Some("application")
        );
    }

    #[test]
    fn class_keys_are_checked() {
        assert!(check_key("/key", "linux_server").is_ok());
        for bad in ["", "a", "Server", "9lives", "has-dash"] {
            assert!(check_key("/key", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn replaying_the_changes_gives_back_the_fields() {
        let first = CiFields {
            name: "web-01".into(),
            status: "planned".into(),
            attributes: [("cpu_count".to_string(), json!(2))].into(),
        };
        let second = CiFields {
            name: "web-01".into(),
            status: "operational".into(),
            attributes: [("hostname".to_string(), json!("web-01.example"))].into(),
        };
        let mut history = changes(None, &first);
        assert_eq!(replay(&history), first);
        let step = changes(Some(&first), &second);
        let fields: Vec<_> = step.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            ["status", "attributes.cpu_count", "attributes.hostname"]
        );
        history.extend(step);
        assert_eq!(replay(&history), second);
    }
}
