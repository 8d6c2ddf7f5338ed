//! HTTP bootstrap shared by every service: request spans with W3C trace context, metrics,
//! handler timeout, body limit, problem+json for framework errors, security headers, and the
//! server that serves a service's routes beside the health endpoints and the OpenAPI document.
//! Request ids, health endpoints and the OpenAPI helpers live in their own modules and are
//! re-exported here.
use std::{
    sync::Arc,
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
use tracing::Instrument;

use crate::error::{ApiError, problem_response};
pub use crate::{
    health::{
        Health, ReadinessCheck, healthz, metrics_endpoint, operational_routes, prometheus, readyz,
    },
    openapi::{Register, openapi_base, openapi_of, with_edge_headers},
    request_id::{RequestId, current_request_id},
};

/// Upper bound on a handler's run time; past it the client gets 503.
#[derive(Clone, Copy, Debug)]
pub struct RequestTimeout(pub Duration);

/// Request middleware: assigns the request id, opens the request span (child of an incoming
/// `traceparent`), bounds the handler with `timeout`, records metrics and an access log line.
pub async fn observe<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: actix_web::middleware::Next<B>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<B>>, Error> {
    let id = RequestId::accept_or_new(req.headers().get("x-request-id"));
    req.extensions_mut().insert(id.clone());
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
        request_id = %id.0,
        tenant_id = tracing::field::Empty,
    );
    crate::telemetry::set_parent_from_headers(&span, req.headers());
    let started = Instant::now();
    let method = req.method().to_string();
    // The request must not be cloned before routing (actix needs it uniquely owned).
    let fut = id.scope(next.call(req));
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
    if let Ok(v) = HeaderValue::from_str(&id.0) {
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

/// A running HTTP server.
pub struct Server {
    pub port: u16,
    pub handle: actix_web::dev::ServerHandle,
    pub server: actix_web::dev::Server,
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
