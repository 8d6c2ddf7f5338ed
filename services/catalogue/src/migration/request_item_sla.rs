//! A request item's SLA standing, as the incident service's SLA engine announces it.
use sea_orm_migration::{prelude::*, schema::*};

pub struct M0008RequestItemSla;

impl MigrationName for M0008RequestItemSla {
    fn name(&self) -> &str {
        "m20261206_000008_request_item_sla"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0008RequestItemSla {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [
            string_len_null("sla_state", 16),
            timestamp_with_time_zone_null("sla_due_at"),
            big_integer("sla_version").default(0).take(),
        ] {
            m.alter_table(
                Table::alter()
                    .table("request_items")
                    .add_column(column)
                    .take(),
            )
            .await?;
        }
        Ok(())
    }
}
