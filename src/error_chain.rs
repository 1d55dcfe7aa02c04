//! An error and its sources as one line, for logs and messages. A leaf module, so that
//! every layer (the providers as much as the error pages) can use it without importing
//! the error page machinery.

/// `e`, then each of its sources, separated by `: `.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
