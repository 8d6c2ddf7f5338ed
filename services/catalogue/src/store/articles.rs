//! Knowledge articles, one row per version, with their full-text index (a generated `tsvector`
//! on PostgreSQL, the `knowledge_search` FTS5 table on SQLite) and their links.
use chrono::{DateTime, Utc};
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Statement, Value, sea_query::ExprTrait,
};
use uuid::Uuid;

use super::{
    entities::{article, article_link},
    json::{from_json, to_json},
};
use crate::domain::article::{ArticleState, Audience, Effect, Version, Versions};

pub type Article = article::Model;
pub type Link = article_link::Model;

/// What an article's text and audience are (a new article, or a version's content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub title: String,
    pub body: String,
    pub audience: Audience,
    pub share_with_customers: bool,
}

/// Changes to an article's content; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentChanges {
    pub title: Option<String>,
    pub body: Option<String>,
    pub audience: Option<Audience>,
    pub share_with_customers: Option<bool>,
}

impl Article {
    pub fn contributors(&self) -> Result<Vec<Uuid>, DbErr> {
        from_json(
            "knowledge_articles",
            "contributor_ids",
            self.id,
            &self.contributor_ids,
        )
    }
}

/// The lifecycle view of an article's versions (oldest first).
pub fn lifecycle(rows: &[Article]) -> Result<Versions, DbErr> {
    rows.iter()
        .map(|r| {
            Ok(Version {
                version: r.article_version,
                state: r.state,
                contributors: r.contributors()?,
            })
        })
        .collect::<Result<_, DbErr>>()
        .map(Versions)
}

/// Writes the first version (a draft by `author`) of a new article.
pub async fn insert(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    number: String,
    content: Content,
    author: Uuid,
) -> Result<Article, DbErr> {
    let id = Uuid::now_v7();
    article::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant.as_uuid()),
        article_id: Set(id),
        number: Set(number),
        article_version: Set(1),
        newest: Set(true),
        state: Set(ArticleState::Draft),
        title: Set(content.title),
        body: Set(content.body),
        audience: Set(content.audience),
        share_with_customers: Set(content.share_with_customers),
        contributor_ids: Set(to_json(&vec![author])?),
        author_id: Set(author),
        published_by: Set(None),
        published_at: Set(None),
        retired_at: Set(None),
        ..article::ActiveModel::new()
    }
    .insert(txn)
    .await
}

/// The versions of article `id` of `tenant`, oldest first (none: no such article).
pub async fn versions(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Vec<Article>, DbErr> {
    article::Entity::find()
        .filter(article::Column::TenantId.eq(tenant.as_uuid()))
        .filter(article::Column::ArticleId.eq(id))
        .order_by_asc(article::Column::ArticleVersion)
        .all(txn)
        .await
}

/// Applies `effects` (decided on `rows`, the article's versions) by `actor` at `now`, with
/// `changes` for an edited or new draft; returns the versions after.
pub async fn apply(
    txn: &DatabaseTransaction,
    mut rows: Vec<Article>,
    effects: &[Effect],
    changes: &ContentChanges,
    actor: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Article>, DbErr> {
    for effect in effects {
        match *effect {
            Effect::Set { version, to } => {
                let Some(at) = rows.iter().position(|r| r.article_version == version) else {
                    continue;
                };
                let mut am: article::ActiveModel = rows[at].clone().into();
                am.state = Set(to);
                if to == ArticleState::Published {
                    am.published_by = Set(Some(actor));
                    am.published_at = Set(Some(now));
                } else if to == ArticleState::Retired {
                    am.retired_at = Set(Some(now));
                }
                let row = am.update(txn).await?;
                index(txn, &row).await?;
                rows[at] = row;
            }
            Effect::Edit { version, by } => {
                let Some(at) = rows.iter().position(|r| r.article_version == version) else {
                    continue;
                };
                let mut contributors = rows[at].contributors()?;
                if !contributors.contains(&by) {
                    contributors.push(by);
                }
                let mut am: article::ActiveModel = rows[at].clone().into();
                am.contributor_ids = Set(to_json(&contributors)?);
                set_content(&mut am, changes);
                rows[at] = am.update(txn).await?;
            }
            Effect::NewDraft {
                version,
                from,
                author,
            } => {
                let Some(source) = rows.iter().find(|r| r.article_version == from).cloned() else {
                    continue;
                };
                for r in rows.iter_mut().filter(|r| r.newest) {
                    let mut am: article::ActiveModel = r.clone().into();
                    am.newest = Set(false);
                    *r = am.update(txn).await?;
                }
                let mut am = article::ActiveModel {
                    tenant_id: Set(source.tenant_id),
                    article_id: Set(source.article_id),
                    number: Set(source.number.clone()),
                    article_version: Set(version),
                    newest: Set(true),
                    state: Set(ArticleState::Draft),
                    title: Set(source.title.clone()),
                    body: Set(source.body.clone()),
                    audience: Set(source.audience),
                    share_with_customers: Set(source.share_with_customers),
                    contributor_ids: Set(to_json(&vec![author])?),
                    author_id: Set(author),
                    published_by: Set(None),
                    published_at: Set(None),
                    retired_at: Set(None),
                    ..article::ActiveModel::new()
                };
                set_content(&mut am, changes);
                rows.push(am.insert(txn).await?);
            }
        }
    }
    Ok(rows)
}

fn set_content(am: &mut article::ActiveModel, changes: &ContentChanges) {
    if let Some(title) = &changes.title {
        am.title = Set(title.clone());
    }
    if let Some(body) = &changes.body {
        am.body = Set(body.clone());
    }
    if let Some(audience) = changes.audience {
        am.audience = Set(audience);
    }
    if let Some(share) = changes.share_with_customers {
        am.share_with_customers = Set(share);
    }
}

/// Keeps SQLite's FTS5 table holding exactly the published versions (PostgreSQL's `tsvector`
/// is generated and its index partial, so there is nothing to do).
async fn index(txn: &DatabaseTransaction, row: &Article) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        return Ok(());
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "DELETE FROM knowledge_search WHERE row_id = ?",
        [row.id.into()],
    ))
    .await?;
    if row.state == ArticleState::Published {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO knowledge_search (row_id, title, body) VALUES (?, ?, ?)",
            [
                row.id.into(),
                row.title.clone().into(),
                row.body.clone().into(),
            ],
        ))
        .await?;
    }
    Ok(())
}

/// Which published articles a reader reaches: the acting tenant's own, and those its
/// providers share with customers; `agents` articles only for staff.
#[derive(Debug, Clone)]
pub struct Reach<'a> {
    /// The acting tenant's lineage, root first, the acting tenant last.
    pub lineage: &'a [TenantId],
    pub agents: bool,
}

impl Reach<'_> {
    fn acting(&self) -> Uuid {
        self.lineage.last().map_or(Uuid::nil(), |t| t.as_uuid())
    }

    fn filter<Q: QueryFilter>(&self, q: Q) -> Q {
        let providers: Vec<Uuid> = self
            .lineage
            .iter()
            .map(|t| t.as_uuid())
            .filter(|t| *t != self.acting())
            .collect();
        let mut q = q
            .filter(article::Column::State.eq(ArticleState::Published))
            .filter(
                article::Column::TenantId
                    .eq(self.acting())
                    .or(article::Column::TenantId
                        .is_in(providers)
                        .and(article::Column::ShareWithCustomers.eq(true))),
            );
        if !self.agents {
            q = q.filter(article::Column::Audience.eq(Audience::Requesters));
        }
        q
    }

    /// The SQL condition of [`Reach::filter`] on `knowledge_articles a`, with its values.
    fn condition(&self, values: &mut Vec<Value>, p: &impl Fn(usize) -> String) -> String {
        // Values in the order their placeholders appear (SQLite's `?` are positional).
        values.push(self.acting().into());
        let own = p(values.len());
        let mut providers = Vec::new();
        for t in self.lineage.iter().filter(|t| t.as_uuid() != self.acting()) {
            values.push(t.as_uuid().into());
            providers.push(p(values.len()));
        }
        let shared = if providers.is_empty() {
            String::new()
        } else {
            format!(
                " OR (a.tenant_id IN ({}) AND a.share_with_customers)",
                providers.join(", ")
            )
        };
        let audience = if self.agents {
            ""
        } else {
            " AND a.audience = 'requesters'"
        };
        format!("a.state = 'published' AND (a.tenant_id = {own}{shared}){audience}")
    }
}

/// The published version of article `id` as `reach` sees it.
pub async fn published(
    txn: &DatabaseTransaction,
    reach: &Reach<'_>,
    id: Uuid,
) -> Result<Option<Article>, DbErr> {
    reach
        .filter(article::Entity::find().filter(article::Column::ArticleId.eq(id)))
        .one(txn)
        .await
}

/// Up to `limit` published articles `reach` sees, after `after`, in article id order.
pub async fn list_published(
    txn: &DatabaseTransaction,
    reach: &Reach<'_>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Article>, DbErr> {
    let mut q = reach.filter(article::Entity::find());
    if let Some(after) = after {
        q = q.filter(article::Column::ArticleId.gt(after));
    }
    q.order_by_asc(article::Column::ArticleId)
        .limit(limit)
        .all(txn)
        .await
}

/// Up to `limit` of the tenant's articles (each as its newest version), after `after`, in
/// article id order; with `state`, only those whose newest version is in it.
pub async fn list_newest(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    state: Option<ArticleState>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Article>, DbErr> {
    let mut q = article::Entity::find()
        .filter(article::Column::TenantId.eq(tenant.as_uuid()))
        .filter(article::Column::Newest.eq(true));
    if let Some(state) = state {
        q = q.filter(article::Column::State.eq(state));
    }
    if let Some(after) = after {
        q = q.filter(article::Column::ArticleId.gt(after));
    }
    q.order_by_asc(article::Column::ArticleId)
        .limit(limit)
        .all(txn)
        .await
}

/// How many rows each tier of a PostgreSQL search ranks at most.
const CANDIDATES: u64 = 100;

/// A search hit: the published version and a plain-text snippet around the matched words.
#[derive(Debug, Clone)]
pub struct Hit {
    pub article: Article,
    pub snippet: String,
}

#[derive(FromQueryResult)]
struct Snippet {
    snippet: String,
}

/// The words of `text` as an FTS5 query matching any of them (each quoted, so no operator or
/// column filter can be injected); `None` when it has none.
fn fts5_any(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(32)
        .map(|w| format!("\"{}\"", w.to_lowercase()))
        .collect();
    (!words.is_empty()).then(|| words.join(" OR "))
}

/// The best `limit` published articles `reach` sees for `text`, best first. PostgreSQL parses
/// `text` with `websearch_to_tsquery` (quoted phrases and `-word` work); articles with all its
/// words come first, then those with any, each ranked by `ts_rank_cd` (title above body) over
/// a bounded set of candidates; SQLite ranks FTS5 `bm25` over
/// any of the words.
pub async fn search(
    txn: &DatabaseTransaction,
    reach: &Reach<'_>,
    text: &str,
    limit: u64,
) -> Result<Vec<Hit>, DbErr> {
    let backend = txn.get_database_backend();
    let mut values: Vec<Value> = Vec::new();
    let sql = if backend == DbBackend::Postgres {
        let p = |n: usize| format!("${n}");
        values.push(text.into());
        let condition = reach.condition(&mut values, &p);
        values.push((limit as i64).into());
        let limit = p(values.len());
        // Articles with every word (`all_words`) rank above those with some (`q_any`: each
        // AND between two terms becomes an OR; a negated term stays required), which are
        // only looked for when too few have them all. Ranking is costly, so each tier ranks at
        // most `CANDIDATES` rows the index finds: common words match most of a large
        // knowledge base, and requesters type them. Only the winners get a headline.
        format!(
            "WITH q AS (SELECT websearch_to_tsquery('english', $1) AS q_all, \
             regexp_replace(websearch_to_tsquery('english', $1)::text, \
             ' & (?!!)', ' | ', 'g')::tsquery AS q_any), \
             all_words AS MATERIALIZED (SELECT a.id, a.search FROM knowledge_articles a, q \
             WHERE a.search @@ q.q_all AND {condition} LIMIT {CANDIDATES}), \
             cand AS (SELECT id, search, 1 AS tier FROM all_words UNION ALL \
             (SELECT a.id, a.search, 0 AS tier FROM knowledge_articles a, q \
             WHERE (SELECT count(*) FROM all_words) < {limit} \
             AND a.search @@ q.q_any AND {condition} LIMIT {CANDIDATES})), \
             best AS (SELECT cand.id, max(cand.tier + ts_rank_cd(cand.search, q.q_any, 32)) AS rank \
             FROM cand, q GROUP BY cand.id ORDER BY rank DESC, cand.id LIMIT {limit}) \
             SELECT a.*, ts_headline('english', a.body, q.q_any, \
             'StartSel=\"\", StopSel=\"\", MaxWords=30, MinWords=12, MaxFragments=1') AS snippet \
             FROM best JOIN knowledge_articles a ON a.id = best.id, q \
             ORDER BY best.rank DESC, a.id"
        )
    } else {
        let Some(query) = fts5_any(text) else {
            return Ok(Vec::new());
        };
        let p = |_: usize| "?".to_string();
        values.push(query.into());
        let condition = reach.condition(&mut values, &p);
        values.push((limit as i64).into());
        format!(
            "SELECT a.*, snippet(knowledge_search, 2, '', '', '…', 24) AS snippet \
             FROM knowledge_search s JOIN knowledge_articles a ON a.id = s.row_id \
             WHERE knowledge_search MATCH ? AND {condition} \
             ORDER BY bm25(knowledge_search, 0.0, 10.0, 1.0), a.id LIMIT ?"
        )
    };
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Hit {
                article: Article::from_query_result(row, "")?,
                snippet: Snippet::from_query_result(row, "")?.snippet,
            })
        })
        .collect()
}

/// Pins version `version` of article `article` (of `article_tenant`) to a target of `tenant`.
pub async fn link(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    article: &Article,
    target_type: &str,
    target_id: Uuid,
    by: Uuid,
    now: DateTime<Utc>,
) -> Result<Link, DbErr> {
    article_link::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.as_uuid()),
        article_id: Set(article.article_id),
        article_tenant_id: Set(article.tenant_id),
        article_version: Set(article.article_version),
        target_type: Set(target_type.to_string()),
        target_id: Set(target_id),
        created_by: Set(by),
        created_at: Set(now),
    }
    .insert(txn)
    .await
}

/// The tenant's link of `article` to the target, if there is one.
pub async fn find_link(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    article: Uuid,
    target_type: &str,
    target_id: Uuid,
) -> Result<Option<Link>, DbErr> {
    article_link::Entity::find()
        .filter(article_link::Column::TenantId.eq(tenant.as_uuid()))
        .filter(article_link::Column::ArticleId.eq(article))
        .filter(article_link::Column::TargetType.eq(target_type))
        .filter(article_link::Column::TargetId.eq(target_id))
        .one(txn)
        .await
}

/// The tenant's links of `article`, oldest first (at most `limit`).
pub async fn links(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    article: Uuid,
    limit: u64,
) -> Result<Vec<Link>, DbErr> {
    article_link::Entity::find()
        .filter(article_link::Column::TenantId.eq(tenant.as_uuid()))
        .filter(article_link::Column::ArticleId.eq(article))
        .order_by_asc(article_link::Column::Id)
        .limit(limit)
        .all(txn)
        .await
}

/// Titles of the versions `ids` (for reports), as far as the transaction's scope reaches.
pub async fn titles(txn: &DatabaseTransaction, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>, DbErr> {
    Ok(article::Entity::find()
        .filter(article::Column::ArticleId.is_in(ids.to_vec()))
        .filter(article::Column::Newest.eq(true))
        .all(txn)
        .await?
        .into_iter()
        .map(|a| (a.article_id, a.title))
        .collect())
}
