//! The input of an admin request, read and checked before anything is done:
//! query parameters by name, a JSON object body of known fields within a
//! size limit, and the words for what was wrong.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::Request;
use crate::json::{unique_object, ObjectError};

/// The largest request body accepted. The bodies of this API are a few
/// bytes (`{"upload_all": true}`); anything near this is a mistake.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The start of a value a client sent, for an error message.
pub(crate) use crate::rating::quoted as shown;

/// The query parameters of `request`, each at most once and each one of
/// `allowed`: a misspelt parameter is an error, not silently ignored.
pub(crate) fn query_parameters(
    request: &Request,
    allowed: &[&'static str],
) -> Result<HashMap<&'static str, String>, ApiError> {
    let mut found = HashMap::new();
    let query = request.uri().query().unwrap_or_default();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let Some(known) = allowed.iter().find(|known| **known == name) else {
            let allowed = if allowed.is_empty() {
                "this endpoint takes none".to_owned()
            } else {
                format!("allowed: {}", allowed.join(", "))
            };
            return Err(ApiError::invalid(
                &name,
                format!("unknown query parameter {}; {allowed}", shown(&name)),
            ));
        };
        if found.insert(*known, value.into_owned()).is_some() {
            return Err(ApiError::invalid(
                known,
                format!("query parameter {known} is given more than once"),
            ));
        }
    }
    Ok(found)
}

/// The body as a JSON object whose fields are all among `allowed`; an empty
/// body is `{}`.
pub(crate) fn json_object_body(
    request: &Request,
    allowed: &[&str],
) -> Result<Map<String, Value>, ApiError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::BadRequest {
            code: "PAYLOAD_TOO_LARGE",
            message: format!(
                "the body has {} bytes; this endpoint takes at most {MAX_BODY_BYTES}",
                bytes.len()
            ),
            details: json!({ "field": "body", "limit_bytes": MAX_BODY_BYTES, "received_bytes": bytes.len() }),
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let object = unique_object(bytes).map_err(|error| match error {
        ObjectError::Invalid(e) => {
            ApiError::invalid_json(format!("the body is not valid JSON: {e}"))
        }
        ObjectError::NotAnObject(kind) => {
            ApiError::invalid_json(format!("the body must be a JSON object, not {kind}"))
        }
        ObjectError::RepeatedKey(key) => ApiError::invalid(
            &key,
            format!("field {} is given more than once in the body", shown(&key)),
        ),
    })?;
    if let Some(unknown) = object.keys().find(|key| !allowed.contains(&key.as_str())) {
        let allowed = if allowed.is_empty() {
            "this endpoint takes an empty body or {}".to_owned()
        } else {
            format!("allowed: {}", allowed.join(", "))
        };
        return Err(ApiError::invalid(
            unknown,
            format!("unknown field {} in the body; {allowed}", shown(unknown)),
        ));
    }
    Ok(object)
}

pub(crate) use crate::json::json_type;

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;

    fn request(uri: &str, body: &str) -> Request {
        let mut request = Request::new(Body::from(body));
        *request.uri_mut() = uri.parse().unwrap();
        request
    }

    fn bad_request(error: ApiError) -> (&'static str, String, Value) {
        match error {
            ApiError::BadRequest {
                code,
                message,
                details,
            } => (code, message, details),
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn query_parameters_are_decoded_and_checked_by_name() {
        let found = query_parameters(
            &request("/x?limit=5&status=dead&cursor=a%2Bb", ""),
            &["limit", "status", "cursor"],
        )
        .unwrap();
        assert_eq!(found["limit"], "5");
        assert_eq!(found["cursor"], "a+b");

        let (code, message, details) =
            bad_request(query_parameters(&request("/x?limt=5", ""), &["limit"]).unwrap_err());
        assert_eq!(code, "VALIDATION_ERROR");
        assert!(message.contains("\"limt\"") && message.contains("allowed: limit"));
        assert_eq!(details["field"], "limt");

        let (_, message, _) = bad_request(
            query_parameters(&request("/x?limit=1&limit=2", ""), &["limit"]).unwrap_err(),
        );
        assert!(message.contains("more than once"), "{message}");
    }

    #[test]
    fn a_body_is_an_object_of_known_fields_within_the_size_limit() {
        assert!(json_object_body(&request("/", ""), &["a"])
            .unwrap()
            .is_empty());
        assert!(json_object_body(&request("/", " \n"), &["a"])
            .unwrap()
            .is_empty());
        assert_eq!(
            json_object_body(&request("/", r#"{"a": 1}"#), &["a"]).unwrap()["a"],
            1
        );
        for (body, code, says) in [
            ("{", "INVALID_JSON", "not valid JSON"),
            ("[1]", "INVALID_JSON", "not an array"),
            ("\"a\"", "INVALID_JSON", "not a string"),
            (r#"{"b": 1}"#, "VALIDATION_ERROR", "unknown field \"b\""),
        ] {
            let (got, message, _) =
                bad_request(json_object_body(&request("/", body), &["a"]).unwrap_err());
            assert_eq!(got, code, "{body}");
            assert!(message.contains(says), "{body}: {message}");
        }
        let big = format!(r#"{{"a": "{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        let (code, _, details) =
            bad_request(json_object_body(&request("/", &big), &["a"]).unwrap_err());
        assert_eq!(code, "PAYLOAD_TOO_LARGE");
        assert_eq!(details["limit_bytes"], MAX_BODY_BYTES);
    }

    #[test]
    fn long_input_is_cut_short_in_messages() {
        assert_eq!(shown("abc"), "\"abc\"");
        let long = "x".repeat(500);
        assert!(shown(&long).len() < 50);
    }
}
