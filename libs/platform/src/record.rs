//! Versioned records: the bookkeeping every service's entities share.
use chrono::{DateTime, SubsecRound, Utc};

/// Now at the microsecond precision PostgreSQL keeps.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A versioned record's bookkeeping, in one place: a new one (`ActiveModel::new()`) gets its
/// id (UUIDv7), version 1 and timestamps; every update a new version and `updated_at`.
#[macro_export]
macro_rules! versioned_record {
    () => {
        #[$crate::__async_trait::async_trait]
        impl ActiveModelBehavior for ActiveModel {
            fn new() -> Self {
                let now = $crate::record::now();
                Self {
                    id: sea_orm::ActiveValue::Set(Uuid::now_v7()),
                    version: sea_orm::ActiveValue::Set(1),
                    created_at: sea_orm::ActiveValue::Set(now),
                    updated_at: sea_orm::ActiveValue::Set(now),
                    ..<Self as sea_orm::ActiveModelTrait>::default()
                }
            }

            async fn before_save<C: ConnectionTrait>(
                mut self,
                _db: &C,
                insert: bool,
            ) -> Result<Self, DbErr> {
                if !insert {
                    if let Some(version) = self.version.try_as_ref().copied() {
                        self.version = sea_orm::ActiveValue::Set(version + 1);
                    }
                    self.updated_at = sea_orm::ActiveValue::Set($crate::record::now());
                }
                Ok(self)
            }
        }
    };
}
