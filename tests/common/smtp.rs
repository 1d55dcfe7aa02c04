//! The real SMTP server (npm `smtp-server`) as a child process, and the messages it received,
//! parsed with the `mail-parser` crate.

use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use mail_parser::MimeHeaders;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::oidc_provider::node_dir;

pub struct SmtpServer {
    pub port: u16,
    mails: mpsc::UnboundedReceiver<Mail>,
    _child: Child,
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub envelope_to: Vec<String>,
    pub secure: bool,
    pub user: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Content types of the parts, e.g. `multipart/alternative`, `text/plain`, `text/html`.
    pub content_types: Vec<String>,
}

impl Mail {
    /// The redemption link in the text part.
    pub fn redeem_link(&self) -> String {
        self.text
            .split_whitespace()
            .find(|w| w.starts_with("https://") && w.contains("/.borderless/redeem?t="))
            .map(String::from)
            .unwrap_or_else(|| panic!("no redemption link in:\n{}", self.text))
    }
}

impl SmtpServer {
    /// Plain SMTP (no TLS, no auth) on an ephemeral port, or on `port`.
    pub async fn start(port: u16) -> SmtpServer {
        Self::start_with(serde_json::json!({ "port": port })).await
    }

    pub async fn start_with(settings: serde_json::Value) -> SmtpServer {
        let dir = node_dir();
        assert!(
            dir.join("node_modules/smtp-server").is_dir(),
            "npm packages missing: run `npm ci --prefix tests/support/node` (bash .ci/run does)"
        );
        let mut child = Command::new("node")
            .arg(dir.join("smtp-server.mjs"))
            .arg(settings.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start node smtp-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("smtp-server did not start within 30 s")
            .expect("read smtp-server stdout")
            .expect("smtp-server exited before printing its port");
        let v: serde_json::Value = serde_json::from_str(&line).expect("port line");
        let port = v["port"].as_u64().expect("port") as u16;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if let Some(mail) = parse(&v) {
                    let _ = tx.send(mail);
                }
            }
        });
        SmtpServer {
            port,
            mails: rx,
            _child: child,
        }
    }

    /// The next message, waiting up to 20 s.
    pub async fn next_mail(&mut self) -> Mail {
        tokio::time::timeout(Duration::from_secs(20), self.mails.recv())
            .await
            .expect("no mail within 20 s")
            .expect("smtp-server stopped")
    }

    /// Messages that arrive within `wait`.
    pub async fn drain(&mut self, wait: Duration) -> Vec<Mail> {
        let mut out = Vec::new();
        while let Ok(Some(m)) = tokio::time::timeout(wait, self.mails.recv()).await {
            out.push(m);
        }
        out
    }
}

fn parse(v: &serde_json::Value) -> Option<Mail> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v["raw"].as_str()?)
        .ok()?;
    let msg = mail_parser::MessageParser::default().parse(&raw)?;
    let content_types = msg
        .parts
        .iter()
        .filter_map(|p| p.content_type())
        .map(|ct| match ct.subtype() {
            Some(s) => format!("{}/{}", ct.ctype(), s),
            None => ct.ctype().to_string(),
        })
        .collect();
    Some(Mail {
        envelope_to: v["envelope"]["to"]
            .as_array()?
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        secure: v["envelope"]["secure"].as_bool().unwrap_or(false),
        user: v["envelope"]["user"].as_str().map(String::from),
        subject: msg.subject().unwrap_or("").to_string(),
        text: msg.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
        html: msg.body_html(0).map(|t| t.to_string()).unwrap_or_default(),
        content_types,
    })
}
