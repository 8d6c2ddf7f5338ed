//! Keyset (cursor) pagination. Lists are ordered by id (UUIDv7, so creation order) unless the
//! client picks another `?sort=`; the cursor is opaque: the base64url-encoded last id of the
//! previous page, or for another sort the sort's name, the last row's sort key and its id
//! ([`Position`]). No offset scans.
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{
    IntoParams, ToSchema,
    openapi::{
        ArrayBuilder, ObjectBuilder, Ref, RefOr, Schema,
        schema::{SchemaType, Type},
    },
};
use uuid::Uuid;

pub use crate::cursor::{Position, encode_cursor};
use crate::{
    cursor::decode_cursor,
    error::ApiError,
    keyset::{After, ListOrder},
};
use sea_orm::ColumnTrait;

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: u64,
    pub after: Option<Uuid>,
}

impl PageQuery {
    pub fn validate(&self) -> Result<PageRequest, ApiError> {
        let limit = self.validate_limit()?;
        let after = match &self.cursor {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                ApiError::bad_query(
                    "cursor",
                    "invalid_cursor",
                    "cursor is not one this API issued",
                )
            })?),
        };
        Ok(PageRequest { limit, after })
    }
}

/// A list order clients pick with `?sort=` (an enum of a service's domain).
pub trait SortOrder: Copy + 'static {
    /// Every order, in the order the error message lists them.
    const ALL: &'static [Self];
    /// The value of `?sort=`.
    fn name(self) -> &'static str;

    fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.name() == raw)
    }
}

/// `?sort=` read as `S` (`default` when absent); an unknown order is 400 on `/query/sort`.
pub fn parse_sort<S: SortOrder>(raw: Option<&str>, default: S) -> Result<S, ApiError> {
    match raw {
        None => Ok(default),
        Some(raw) => S::parse(raw).ok_or_else(|| {
            let names: Vec<&str> = S::ALL.iter().map(|s| s.name()).collect();
            ApiError::bad_query(
                "sort",
                "unknown_sort",
                format!("sort by one of {}", names.join(", ")),
            )
        }),
    }
}

/// A validated page request for a list with `?sort=`.
#[derive(Debug, Clone)]
pub struct SortedPageRequest {
    pub limit: u64,
    pub after: Option<After>,
}

impl PageQuery {
    /// [`validate`](Self::validate) for a list sorted by `sort` (its name in `?sort=`) in
    /// `order`: the cursor must be one that this sort issued.
    pub fn validate_sorted<C: ColumnTrait + Copy>(
        &self,
        sort: &str,
        order: &ListOrder<C>,
    ) -> Result<SortedPageRequest, ApiError> {
        let limit = self.validate_limit()?;
        let after = match &self.cursor {
            None => None,
            Some(c) => Some(
                Position::decode(c, sort)
                    .and_then(|position| order.read(&position))
                    .ok_or_else(|| {
                        ApiError::bad_query(
                            "cursor",
                            "invalid_cursor",
                            format!("cursor is not one this API issued for sort {sort:?}"),
                        )
                    })?,
            ),
        };
        Ok(SortedPageRequest { limit, after })
    }

    fn validate_limit(&self) -> Result<u64, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_query(
                "limit",
                "out_of_range",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        Ok(limit)
    }
}

/// A page of results: `{"items": [...], "next_cursor": "…" | null}`. The OpenAPI document
/// names each page by its item type ([`page_schema!`](crate::page_schema)).
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in id order: the extra row only says
    /// that another page exists.
    pub fn from_rows(rows: Vec<T>, limit: u64, id_of: impl Fn(&T) -> Uuid) -> Self {
        Self::from_sorted_rows(rows, limit, "", |r| Position {
            key: None,
            id: id_of(r),
        })
    }

    /// [`from_rows`](Self::from_rows) for a list sorted by `sort`, the rows fetched in that
    /// order; `position_of` gives a row's sort key and id.
    pub fn from_sorted_rows(
        mut rows: Vec<T>,
        limit: u64,
        sort: &str,
        position_of: impl Fn(&T) -> Position,
    ) -> Self {
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| position_of(r).encode(sort))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }

    /// [`map`](Self::map) with a conversion that may fail: the first error.
    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<Result<_, _>>()?,
            next_cursor: self.next_cursor,
        })
    }
}

impl<T: Serialize> Page<T> {
    /// The page as a response with an RFC 8288 `Link: <…>; rel="next"` header.
    pub fn respond(&self, req: &actix_web::HttpRequest) -> actix_web::HttpResponse {
        let mut res = actix_web::HttpResponse::Ok();
        if let Some(cursor) = &self.next_cursor {
            let mut query: Vec<(String, String)> =
                url::form_urlencoded::parse(req.query_string().as_bytes())
                    .into_owned()
                    .filter(|(k, _)| k != "cursor")
                    .collect();
            query.push(("cursor".into(), cursor.clone()));
            let qs = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            res.insert_header(("Link", format!("<{}?{}>; rel=\"next\"", req.path(), qs)));
        }
        res.json(self)
    }
}

/// The cursor shown in examples.
const EXAMPLE_CURSOR: &str = "AZLs8vJ3dk2xZ4Q9mFq0YQ";

/// The OpenAPI schema of a `Page<T>`: the items by reference to `T`'s own schema, so a list
/// and a `get` answer the same type, and an example built from `T`'s.
pub fn page_schema<T: ToSchema>() -> RefOr<Schema> {
    let item_name = T::name();
    let example = json!({
        "items": example_of(&T::schema()).into_iter().collect::<Vec<_>>(),
        "next_cursor": EXAMPLE_CURSOR,
    });
    #[allow(deprecated)] // `example` is what generators and Swagger UI read today.
    let schema = ObjectBuilder::new()
        .description(Some(format!(
            "A page of `{item_name}`, in the list's order. `next_cursor` is the `cursor` of the \
             next page (also in the `Link: <…>; rel=\"next\"` header); `null` on the last page."
        )))
        .property(
            "items",
            ArrayBuilder::new().items(RefOr::Ref(Ref::from_schema_name(item_name.clone()))),
        )
        .required("items")
        .property(
            "next_cursor",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .description(Some(
                    "Opaque; pass it back as `cursor` to read the next page.",
                )),
        )
        .required("next_cursor")
        .example(Some(example))
        .build();
    RefOr::T(Schema::Object(schema))
}

/// The schemas a page of `T` refers to: `T` and what `T` refers to.
pub fn page_item_schemas<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
}

/// A schema's own example, if it has one.
fn example_of(schema: &RefOr<Schema>) -> Option<Value> {
    match schema {
        #[allow(deprecated)]
        RefOr::T(Schema::Object(o)) => o.example.clone().or_else(|| o.examples.first().cloned()),
        _ => None,
    }
}

/// Declares the named OpenAPI schema of a page of one item type, for `responses(... body = …)`:
/// `platform::page_schema!(IncidentPage, IncidentOut);` documents `Page<IncidentOut>` as
/// `IncidentPage` with `items: [$ref IncidentOut]`, so SDK generators make one type per item
/// and no anonymous list types.
#[macro_export]
macro_rules! page_schema {
    ($name:ident, $item:ty) => {
        #[doc = concat!("The OpenAPI schema of a page of `", stringify!($item), "` (documentation only).")]
        pub enum $name {}

        impl $crate::__utoipa::PartialSchema for $name {
            fn schema() -> $crate::__utoipa::openapi::RefOr<$crate::__utoipa::openapi::Schema> {
                $crate::pagination::page_schema::<$item>()
            }
        }

        impl $crate::__utoipa::ToSchema for $name {
            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(stringify!($name))
            }

            fn schemas(
                schemas: &mut ::std::vec::Vec<(
                    ::std::string::String,
                    $crate::__utoipa::openapi::RefOr<$crate::__utoipa::openapi::Schema>,
                )>,
            ) {
                $crate::pagination::page_item_schemas::<$item>(schemas)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let id = Uuid::now_v7();
        let q = PageQuery {
            limit: Some(10),
            cursor: Some(encode_cursor(id)),
        };
        assert_eq!(q.validate().ok().and_then(|p| p.after), Some(id));
    }

    #[test]
    fn limit_above_cap_names_limit() {
        let q = PageQuery {
            limit: Some(201),
            cursor: None,
        };
        assert_eq!(
            q.validate().err().map(|e| e.errors[0].pointer.clone()),
            Some("/query/limit".into())
        );
    }

    #[test]
    fn a_page_schema_refers_to_its_item_schema() {
        use crate::FieldError;
        let page = serde_json::to_value(page_schema::<FieldError>()).unwrap_or_default();
        assert_eq!(
            page["properties"]["items"]["items"]["$ref"],
            "#/components/schemas/FieldError"
        );
        assert_eq!(page["required"], json!(["items", "next_cursor"]));
        assert_eq!(page["example"]["next_cursor"], EXAMPLE_CURSOR);
        let mut schemas = Vec::new();
        page_item_schemas::<FieldError>(&mut schemas);
        assert!(schemas.iter().any(|(name, _)| name == "FieldError"));
    }

    #[test]
    fn extra_row_means_next_cursor() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page = Page::from_rows(ids.clone(), 2, |u| *u);
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.next_cursor, Some(encode_cursor(ids[1])));
        assert!(Page::from_rows(ids, 3, |u| *u).next_cursor.is_none());
    }
}
