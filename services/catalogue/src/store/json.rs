//! Typed values kept in JSON columns (policies, plans, availability): written from their types,
//! read back into them, and a stored value that does not parse is an error naming its row.
use sea_orm::DbErr;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use uuid::Uuid;

pub fn to_json<T: Serialize>(value: &T) -> Result<Value, DbErr> {
    serde_json::to_value(value).map_err(|e| DbErr::Json(e.to_string()))
}

/// `Option<T>` as a nullable JSON column.
pub fn to_json_opt<T: Serialize>(value: Option<&T>) -> Result<Option<Value>, DbErr> {
    value.map(to_json).transpose()
}

/// `value`, stored in `table.column` of row `id`, as a `T`.
pub fn from_json<T: DeserializeOwned>(
    table: &str,
    column: &str,
    id: Uuid,
    value: &Value,
) -> Result<T, DbErr> {
    serde_json::from_value(value.clone())
        .map_err(|e| DbErr::Json(format!("{table}.{column} of {id}: {e}")))
}

/// A nullable JSON column as an `Option<T>`.
pub fn from_json_opt<T: DeserializeOwned>(
    table: &str,
    column: &str,
    id: Uuid,
    value: Option<&Value>,
) -> Result<Option<T>, DbErr> {
    value.map(|v| from_json(table, column, id, v)).transpose()
}
