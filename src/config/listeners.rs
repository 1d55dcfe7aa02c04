//! `[[listener]]`: where the gateway listens, with TLS or as a redirect to HTTPS.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::errors::{ErrorSink, KeyPath};
use super::file::ListenerSection;

#[derive(Debug, Clone)]
pub struct Listener {
    pub bind: SocketAddr,
    pub tls: Option<TlsFiles>,
    pub redirect_to_https: bool,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub(super) fn listeners(
    sink: &mut ErrorSink<'_>,
    root: &KeyPath,
    sections: &[ListenerSection],
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Vec<Listener> {
    if sections.is_empty() {
        sink.push(
            root.key("listener"),
            "at least one [[listener]] is required",
        );
    }
    let mut listeners = Vec::new();
    for (i, l) in sections.iter().enumerate() {
        let lp = root.key("listener").index(i);
        let bind = match l.bind.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                sink.push(
                    lp.key("bind"),
                    format!("`{}` is not an address like 0.0.0.0:443", l.bind),
                );
                None
            }
        };
        let tls = match (&l.tls_cert, &l.tls_key, l.redirect_to_https) {
            (Some(c), Some(k), false) => {
                let (c, k) = (resolve(c), resolve(k));
                for (key, p) in [("tls_cert", &c), ("tls_key", &k)] {
                    if !p.is_file() {
                        sink.push(lp.key(key), format!("file {} not found", p.display()));
                    }
                }
                Some(TlsFiles { cert: c, key: k })
            }
            (None, None, true) => None,
            (_, _, true) => {
                sink.push(
                    lp.key("redirect_to_https"),
                    "a redirect listener has no tls_cert/tls_key",
                );
                None
            }
            _ => {
                sink.push(
                    lp.key("tls_cert"),
                    "an HTTPS listener needs both tls_cert and tls_key",
                );
                None
            }
        };
        if let Some(bind) = bind {
            listeners.push(Listener {
                bind,
                tls,
                redirect_to_https: l.redirect_to_https,
            });
        }
    }
    listeners
}
