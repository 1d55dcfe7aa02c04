//! Strict query parsing for sign-in endpoints: a parameter given twice is an attack (parameter
//! pollution lets different components read different values), so it is refused.

use std::collections::HashMap;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("query parameter `{0}` appears more than once")]
pub struct Duplicate(pub String);

pub fn parse_unique(query: Option<&str>) -> Result<HashMap<String, String>, Duplicate> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(Duplicate(k.to_string()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_even_when_encoded() {
        assert!(parse_unique(Some("state=a&code=b")).is_ok());
        assert_eq!(
            parse_unique(Some("state=a&st%61te=b")),
            Err(Duplicate("state".into()))
        );
    }
}
