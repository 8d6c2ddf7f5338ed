//! Rows for several tables written in one round trip that also scopes itself to the writer's
//! tenant.
//!
//! A create (the row, its events in the outbox, the records it starts) would otherwise cost
//! `BEGIN`, the scope, one statement per table and `COMMIT`: each a round trip, and on a busy
//! database each a wake-up of a backend. On PostgreSQL a [`ScopedWrite`] is one statement:
//!
//! ```sql
//! WITH scope AS MATERIALIZED (SELECT set_config('app.tenant_ids', $1, true) AS scoped),
//!      w0 AS (INSERT INTO outbox (…) SELECT … FROM scope, json_populate_recordset(NULL::outbox, $2::json)),
//!      written AS (INSERT INTO incidents (…) SELECT … FROM scope, json_populate_recordset(…) RETURNING *)
//! SELECT … FROM written AS incidents
//! ```
//!
//! Every insert reads its rows through `scope`, so no row reaches a row-level security check
//! before the setting is made: the check's own read of the setting runs when the first row
//! arrives. Were PostgreSQL ever to evaluate a check first, it would find no tenant and refuse
//! the row: the order can fail a write, never widen it. Run outside a transaction the statement
//! is its own transaction (the setting ends with it); inside one, it scopes the rest of it.
//!
//! Other backends (SQLite, which has no row-level security) run the inserts one by one on the
//! connection given, which must then be a transaction.
use chrono::SecondsFormat;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic, IntoActiveModel,
    Iterable, ModelTrait, PrimaryKeyToColumn, QueryResult, QueryTrait, Statement, Value,
    sea_query::OnConflict,
};
use serde_json::Value as Json;

use crate::tenancy::{LARGE_SCOPE, TenantId, join_ids};

/// Inserts into several tables as one statement scoped to a tenant; see the module docs.
pub struct ScopedWrite {
    backend: DbBackend,
    /// PostgreSQL: one `name AS (INSERT …)` per table; the last one is named `written`.
    ctes: Vec<(String, String)>,
    /// The statement's parameters: the scope, then one JSON array of rows per table.
    values: Vec<Value>,
    /// Other backends: the inserts, in order.
    statements: Vec<Statement>,
}

impl ScopedWrite {
    /// A write scoped to `tenants` (the writer's own tenant, usually). Large (MSP-wide) scopes
    /// are kept per connection (see `tenancy::scope_to`), which one statement cannot do.
    pub fn new(backend: DbBackend, tenants: &[TenantId]) -> Result<Self, DbErr> {
        if tenants.is_empty() || tenants.len() >= LARGE_SCOPE {
            return Err(DbErr::Custom(format!(
                "a scoped write is for 1 to {} tenants, not {}",
                LARGE_SCOPE - 1,
                tenants.len()
            )));
        }
        Ok(ScopedWrite {
            backend,
            ctes: Vec::new(),
            values: vec![join_ids(tenants).into()],
            statements: Vec::new(),
        })
    }

    /// Inserts `rows` into `E`'s table.
    pub fn insert<E>(&mut self, rows: impl IntoIterator<Item = E::Model>) -> Result<(), DbErr>
    where
        E: EntityTrait,
        E::Model: IntoActiveModel<E::ActiveModel>,
    {
        self.add::<E>(rows.into_iter().collect(), false)
    }

    /// Inserts those of `rows` whose primary key is not taken yet (content-addressed rows).
    pub fn insert_new<E>(&mut self, rows: impl IntoIterator<Item = E::Model>) -> Result<(), DbErr>
    where
        E: EntityTrait,
        E::Model: IntoActiveModel<E::ActiveModel>,
    {
        self.add::<E>(rows.into_iter().collect(), true)
    }

    fn add<E>(&mut self, rows: Vec<E::Model>, skip_taken: bool) -> Result<(), DbErr>
    where
        E: EntityTrait,
        E::Model: IntoActiveModel<E::ActiveModel>,
    {
        if rows.is_empty() {
            return Ok(());
        }
        if self.backend != DbBackend::Postgres {
            let mut insert =
                E::insert_many(rows.into_iter().map(|r| r.into_active_model().reset_all()));
            if skip_taken {
                insert = insert.on_conflict(
                    OnConflict::columns(E::PrimaryKey::iter().map(|k| k.into_column()))
                        .do_nothing()
                        .to_owned(),
                );
            }
            self.statements.push(insert.build(self.backend));
            return Ok(());
        }
        let json = rows
            .iter()
            .map(|row| {
                E::Column::iter()
                    .map(|c| Ok((c.as_str().to_string(), json_of(row.get(c))?)))
                    .collect::<Result<serde_json::Map<_, _>, DbErr>>()
                    .map(Json::Object)
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        self.values.push(Json::Array(json).to_string().into());
        let table = E::default().table_name().to_string();
        let columns = E::Column::iter()
            .map(|c| format!("\"{}\"", c.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let name = format!("w{}", self.ctes.len());
        self.ctes.push((
            name,
            format!(
                "INSERT INTO \"{table}\" ({columns}) SELECT {columns} FROM scope, \
                 json_populate_recordset(NULL::\"{table}\", ${}::json){}",
                self.values.len(),
                if skip_taken {
                    " ON CONFLICT DO NOTHING"
                } else {
                    ""
                }
            ),
        ));
        Ok(())
    }

    /// Runs the inserts. On PostgreSQL, `select` then reads the rows of the last insert as
    /// the table `written` (e.g. `SELECT … FROM written AS incidents`) in the same statement
    /// and its rows are returned; elsewhere nothing is returned and the caller reads back
    /// within its transaction.
    pub async fn run(
        mut self,
        conn: &impl ConnectionTrait,
        select: &str,
    ) -> Result<Option<Vec<QueryResult>>, DbErr> {
        if self.backend != DbBackend::Postgres {
            for statement in self.statements {
                conn.execute_raw(statement).await?;
            }
            return Ok(None);
        }
        if let Some((name, insert)) = self.ctes.last_mut() {
            *name = "written".into();
            insert.push_str(" RETURNING *");
        }
        let mut sql = String::from(
            "WITH scope AS MATERIALIZED (SELECT set_config('app.tenant_ids', $1, true) AS scoped)",
        );
        for (name, insert) in &self.ctes {
            sql.push_str(&format!(", {name} AS ({insert})"));
        }
        sql.push(' ');
        sql.push_str(select);
        let rows = conn
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                self.values,
            ))
            .await?;
        Ok(Some(rows))
    }
}

/// A column's value as `json_populate_recordset` reads it back into that column's type.
fn json_of(value: Value) -> Result<Json, DbErr> {
    Ok(match value {
        Value::ChronoDateTimeUtc(Some(t)) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true).into(),
        Value::ChronoDateTimeWithTimeZone(Some(t)) => {
            t.to_rfc3339_opts(SecondsFormat::AutoSi, true).into()
        }
        Value::ChronoDate(Some(d)) => d.to_string().into(),
        Value::Bool(_)
        | Value::TinyInt(_)
        | Value::SmallInt(_)
        | Value::Int(_)
        | Value::BigInt(_)
        | Value::Float(_)
        | Value::Double(_)
        | Value::String(_)
        | Value::Uuid(_)
        | Value::Json(_)
        | Value::ChronoDateTimeUtc(None)
        | Value::ChronoDateTimeWithTimeZone(None)
        | Value::ChronoDate(None) => sea_orm::sea_query::sea_value_to_json_value(&value),
        other => {
            return Err(DbErr::Custom(format!(
                "a scoped write cannot carry {other:?} as JSON"
            )));
        }
    })
}
