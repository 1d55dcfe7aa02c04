//! The `borderless` binary: `check-config` errors with file, line and key; every shipped
//! config validates; SIGHUP reloads a good config and keeps the old one on a broken file;
//! SIGTERM shuts down cleanly.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{APP_HOST, OTHER_HOST, TestPki};
use tokio::io::{AsyncBufReadExt, BufReader};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_borderless")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

type LogLines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// `borderless serve` on `cfg`, its stdout log as lines; killed when the child is dropped.
fn spawn_serve(cfg: &Path) -> (tokio::process::Child, LogLines) {
    let mut child = tokio::process::Command::new(bin())
        .args(["serve", "--config"])
        .arg(cfg)
        .env("BORDERLESS_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn gateway");
    let log = BufReader::new(child.stdout.take().expect("stdout")).lines();
    (child, log)
}

/// Reads the log until a line contains `needle`; fails after 30 s or at its end.
async fn expect_line(log: &mut LogLines, needle: &str) {
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = log.next_line().await {
            if line.contains(needle) {
                return true;
            }
        }
        false
    })
    .await;
    assert!(matches!(found, Ok(true)), "log never said {needle:?}");
}

fn check_config(path: &Path) -> std::process::Output {
    std::process::Command::new(bin())
        .arg("check-config")
        .arg(path)
        .output()
        .expect("run check-config")
}

#[test]
fn check_config_names_file_line_and_key_of_every_error() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        "version = 1\n[gateway]\npublic_url = \"http://plain.test\"\n\n[[listener]]\nbind = \"nowhere\"\nredirect_to_https = true\n\n\
         [[app]]\nid = \"hr\"\nhost = \"hr.test\"\nupstream = \"ftp://files\"\nauth = \"none\"\n",
    )
    .expect("write");
    let out = check_config(&path);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let p = path.display();
    assert!(
        err.contains(&format!("{p}:3: key `gateway.public_url`")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{p}:6: key `listener[0].bind`")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{p}:12: key `app[0].upstream`")),
        "{err}"
    );

    // Typos are errors too (deny_unknown_fields), located at the key.
    std::fs::write(
        &path,
        "version = 1\n[gateway]\npublic_url = \"https://x.test\"\n\n[session]\nlifetime = 5\n",
    )
    .expect("write");
    let out = check_config(&path);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{p}:6: key `session.lifetime`: unknown field")),
        "{err}"
    );

    // Syntax errors name the line.
    std::fs::write(&path, "version = 1\n[gateway\n").expect("write");
    let out = check_config(&path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{p}:2:")), "{err}");
}

#[test]
fn every_shipped_config_validates() {
    if !repo().join("certs/dev/gateway.crt").exists() {
        let st = std::process::Command::new("bash")
            .arg(repo().join("certs/make-dev-certs.sh"))
            .output()
            .expect("certs");
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("config"))
        .expect("config dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "example and demo configs");
    let out = std::process::Command::new(bin())
        .arg("check-config")
        .args(&files)
        .env("BORDERLESS_ENTRA_SECRET", "test")
        .env("BORDERLESS_GOOGLE_SECRET", "test")
        .env("BORDERLESS_SMTP_PASSWORD", "test")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn write_config(path: &Path, port: u16, dir: &Path, pki: &TestPki, apps: &str) {
    let toml = format!("{}\n{apps}", common::base_toml(port, dir, pki, ""));
    std::fs::write(path, toml).expect("write config");
}

/// A fresh directory with a test PKI and a config on a free port whose one open app, on
/// `OTHER_HOST`, forwards to `echo`: (directory, PKI, port, config path).
fn one_app_config(echo: std::net::SocketAddr) -> (tempfile::TempDir, TestPki, u16, PathBuf) {
    let dir = tempfile::tempdir().expect("dir");
    let pki = TestPki::create(dir.path());
    let port = free_port();
    let cfg = dir.path().join("gateway.toml");
    write_config(
        &cfg,
        port,
        dir.path(),
        &pki,
        &app("one", OTHER_HOST, port, echo),
    );
    (dir, pki, port, cfg)
}

fn app(id: &str, host: &str, port: u16, echo: std::net::SocketAddr) -> String {
    format!(
        "[[app]]\nid = \"{id}\"\nhost = \"{host}:{port}\"\nupstream = \"http://{echo}\"\nauth = \"none\"\n"
    )
}

#[tokio::test]
async fn sighup_reloads_good_config_and_keeps_serving_on_a_broken_one() {
    let echo = common::start_echo().await;
    let (dir, pki, port, cfg) = one_app_config(echo);

    let (mut child, mut log) = spawn_serve(&cfg);
    expect_line(&mut log, "gateway ready").await;

    let ca = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("ca");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .resolve(OTHER_HOST, addr)
        .resolve(APP_HOST, addr)
        .build()
        .expect("client");
    let status = |host: &'static str| {
        let client = client.clone();
        async move {
            client
                .get(format!("https://{host}:{port}/"))
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(OTHER_HOST).await, 200);
    assert_eq!(status(APP_HOST).await, 404);

    let pid = child.id().expect("pid").to_string();
    let hup = || {
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .expect("kill -HUP")
    };

    // A broken file: refused, the old config keeps serving.
    std::fs::write(&cfg, "version = 1\n[gateway]\npublic_url = 42\n").expect("break config");
    assert!(hup().success());
    expect_line(&mut log, "reload refused").await;
    assert_eq!(status(OTHER_HOST).await, 200, "old config still serves");

    // A good file: the new app appears.
    write_config(
        &cfg,
        port,
        dir.path(),
        &pki,
        &format!(
            "{}{}",
            app("one", OTHER_HOST, port, echo),
            app("two", APP_HOST, port, echo)
        ),
    );
    assert!(hup().success());
    expect_line(&mut log, "configuration reloaded").await;
    assert_eq!(status(APP_HOST).await, 200);

    // SIGTERM: clean exit.
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits")
        .expect("wait");
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let echo = common::start_echo().await;
    let (_dir, _pki, _port, cfg) = one_app_config(echo);
    let text = std::fs::read_to_string(&cfg).expect("read");
    std::fs::write(
        &cfg,
        text.replacen("[gateway]\n", "[gateway]\nlog_format = \"json\"\n", 1),
    )
    .expect("write");
    let (_child, mut log) = spawn_serve(&cfg);
    let line = tokio::time::timeout(Duration::from_secs(30), log.next_line())
        .await
        .expect("a log line")
        .expect("read")
        .expect("line");
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert_eq!(v["level"], "INFO", "{v}");
    assert!(v["fields"]["message"].is_string(), "{v}");
}

/// `serve` turns transparent huge pages off for its process: with them, each first touch of a
/// 2 MB heap page stalled a worker while the cache filled after a restart (docs/benchmarks.md).
#[tokio::test]
async fn the_serving_gateway_runs_without_transparent_huge_pages() {
    let echo = common::start_echo().await;
    let (_dir, _pki, _port, cfg) = one_app_config(echo);
    let (child, mut log) = spawn_serve(&cfg);
    expect_line(&mut log, "gateway ready").await;
    let pid = child.id().expect("pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    // "THP_enabled: 0" once PR_SET_THP_DISABLE is set. A child inherits the flag, so this
    // catches a gateway that leaves huge pages on only where the test runner allows them, as
    // CI's does.
    let thp = status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .map(str::trim);
    assert_eq!(thp, Some("0"), "{status}");
}
