//! Named OpenAPI schemas for JSON the code builds as a value rather than a type (audit data,
//! settings patches, problem extensions): an object of any members, with a description and an
//! example, so SDK generators make one map type of it instead of guessing.
use serde_json::Value;
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, schema::AdditionalProperties};

/// An object whose members are not fixed by the document.
pub fn free_form(description: impl Into<String>, example: Value) -> RefOr<Schema> {
    #[allow(deprecated)] // `example` is what generators and Swagger UI read today.
    let object = ObjectBuilder::new()
        .description(Some(description))
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(true)))
        .example(Some(example));
    RefOr::T(Schema::Object(object.build()))
}

/// Declares a documentation-only named schema built by an expression:
/// `platform::named_schema!(AuditData, free_form("…", json!({…})))`.
#[macro_export]
macro_rules! named_schema {
    ($(#[$meta:meta])* $name:ident, $schema:expr) => {
        $(#[$meta])*
        pub enum $name {}

        impl $crate::__utoipa::PartialSchema for $name {
            fn schema() -> $crate::__utoipa::openapi::RefOr<$crate::__utoipa::openapi::Schema> {
                $schema
            }
        }

        impl $crate::__utoipa::ToSchema for $name {
            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    };
}
