//! A gateway set up for B2B guests: the real oidc-provider as the partner IdP (its users are
//! guests, so they need an invitation), the real smtp-server for invitation mail, the echo
//! app as `hr` (open to every invited guest) and `wiki` (assignment required), and helpers
//! that drive a redemption the way a browser does.

use std::path::PathBuf;
use std::process::Output;

use super::oidc_provider::{NodeIdp, sign_in};
use super::smtp::SmtpServer;
use super::{APP_HOST, GatewaySlot, LOGIN_HOST, OTHER_HOST, TestGateway, start_echo};

pub const TENANT: &str = "contoso.example";

pub struct GuestEnv {
    pub gw: TestGateway,
    pub idp: NodeIdp,
    pub smtp: Option<SmtpServer>,
}

/// Partner IdP accounts: login → claims.
pub fn accounts() -> serde_json::Value {
    serde_json::json!({
        "alice": { "email": "alice@fabrikam.example", "email_verified": true, "name": "Alice Fabrikam" },
        "alice-unverified": { "email": "alice@fabrikam.example", "email_verified": false, "name": "Alice?" },
        "mallory": { "email": "mallory@evil.example", "email_verified": true, "name": "Mallory" },
        "carol": { "email": "carol@fabrikam.example", "email_verified": true, "name": "Carol" },
        "dave": { "email": "dave@fabrikam.example", "email_verified": true, "name": "Dave" },
        "erin": { "email": "erin@fabrikam.example", "email_verified": true, "name": "Erin" },
        "owner": { "email": "owner@contoso.example", "email_verified": true, "name": "Olga Owner" },
        // Partners whose IdP reports its own MFA in `amr` (and Fabrikam's level in `acr`).
        "frank": { "email": "frank@fabrikam.example", "email_verified": true, "name": "Frank", "amr": ["pwd", "mfa"] },
        "grace": { "email": "grace@woodgrove.example", "email_verified": true, "name": "Grace", "amr": ["pwd", "mfa"] },
    })
}

#[derive(Default)]
pub struct Options {
    /// SMTP port; `None` starts a fresh server, `Some(p)` points at `p` without starting one.
    pub smtp_port: Option<u16>,
    /// Replaces the body of the `[smtp]` section.
    pub smtp_section: Option<String>,
    /// Replaces the body of the `[collaboration]` section.
    pub collaboration: Option<String>,
    /// More TOML at the end; `{PORT}` stands for the gateway's port.
    pub extra: String,
    /// The body of the `[limits]` section.
    pub limits: String,
    /// The database instead of a fresh SQLite file.
    pub database_url: Option<String>,
}

impl Options {
    /// A fresh PostgreSQL database (see `databases::postgres_database`).
    pub async fn postgres() -> Options {
        Options {
            database_url: super::databases::postgres_database().await,
            ..Default::default()
        }
    }
}

impl GuestEnv {
    pub async fn start() -> GuestEnv {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> GuestEnv {
        let echo = start_echo().await;
        let mut slot = GatewaySlot::new().await;
        slot.database_url = opts.database_url.clone();
        let idp = NodeIdp::start(&slot.login_url(), "partner", "partner-secret", accounts()).await;
        let (smtp, smtp_port) = match opts.smtp_port {
            Some(p) => (None, p),
            None => {
                let s = SmtpServer::start(0).await;
                let p = s.port;
                (Some(s), p)
            }
        };
        let port = slot.port;
        let smtp_section = opts.smtp_section.unwrap_or_else(|| {
            format!(
                "host = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"none\"\nfrom = \"Contoso Invitations <invites@contoso.example>\"\ntimeout_secs = 5\n"
            )
        });
        let collaboration = opts
            .collaboration
            .unwrap_or_else(|| "blocked_domains = [\"blocked.example\"]".into());
        let sections = format!(
            r#"
[directory]
tenant_domain = "{TENANT}"
organization = "Contoso"
support_contact = "it@contoso.example"
logo_url = "https://contoso.example/logo.png"

[collaboration]
{collaboration}

[smtp]
{smtp_section}
[[idp]]
id = "partner"
kind = "oidc"
display_name = "Partner IdP"
issuer = "{issuer}"
client_id = "partner"
client_secret = "partner-secret"

[[app]]
id = "hr"
display_name = "HR Portal"
host = "{APP_HOST}:{port}"
upstream = "http://{echo}"
owners = ["owner@contoso.example"]

[app.headers]
X-Remote-User = "upn"
X-User-Type = "user_type"
X-Mail = "mail"

[[app]]
id = "wiki"
display_name = "Wiki"
host = "{OTHER_HOST}:{port}"
upstream = "http://{echo}"
assignment_required = true

[app.headers]
X-Remote-User = "upn"
{extra}
"#,
            issuer = idp.issuer,
            extra = opts.extra.replace("{PORT}", &port.to_string()),
        );
        let gw = slot.start(&opts.limits, &sections).await;
        GuestEnv { gw, idp, smtp }
    }

    pub fn smtp(&mut self) -> &mut SmtpServer {
        self.smtp
            .as_mut()
            .expect("this environment runs no SMTP server")
    }

    pub fn config(&self) -> PathBuf {
        self.gw.config_path.clone()
    }

    /// Runs the real `borderless` binary against this gateway's config and database.
    pub async fn cli(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_borderless"))
            .args(args)
            .arg("--config")
            .arg(self.config())
            .env("BORDERLESS_LOG", "warn")
            .output()
            .await
            .expect("run borderless")
    }

    /// `cli` and parse its stdout as JSON (adds `--json`); panics with stderr on failure.
    pub async fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.cli(&a).await;
        assert!(
            out.status.success(),
            "borderless {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "borderless {args:?}: not JSON ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// A browser that asks for JSON, so the echo app shows the headers it got.
    pub fn browser(&self) -> reqwest::Client {
        self.gw.json_browser().client
    }

    /// Opens a redemption link, picks the partner IdP and signs in as `login`; returns the
    /// page the gateway shows after the callback (the consent page, or a refusal).
    pub async fn open_link(
        &self,
        client: &reqwest::Client,
        link: &str,
        login: &str,
    ) -> reqwest::Response {
        self.open_link_at(client, link, "partner", login).await
    }

    /// `open_link`, choosing the IdP with this id on the redemption page.
    pub async fn open_link_at(
        &self,
        client: &reqwest::Client,
        link: &str,
        idp: &str,
        login: &str,
    ) -> reqwest::Response {
        let page = client.get(link).send().await.expect("open link");
        assert_eq!(page.status(), 200, "redemption page for {link}");
        let html = page.text().await.expect("page");
        assert!(
            html.contains("Contoso"),
            "page names the organisation:\n{html}"
        );
        let href = html
            .split("class=\"button\" href=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .find(|h| h.starts_with(&format!("/.borderless/signin/{idp}?")))
            .unwrap_or_else(|| panic!("no button for IdP {idp}:\n{html}"))
            .replace("&amp;", "&");
        sign_in(client, &self.gw.url(LOGIN_HOST, &href), login).await
    }

    /// Posts the consent form's decision from our own origin; follows redirects.
    pub async fn consent(&self, client: &reqwest::Client, decision: &str) -> reqwest::Response {
        client
            .post(self.gw.url(LOGIN_HOST, "/.borderless/consent"))
            .header("origin", self.gw.url(LOGIN_HOST, ""))
            .form(&[("decision", decision)])
            .send()
            .await
            .expect("consent")
    }

    /// A new admin API key, made with the CLI.
    pub async fn admin_key(&self, name: &str) -> String {
        let out = self.cli_json(&["admin-keys", "create", name]).await;
        out["key"].as_str().expect("key").to_string()
    }

    /// Signs in at an app directly (no link): just-in-time redemption or a normal sign-in.
    pub async fn visit_app(
        &self,
        client: &reqwest::Client,
        host: &str,
        login: &str,
    ) -> reqwest::Response {
        sign_in(client, &self.gw.url(host, "/"), login).await
    }
}
