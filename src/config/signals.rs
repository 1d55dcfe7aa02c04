//! `[partner.signals]`: the partners whose Shared Signals transmitters may push Security
//! Event Tokens to the gateway, with the keys their events must be signed with.

use std::path::PathBuf;

use jsonwebtoken::jwk::JwkSet;
use url::Url;

use super::errors::{ErrorSink, KeyPath};
use super::file::PartnerSection;

/// Where a transmitter's keys come from.
#[derive(Debug, Clone)]
pub enum SignalKeys {
    Url(Url),
    Static(JwkSet),
}

#[derive(Debug, Clone)]
pub struct SignalReceiver {
    /// The `[[partner]]` entry's name.
    pub partner: String,
    /// The SETs' `iss`.
    pub issuer: String,
    pub keys: SignalKeys,
    pub audience: String,
}

pub(super) fn receivers(
    sink: &mut ErrorSink<'_>,
    root: &KeyPath,
    partners: &[PartnerSection],
    resolve: &dyn Fn(&str) -> PathBuf,
    public_url: Option<&Url>,
) -> Vec<SignalReceiver> {
    let mut out: Vec<SignalReceiver> = Vec::new();
    for (i, p) in partners.iter().enumerate() {
        let Some(s) = &p.signals else { continue };
        let key = root.key("partner").index(i).key("signals");
        if Url::parse(&s.issuer).is_err() {
            sink.push(key.key("issuer"), "must be the transmitter's issuer URL");
        } else if out.iter().any(|r| r.issuer == s.issuer) {
            sink.push(
                key.key("issuer"),
                "another partner's signals have this issuer",
            );
        }
        let keys = match (&s.jwks_url, &s.jwks_file) {
            (Some(u), None) => match Url::parse(u) {
                Ok(u) if u.scheme() == "https" || is_loopback(&u) => Some(SignalKeys::Url(u)),
                _ => {
                    sink.push(key.key("jwks_url"), "must be an https:// URL");
                    None
                }
            },
            (None, Some(f)) => {
                let path = resolve(f);
                match std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| serde_json::from_str::<JwkSet>(&t).map_err(|e| e.to_string()))
                {
                    Ok(set) if !set.keys.is_empty() => Some(SignalKeys::Static(set)),
                    Ok(_) => {
                        sink.push(key.key("jwks_file"), "the key set is empty");
                        None
                    }
                    Err(e) => {
                        sink.push(
                            key.key("jwks_file"),
                            format!("{}: not a JWKS: {e}", path.display()),
                        );
                        None
                    }
                }
            }
            _ => {
                sink.push(key.clone(), "set one of `jwks_url` and `jwks_file`");
                None
            }
        };
        let audience = s
            .audience
            .clone()
            .or_else(|| public_url.map(|u| u.as_str().trim_end_matches('/').to_string()))
            .unwrap_or_default();
        if let Some(keys) = keys {
            out.push(SignalReceiver {
                // The same name the partner settings give the entry.
                partner: p.name.clone().unwrap_or_else(|| p.domains.join(", ")),
                issuer: s.issuer.clone(),
                keys,
                audience,
            });
        }
    }
    out
}

/// Plain http only to this machine (a transmitter beside the gateway, or a test).
fn is_loopback(u: &Url) -> bool {
    u.scheme() == "http"
        && matches!(
            u.host_str(),
            Some("127.0.0.1" | "::1" | "[::1]" | "localhost")
        )
}
