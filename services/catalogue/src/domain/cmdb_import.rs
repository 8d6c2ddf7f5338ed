//! CMDB imports, free of I/O: an import's options, its file read into rows (CSV or JSON; a
//! file that cannot be read at all is refused whole, a bad row fails alone), CSV text turned
//! into the types its class declares, and an incoming CI's attributes merged under the
//! reconciliation rules.
use chrono::{DateTime, Utc};
use platform::FieldError;
use serde_json::{Map, Value, json};

use super::cmdb_reconcile::{ReconRule, SetBy, governing, may_set};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Good rows are kept, bad ones reported.
    Partial,
    /// All or nothing.
    Atomic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyValues {
    /// An empty cell leaves the attribute as it is.
    Ignore,
    /// An empty cell removes the attribute.
    Clear,
}

macro_rules! named {
    ($t:ty, $($v:ident = $s:literal),+) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)+ _ => None }
            }
        }
    };
}
named!(Format, Csv = "csv", Json = "json");
named!(Mode, Partial = "partial", Atomic = "atomic");
named!(EmptyValues, Ignore = "ignore", Clear = "clear");

/// An attribute as the file gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// CSV text, typed by the class's schema when the row is taken.
    Text(String),
    /// A JSON value, as is (`null` clears the attribute).
    Json(Value),
    /// An empty CSV cell (see [`EmptyValues`]).
    Empty,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CiRow {
    pub class: String,
    pub name: String,
    pub status: Option<String>,
    pub attributes: Vec<(String, Cell)>,
}

/// A relationship between two CIs, each named `<class>:<attribute>=<value>` or by id.
#[derive(Debug, Clone, PartialEq)]
pub struct RelRow {
    pub from: String,
    pub rel_type: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RowData {
    Ci(CiRow),
    Rel(RelRow),
    /// Unreadable: the field and why.
    Bad(String, String),
}

/// A row and where it is: its line in a CSV file (the header is line 1), its position in a
/// JSON file (CIs first, from 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub row: i64,
    pub data: RowData,
}

fn file_error(pointer: &str, code: &str, detail: &str) -> Vec<FieldError> {
    vec![FieldError::new(pointer, code, detail)]
}

/// The rows of `body`; a file that is not UTF-8, has no usable header or is not the JSON
/// shape is refused with the field at fault.
pub fn read(format: Format, body: &[u8]) -> Result<Vec<Row>, Vec<FieldError>> {
    let text = std::str::from_utf8(body)
        .map_err(|_| file_error("/body", "not_utf8", "the file is not UTF-8 text"))?;
    match format {
        Format::Csv => read_csv(text),
        Format::Json => read_json(text),
    }
}

const CI_COLUMNS: [&str; 3] = ["class", "name", "status"];
const REL_COLUMNS: [&str; 3] = ["from", "type", "to"];

fn read_csv(text: &str) -> Result<Vec<Row>, Vec<FieldError>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| file_error("/body", "invalid_csv", &e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut errors = Vec::new();
    for (i, h) in header.iter().enumerate() {
        if header[..i].contains(h) {
            errors.push(FieldError::new(
                format!("/columns/{h}"),
                "duplicate_column",
                "each column once",
            ));
        }
    }
    let has = |c: &str| header.iter().any(|h| h == c);
    let cis = has("class") || has("name");
    let rels = !cis && REL_COLUMNS.iter().any(|c| has(c));
    let wanted: &[&str] = if rels { &REL_COLUMNS } else { &CI_COLUMNS[..2] };
    for c in wanted.iter().filter(|c| !has(c)) {
        errors.push(FieldError::new(
            format!("/columns/{c}"),
            "required",
            "a CI file has the columns class and name (attributes as attr.<name>); a \
             relationship file has from, type and to",
        ));
    }
    for h in &header {
        let known = if rels {
            REL_COLUMNS.contains(&h.as_str())
        } else {
            CI_COLUMNS.contains(&h.as_str())
                || h.strip_prefix("attr.").is_some_and(|a| !a.is_empty())
        };
        if !known {
            errors.push(FieldError::new(
                format!("/columns/{h}"),
                "unknown_column",
                "not a column of this kind of file",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let col = |name: &str| header.iter().position(|h| h == name);
    let mut rows = Vec::new();
    for record in reader.records() {
        let (row, data) = match record {
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                (line, RowData::Bad("/body".into(), e.to_string()))
            }
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line());
                let cell = |name: &str| col(name).and_then(|i| r.get(i)).unwrap_or("").trim();
                let data = if r.len() != header.len() {
                    RowData::Bad(
                        "/body".into(),
                        format!("{} fields where the header has {}", r.len(), header.len()),
                    )
                } else if rels {
                    RowData::Rel(RelRow {
                        from: cell("from").into(),
                        rel_type: cell("type").into(),
                        to: cell("to").into(),
                    })
                } else {
                    let status = Some(cell("status")).filter(|s| !s.is_empty());
                    let attributes = header
                        .iter()
                        .zip(r.iter())
                        .filter_map(|(h, v)| {
                            let name = h.strip_prefix("attr.")?;
                            let v = v.trim();
                            let cell = if v.is_empty() {
                                Cell::Empty
                            } else {
                                Cell::Text(v.into())
                            };
                            Some((name.to_string(), cell))
                        })
                        .collect();
                    RowData::Ci(CiRow {
                        class: cell("class").into(),
                        name: cell("name").into(),
                        status: status.map(Into::into),
                        attributes,
                    })
                };
                (line, data)
            }
        };
        rows.push(Row {
            row: i64::try_from(row).unwrap_or(i64::MAX),
            data,
        });
    }
    Ok(rows)
}

fn read_json(text: &str) -> Result<Vec<Row>, Vec<FieldError>> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| file_error("/body", "invalid_json", &e.to_string()))?;
    let Some(obj) = doc.as_object() else {
        return Err(file_error(
            "/body",
            "invalid_type",
            "an object with cis and relationships",
        ));
    };
    let mut errors = Vec::new();
    for key in obj.keys().filter(|k| *k != "cis" && *k != "relationships") {
        errors.push(FieldError::new(
            format!("/{key}"),
            "unknown_field",
            "only cis and relationships",
        ));
    }
    let list = |key: &str, errors: &mut Vec<FieldError>| match obj.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            errors.push(FieldError::new(
                format!("/{key}"),
                "invalid_type",
                "an array",
            ));
            Vec::new()
        }
    };
    let cis = list("cis", &mut errors);
    let rels = list("relationships", &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let text_of = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let mut rows = Vec::with_capacity(cis.len() + rels.len());
    for v in &cis {
        let data = match (text_of(v, "class"), text_of(v, "name"), v.get("attributes")) {
            (None, _, _) => RowData::Bad("class".into(), "a class is required".into()),
            (_, None, _) => RowData::Bad("name".into(), "a name is required".into()),
            (_, _, Some(a)) if !a.is_object() && !a.is_null() => {
                RowData::Bad("attributes".into(), "an object".into())
            }
            (Some(class), Some(name), attrs) => RowData::Ci(CiRow {
                class,
                name,
                status: text_of(v, "status"),
                attributes: attrs
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), Cell::Json(v.clone())))
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
        };
        rows.push(data);
    }
    for v in &rels {
        let end = |named: &str, id: &str| text_of(v, named).or_else(|| text_of(v, id));
        let data = match (
            end("from", "source_id"),
            text_of(v, "type"),
            end("to", "target_id"),
        ) {
            (Some(from), Some(rel_type), Some(to)) => RowData::Rel(RelRow { from, rel_type, to }),
            (None, _, _) => RowData::Bad("from".into(), "from (or source_id) is required".into()),
            (_, None, _) => RowData::Bad("type".into(), "a type is required".into()),
            (_, _, None) => RowData::Bad("to".into(), "to (or target_id) is required".into()),
        };
        rows.push(data);
    }
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, data)| Row {
            row: i64::try_from(i + 1).unwrap_or(i64::MAX),
            data,
        })
        .collect())
}

/// `text` as the type `schema` (a class's effective schema) gives attribute `name`: an
/// integer, number or boolean parsed, an array or object read as JSON, anything else text.
pub fn typed(schema: &Value, name: &str, text: &str) -> Result<Value, String> {
    let kind = schema["properties"][name]["type"]
        .as_str()
        .unwrap_or("string");
    match kind {
        "integer" => text
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{text:?} is not an integer")),
        "number" => text
            .parse::<f64>()
            .ok()
            .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
            .ok_or_else(|| format!("{text:?} is not a number")),
        "boolean" => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("{text:?} is not true or false")),
        },
        "array" | "object" => {
            serde_json::from_str(text).map_err(|_| format!("{text:?} is not JSON {kind}"))
        }
        _ => Ok(Value::String(text.into())),
    }
}

/// An attribute a row sets (`Some`) or clears (`None`).
pub type Incoming = (String, Option<Value>);

/// A CI's attributes after a row: what they become, each attribute's source, the attributes
/// whose value changed and those a higher source's fresh value kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Merged {
    pub attributes: Map<String, Value>,
    pub sources: Map<String, Value>,
    pub changed: Vec<String>,
    pub skipped: Vec<String>,
}

/// Merges `incoming` from `source` at `now` into a CI at `class_path` that has `attributes`
/// set by `sources` (`{name: {source, updated_at}}`), under `rules`.
pub fn merge(
    class_path: &str,
    attributes: &Value,
    sources: &Value,
    incoming: &[Incoming],
    source: &str,
    rules: &[ReconRule],
    now: DateTime<Utc>,
) -> Merged {
    let mut out = Merged {
        attributes: attributes.as_object().cloned().unwrap_or_default(),
        sources: sources.as_object().cloned().unwrap_or_default(),
        ..Merged::default()
    };
    for (name, value) in incoming {
        if out.attributes.get(name) == value.as_ref() {
            continue;
        }
        let set_by = out.sources.get(name).and_then(|s| {
            Some(SetBy {
                source: s.get("source")?.as_str()?.to_string(),
                at: s
                    .get("updated_at")?
                    .as_str()?
                    .parse::<DateTime<Utc>>()
                    .ok()?,
            })
        });
        let rule = governing(rules, class_path, name);
        if !may_set(rule, set_by.as_ref(), source, now) {
            out.skipped.push(name.clone());
            continue;
        }
        match value {
            Some(v) => {
                out.attributes.insert(name.clone(), v.clone());
                out.sources
                    .insert(name.clone(), json!({"source": source, "updated_at": now}));
            }
            None => {
                out.attributes.remove(name);
                out.sources.remove(name);
            }
        }
        out.changed.push(name.clone());
    }
    out
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn a_csv_row_is_numbered_by_its_line() {
        let rows = read(
            Format::Csv,
            b"class,name,attr.cpu_count\nserver,a,2\nserver,b\n",
        )
        .expect("readable");
        assert_eq!(rows[0].row, 2);
        assert!(matches!(rows[0].data, RowData::Ci(_)));
        assert_eq!(rows[1].row, 3);
        assert!(matches!(rows[1].data, RowData::Bad(..)));
    }

    #[test]
    fn a_csv_without_its_columns_or_with_one_twice_is_refused() {
        let pointers = |body: &[u8]| -> Vec<String> {
            read(Format::Csv, body)
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.pointer)
                .collect()
        };
        assert_eq!(pointers(b"name,status\nx,planned\n"), ["/columns/class"]);
        assert_eq!(pointers(b"class,name,name\n"), ["/columns/name"]);
        assert_eq!(pointers(b"class,name,colour\n"), ["/columns/colour"]);
        assert_eq!(pointers(b"from,type\n"), ["/columns/to"]);
        assert_eq!(pointers(b"class,name\n\xff\xfe\n"), ["/body"]);
    }

    #[test]
    fn text_takes_the_type_its_class_declares() {
        let schema = json!({"properties": {"cpu_count": {"type": "integer"}, "hostname": {"type": "string"}}});
        assert_eq!(typed(&schema, "cpu_count", "4"), Ok(json!(4)));
        assert!(typed(&schema, "cpu_count", "four").is_err());
        assert_eq!(typed(&schema, "hostname", "007"), Ok(json!("007")));
    }

    #[test]
    fn a_lower_source_is_skipped_and_reported() {
        let now = Utc::now();
        let rules = vec![ReconRule {
            class: "server".into(),
            attribute: "*".into(),
            precedence: vec!["sccm".into(), "csv".into()],
            stale_after_days: Some(30),
        }];
        let attrs = json!({"cpu_count": 4});
        let sources =
            json!({"cpu_count": {"source": "sccm", "updated_at": now - Duration::days(1)}});
        let incoming = vec![
            ("cpu_count".to_string(), Some(json!(8))),
            ("hostname".to_string(), Some(json!("h"))),
        ];
        let m = merge("server", &attrs, &sources, &incoming, "csv", &rules, now);
        assert_eq!(m.skipped, ["cpu_count"]);
        assert_eq!(m.changed, ["hostname"]);
        assert_eq!(m.attributes["cpu_count"], 4);
        let later = now + Duration::days(31);
        let m = merge("server", &attrs, &sources, &incoming, "csv", &rules, later);
        assert_eq!(m.changed, ["cpu_count", "hostname"]);
    }
}
