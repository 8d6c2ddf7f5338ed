//! The capacity forecaster (ADR 43): computes the forecasts of due thresholds — those with new
//! samples (woken at once by an ingest on this replica, found within a minute by the others),
//! those edited, and every threshold hourly. Any number may run: each claims due thresholds with
//! `FOR UPDATE SKIP LOCKED` and stores the forecast, and what a breach does, in that
//! transaction, so a breach acts once.
use std::{sync::Arc, time::Duration as StdDuration};

use chrono::{DateTime, Duration, Utc};
use platform::{
    ApiError,
    numbers::Numbers,
    tenancy::{TenantId, scope_to},
};
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tokio::sync::{Notify, watch};

use crate::{
    domain::capacity::{self, Action, Forecast, Watch, Watched},
    feeder,
    store::capacity::{self as store, Threshold},
};

/// Thresholds claimed per transaction.
const BATCH: u64 = 200;
/// How often every threshold is computed again without new samples.
pub const REFRESH: Duration = Duration::hours(1);
/// How often the forecaster looks for due thresholds when not woken.
const POLL: StdDuration = StdDuration::from_secs(60);

pub struct Forecaster {
    db: DatabaseConnection,
    numbers: Arc<Numbers>,
    wake: Notify,
}

/// What one tick did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Forecasts computed.
    pub forecasts: usize,
    /// Breaches acted on (an improvement raised or an event announced).
    pub alarms: usize,
}

impl Forecaster {
    pub fn new(db: DatabaseConnection, numbers: Arc<Numbers>) -> Self {
        Self {
            db,
            numbers,
            wake: Notify::new(),
        }
    }

    /// Asks for a tick now (new samples made thresholds due).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Computes every threshold due at `now`.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Tick, ApiError> {
        let mut total = Tick::default();
        loop {
            let (done, claimed) = self.batch(now).await?;
            total.forecasts += done.forecasts;
            total.alarms += done.alarms;
            if claimed < BATCH as usize {
                return Ok(total);
            }
        }
    }

    async fn batch(&self, now: DateTime<Utc>) -> Result<(Tick, usize), ApiError> {
        let txn = self.db.begin().await?;
        store::declare_forecaster(&txn).await?;
        let rows = store::claim_due(&txn, now, BATCH).await?;
        let claimed = rows.len();
        let mut done = Tick::default();
        for row in rows {
            done.forecasts += 1;
            if self.forecast(&txn, row, now).await? {
                done.alarms += 1;
            }
        }
        txn.commit().await?;
        Ok((done, claimed))
    }

    /// Computes and stores `row`'s forecast; acts if it newly found a breach. Returns whether it
    /// acted.
    async fn forecast(
        &self,
        txn: &DatabaseTransaction,
        row: Threshold,
        now: DateTime<Utc>,
    ) -> Result<bool, ApiError> {
        let tenant = TenantId(row.tenant_id);
        // What the breach writes (an improvement, an outbox row) is the threshold's tenant's.
        scope_to(txn, &[tenant]).await?;
        let since = now - Duration::days(i64::from(row.lookback_days));
        let samples = store::samples_of(txn, &row, since, now).await?;
        let watch = Watch {
            limit: row.limit,
            direction: row.towards(),
            horizon: Duration::days(i64::from(row.horizon_days)),
        };
        let forecast = capacity::forecast(&samples, watch, now);
        // A breach acts when it begins; an ongoing one (predicted, then reached) does not act
        // again.
        let acts = forecast.status.is_alarm() && !row.forecast_status().is_alarm();
        let announced = acts && row.on_breach() == Action::Incident;
        if acts {
            self.act(txn, &row, watch, &forecast).await?;
        }
        store::save_forecast(txn, row, &forecast, now, now + REFRESH, announced).await?;
        Ok(acts)
    }

    async fn act(
        &self,
        txn: &DatabaseTransaction,
        row: &Threshold,
        watch: Watch,
        forecast: &Forecast,
    ) -> Result<(), ApiError> {
        let tenant = TenantId(row.tenant_id);
        match row.on_breach() {
            Action::Improvement => {
                let watched = Watched {
                    threshold_id: row.id,
                    target_type: row.target(),
                    target_id: row.target_id,
                    metric: &row.metric,
                    watch,
                };
                let signal = capacity::signal(watched, forecast);
                feeder::raise(txn, &self.db, &self.numbers, tenant, signal).await?;
            }
            Action::Incident => {
                bus::outbox::append(
                    txn,
                    tenant,
                    row.id,
                    row.event_version + 1,
                    &events::analytics::CapacityBreachPredicted {
                        threshold_id: row.id,
                        target_type: row.target_type.clone(),
                        target_id: row.target_id,
                        metric: row.metric.clone(),
                        limit: row.limit,
                        direction: row.direction.clone(),
                        status: forecast.status.as_str().into(),
                        breach_at: forecast.breach_at,
                        slope_per_day: forecast.slope_per_day.unwrap_or_default(),
                        last_value: forecast.last_value.unwrap_or_default(),
                    },
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Ticks when woken and every minute until `shutdown`.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut interval = tokio::time::interval(POLL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
            let started = std::time::Instant::now();
            match self.tick(Utc::now()).await {
                Ok(t) if t.forecasts > 0 => {
                    metrics::counter!("itsm_capacity_forecasts_total")
                        .increment(t.forecasts as u64);
                    metrics::histogram!("itsm_capacity_tick_seconds")
                        .record(started.elapsed().as_secs_f64());
                    tracing::debug!(forecasts = t.forecasts, alarms = t.alarms, "capacity tick");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(code = e.code, detail = %e.detail, "capacity tick failed"),
            }
        }
    }
}
