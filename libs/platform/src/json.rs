//! A JSON body extractor whose errors are problem+json: 400 for malformed JSON, 415 for another
//! media type, 413 past the body limit, 422 (with the JSON Pointer) for a body of the wrong shape,
//! including unknown fields.
use std::{future::Future, pin::Pin};

use actix_web::{
    FromRequest, HttpRequest, dev::Payload, error::PayloadError, http::StatusCode, web,
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct Json<T>(pub T);

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json_content = is_json(req);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json_content {
                return Err(not_json());
            }
            let body = bytes.await.map_err(payload_error)?;
            parse(&body).map(Json)
        })
    }
}

/// Whether the request says its body is JSON (`application/json` or `…+json`).
fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        })
        .unwrap_or(false)
}

fn not_json() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send the body as application/json",
    )
}

/// Reads a body of at most `max` bytes, refusing more (413) without reading it all: for the
/// few routes that take more than the configured limit (bulk imports and ingests).
pub async fn read_limited(mut payload: web::Payload, max: usize) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt as _;
    let mut bytes = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("unreadable_body", e.to_string()))?;
        if bytes.len() + chunk.len() > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("this route takes at most {max} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// A JSON body of at most `max` bytes, parsed as [`Json`] parses it.
pub async fn parse_limited<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    max: usize,
) -> Result<T, ApiError> {
    if !is_json(req) {
        return Err(not_json());
    }
    parse(&read_limited(payload, max).await?)
}

/// Parses a JSON document into `T`, classifying failures as 400 (syntax) or 422 (shape).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let pointer = pointer_of(err.path());
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let msg = inner.to_string();
                let code = if msg.starts_with("unknown field") {
                    "unknown_field"
                } else if msg.starts_with("missing field") {
                    "required"
                } else {
                    "invalid_type"
                };
                let pointer = match (code, field_name(&msg)) {
                    ("unknown_field" | "required", Some(name))
                        if !pointer.ends_with(&format!("/{name}")) =>
                    {
                        format!("{}/{}", pointer.trim_end_matches('/'), name)
                    }
                    _ => pointer,
                };
                ApiError::field(&pointer, code, strip_position(&msg))
            }
            _ => ApiError::bad_request("malformed_json", strip_position(&inner.to_string())),
        }
    })
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                out.push('/');
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

/// For serde's "unknown field `x`" / "missing field `x`", the path stops at the parent.
fn field_name(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let end = start + msg[start..].find('`')?;
    Some(&msg[start..end])
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn payload_error(err: actix_web::Error) -> ApiError {
    match err.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body exceeds the configured limit",
        ),
        _ => ApiError::bad_request("unreadable_body", err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct In {
        name: String,
        tags: Vec<u8>,
    }

    #[test]
    fn malformed_json_is_400() {
        let e = parse::<In>(b"{\"name\":").err();
        assert_eq!(e.map(|e| e.status.as_u16()), Some(400));
    }

    #[test]
    fn unknown_field_is_422_with_its_pointer() {
        let e = parse::<In>(br#"{"name":"a","tags":[],"nope":1}"#).err();
        let e = e.map(|e| {
            (
                e.status.as_u16(),
                e.errors[0].pointer.clone(),
                e.errors[0].code.clone(),
            )
        });
        assert_eq!(e, Some((422, "/nope".into(), "unknown_field".into())));
    }

    #[test]
    fn wrong_type_points_into_arrays() {
        let e = parse::<In>(br#"{"name":"a","tags":[1,"x"]}"#).err();
        assert_eq!(
            e.map(|e| e.errors[0].pointer.clone()),
            Some("/tags/1".into())
        );
    }

    #[test]
    fn missing_field_names_it() {
        let e = parse::<In>(br#"{"tags":[]}"#).err();
        assert_eq!(e.map(|e| e.errors[0].pointer.clone()), Some("/name".into()));
    }
}
