//! Configuration: the TOML file format (`file`), the validated runtime config (`runtime`,
//! which checks the `[gateway]` section and hands each other section to its own module:
//! `listeners`, `limits`, `session`, `idps`, `apps`, `directory`, `partners`, `policies`)
//! and errors that name the file, line and key (`errors`).

mod apps;
mod directory;
pub mod errors;
pub mod file;
mod idps;
mod limits;
mod listeners;
mod mfa;
mod names;
mod partners;
mod policies;
pub mod runtime;
mod secrets;
mod session;
mod signals;

use std::path::Path;

pub use errors::{ConfigError, ConfigErrors, KeyPath};
pub use runtime::*;

/// Reads, parses and validates one config file.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_for(path, Purpose::Serve)
}

/// Like `load`, for a purpose that needs less (see [`Purpose`]).
pub fn load_for(path: &Path, purpose: Purpose) -> Result<Config, ConfigErrors> {
    let source = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: KeyPath::default(),
            message: format!("cannot read file: {e}"),
        }])
    })?;
    let parsed = parse(path, &source)?;
    runtime::validate_for(parsed, path, &source, purpose)
}

/// Parses the TOML, turning a syntax or type error into a located `ConfigError`.
pub fn parse(path: &Path, source: &str) -> Result<file::FileConfig, ConfigErrors> {
    let de = toml::Deserializer::new(source);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let key = KeyPath::parse_dotted(&err.path().to_string());
        let inner = err.into_inner();
        let line = inner
            .span()
            .map(|s| source[..s.start.min(source.len())].matches('\n').count() + 1)
            .or_else(|| errors::line_of(source, &key));
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line,
            key,
            message: inner.message().trim().to_string(),
        }])
    })
}

/// Where the config is when no `--config` is given: `BORDERLESS_CONFIG`, else the system
/// location. Never the demo config: a production host must not silently run the demo.
pub const SYSTEM_CONFIG: &str = "/etc/borderless/borderless.toml";

pub fn default_path() -> std::path::PathBuf {
    match std::env::var_os("BORDERLESS_CONFIG") {
        Some(p) if !p.is_empty() => p.into(),
        _ => SYSTEM_CONFIG.into(),
    }
}
