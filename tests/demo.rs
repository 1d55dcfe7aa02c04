//! The README's first command on a fresh clone: `git clone` this repository (its committed
//! state), run `bash .ci/demo` there on ports this test picked, wait for the gateway's
//! health endpoint, and sign in through it with headless Chromium at the demo's own
//! `oidc-provider`. A command that only works on a tree with leftovers fails here.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::oidc_provider::node_dir;

/// Ports nobody listens on right now (bound to port 0, then released).
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let mut out = [0u16; N];
    for (o, l) in out.iter_mut().zip(&listeners) {
        *o = l.local_addr().expect("addr").port();
    }
    out
}

/// Stops the demo and everything it started (its process group) when the test ends.
struct Demo {
    pgid: u32,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.pgid)])
            .status();
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[tokio::test]
async fn the_readme_demo_runs_on_a_fresh_clone_and_signs_in_with_chromium() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().expect("tempdir");
    let clone = work.path().join("borderless");
    let status = tokio::process::Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(repo)
        .arg(&clone)
        .status()
        .await
        .expect("git clone");
    assert!(status.success(), "git clone failed");

    let [port, idp_port, app_port] = free_ports::<3>();
    let log = work.path().join("demo.log");
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    // A target directory of its own (its release build cannot wait on this test's lock),
    // kept under this repository's target so that runs after the first are incremental.
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| repo.join("target"))
        .join("demo-clone");
    let child = tokio::process::Command::new("bash")
        .arg(".ci/demo")
        .current_dir(&clone)
        .env("DEMO_PORT", port.to_string())
        .env("DEMO_IDP_PORT", idp_port.to_string())
        .env("DEMO_APP_PORT", app_port.to_string())
        .env("CARGO_TARGET_DIR", &target)
        // The command is under test, not the optimiser: a lighter release build (no debug
        // info, opt-level 1, no cross-crate LTO) halves the cold build that dominates the
        // suite's time.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "1")
        .env("CARGO_PROFILE_RELEASE_LTO", "off")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .expect("start the demo");
    let _demo = Demo {
        pgid: child.id().expect("pid"),
    };
    let mut child = child;

    // The first run builds the release binary: allow for a cold build on two cores.
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let health = format!("https://localhost:{port}/.borderless/health");
    let deadline = Instant::now() + Duration::from_secs(1500);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the demo exited with {status}:\n{}", tail(&log));
        }
        if let Ok(r) = client.get(&health).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the demo never answered on {health}:\n{}",
            tail(&log)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The demo made its own certificates and database in the clone.
    assert!(clone.join("certs/dev/ca.crt").exists());
    assert!(clone.join("data/borderless-demo.db").exists());

    let screenshot = work.path().join("demo-signed-in.png");
    let out = tokio::process::Command::new("node")
        .arg(node_dir().join("../../e2e/signin.mjs"))
        .arg(format!("https://localhost:{port}/"))
        .arg("alice")
        .arg("alice@fabrikam.example")
        .arg(&screenshot)
        .arg("localhost")
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Chromium could not sign in through the demo:\n{stdout}\n{}\ndemo log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        tail(&log)
    );
    let result: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("result json");
    assert_eq!(result["ok"], true);
    assert_eq!(result["title"], "Demo app");
    assert_eq!(result["url"], format!("https://localhost:{port}/"));
    assert!(std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 1000));
}
