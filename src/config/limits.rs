//! `[limits]`: timeouts, sizes and rate limits.

use std::time::Duration;

use super::errors::{ErrorSink, KeyPath};
use super::file::LimitsSection;

#[derive(Debug, Clone)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_connections: usize,
    pub max_body_bytes: u64,
    pub upstream_connect_timeout: Duration,
    pub upstream_response_timeout: Duration,
    pub shutdown_grace: Duration,
    pub sign_ins_per_minute: u32,
    pub api_key_failures_per_minute: u32,
    pub invitations_per_hour: u32,
    pub pending_sign_ins: u64,
    pub passcodes_per_address_per_hour: u32,
    pub passcodes_per_client_per_hour: u32,
}

pub(super) fn limits(sink: &mut ErrorSink<'_>, root: &KeyPath, lim: &LimitsSection) -> Limits {
    let lk = root.key("limits");
    for (key, v) in [
        ("header_read_timeout_secs", lim.header_read_timeout_secs),
        ("idle_timeout_secs", lim.idle_timeout_secs),
        (
            "upstream_connect_timeout_secs",
            lim.upstream_connect_timeout_secs,
        ),
        (
            "upstream_response_timeout_secs",
            lim.upstream_response_timeout_secs,
        ),
        ("max_connections", lim.max_connections as u64),
        ("sign_ins_per_minute", u64::from(lim.sign_ins_per_minute)),
        (
            "api_key_failures_per_minute",
            u64::from(lim.api_key_failures_per_minute),
        ),
        ("invitations_per_hour", u64::from(lim.invitations_per_hour)),
        ("pending_sign_ins", lim.pending_sign_ins),
        (
            "passcodes_per_address_per_hour",
            u64::from(lim.passcodes_per_address_per_hour),
        ),
        (
            "passcodes_per_client_per_hour",
            u64::from(lim.passcodes_per_client_per_hour),
        ),
    ] {
        if v == 0 {
            sink.push(lk.key(key), "must be greater than 0");
        }
    }
    if lim.max_header_bytes < 8192 {
        sink.push(lk.key("max_header_bytes"), "must be at least 8192");
    }
    Limits {
        header_read_timeout: Duration::from_secs(lim.header_read_timeout_secs),
        idle_timeout: Duration::from_secs(lim.idle_timeout_secs),
        max_header_bytes: lim.max_header_bytes,
        max_connections: lim.max_connections,
        max_body_bytes: lim.max_body_bytes,
        upstream_connect_timeout: Duration::from_secs(lim.upstream_connect_timeout_secs),
        upstream_response_timeout: Duration::from_secs(lim.upstream_response_timeout_secs),
        shutdown_grace: Duration::from_secs(lim.shutdown_grace_secs),
        sign_ins_per_minute: lim.sign_ins_per_minute,
        api_key_failures_per_minute: lim.api_key_failures_per_minute,
        invitations_per_hour: lim.invitations_per_hour,
        pending_sign_ins: lim.pending_sign_ins,
        passcodes_per_address_per_hour: lim.passcodes_per_address_per_hour,
        passcodes_per_client_per_hour: lim.passcodes_per_client_per_hour,
    }
}
