//! Identity providers. Each kind turns a browser round trip into a verified `Identity`;
//! what happens next (sessions, redirects) belongs to the sign-in plane.

pub mod oidc;

use crate::session::Attributes;

/// A verified sign-in result, independent of the protocol that produced it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub idp: String,
    pub issuer: String,
    pub subject: String,
    pub attributes: Attributes,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    pub auth_time: Option<i64>,
}

/// Turns a JSON claim into attribute values: strings as they are, arrays element-wise,
/// numbers and booleans in their JSON spelling; objects are skipped.
pub fn claim_values(v: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        Value::Array(items) => items
            .iter()
            .filter(|i| !i.is_array() && !i.is_object())
            .flat_map(claim_values)
            .collect(),
        Value::Null | Value::Object(_) => Vec::new(),
    }
}
