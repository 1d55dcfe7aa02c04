//! The real OpenID Connect provider (npm `oidc-provider`) as a child process.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct NodeIdp {
    pub issuer: String,
    _child: Child,
}

pub fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/node")
}

impl NodeIdp {
    /// Starts the provider with one confidential client registered for `gateway_login_url`.
    pub async fn start(
        gateway_login_url: &str,
        client_id: &str,
        client_secret: &str,
        accounts: serde_json::Value,
    ) -> NodeIdp {
        let settings = serde_json::json!({
            "clients": [{
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uris": [format!("{gateway_login_url}/.borderless/callback/{client_id}")],
                "post_logout_redirect_uris": [format!("{gateway_login_url}/.borderless/signed-out")],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            }],
            "accounts": accounts,
        });
        Self::start_with(settings).await
    }

    pub async fn start_with(settings: serde_json::Value) -> NodeIdp {
        let dir = node_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "npm packages missing: run `npm ci --prefix tests/support/node` (bash .ci/run does)"
        );
        let mut child = Command::new("node")
            .arg(dir.join("oidc-provider.mjs"))
            .arg(settings.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start node oidc-provider");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("oidc-provider did not start within 30 s")
            .expect("read oidc-provider stdout")
            .expect("oidc-provider exited before printing its issuer");
        let v: serde_json::Value = serde_json::from_str(&line).expect("issuer line");
        let issuer = v["issuer"].as_str().expect("issuer").to_string();
        // Keep draining stdout; a closed pipe would kill the provider on its next log line.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        NodeIdp {
            issuer,
            _child: child,
        }
    }
}

/// Drives oidc-provider's login and consent pages for `login`, starting at `start_url`.
/// Returns the final response after the gateway's redirects.
pub async fn sign_in(client: &reqwest::Client, start_url: &str, login: &str) -> reqwest::Response {
    let page = client.get(start_url).send().await.expect("start sign-in");
    // Still signed in at the provider: it answered without a login page.
    if page.url().host_str() != Some("127.0.0.1") {
        return page;
    }
    let mut page_url = page.url().clone();
    let mut html = page.text().await.expect("login page");
    for _ in 0..3 {
        if !html.contains("name=\"prompt\"") {
            break;
        }
        let (action, mut fields) = super::first_form(&html);
        let action = page_url.join(&action).expect("form action url");
        if html.contains("value=\"login\"") {
            fields.push(("login".into(), login.into()));
            fields.push(("password".into(), "any-password".into()));
        }
        let resp = client
            .post(action)
            .form(&fields)
            .send()
            .await
            .expect("submit form");
        page_url = resp.url().clone();
        if !resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/html"))
            || resp.url().host_str() != Some("127.0.0.1")
        {
            return resp;
        }
        html = resp.text().await.expect("next page");
    }
    panic!("sign-in did not leave the provider; last page:\n{html}");
}
