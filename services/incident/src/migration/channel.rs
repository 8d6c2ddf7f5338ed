//! How each incident came in (ADR 44). Incidents older than the column have none.
use sea_orm_migration::{prelude::*, schema::*};

pub struct M0017Channel;

impl MigrationName for M0017Channel {
    fn name(&self) -> &str {
        "m20261208_000017_channel"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0017Channel {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("incidents")
                .add_column(string_len_null("channel", 16))
                .take(),
        )
        .await
    }
}
