//! HTTP bootstrap shared by every service: request ids, request spans with W3C trace context,
//! metrics, handler timeout, body limit, problem+json for framework errors, health endpoints.
use std::{
    future::Future,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use actix_web::{
    Error, HttpMessage, HttpRequest, HttpResponse,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::{
        StatusCode,
        header::{HeaderName, HeaderValue},
    },
    web,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

use crate::error::{ApiError, problem_response};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served on this task, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Upper bound on a handler's run time; past it the client gets 503.
#[derive(Clone, Copy, Debug)]
pub struct RequestTimeout(pub Duration);

/// The request id as stored in request extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

fn accept_request_id(value: Option<&HeaderValue>) -> Option<String> {
    let v = value?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    ok.then(|| v.to_string())
}

/// Request middleware: assigns the request id, opens the request span (child of an incoming
/// `traceparent`), bounds the handler with `timeout`, records metrics and an access log line.
pub async fn observe<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: actix_web::middleware::Next<B>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<B>>, Error> {
    let request_id = accept_request_id(req.headers().get("x-request-id"))
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let timeout = req
        .app_data::<web::Data<RequestTimeout>>()
        .map(|t| t.0)
        .unwrap_or(Duration::from_secs(30));
    let span = tracing::info_span!(
        "http.request",
        http.method = %req.method(),
        http.target = %req.path(),
        http.route = tracing::field::Empty,
        http.status = tracing::field::Empty,
        request_id = %request_id,
        tenant_id = tracing::field::Empty,
    );
    crate::telemetry::set_parent_from_headers(&span, req.headers());
    let started = Instant::now();
    let method = req.method().to_string();
    // The request must not be cloned before routing (actix needs it uniquely owned).
    let fut = REQUEST_ID.scope(request_id.clone(), next.call(req));
    let mut res = match tokio::time::timeout(timeout, fut)
        .instrument(span.clone())
        .await
    {
        Ok(Ok(res)) => res.map_into_left_body(),
        Ok(Err(err)) => return Err(err),
        Err(_) => {
            metrics::counter!("http_request_timeouts_total").increment(1);
            return Err(ApiError::unavailable("the request took too long; retry shortly").into());
        }
    };
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let status = res.status().as_u16();
    span.record("http.route", route.as_str());
    span.record("http.status", status);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), v);
    }
    let limit = res
        .request()
        .extensions()
        .get::<crate::ratelimit::Decision>()
        .copied();
    if let Some(d) = limit {
        let secs = |d: Duration| d.as_secs() + u64::from(d.subsec_nanos() > 0);
        for (name, value) in [
            ("ratelimit-limit", d.limit.to_string()),
            ("ratelimit-remaining", d.remaining.to_string()),
            ("ratelimit-reset", secs(d.reset_after).to_string()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                res.headers_mut().insert(HeaderName::from_static(name), v);
            }
        }
    }
    let elapsed = started.elapsed();
    let labels = [
        ("method", method.clone()),
        ("route", route.clone()),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2])
        .record(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            route = %route,
            "{method} {} {status}",
            res.request().path()
        )
    });
    Ok(res)
}

/// Framework errors (bad path parameter, bad query string, payload errors) as problem+json.
pub fn json_error_config(limit: usize) -> (web::PathConfig, web::QueryConfig, web::PayloadConfig) {
    let path = web::PathConfig::default().error_handler(|_, _| {
        // An id that does not even parse is as unknown as one from another tenant.
        ApiError::not_found("resource").into()
    });
    let query = web::QueryConfig::default()
        .error_handler(|err, _| ApiError::bad_query("", "invalid_query", err.to_string()).into());
    (path, query, web::PayloadConfig::new(limit))
}

/// 404 for unknown routes, in problem+json.
pub async fn not_found_route(req: HttpRequest) -> HttpResponse {
    let id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    problem_response(
        &ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such route"),
        id,
    )
}

/// A backend that `/readyz` checks.
pub trait ReadinessCheck: Send + Sync {
    fn name(&self) -> &'static str;
    fn check(&self) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
}

/// Health state shared by `/healthz`, `/readyz` and `/metrics`.
#[derive(Clone, Default)]
pub struct Health {
    checks: Vec<Arc<dyn ReadinessCheck>>,
}

impl Health {
    pub fn with(mut self, check: Arc<dyn ReadinessCheck>) -> Self {
        self.checks.push(check);
        self
    }
}

/// Liveness: the process serves requests.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: every backend answers within 2 s.
pub async fn readyz(health: web::Data<Health>) -> HttpResponse {
    let mut ok = true;
    let mut checks = serde_json::Map::new();
    for check in &health.checks {
        let result = tokio::time::timeout(Duration::from_secs(2), check.check()).await;
        let status = match result {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(e)) => {
                ok = false;
                e
            }
            Err(_) => {
                ok = false;
                "timeout".to_string()
            }
        };
        checks.insert(check.name().to_string(), status.into());
    }
    let body =
        serde_json::json!({"status": if ok { "ok" } else { "unavailable" }, "checks": checks});
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(body)
    }
}

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide Prometheus recorder (installed on first use).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
        .as_ref()
}

/// Prometheus text exposition.
pub async fn metrics_endpoint() -> HttpResponse {
    let body = prometheus().map(|h| h.render()).unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}

/// Registers `/healthz`, `/readyz` and `/metrics`.
pub fn operational_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics_endpoint));
}

/// A running HTTP server.
pub struct Server {
    pub port: u16,
    pub handle: actix_web::dev::ServerHandle,
    pub server: actix_web::dev::Server,
}

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

/// Headers every response carries: no MIME sniffing, no referrer leaving the platform, never
/// framed (clickjacking), a content policy that lets an API response run nothing and Swagger UI
/// only its own files, and HSTS when the deployment is served over HTTPS.
pub async fn security_headers<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: actix_web::middleware::Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let hsts = req
        .app_data::<web::Data<Hsts>>()
        .is_some_and(|h| h.get_ref().0);
    let docs = req.path().starts_with("/docs");
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    let set =
        |h: &mut actix_web::http::header::HeaderMap, name: &'static str, value: &'static str| {
            h.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        };
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "x-frame-options", "DENY");
    set(
        h,
        "content-security-policy",
        if docs {
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        } else {
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
        },
    );
    if hsts {
        set(
            h,
            "strict-transport-security",
            "max-age=63072000; includeSubDomains",
        );
    }
    Ok(res)
}

/// Whether responses carry `Strict-Transport-Security` (the public URL is `https://`).
#[derive(Clone, Copy)]
pub struct Hsts(pub bool);

/// Binds `listen` and starts serving `register`'s routes with the shared middleware, health
/// endpoints, `/metrics`, the OpenAPI document and Swagger UI at `/docs`.
pub fn start(
    settings: &crate::settings::Settings,
    listener: std::net::TcpListener,
    title: &'static str,
    register: Register,
    health: Health,
    idempotency: Option<Arc<crate::idempotency::Idempotency>>,
) -> std::io::Result<Server> {
    use utoipa_actix_web::AppExt;
    use utoipa_swagger_ui::SwaggerUi;
    let port = listener.local_addr()?.port();
    let limit = settings.http_max_body_bytes;
    let timeout = RequestTimeout(Duration::from_secs(settings.http_request_timeout_secs));
    let _ = prometheus();
    let hsts = Hsts(
        settings
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://")),
    );
    let mut server = actix_web::HttpServer::new(move || {
        let (path, query, payload) = json_error_config(limit);
        let reg = register.clone();
        let idempotency = idempotency.clone();
        actix_web::App::new()
            .into_utoipa_app()
            .openapi(openapi_base(title))
            .app_data(path)
            .app_data(query)
            .app_data(payload)
            .app_data(web::Data::new(timeout))
            .app_data(web::Data::new(health.clone()))
            .app_data(web::Data::new(hsts))
            .configure(move |cfg| reg(cfg))
            .openapi_service(|api| {
                let api = with_edge_headers(api);
                SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", api)
            })
            .into_app()
            .configure(operational_routes)
            .route(
                "/docs",
                web::get().to(|| async {
                    HttpResponse::PermanentRedirect()
                        .insert_header(("Location", "/docs/"))
                        .finish()
                }),
            )
            .default_service(web::to(not_found_route))
            .wrap(actix_web::middleware::from_fn(move |req, next| {
                let idempotency = idempotency.clone();
                async move {
                    match idempotency {
                        Some(i) => i.guard(req, next).await,
                        None => next
                            .call(req)
                            .await
                            .map(ServiceResponse::map_into_boxed_body),
                    }
                }
            }))
            .wrap(actix_web::middleware::from_fn(observe))
            .wrap(actix_web::middleware::from_fn(security_headers))
    })
    .listen(listener)?
    .shutdown_timeout(settings.http_shutdown_timeout_secs);
    if settings.http_workers > 0 {
        server = server.workers(settings.http_workers);
    }
    let server = server.run();
    Ok(Server {
        port,
        handle: server.handle(),
        server,
    })
}
