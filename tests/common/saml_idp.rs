//! The pysaml2 IdP (tests/support/saml_idp.py) as a child process, and the browser steps
//! of a SAML sign-in: the IdP's login form, its auto-posting response form, the ACS.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct SamlIdp {
    pub base: String,
    pub entity_id: String,
    pub metadata_url: String,
    http: reqwest::Client,
    _child: Child,
}

fn support_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support")
}

impl SamlIdp {
    /// `users`: login → {"name_id", "attributes"}.
    pub async fn start(users: serde_json::Value) -> SamlIdp {
        let python = support_dir().join("python/.venv/bin/python");
        assert!(
            python.exists(),
            "the pysaml2 venv is missing: run `bash .ci/prereqs` (bash .ci/run does)"
        );
        let mut child = Command::new(python)
            .arg(support_dir().join("saml_idp.py"))
            .arg(serde_json::json!({ "users": users }).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the pysaml2 IdP");
        let stdout = child.stdout.take().expect("stdout");
        let line = tokio::time::timeout(
            Duration::from_secs(30),
            BufReader::new(stdout).lines().next_line(),
        )
        .await
        .expect("the SAML IdP did not start within 30 s")
        .expect("read")
        .expect("the SAML IdP exited before printing its port");
        let v: serde_json::Value = serde_json::from_str(&line).expect("port line");
        SamlIdp {
            base: format!("http://127.0.0.1:{}", v["port"]),
            entity_id: v["entity_id"].as_str().expect("entity id").into(),
            metadata_url: v["metadata_url"].as_str().expect("metadata url").into(),
            http: reqwest::Client::new(),
            _child: child,
        }
    }

    /// Imports the gateway's SP metadata, as the partner's administrator does.
    pub async fn trust_sp(&self, sp_metadata: &str) {
        let r = self
            .http
            .post(format!("{}/sp-metadata", self.base))
            .body(sp_metadata.to_string())
            .send()
            .await
            .expect("load SP metadata");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }

    /// How the next response is made (see saml_idp.py `/next`).
    pub async fn next(&self, opts: serde_json::Value) {
        let r = self
            .http
            .post(format!("{}/next", self.base))
            .body(opts.to_string())
            .send()
            .await
            .expect("next");
        assert_eq!(r.status(), 200);
    }

    /// The LogoutRequests the IdP received (issuer, name_id, name_id_format, session_index).
    pub async fn logouts(&self) -> serde_json::Value {
        self.http
            .get(format!("{}/logouts", self.base))
            .send()
            .await
            .expect("logouts")
            .json()
            .await
            .expect("json")
    }

    /// The IdP's metadata XML.
    pub async fn metadata(&self) -> String {
        self.http
            .get(&self.metadata_url)
            .send()
            .await
            .expect("metadata")
            .text()
            .await
            .expect("text")
    }

    /// An IdP-initiated response for `login` to `acs`.
    pub async fn unsolicited(&self, login: &str, acs: &str, sp_entity_id: &str) -> Posted {
        let html = self
            .http
            .post(format!("{}/unsolicited", self.base))
            .body(
                serde_json::json!({"login": login, "acs": acs, "sp_entity_id": sp_entity_id})
                    .to_string(),
            )
            .send()
            .await
            .expect("unsolicited")
            .text()
            .await
            .expect("page");
        Posted::from_page(&html)
    }

    /// From the IdP's authorization URL (the AuthnRequest redirect): its login form, signed
    /// in as `login`; the response form the IdP answers with.
    pub async fn sign_in(&self, client: &reqwest::Client, authorize: &str, login: &str) -> Posted {
        let page = client
            .get(authorize)
            .send()
            .await
            .expect("sso")
            .text()
            .await
            .expect("page");
        let key = super::hidden_field(&page, "key")
            .unwrap_or_else(|| panic!("no login form at the IdP:\n{page}"));
        let html = client
            .post(format!("{}/sso/login", self.base))
            .form(&[("key", key.as_str()), ("login", login)])
            .send()
            .await
            .expect("login")
            .text()
            .await
            .expect("page");
        Posted::from_page(&html)
    }
}

/// The IdP's HTTP-POST binding form: where it posts and what.
#[derive(Clone, Debug)]
pub struct Posted {
    pub action: String,
    pub response: String,
    pub relay_state: Option<String>,
}

impl Posted {
    fn from_page(html: &str) -> Posted {
        let action = html
            .split("action=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("no response form:\n{html}"))
            .to_string();
        Posted {
            action,
            response: super::hidden_field(html, "SAMLResponse")
                .unwrap_or_else(|| panic!("no SAMLResponse:\n{html}")),
            relay_state: super::hidden_field(html, "RelayState"),
        }
    }

    /// The response's XML.
    pub fn xml(&self) -> String {
        String::from_utf8(STANDARD.decode(&self.response).expect("base64")).expect("utf-8")
    }

    /// The same form with other XML.
    pub fn with_xml(&self, xml: &str) -> Posted {
        Posted {
            response: STANDARD.encode(xml),
            ..self.clone()
        }
    }

    /// Posts the form as the browser does (the ACS answers 303 to its continue step, which
    /// the client follows); the page the gateway ends on.
    pub async fn post(&self, client: &reqwest::Client) -> reqwest::Response {
        let mut form = vec![("SAMLResponse", self.response.as_str())];
        if let Some(r) = &self.relay_state {
            form.push(("RelayState", r.as_str()));
        }
        client
            .post(&self.action)
            .form(&form)
            .send()
            .await
            .expect("post to the ACS")
    }
}
