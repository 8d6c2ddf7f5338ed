//! The OpenAPI description of a clock's marks (`ClockOut.marks`): the union `SlaEvent`, one
//! named schema per mark (`SlaStarted`, `SlaPaused`, …), each carrying `mark` and `at` and the
//! mark's own fields, told apart by a `discriminator` on `mark`. It describes the JSON that
//! `domain::sla::Event` already serializes to; a test holds the two together.
use std::borrow::Cow;

use serde_json::{Value, json};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        ObjectBuilder, OneOfBuilder, Ref, RefOr, Schema,
        extensions::Extensions,
        schema::{Discriminator, KnownFormat, SchemaFormat, Type},
    },
};

/// The property that names the mark.
const TAG: &str = "mark";

/// One mark: its `mark` value, its schema's name, what it means, and its own field if any.
struct Variant {
    mark: &'static str,
    schema: &'static str,
    description: &'static str,
    field: Option<Field>,
}

/// A mark's own field.
struct Field {
    name: &'static str,
    schema: fn() -> ObjectBuilder,
    example: Value,
}

fn reason() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "Why the clock paused: the incident's state, and its hold reason if any.",
        ))
}

fn percent() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .minimum(Some(1))
        .maximum(Some(100))
        .description(Some(
            "Share of the target elapsed: 50 and 75 warn, 100 is the breach.",
        ))
}

/// `{"type": "string", "const": value}`. utoipa's builder has no `const` (JSON Schema 2020-12,
/// which OpenAPI 3.1 uses); its extension map is written inline into the schema, so `const`
/// goes there. Generators make a literal type of it (`Literal["paused"]`, `"paused"`) rather
/// than a one-value enum class per variant.
fn constant(value: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .extensions(Some(Extensions::from_iter([("const", value)])))
}

fn variants() -> [Variant; 7] {
    [
        Variant {
            mark: "started",
            schema: "SlaStarted",
            description: "The clock started counting (its start conditions held).",
            field: None,
        },
        Variant {
            mark: "paused",
            schema: "SlaPaused",
            description: "The clock paused (its pause conditions held); paused time does not count.",
            field: Some(Field {
                name: "reason",
                schema: reason,
                example: json!("on_hold (awaiting_caller)"),
            }),
        },
        Variant {
            mark: "resumed",
            schema: "SlaResumed",
            description: "The clock counts again after a pause.",
            field: None,
        },
        Variant {
            mark: "stopped",
            schema: "SlaStopped",
            description: "The clock stopped for good (its stop conditions held).",
            field: None,
        },
        Variant {
            mark: "canceled",
            schema: "SlaCanceled",
            description: "The definition stopped applying to the incident; the clock ended.",
            field: None,
        },
        Variant {
            mark: "reset",
            schema: "SlaReset",
            description: "The count restarts from zero (its reset conditions held, e.g. on reopen).",
            field: None,
        },
        Variant {
            mark: "threshold",
            schema: "SlaThreshold",
            description: "A share of the target elapsed: a warning at 50 and 75 percent, the \
                          breach at 100.",
            field: Some(Field {
                name: "percent",
                schema: percent,
                example: json!(75),
            }),
        },
    ]
}

fn reference(name: &str) -> String {
    format!("#/components/schemas/{name}")
}

fn variant_schema(v: &Variant) -> RefOr<Schema> {
    let mut example = json!({ TAG: v.mark, "at": "2026-11-30T09:15:00Z" });
    let mut object = ObjectBuilder::new()
        .description(Some(v.description))
        .property(TAG, constant(v.mark))
        .required(TAG)
        .property(
            "at",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                .description(Some("When it happened.")),
        )
        .required("at");
    if let Some(f) = &v.field {
        object = object.property(f.name, (f.schema)()).required(f.name);
        if let Some(map) = example.as_object_mut() {
            map.insert(f.name.into(), f.example.clone());
        }
    }
    #[allow(deprecated)] // `example` is what generators and Swagger UI read today.
    let object = object.example(Some(example));
    RefOr::T(Schema::Object(object.build()))
}

/// What happened to an SLA clock, and when (documentation only; the JSON is
/// `domain::sla::Event`'s).
pub enum SlaEvent {}

impl PartialSchema for SlaEvent {
    fn schema() -> RefOr<Schema> {
        let variants = variants();
        let mut one_of = OneOfBuilder::new().description(Some(
            "What happened to an SLA clock, and when: one of the marks, told apart by `mark`.",
        ));
        for v in &variants {
            one_of = one_of.item(RefOr::Ref(Ref::from_schema_name(v.schema)));
        }
        let discriminator = Discriminator::with_mapping(
            TAG,
            variants.iter().map(|v| (v.mark, reference(v.schema))),
        );
        RefOr::T(Schema::OneOf(
            one_of.discriminator(Some(discriminator)).build(),
        ))
    }
}

impl ToSchema for SlaEvent {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SlaEvent")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for v in &variants() {
            schemas.push((v.schema.to_string(), variant_schema(v)));
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::sla::{Event, Mark};

    /// Every mark; a new one does not compile here until it is documented above.
    fn every_mark() -> Vec<Mark> {
        let marks = vec![
            Mark::Started,
            Mark::Paused {
                reason: "on_hold (awaiting_caller)".into(),
            },
            Mark::Resumed,
            Mark::Stopped,
            Mark::Canceled,
            Mark::Reset,
            Mark::Threshold { percent: 100 },
        ];
        for m in &marks {
            match m {
                Mark::Started
                | Mark::Paused { .. }
                | Mark::Resumed
                | Mark::Stopped
                | Mark::Canceled
                | Mark::Reset
                | Mark::Threshold { .. } => {}
            }
        }
        marks
    }

    fn schema_json(schema: RefOr<Schema>) -> Value {
        serde_json::to_value(schema).unwrap_or(Value::Null)
    }

    #[test]
    fn each_event_is_exactly_its_named_variant() {
        let union = schema_json(SlaEvent::schema());
        let mapping = &union["discriminator"]["mapping"];
        let mut named = Vec::new();
        SlaEvent::schemas(&mut named);
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 9, 15, 0).single();
        for mark in every_mark() {
            let json = serde_json::to_value(Event {
                at: at.unwrap_or_default(),
                mark,
            })
            .unwrap_or(Value::Null);
            let tag = json[TAG].as_str().unwrap_or_default().to_string();
            let target = mapping[&tag].as_str().unwrap_or_default();
            let (_, schema) = named
                .iter()
                .find(|(n, _)| reference(n) == target)
                .unwrap_or_else(|| panic!("no schema for mark {tag}"));
            let schema = schema_json(schema.clone());
            let mut keys: Vec<&String> = json
                .as_object()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            let mut properties: Vec<&String> = schema["properties"]
                .as_object()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            keys.sort();
            properties.sort();
            assert_eq!(
                keys, properties,
                "{tag}: fields and documented properties differ"
            );
            let required = schema["required"].as_array().map(Vec::len).unwrap_or(0);
            assert_eq!(required, keys.len(), "{tag}: every field is always present");
            assert_eq!(schema["properties"][TAG]["const"], json!(tag));
            let example = &schema["example"];
            assert_eq!(
                example.as_object().map(|o| o.len()),
                Some(keys.len()),
                "{tag}: the example has every field"
            );
        }
        assert_eq!(
            mapping.as_object().map(|m| m.len()),
            Some(every_mark().len())
        );
    }
}
