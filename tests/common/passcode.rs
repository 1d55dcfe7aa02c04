//! Driving the email passcode pages the way a browser does: the provider button, the
//! address form, the code form; and reading the code from a mail.

use super::guests::GuestEnv;
use super::{APP_HOST, LOGIN_HOST};

/// The hidden flow id of a passcode page.
pub fn flow_of(html: &str) -> String {
    super::hidden_field(html, "flow").unwrap_or_else(|| panic!("no flow on the page:\n{html}"))
}

/// The code in a passcode mail's text part.
pub fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 8)
        .unwrap_or_else(|| panic!("no 8-digit code in:\n{text}"))
        .to_string()
}

/// A browser on the passcode provider's address page (via an app, or a redemption link).
pub struct Guest {
    /// `https://login.test:port`, where the forms post.
    pub login: String,
    pub client: reqwest::Client,
    pub flow: String,
}

impl Guest {
    /// Opens the app and chooses the passcode provider.
    pub async fn at_app(env: &GuestEnv) -> Guest {
        let client = env.browser();
        let page = client
            .get(env.gw.url(APP_HOST, "/"))
            .send()
            .await
            .expect("app");
        let html = page.text().await.expect("page");
        Self::choose(env, client, &html).await
    }

    /// From a page listing the providers: the passcode one.
    pub async fn choose(env: &GuestEnv, client: reqwest::Client, html: &str) -> Guest {
        let href = html
            .split("class=\"button\" href=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .find(|h| h.starts_with("/.borderless/signin/email?"))
            .unwrap_or_else(|| panic!("no passcode button:\n{html}"))
            .replace("&amp;", "&");
        let page = client
            .get(env.gw.url(LOGIN_HOST, &href))
            .send()
            .await
            .expect("passcode start");
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("page");
        assert!(html.contains("<label for=\"email\">"), "{html}");
        Guest {
            login: env.gw.url(LOGIN_HOST, ""),
            flow: flow_of(&html),
            client,
        }
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let mut fields = vec![("flow", self.flow.as_str())];
        fields.extend_from_slice(form);
        let r = self
            .client
            .post(format!("{}{path}", self.login))
            .header("origin", &self.login)
            .form(&fields)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    }

    pub async fn send(&self, email: &str) -> (u16, String) {
        self.post("/.borderless/passcode/send", &[("email", email)])
            .await
    }

    pub async fn verify(&self, code: &str) -> (u16, String) {
        self.post("/.borderless/passcode/verify", &[("code", code)])
            .await
    }
}
