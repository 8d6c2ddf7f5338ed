//! Each tenant's time zone (the `time_zone` setting, inherited down the tree; UTC when no
//! tenant on its path set one), remembered until a tenant event arrives.
use std::{collections::HashMap, sync::Mutex};

use chrono_tz::Tz;
use sea_orm::{DatabaseTransaction, DbErr};
use uuid::Uuid;

/// The setting read.
pub const SETTING: &str = "time_zone";

#[derive(Default)]
pub struct Zones {
    known: Mutex<HashMap<Uuid, Tz>>,
}

impl Zones {
    /// `tenant`'s zone, read in `txn` (scoped to `tenant`) unless remembered; `None` while the
    /// tenant is not in the directory yet.
    pub async fn of(&self, txn: &DatabaseTransaction, tenant: Uuid) -> Result<Option<Tz>, DbErr> {
        if let Some(zone) = self.known.lock().ok().and_then(|k| k.get(&tenant).copied()) {
            return Ok(Some(zone));
        }
        if bus::directory::path_in(txn, tenant).await?.is_none() {
            return Ok(None);
        }
        let zone = bus::directory::inherited_setting(txn, tenant, SETTING)
            .await?
            .and_then(|v| v.as_str().and_then(|z| z.parse::<Tz>().ok()))
            .unwrap_or(Tz::UTC);
        if let Ok(mut known) = self.known.lock() {
            known.insert(tenant, zone);
        }
        Ok(Some(zone))
    }

    /// Forgets every zone: a tenant's settings (or a new tenant's place) may have changed.
    pub fn forget(&self) {
        if let Ok(mut known) = self.known.lock() {
            known.clear();
        }
    }
}
