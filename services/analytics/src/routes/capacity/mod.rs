//! `/api/v1/capacity` (ADR 43): samples in, thresholds, and the forecasts computed from them.
pub mod forecasts;
pub mod metrics;
pub mod thresholds;

use utoipa_actix_web::service_config::ServiceConfig;

pub fn routes(cfg: &mut ServiceConfig) {
    metrics::routes(cfg);
    thresholds::routes(cfg);
    forecasts::routes(cfg);
}
