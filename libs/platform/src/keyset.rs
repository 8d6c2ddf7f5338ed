//! Lists in any order, a page at a time: how a sort key is written into a cursor and read back,
//! and the row-value comparison that starts a page after the cursor, served by a
//! `(…, key, id)` index on both databases.
use crate::cursor::Position;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DbBackend, EntityTrait, Order, QueryFilter, QueryOrder, Select, Value,
    sea_query::{Expr, SimpleExpr},
};
use uuid::Uuid;

/// What a list is ordered by besides its id.
#[derive(Debug, Clone, Copy)]
pub enum Key<C> {
    /// Only the id (creation order).
    Id,
    Time(C),
    SmallInt(C),
}

/// An order: the key and its direction (ties are broken by id in the same direction).
#[derive(Debug, Clone, Copy)]
pub struct ListOrder<C> {
    pub key: Key<C>,
    pub descending: bool,
}

/// A cursor read under an order: the key's value (none in id order) and the id.
#[derive(Debug, Clone)]
pub struct After {
    key: Option<Value>,
    id: Uuid,
}

/// A timestamp as cursors carry it: RFC 3339 with every stored digit, so it reads back equal.
pub fn time_key(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

impl<C: ColumnTrait + Copy> ListOrder<C> {
    /// The position `cursor` names under this order; `None` when the cursor was issued by
    /// another order or its key does not parse.
    pub fn read(&self, cursor: &Position) -> Option<After> {
        let key: Option<Value> = match (self.key, cursor.key.as_deref()) {
            (Key::Id, None) => None,
            (Key::Time(_), Some(k)) => Some(
                DateTime::parse_from_rfc3339(k)
                    .ok()?
                    .with_timezone(&Utc)
                    .into(),
            ),
            (Key::SmallInt(_), Some(k)) => Some(k.parse::<i16>().ok()?.into()),
            _ => return None,
        };
        Some(After { key, id: cursor.id })
    }

    /// `q` in this order, starting after `after`.
    pub fn apply<E: EntityTrait<Column = C>>(
        &self,
        mut q: Select<E>,
        backend: DbBackend,
        id: C,
        after: Option<&After>,
    ) -> Select<E> {
        let order = if self.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        let column = match self.key {
            Key::Id => None,
            Key::Time(c) | Key::SmallInt(c) => Some(c),
        };
        if let Some(after) = after {
            q = q.filter(match (column, &after.key) {
                (Some(c), Some(key)) => self.row_after(backend, E::default(), c, key, after.id),
                _ if self.descending => id.lt(after.id),
                _ => id.gt(after.id),
            });
        }
        if let Some(c) = column {
            q = q.order_by(c, order.clone());
        }
        q.order_by(id, order)
    }

    /// `(key, id) > (k, i)` (`<` descending) as one row-value comparison, which an index on
    /// `(…, key, id)` serves as a range; sea-query takes `$n` for PostgreSQL, `?` for SQLite.
    fn row_after<E: EntityTrait>(
        &self,
        backend: DbBackend,
        entity: E,
        column: C,
        key: &Value,
        id: Uuid,
    ) -> SimpleExpr {
        let table = entity.table_name();
        let op = if self.descending { "<" } else { ">" };
        let params = if backend == DbBackend::Postgres {
            "$1, $2"
        } else {
            "?, ?"
        };
        Expr::cust_with_values(
            format!("({table}.{}, {table}.id) {op} ({params})", column.as_str()),
            [key.clone(), id.into()],
        )
    }
}
