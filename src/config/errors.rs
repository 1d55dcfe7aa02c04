//! Config errors that point at the file, line and key an operator has to fix.

use std::fmt;
use std::path::{Path, PathBuf};

/// One segment of a key path such as `app[1].upstream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySeg {
    Key(String),
    Index(usize),
}

/// A dotted key path inside the TOML document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<KeySeg>);

impl KeyPath {
    pub fn key(&self, k: &str) -> KeyPath {
        let mut v = self.0.clone();
        v.push(KeySeg::Key(k.to_string()));
        KeyPath(v)
    }
    pub fn index(&self, i: usize) -> KeyPath {
        let mut v = self.0.clone();
        v.push(KeySeg::Index(i));
        KeyPath(v)
    }
    pub fn parse_dotted(s: &str) -> KeyPath {
        // serde_path_to_error renders paths as `app[1].host`; turn that back into segments.
        let mut segs = Vec::new();
        for part in s.split('.') {
            let mut rest = part;
            if let Some(open) = rest.find('[') {
                let (name, idx) = rest.split_at(open);
                if !name.is_empty() {
                    segs.push(KeySeg::Key(name.to_string()));
                }
                rest = idx;
                for ix in rest.split('[').filter(|x| !x.is_empty()) {
                    if let Ok(n) = ix.trim_end_matches(']').parse() {
                        segs.push(KeySeg::Index(n));
                    }
                }
            } else if !rest.is_empty() && rest != "?" {
                segs.push(KeySeg::Key(rest.to_string()));
            }
        }
        KeyPath(segs)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for seg in &self.0 {
            match seg {
                KeySeg::Key(k) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                KeySeg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        if first {
            f.write_str("(top level)")?;
        }
        Ok(())
    }
}

/// One problem in one config file.
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    pub key: KeyPath,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: ", self.file.display(), line)?,
            None => write!(f, "{}: ", self.file.display())?,
        }
        write!(f, "key `{}`: {}", self.key, self.message)
    }
}

/// Every problem found in a file; loading reports them all at once.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Finds the line of a key path by walking a span-preserving parse of the same text. When the
/// key itself is absent (a missing required key) the line of the closest existing parent is
/// used, which is where the operator has to add it.
pub fn line_of(source: &str, path: &KeyPath) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(source).ok()?;
    let mut best = None;
    let mut table: Option<&dyn toml_edit::TableLike> = Some(doc.as_table());
    let mut array: Option<&toml_edit::ArrayOfTables> = None;
    for seg in &path.0 {
        match seg {
            KeySeg::Key(k) => {
                let Some((key, value)) = table.and_then(|t| t.get_key_value(k)) else {
                    break;
                };
                best = key.span().or(value.span()).or(best);
                array = value.as_array_of_tables();
                table = value.as_table_like();
            }
            KeySeg::Index(i) => {
                let Some(t) = array.and_then(|a| a.get(*i)) else {
                    break;
                };
                best = t.span().or(best);
                table = Some(t);
                array = None;
            }
        }
    }
    best.map(|span| source[..span.start.min(source.len())].matches('\n').count() + 1)
}

/// Helper used by validation code to collect errors with their keys.
pub struct ErrorSink<'a> {
    pub file: &'a Path,
    pub source: &'a str,
    pub errors: Vec<ConfigError>,
}

impl<'a> ErrorSink<'a> {
    pub fn new(file: &'a Path, source: &'a str) -> Self {
        Self {
            file,
            source,
            errors: Vec::new(),
        }
    }
    pub fn push(&mut self, key: KeyPath, message: impl Into<String>) {
        let line = line_of(self.source, &key);
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            key,
            message: message.into(),
        });
    }
}
