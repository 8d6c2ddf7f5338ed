//! Compiled forms and conditions, kept between requests: compiling a JSON Schema costs more than
//! checking a request against it, and an item's form only changes with its version.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use platform::ApiError;
use serde_json::Value;
use uuid::Uuid;

use crate::domain::form::{self, Form};

/// How many compiled schemas are kept; past it the cache starts again (items are few, but a
/// tenant's overrides may bring many conditions).
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub struct FormCache {
    forms: Mutex<HashMap<(Uuid, i64), Arc<Form>>>,
    conditions: Mutex<HashMap<String, Arc<Form>>>,
}

fn remember<K: std::hash::Hash + Eq>(
    map: &Mutex<HashMap<K, Arc<Form>>>,
    key: K,
    make: impl FnOnce() -> Result<Form, ApiError>,
) -> Result<Arc<Form>, ApiError> {
    if let Ok(m) = map.lock()
        && let Some(found) = m.get(&key)
    {
        return Ok(found.clone());
    }
    let made = Arc::new(make()?);
    if let Ok(mut m) = map.lock() {
        if m.len() >= CAPACITY {
            m.clear();
        }
        m.insert(key, made.clone());
    }
    Ok(made)
}

impl FormCache {
    /// The form of version `version` of item `item`, whose stored schema is `schema`.
    pub fn form(&self, item: Uuid, version: i64, schema: &Value) -> Result<Arc<Form>, ApiError> {
        remember(&self.forms, (item, version), || {
            Form::parse("/form_schema", schema.clone())
                .map_err(|_| ApiError::internal(format!("item {item} has an invalid stored form")))
        })
    }

    /// A stored `auto_approve_when` condition.
    pub fn condition(&self, schema: &Value) -> Result<Arc<Form>, ApiError> {
        remember(&self.conditions, schema.to_string(), || {
            form::parse_condition("/auto_approve_when", schema.clone())
                .map_err(|_| ApiError::internal("a stored approval condition is invalid"))
        })
    }
}
