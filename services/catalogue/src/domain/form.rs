//! Request forms: an item's `form_schema` (JSON Schema 2020-12) and the variables a requester
//! sends against it.
//!
//! A form is a JSON Schema with rules of our own on top, so that every form can be rendered,
//! validated and reported on the same way: its root is an object whose `properties` are the
//! variables, each with one `type`; `x-itsm-ref: user|group|ci` marks a variable holding the id of
//! a user, group or configuration item of the requester's tenant; `if`/`then`/`else` may add
//! conditions but no new variables; `$ref` must be local (`#…`), so validating a request never
//! fetches anything. Pure: the caller looks the references up.
use std::collections::BTreeMap;

use jsonschema::{ValidationError, Validator, error::ValidationErrorKind};
use platform::FieldError;
use serde_json::{Map, Value};

/// The largest form schema accepted, serialized.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// The only draft a form may declare in `$schema` (the default when it declares none).
const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// Variable types a form may declare.
const VARIABLE_TYPES: [&str; 5] = ["string", "integer", "number", "boolean", "array"];

/// What a variable marked `x-itsm-ref` holds the id of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    User,
    Group,
    Ci,
}

impl RefKind {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(RefKind::User),
            "group" => Some(RefKind::Group),
            "ci" => Some(RefKind::Ci),
            _ => None,
        }
    }
}

/// A checked form: the schema as sent and its compiled validator.
pub struct Form {
    pub schema: Value,
    validator: Validator,
    /// Each variable marked `x-itsm-ref`, by name.
    refs: BTreeMap<String, RefKind>,
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Form")
            .field("schema", &self.schema)
            .finish()
    }
}

/// A reference a requester's variables make, for the caller to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub pointer: String,
    pub kind: RefKind,
    pub id: uuid::Uuid,
}

impl Form {
    /// Checks `schema` as the form at `pointer` (e.g. `/form_schema`); every problem found.
    pub fn parse(pointer: &str, schema: Value) -> Result<Form, Vec<FieldError>> {
        let mut errors = check_schema(pointer, &schema);
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut refs = BTreeMap::new();
        match schema.get("properties").and_then(Value::as_object) {
            Some(props) if schema.get("type") == Some(&Value::from("object")) => {
                for (name, prop) in props {
                    let at = format!("{pointer}/properties/{}", escape(name));
                    match prop.get("type").and_then(Value::as_str) {
                        Some(t) if VARIABLE_TYPES.contains(&t) => {}
                        _ => errors.push(FieldError::new(
                            format!("{at}/type"),
                            "untyped_variable",
                            "each variable needs one type: string, integer, number, boolean or array",
                        )),
                    }
                    if let Some(kind) = prop.get("x-itsm-ref") {
                        match kind.as_str().and_then(RefKind::parse) {
                            Some(k) if prop.get("type") == Some(&Value::from("string")) => {
                                refs.insert(name.clone(), k);
                            }
                            _ => errors.push(FieldError::new(
                                format!("{at}/x-itsm-ref"),
                                "invalid_reference_kind",
                                "x-itsm-ref is user, group or ci, on a string variable",
                            )),
                        }
                    }
                }
            }
            _ => errors.push(FieldError::new(
                pointer,
                "not_a_form",
                "a form is {\"type\": \"object\", \"properties\": {…}}",
            )),
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| vec![schema_error(pointer, &e)])?;
        Ok(Form {
            schema,
            validator,
            refs,
        })
    }

    /// The variables' names.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(Map::keys)
            .map(String::as_str)
    }

    /// Checks `vars` (sent at `pointer`, e.g. `/items/0/variables`) against the form: every
    /// error, each pointing at the variable, and the references to look up when there is none.
    pub fn check(&self, pointer: &str, vars: &Value) -> Result<Vec<Reference>, Vec<FieldError>> {
        let Some(object) = vars.as_object() else {
            return Err(vec![FieldError::new(
                pointer,
                "invalid_type",
                "variables are an object of name → value",
            )]);
        };
        let mut errors: Vec<FieldError> = object
            .keys()
            .filter(|k| !self.variables().any(|v| v == k.as_str()))
            .map(|k| {
                FieldError::new(
                    format!("{pointer}/{}", escape(k)),
                    "unknown_variable",
                    "the form has no such variable",
                )
            })
            .collect();
        for e in self.validator.iter_errors(vars) {
            let mut at = format!("{pointer}{}", e.instance_path().as_str());
            let code = match e.kind() {
                ValidationErrorKind::Required { property } => {
                    at = format!("{at}/{}", escape(property.as_str().unwrap_or_default()));
                    "required"
                }
                // Unknown variables are reported above, once each.
                ValidationErrorKind::AdditionalProperties { .. }
                | ValidationErrorKind::UnevaluatedProperties { .. } => continue,
                ValidationErrorKind::Type { .. } => "invalid_type",
                ValidationErrorKind::Enum { .. } | ValidationErrorKind::Constant { .. } => {
                    "not_allowed"
                }
                ValidationErrorKind::Pattern { .. } => "pattern_mismatch",
                ValidationErrorKind::Format { .. } => "invalid_format",
                _ => "invalid_value",
            };
            if !errors.iter().any(|x| x.pointer == at && x.code == code) {
                errors.push(FieldError::new(at, code, e.to_string()));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut refs = Vec::new();
        for (name, kind) in &self.refs {
            let at = format!("{pointer}/{}", escape(name));
            match object.get(name).and_then(Value::as_str) {
                None => {}
                Some(raw) => match uuid::Uuid::parse_str(raw) {
                    Ok(id) => refs.push(Reference {
                        pointer: at,
                        kind: *kind,
                        id,
                    }),
                    Err(_) => errors.push(FieldError::new(
                        at,
                        "invalid_format",
                        "a reference is an id (UUID)",
                    )),
                },
            }
        }
        if errors.is_empty() {
            Ok(refs)
        } else {
            Err(errors)
        }
    }

    /// Whether `vars` (already checked) satisfy this schema: how `auto_approve_when` is read.
    pub fn matches(&self, vars: &Value) -> bool {
        self.validator.is_valid(vars)
    }
}

/// A schema that only states conditions (an approval policy's `auto_approve_when`): checked
/// like a form but without the variable rules.
pub fn parse_condition(pointer: &str, schema: Value) -> Result<Form, Vec<FieldError>> {
    let errors = check_schema(pointer, &schema);
    if !errors.is_empty() {
        return Err(errors);
    }
    let validator =
        jsonschema::draft202012::new(&schema).map_err(|e| vec![schema_error(pointer, &e)])?;
    Ok(Form {
        schema,
        validator,
        refs: BTreeMap::new(),
    })
}

/// Size, draft, local references and the 2020-12 meta-schema.
fn check_schema(pointer: &str, schema: &Value) -> Vec<FieldError> {
    let size = serde_json::to_vec(schema).map_or(usize::MAX, |b| b.len());
    if size > MAX_SCHEMA_BYTES {
        return vec![FieldError::new(
            pointer,
            "too_large",
            format!("a schema is at most {MAX_SCHEMA_BYTES} bytes; this one is {size}"),
        )];
    }
    if !schema.is_object() {
        return vec![FieldError::new(
            pointer,
            "invalid_type",
            "a schema is a JSON object",
        )];
    }
    let mut errors = Vec::new();
    if let Some(draft) = schema.get("$schema")
        && draft.as_str() != Some(DRAFT_2020_12)
    {
        errors.push(FieldError::new(
            format!("{pointer}/$schema"),
            "unsupported_draft",
            format!("forms are JSON Schema 2020-12 ({DRAFT_2020_12})"),
        ));
    }
    remote_refs(pointer, schema, &mut errors);
    if errors.is_empty()
        && let Err(e) = jsonschema::draft202012::meta::validate(schema)
    {
        errors.push(FieldError::new(
            format!("{pointer}{}", e.instance_path().as_str()),
            "invalid_schema",
            e.to_string(),
        ));
    }
    errors
}

/// Every `$ref`/`$dynamicRef` that leaves the document, and every `$id` (which would let a
/// relative reference resolve elsewhere).
fn remote_refs(at: &str, node: &Value, errors: &mut Vec<FieldError>) {
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                let here = format!("{at}/{}", escape(key));
                let remote = match key.as_str() {
                    "$ref" | "$dynamicRef" => value.as_str().is_none_or(|r| !r.starts_with('#')),
                    "$id" => true,
                    _ => false,
                };
                if remote {
                    errors.push(FieldError::new(
                        here,
                        "remote_ref",
                        "only local references (\"#/$defs/…\") are allowed",
                    ));
                } else {
                    remote_refs(&here, value, errors);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                remote_refs(&format!("{at}/{i}"), item, errors);
            }
        }
        _ => {}
    }
}

fn schema_error(pointer: &str, e: &ValidationError<'_>) -> FieldError {
    FieldError::new(pointer, "invalid_schema", e.to_string())
}

/// A JSON Pointer token (RFC 6901).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use serde_json::json;

    use super::*;

    /// The demo `new-laptop` form.
    fn laptop() -> Value {
        json!({
            "type": "object",
            "properties": {
                "model": {"type": "string", "enum": ["standard-14", "performance-16"]},
                "justification": {"type": "string", "minLength": 1},
                "cost_center": {"type": "string", "pattern": "^CC-[0-9]{4}$"},
                "deliver_to": {"type": "string", "x-itsm-ref": "user"}
            },
            "required": ["model", "cost_center"],
            "if": {"properties": {"model": {"const": "performance-16"}}},
            "then": {"required": ["justification"]}
        })
    }

    fn codes(errors: &[FieldError]) -> Vec<(String, String)> {
        errors
            .iter()
            .map(|e| (e.pointer.clone(), e.code.clone()))
            .collect()
    }

    #[test]
    fn the_laptop_form_takes_good_variables_and_names_each_bad_one() {
        let form = Form::parse("/form_schema", laptop()).expect("a good form");
        let me = uuid::Uuid::nil();
        let refs = form
            .check(
                "/v",
                &json!({"model": "standard-14", "cost_center": "CC-1234", "deliver_to": me.to_string()}),
            )
            .expect("valid");
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].pointer, "/v/deliver_to");

        let errors = form
            .check(
                "/v",
                &json!({"model": "performance-16", "cost_center": "12", "colour": "red"}),
            )
            .expect_err("invalid");
        let got = codes(&errors);
        assert!(got.contains(&("/v/colour".into(), "unknown_variable".into())));
        assert!(got.contains(&("/v/justification".into(), "required".into())));
        assert!(got.contains(&("/v/cost_center".into(), "pattern_mismatch".into())));

        let errors = form
            .check("/v", &json!({"model": "mini-11", "cost_center": 7}))
            .expect_err("invalid");
        let got = codes(&errors);
        assert!(got.contains(&("/v/model".into(), "not_allowed".into())));
        assert!(got.contains(&("/v/cost_center".into(), "invalid_type".into())));
    }

    #[test]
    fn bad_forms_are_refused_with_the_place_that_is_wrong() {
        let remote =
            json!({"type": "object", "properties": {"a": {"$ref": "https://evil.test/x.json"}}});
        assert_eq!(
            codes(&Form::parse("/f", remote).expect_err("remote")),
            vec![("/f/properties/a/$ref".into(), "remote_ref".into())]
        );
        let untyped = json!({"type": "object", "properties": {"a": {"minLength": 1}}});
        assert_eq!(
            codes(&Form::parse("/f", untyped).expect_err("untyped")),
            vec![("/f/properties/a/type".into(), "untyped_variable".into())]
        );
        let bad_ref = json!({"type": "object", "properties": {"a": {"type": "string", "x-itsm-ref": "printer"}}});
        assert_eq!(
            codes(&Form::parse("/f", bad_ref).expect_err("ref kind")),
            vec![(
                "/f/properties/a/x-itsm-ref".into(),
                "invalid_reference_kind".into()
            )]
        );
        let invalid =
            json!({"type": "object", "properties": {"a": {"type": "string", "minLength": -1}}});
        assert_eq!(
            codes(&Form::parse("/f", invalid).expect_err("meta")),
            vec![("/f/properties/a/minLength".into(), "invalid_schema".into())]
        );
        let old = json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {}});
        assert_eq!(
            codes(&Form::parse("/f", old).expect_err("draft")),
            vec![("/f/$schema".into(), "unsupported_draft".into())]
        );
        let big = json!({"type": "object", "properties": {}, "description": "x".repeat(MAX_SCHEMA_BYTES)});
        assert_eq!(
            codes(&Form::parse("/f", big).expect_err("size")),
            vec![("/f".into(), "too_large".into())]
        );
        assert_eq!(
            codes(&Form::parse("/f", json!({"type": "string"})).expect_err("not a form")),
            vec![("/f".into(), "not_a_form".into())]
        );
        let local = json!({
            "type": "object",
            "$defs": {"cc": {"type": "string", "pattern": "^CC-"}},
            "properties": {"cost_center": {"type": "string", "$ref": "#/$defs/cc"}}
        });
        let form = Form::parse("/f", local).expect("local refs are fine");
        assert!(form.check("/v", &json!({"cost_center": "XX"})).is_err());
    }

    #[test]
    fn a_condition_matches_variables() {
        let when = parse_condition(
            "/p",
            json!({"properties": {"model": {"const": "standard-14"}}, "required": ["model"]}),
        )
        .expect("a condition");
        assert!(when.matches(&json!({"model": "standard-14"})));
        assert!(!when.matches(&json!({"model": "performance-16"})));
    }
}
