//! `borderless assertion-key rotate`: a new key for the signed assertions apps verify, with
//! the old one kept beside it so apps go on verifying during the overlap.

use std::process::ExitCode;

use clap::Subcommand;

use super::{ConfigArg, fail};

#[derive(Subcommand)]
pub enum AssertionKeyCommand {
    /// Move the signing key to `<file>.previous` and write a new one. A running gateway
    /// signs with the new key after its next reload (SIGHUP) and publishes both in its JWKS
    /// until `<file>.previous` is deleted.
    Rotate,
}

pub async fn assertion_key(cmd: AssertionKeyCommand, c: ConfigArg) -> ExitCode {
    let path = c.path();
    let cfg = match borderless::config::load_for(&path, borderless::config::Purpose::Directory) {
        Ok(cfg) => cfg,
        Err(e) => return fail(e),
    };
    let key_file = &cfg.assertion.signing_key_file;
    match cmd {
        AssertionKeyCommand::Rotate => match borderless::assertion::rotate(key_file) {
            Ok(kid) => {
                let previous = borderless::assertion::previous_path(key_file);
                if c.json {
                    println!(
                        "{}",
                        serde_json::json!({ "kid": kid, "keyFile": key_file, "previousKeyFile": previous })
                    );
                } else {
                    println!(
                        "new assertion key {kid} in {}\nthe old key is in {}: reload the gateway (SIGHUP) to sign with the new key; \
                         both stay in the JWKS until you delete the old file (wait at least the JWKS cache time plus the assertion lifetime)",
                        key_file.display(),
                        previous.display()
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(format!("{e:#}")),
        },
    }
}
