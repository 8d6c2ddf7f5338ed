//! Operational endpoints every service serves beside its API: liveness (`/healthz`), readiness
//! of the backends it needs (`/readyz`) and Prometheus metrics (`/metrics`).
use std::{
    future::Future,
    sync::{Arc, OnceLock},
    time::Duration,
};

use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// A backend that `/readyz` checks.
pub trait ReadinessCheck: Send + Sync {
    fn name(&self) -> &'static str;
    fn check(&self) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
}

/// Health state shared by `/healthz`, `/readyz` and `/metrics`.
#[derive(Clone, Default)]
pub struct Health {
    /// Each check with the name `/readyz` reports it under.
    checks: Vec<(String, Arc<dyn ReadinessCheck>)>,
}

impl Health {
    pub fn with(mut self, check: Arc<dyn ReadinessCheck>) -> Self {
        self.checks.push((check.name().to_string(), check));
        self
    }

    /// A check of one of several services in the process, reported as `<service>.<name>` so
    /// that two services' databases are two lines.
    pub fn with_service(mut self, service: &str, check: Arc<dyn ReadinessCheck>) -> Self {
        self.checks
            .push((format!("{service}.{}", check.name()), check));
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
    for (name, check) in &health.checks {
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
        checks.insert(name.clone(), status.into());
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
