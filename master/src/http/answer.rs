//! Success answers in JSON as Mesos writes it: compact, single-line ASCII
//! (`mesoraft_proto::json`), from a proto message or a serde document.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// 200 with `message` in Mesos's JSON.
pub fn proto<M: prost::Message + prost::Name>(message: &M) -> Response {
    json_text(mesoraft_proto::json::to_json_string(message))
}

/// 200 with `document` as compact ASCII JSON.
pub fn document<T: Serialize>(document: &T) -> Response {
    match serde_json::to_value(document) {
        Ok(value) => json_text(mesoraft_proto::json::to_ascii_string(&value)),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot render the answer: {e}\n"),
        )
            .into_response(),
    }
}

fn json_text(text: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response()
}
