//! The OpenAPI document of a service's routes: the base document (info, security schemes),
//! the document of a route registration without a server, and what the edge adds to every
//! secured operation (`Idempotency-Key`, the `4XX` problem+json answer).
use std::sync::Arc;

/// Route registration of one or more services (routes plus their state).
pub type Register = Arc<dyn Fn(&mut utoipa_actix_web::service_config::ServiceConfig) + Send + Sync>;

/// The base OpenAPI document: info and the security schemes every route refers to.
pub fn openapi_base(title: &str) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::{
        ComponentsBuilder, InfoBuilder, OpenApiBuilder,
        security::{
            ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme,
        },
    };
    let scopes = Scopes::from_iter(
        crate::auth::ALL_SCOPES
            .iter()
            .map(|s| (s.to_string(), format!("the {s} scope"))),
    );
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(title)
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Multi-tenant IT service management API. Errors are RFC 9457 problem+json; \
                     lists use cursor pagination; act in a customer tenant with `X-Tenant`.",
                ))
                .build(),
        )
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(
                    "bearer",
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Bearer)
                            .bearer_format("JWT")
                            .build(),
                    ),
                )
                .security_scheme(
                    "oauth2",
                    SecurityScheme::OAuth2(OAuth2::new([Flow::ClientCredentials(
                        ClientCredentials::new("/oauth/token", scopes),
                    )])),
                )
                .build(),
        ))
        .build()
}

/// The OpenAPI document of `register`'s routes (no server needed).
pub fn openapi_of(title: &str, register: &Register) -> utoipa::openapi::OpenApi {
    use utoipa_actix_web::AppExt;
    let reg = register.clone();
    let (_, api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(openapi_base(title))
        .configure(move |cfg| reg(cfg))
        .split_for_parts();
    with_edge_headers(api)
}

/// Documents what the edge adds to routes: `Idempotency-Key` on every authenticated `POST`
/// (see [`crate::idempotency`]), and on every authenticated operation the `4XX` problem+json
/// answer (bad input, a missing scope, another tenant's id), so no route repeats it.
pub fn with_edge_headers(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::{
        ObjectBuilder, Required, Type,
        path::{ParameterBuilder, ParameterIn},
    };
    let key = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Retries with the same key and request get the first response again \
             (`Idempotent-Replayed: true`); kept 24 hours per principal",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[\\x21-\\x7e]+$")),
        ))
        .build();
    let client_error = utoipa::openapi::ResponseBuilder::new()
        .description("Client error: problem+json naming the field or reason")
        .content(
            "application/problem+json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name(
                    <crate::error::Problem as utoipa::ToSchema>::name(),
                )))
                .build(),
        )
        .build();
    let secured =
        |op: &utoipa::openapi::path::Operation| op.security.as_ref().is_some_and(|s| !s.is_empty());
    for item in api.paths.paths.values_mut() {
        if let Some(op) = item.post.as_mut().filter(|op| secured(op)) {
            op.parameters
                .get_or_insert_with(Vec::new)
                .push(utoipa::openapi::RefOr::T(key.clone()));
        }
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten().filter(|op| secured(op)) {
            op.responses
                .responses
                .entry("4XX".into())
                .or_insert_with(|| utoipa::openapi::RefOr::T(client_error.clone()));
        }
    }
    let mut problem = vec![(
        <crate::error::Problem as utoipa::ToSchema>::name().into_owned(),
        <crate::error::Problem as utoipa::PartialSchema>::schema(),
    )];
    <crate::error::Problem as utoipa::ToSchema>::schemas(&mut problem);
    let components = api.components.get_or_insert_with(Default::default);
    for (name, schema) in problem {
        components.schemas.entry(name).or_insert(schema);
    }
    api
}
