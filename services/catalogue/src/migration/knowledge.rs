//! Knowledge: article versions with their full-text index, links to incidents and problems,
//! suggestion sessions with their views, and the tickets requesters raised (for deflection).
use platform::tenancy::{enforce_rls, tenant_predicate};
use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

pub struct M0007Knowledge;

impl MigrationName for M0007Knowledge {
    fn name(&self) -> &str {
        "m20261206_000007_knowledge"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0007Knowledge {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("knowledge_article_numbers")
                .if_not_exists()
                .col(pk_uuid("tenant_id"))
                .col(big_integer("next"))
                .take(),
        )
        .await?;
        // One row per version of an article; `article_id` is the article's own id.
        m.create_table(
            Table::create()
                .table("knowledge_articles")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("article_id"))
                .col(string_len("number", 16))
                .col(integer("article_version"))
                .col(boolean("newest"))
                .col(string_len("state", 16))
                .col(string_len("title", 200))
                .col(text("body"))
                .col(string_len("audience", 16))
                .col(boolean("share_with_customers"))
                .col(json("contributor_ids"))
                .col(uuid("author_id"))
                .col(uuid_null("published_by"))
                .col(timestamp_with_time_zone_null("published_at"))
                .col(timestamp_with_time_zone_null("retired_at"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("knowledge_links")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("article_id"))
                .col(uuid("article_tenant_id"))
                .col(integer("article_version"))
                .col(string_len("target_type", 16))
                .col(uuid("target_id"))
                .col(uuid("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("knowledge_sessions")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("user_id"))
                .col(string_len("context", 24))
                .col(text("text"))
                .col(json("article_ids"))
                .col(integer("window_minutes"))
                .col(timestamp_with_time_zone_null("first_viewed_at"))
                .col(uuid_null("last_viewed_article_id"))
                .col(uuid_null("solved_article_id"))
                .col(timestamp_with_time_zone_null("solved_at"))
                .col(string_len("outcome", 16))
                .col(uuid_null("deflected_article_id"))
                .col(timestamp_with_time_zone_null("decided_at"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("knowledge_views")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("session_id"))
                .col(uuid("article_id"))
                .col(boolean("solved"))
                .col(timestamp_with_time_zone("at"))
                .take(),
        )
        .await?;
        // Requests and incidents raised, by whom and when: the evidence against a deflection.
        m.create_table(
            Table::create()
                .table("knowledge_raised")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("user_id"))
                .col(string_len("kind", 16))
                .col(timestamp_with_time_zone("at"))
                .take(),
        )
        .await?;
        bus::migration::create_indexes(
            m,
            &[
                (
                    "knowledge_articles_version",
                    "knowledge_articles",
                    &["tenant_id", "article_id", "article_version"][..],
                    true,
                ),
                (
                    "knowledge_articles_state",
                    "knowledge_articles",
                    &["tenant_id", "state", "article_id"][..],
                    false,
                ),
                (
                    "knowledge_articles_newest",
                    "knowledge_articles",
                    &["tenant_id", "newest", "article_id"][..],
                    false,
                ),
                (
                    "knowledge_links_target",
                    "knowledge_links",
                    &["tenant_id", "article_id", "target_type", "target_id"][..],
                    true,
                ),
                (
                    "knowledge_sessions_due",
                    "knowledge_sessions",
                    &["outcome", "first_viewed_at"][..],
                    false,
                ),
                (
                    "knowledge_sessions_user",
                    "knowledge_sessions",
                    &["tenant_id", "user_id", "outcome"][..],
                    false,
                ),
                (
                    "knowledge_sessions_created",
                    "knowledge_sessions",
                    &["tenant_id", "created_at"][..],
                    false,
                ),
                (
                    "knowledge_views_session",
                    "knowledge_views",
                    &["tenant_id", "session_id"][..],
                    false,
                ),
                (
                    "knowledge_raised_user",
                    "knowledge_raised",
                    &["tenant_id", "user_id", "at"][..],
                    false,
                ),
            ],
        )
        .await?;
        search_index(m.get_connection()).await?;
        enforce_rls(
            m.get_connection(),
            &[
                "knowledge_article_numbers",
                "knowledge_articles",
                "knowledge_links",
                "knowledge_views",
            ],
            &tenant_predicate("tenant_id"),
        )
        .await?;
        // The deflection sweeper decides due sessions across tenants by declaring
        // `app.deflection_worker` (and nothing else may); everything else is scoped.
        enforce_rls(
            m.get_connection(),
            &["knowledge_sessions", "knowledge_raised"],
            &format!(
                "{} OR current_setting('app.deflection_worker', true) = 'on'",
                tenant_predicate("tenant_id")
            ),
        )
        .await
    }
}

/// The full-text index of published versions: a weighted `tsvector` (title above body) with a
/// GIN index on PostgreSQL; an FTS5 table the store keeps in step on SQLite.
async fn search_index(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    let statements: &[&str] = match db.get_database_backend() {
        DbBackend::Postgres => &[
            "ALTER TABLE knowledge_articles ADD COLUMN IF NOT EXISTS search tsvector \
             GENERATED ALWAYS AS (setweight(to_tsvector('english', title), 'A') || \
             setweight(to_tsvector('english', body), 'B')) STORED",
            "CREATE INDEX IF NOT EXISTS knowledge_articles_search ON knowledge_articles \
             USING GIN (search) WHERE state = 'published'",
        ],
        _ => &[
            "CREATE VIRTUAL TABLE IF NOT EXISTS knowledge_search USING fts5(\
             row_id UNINDEXED, title, body, tokenize = 'porter unicode61')",
        ],
    };
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}
