//! Persistence. Every function takes a transaction already scoped to the tenant and filters by
//! tenant itself too.
pub mod capacity;
pub mod cmdb;
pub mod entities;
pub mod incidents;
pub mod portfolio;
pub mod problems;
pub mod sla;

pub use platform::record::now;

/// A row of `E` read as its model, where a value this version cannot read (a state it does
/// not know, say) is an error that names the table and the row's id, never a default.
pub struct Named<E: sea_orm::EntityTrait>(pub E::Model);

impl<E: sea_orm::EntityTrait> sea_orm::FromQueryResult for Named<E> {
    fn from_query_result(res: &sea_orm::QueryResult, pre: &str) -> Result<Self, sea_orm::DbErr> {
        <E::Model as sea_orm::FromQueryResult>::from_query_result(res, pre)
            .map(Named)
            .map_err(|err| unreadable::<E>(res, pre, err))
    }
}

/// `err`, reading a row of `E`, with the table and the row's id.
pub fn unreadable<E: sea_orm::EntityTrait>(
    res: &sea_orm::QueryResult,
    pre: &str,
    err: sea_orm::DbErr,
) -> sea_orm::DbErr {
    let id = res
        .try_get::<uuid::Uuid>(pre, "id")
        .map_or_else(|_| "?".to_string(), |id| id.to_string());
    let table = sea_orm::EntityName::table_name(&E::default());
    sea_orm::DbErr::Custom(format!("{table} row {id}: {err}"))
}

#[cfg(test)]
mod tests;
