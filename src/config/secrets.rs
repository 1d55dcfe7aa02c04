//! Secrets in the config: given inline, by environment variable or by file, with errors
//! that name the key. Shared by every config section that holds one.

use std::path::PathBuf;

use super::errors::{ErrorSink, KeyPath};

/// A secret given inline, by environment variable or by file: exactly one of
/// `{field}`, `{field}_env`, `{field}_file`. `None` (with an error unless `optional`) when
/// none or several are set.
pub(super) struct SecretSource<'a> {
    pub field: &'a str,
    pub inline: &'a Option<String>,
    pub env: &'a Option<String>,
    pub file: &'a Option<String>,
    pub optional: bool,
}

pub(super) fn resolve_secret(
    sink: &mut ErrorSink<'_>,
    at: &KeyPath,
    src: SecretSource<'_>,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Option<String> {
    let field = src.field;
    match (src.inline, src.env, src.file) {
        (Some(s), None, None) => Some(s.clone()),
        (None, Some(var), None) => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Some(v),
            _ => {
                sink.push(
                    at.key(&format!("{field}_env")),
                    format!("environment variable {var} is not set"),
                );
                None
            }
        },
        (None, None, Some(f)) => match std::fs::read_to_string(resolve(f)) {
            Ok(v) if !v.trim().is_empty() => Some(v.trim().to_string()),
            Ok(_) => {
                sink.push(at.key(&format!("{field}_file")), format!("{f} is empty"));
                None
            }
            Err(e) => {
                sink.push(
                    at.key(&format!("{field}_file")),
                    format!("cannot read {f}: {e}"),
                );
                None
            }
        },
        (None, None, None) => {
            if !src.optional {
                sink.push(
                    at.key(field),
                    format!("set one of {field}, {field}_env, {field}_file"),
                );
            }
            None
        }
        _ => {
            sink.push(
                at.key(field),
                format!("set only one of {field}, {field}_env, {field}_file"),
            );
            None
        }
    }
}

/// What the config is loaded for: serving needs every secret; the directory commands of the
/// CLI never talk to an identity provider, so they do not need the IdPs' client secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Serve,
    Directory,
}
