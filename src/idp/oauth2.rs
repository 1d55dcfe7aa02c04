//! OAuth 2.0 providers with no ID token (GitHub, Facebook). The authorization code is
//! exchanged on the back channel (with PKCE: both take an S256 challenge), then the
//! provider's profile API says who signed in:
//!
//! - GitHub: `GET /user` gives the stable numeric id (the login can be renamed and then
//!   taken by someone else, so it is an attribute, never the subject), and
//!   `GET /user/emails` the primary address with its `verified` flag. The address on the
//!   public profile is whatever the user typed, and is never used.
//! - Facebook: Graph `GET /me?fields=id,name,email`, with `appsecret_proof` (an HMAC of the
//!   token keyed by the app secret) so a token leaked elsewhere cannot be replayed by a
//!   caller without the secret. Graph returns `email` only once the user has confirmed it,
//!   so an address it returns is verified.
//!
//! The `state` is the flow id and is checked by the sign-in plane, as for OpenID Connect.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use openidconnect::PkceCodeChallenge;
use serde_json::Value;
use sha2::Sha256;
use url::Url;

use super::{Asserted, AuthRequest, Identity, IdpError, error_chain};
use crate::config::file::ProfileApi;
use crate::config::{IdpConfig, OAuth2Settings};

pub struct OAuth2Provider {
    pub config: Arc<IdpConfig>,
    settings: OAuth2Settings,
    redirect_uri: Url,
    http: reqwest::Client,
}

/// The profile API version GitHub's REST API is asked to speak.
const GITHUB_API_VERSION: &str = "2022-11-28";

impl OAuth2Provider {
    pub fn new(config: Arc<IdpConfig>, redirect_uri: Url) -> anyhow::Result<Self> {
        let settings = config
            .oauth2
            .clone()
            .ok_or_else(|| anyhow::anyhow!("idp {} is not an oauth2 provider", config.id))?;
        Ok(Self {
            http: super::back_channel(&config)?,
            config,
            settings,
            redirect_uri,
        })
    }

    /// The authorization URL with `state` (the flow id) and, unless turned off, PKCE.
    pub fn start(&self, state: &str) -> AuthRequest {
        let mut url = self.settings.authorization_endpoint.clone();
        // Facebook separates scopes with commas; GitHub (and RFC 6749) with spaces.
        let separator = match self.settings.api {
            ProfileApi::Facebook => ",",
            ProfileApi::Github => " ",
        };
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.config.client_id)
                .append_pair("redirect_uri", self.redirect_uri.as_str())
                .append_pair("scope", &self.config.scopes.join(separator))
                .append_pair("state", state);
            if self.settings.pkce {
                q.append_pair("code_challenge", challenge.as_str())
                    .append_pair("code_challenge_method", "S256");
            }
        }
        AuthRequest {
            url,
            nonce: String::new(),
            pkce_verifier: if self.settings.pkce {
                verifier.secret().clone()
            } else {
                String::new()
            },
        }
    }

    pub async fn finish(&self, code: &str, pkce_verifier: &str) -> Result<Identity, IdpError> {
        let token = self.exchange(code, pkce_verifier).await?;
        let asserted = match self.settings.api {
            ProfileApi::Github => self.github(&token).await?,
            ProfileApi::Facebook => self.facebook(&token).await?,
        };
        Ok(asserted.into_identity(&self.config))
    }

    /// The code for an access token. GitHub answers errors with 200 and an `error` member,
    /// Facebook with 400 and an `error` object: both are read as the provider's refusal.
    async fn exchange(&self, code: &str, pkce_verifier: &str) -> Result<String, IdpError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("client_id", &self.config.client_id),
            ("client_secret", &self.config.client_secret),
        ];
        if self.settings.pkce {
            form.push(("code_verifier", pkce_verifier));
        }
        let url = self.settings.token_endpoint.as_str();
        let resp = self
            .http
            .post(url)
            .header(http::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| IdpError::Unreachable(format!("{url}: {}", error_chain(&e))))?;
        let (status, body) = read_json(resp, url).await?;
        if let Some(reason) = provider_error(&body) {
            return Err(IdpError::Exchange(reason));
        }
        if !status.is_success() {
            return Err(IdpError::Exchange(format!("{url} answered {status}")));
        }
        let token_type = body.get("token_type").and_then(Value::as_str);
        if token_type.is_some_and(|t| !t.eq_ignore_ascii_case("bearer")) {
            return Err(IdpError::Exchange(format!(
                "token type {token_type:?} is not bearer"
            )));
        }
        body.get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| IdpError::Exchange("the token response has no access_token".into()))
    }

    /// GETs a profile document with the access token as a bearer credential.
    async fn profile(&self, url: Url, token: &str) -> Result<(http::StatusCode, Value), IdpError> {
        let mut req = self.http.get(url.clone()).bearer_auth(token);
        req = match self.settings.api {
            ProfileApi::Github => req
                .header(http::header::ACCEPT, "application/vnd.github+json")
                .header("X-GitHub-Api-Version", GITHUB_API_VERSION),
            ProfileApi::Facebook => req.header(http::header::ACCEPT, "application/json"),
        };
        let resp = req
            .send()
            .await
            .map_err(|e| IdpError::Unreachable(format!("{url}: {}", error_chain(&e))))?;
        read_json(resp, url.as_str()).await
    }

    async fn github(&self, token: &str) -> Result<Asserted, IdpError> {
        let (status, user) = self.profile(self.api("user")?, token).await?;
        if !status.is_success() {
            return Err(IdpError::Profile(format!(
                "/user answered {status}: {}",
                provider_error(&user).unwrap_or_default()
            )));
        }
        let id = user
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| IdpError::Profile("/user has no numeric id".into()))?;
        // Without the `user:email` scope (or a GitHub App without the email permission)
        // the list is refused: no address, which the admission decision then says.
        let (status, emails) = self.profile(self.api("user/emails")?, token).await?;
        let email = if status.is_success() {
            github_primary_email(&emails)
        } else {
            tracing::info!(idp = %self.config.id, %status, "GitHub refused /user/emails; signing in without an address");
            None
        };
        let mut claims = scalar_fields(&user);
        claims.insert("sub".into(), id.to_string().into());
        Ok(Asserted {
            issuer: self.config.issuer.clone(),
            subject: id.to_string(),
            claims,
            email,
            amr: Vec::new(),
            acr: None,
            auth_time: None,
        })
    }

    async fn facebook(&self, token: &str) -> Result<Asserted, IdpError> {
        let mut url = self.api("me")?;
        url.query_pairs_mut()
            .append_pair("fields", "id,name,email")
            .append_pair(
                "appsecret_proof",
                &appsecret_proof(&self.config.client_secret, token),
            );
        let (status, me) = self.profile(url, token).await?;
        if !status.is_success() {
            return Err(IdpError::Profile(format!(
                "/me answered {status}: {}",
                provider_error(&me).unwrap_or_default()
            )));
        }
        let id = me
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| IdpError::Profile("/me has no numeric id".into()))?
            .to_string();
        let email = me
            .get("email")
            .and_then(Value::as_str)
            .map(|e| (e.to_string(), true));
        let mut claims = scalar_fields(&me);
        claims.insert("sub".into(), id.clone().into());
        Ok(Asserted {
            issuer: self.config.issuer.clone(),
            subject: id,
            claims,
            email,
            amr: Vec::new(),
            acr: None,
            auth_time: None,
        })
    }

    /// A path under the profile API's base, which may itself have a path (`/v23.0`).
    fn api(&self, path: &str) -> Result<Url, IdpError> {
        let mut base = self.settings.api_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        base.join(path)
            .map_err(|e| IdpError::Profile(format!("profile URL {path}: {e}")))
    }
}

/// Reads a JSON answer; no answer, a 5xx or a body that is not JSON (a proxy's error page)
/// means the provider is unavailable rather than that the sign-in was wrong.
async fn read_json(
    resp: reqwest::Response,
    url: &str,
) -> Result<(http::StatusCode, Value), IdpError> {
    let status = resp.status();
    if status.is_server_error() {
        return Err(IdpError::Unreachable(format!("{url} answered {status}")));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| IdpError::Unreachable(format!("{url}: {}", error_chain(&e))))?;
    let json = serde_json::from_slice(&body)
        .map_err(|_| IdpError::Unreachable(format!("{url} answered {status} without JSON")))?;
    Ok((status, json))
}

/// The provider's own error statement: `{"error": "…", "error_description": "…"}` (RFC 6749,
/// GitHub) or `{"error": {"message": "…", "type": "…"}}` (Facebook Graph).
fn provider_error(body: &Value) -> Option<String> {
    match body.get("error") {
        Some(Value::String(code)) => Some(
            match body.get("error_description").and_then(Value::as_str) {
                Some(d) => format!("{code}: {d}"),
                None => code.clone(),
            },
        ),
        Some(Value::Object(e)) => Some(format!(
            "{}: {}",
            e.get("type").and_then(Value::as_str).unwrap_or("error"),
            e.get("message").and_then(Value::as_str).unwrap_or("")
        )),
        Some(other) => Some(other.to_string()),
        // GitHub's REST API: `{"message": "Bad credentials"}`.
        None => body
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

/// GitHub's primary address and whether it is verified; any other address is ignored.
fn github_primary_email(emails: &Value) -> Option<(String, bool)> {
    emails.as_array()?.iter().find_map(|e| {
        let primary = e.get("primary").and_then(Value::as_bool) == Some(true);
        let address = e.get("email").and_then(Value::as_str)?;
        primary.then(|| {
            let verified = e.get("verified").and_then(Value::as_bool) == Some(true);
            (address.to_string(), verified)
        })
    })
}

/// A profile's strings, numbers and booleans, for the attribute mapping.
fn scalar_fields(profile: &Value) -> serde_json::Map<String, Value> {
    profile
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Graph's `appsecret_proof`: hex HMAC-SHA256 of the access token keyed by the app secret.
fn appsecret_proof(app_secret: &str, token: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(app_secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(token.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_primary_address_counts_with_its_own_flag() {
        let emails = serde_json::json!([
            {"email": "other@x.test", "primary": false, "verified": true},
            {"email": "main@x.test", "primary": true, "verified": false},
        ]);
        assert_eq!(
            github_primary_email(&emails),
            Some(("main@x.test".into(), false))
        );
        assert_eq!(github_primary_email(&serde_json::json!([])), None);
        assert_eq!(
            github_primary_email(&serde_json::json!({"message": "x"})),
            None
        );
    }

    #[test]
    fn both_error_shapes_are_read() {
        let github =
            serde_json::json!({"error": "bad_verification_code", "error_description": "expired"});
        assert_eq!(
            provider_error(&github).as_deref(),
            Some("bad_verification_code: expired")
        );
        let facebook = serde_json::json!({"error": {"message": "Invalid code", "type": "OAuthException", "code": 100}});
        assert_eq!(
            provider_error(&facebook).as_deref(),
            Some("OAuthException: Invalid code")
        );
        assert_eq!(
            provider_error(&serde_json::json!({"access_token": "t"})),
            None
        );
    }

    #[test]
    fn appsecret_proof_is_the_hex_hmac_of_the_token() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            appsecret_proof("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
