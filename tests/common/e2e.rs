//! Running a browser script of `tests/e2e/` in headless Chromium (playwright-core).

use std::path::Path;

use super::oidc_provider::node_dir;
use super::{APP_HOST, LOGIN_HOST, OTHER_HOST};

/// Runs `script` with `args`, then the screenshot path and the test hosts (which resolve to
/// 127.0.0.1); asserts it succeeded and wrote its screenshot; returns its JSON result.
pub async fn run(script: &str, args: &[&str], screenshot: &Path) -> serde_json::Value {
    let out = tokio::process::Command::new("node")
        .arg(node_dir().join("../../e2e").join(script))
        .args(args)
        .arg(screenshot)
        .arg(format!("{LOGIN_HOST},{APP_HOST},{OTHER_HOST}"))
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser script {script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::metadata(screenshot).is_ok_and(|m| m.len() > 1000),
        "screenshot written"
    );
    let result: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("result json");
    assert_eq!(result["ok"], true, "{stdout}");
    result
}
