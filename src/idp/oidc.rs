//! OpenID Connect relying party (authorization code flow with PKCE) on the `openidconnect`
//! crate. Discovery is lazy and cached, so a gateway starts even while an IdP is down.
//!
//! The signing keys are trusted for the JWKS response's `Cache-Control: max-age` (bounded by
//! `JWKS_MIN_AGE`..`JWKS_MAX_AGE`), then fetched again before the next token is checked, so
//! a key the IdP withdrew stops counting. While the IdP cannot be reached, the keys it last
//! published serve for `JWKS_STALE_GRACE` more. A token naming an unknown key makes one
//! early refetch, at most once per `JWKS_REFETCH_INTERVAL` and by one task at a time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadataWithLogout,
    RedirectUrl, Scope, SignatureVerificationError, TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};
use url::Url;

use super::{Asserted, AuthRequest, Identity, IdpError, error_chain};
use crate::config::IdpConfig;
use crate::config::file::IdpKind;

/// Minimum time between two key refetches triggered by unknown `kid`s.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Keys are trusted this long when the JWKS response names no `max-age`.
pub const JWKS_DEFAULT_AGE: Duration = Duration::from_secs(3600);
/// Bounds on an IdP's `max-age`: never a fetch per sign-in, never keys kept for days.
pub const JWKS_MIN_AGE: Duration = Duration::from_secs(5);
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long past their age the last keys serve while the IdP cannot be reached.
pub const JWKS_STALE_GRACE: Duration = Duration::from_secs(6 * 3600);

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// All claims of a token, so operators can map any claim (e.g. `groups`) to an attribute.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AllClaims {
    #[serde(flatten)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}
impl AdditionalClaims for AllClaims {}

type FullIdToken =
    IdToken<AllClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

struct Discovered {
    client: Client,
    metadata: ProviderMetadataWithLogout,
    end_session: Option<Url>,
    /// Bumped on every key refetch, so waiters know someone else already refetched.
    generation: u64,
    keys: KeyAge,
}

/// When the keys were fetched and for how long the IdP said they hold.
#[derive(Debug, Clone, Copy)]
struct KeyAge {
    fetched: Instant,
    max_age: Duration,
}

/// What to do with cached keys of a given age.
#[derive(Debug, PartialEq, Eq)]
enum KeyFreshness {
    Fresh,
    /// Past their age: fetch again, and use them only if that fails.
    Refresh,
    /// Past their age and the grace: unusable.
    Expired,
}

impl KeyAge {
    fn freshness(&self, now: Instant) -> KeyFreshness {
        let age = now.saturating_duration_since(self.fetched);
        if age < self.max_age {
            KeyFreshness::Fresh
        } else if age < self.max_age + JWKS_STALE_GRACE {
            KeyFreshness::Refresh
        } else {
            KeyFreshness::Expired
        }
    }
}

/// `max-age` from `Cache-Control`, bounded; the default without one.
fn max_age(headers: &http::HeaderMap) -> Duration {
    let secs = headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|d| {
            d.trim()
                .strip_prefix("max-age=")?
                .trim()
                .parse::<u64>()
                .ok()
        });
    match secs {
        Some(s) => Duration::from_secs(s).clamp(JWKS_MIN_AGE, JWKS_MAX_AGE),
        None => JWKS_DEFAULT_AGE,
    }
}

pub struct OidcProvider {
    pub config: Arc<IdpConfig>,
    redirect_uri: RedirectUrl,
    http: reqwest::Client,
    discovered: RwLock<Option<Arc<Discovered>>>,
    refetch: Mutex<Option<Instant>>,
}

impl OidcProvider {
    pub fn new(config: Arc<IdpConfig>, redirect_uri: Url) -> anyhow::Result<Self> {
        let http = super::back_channel(&config)?;
        Ok(Self {
            config,
            redirect_uri: RedirectUrl::from_url(redirect_uri),
            http,
            discovered: RwLock::new(None),
            refetch: Mutex::new(None),
        })
    }

    async fn discovered(&self) -> Result<Arc<Discovered>, IdpError> {
        if let Some(d) = self.discovered.read().await.as_ref() {
            return Ok(d.clone());
        }
        let mut slot = self.discovered.write().await;
        if let Some(d) = slot.as_ref() {
            return Ok(d.clone());
        }
        let d = Arc::new(self.discover(0).await?);
        *slot = Some(d.clone());
        Ok(d)
    }

    /// Discovery by hand rather than `discover_async`, which hides the JWKS response's
    /// `Cache-Control`: the document, the exact issuer check, then the keys.
    async fn discover(&self, generation: u64) -> Result<Discovered, IdpError> {
        let err = |reason: String| IdpError::Discovery {
            issuer: self.config.issuer.clone(),
            reason,
        };
        IssuerUrl::new(self.config.issuer.clone()).map_err(|e| err(e.to_string()))?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let (body, _) = self.get_json(&url).await?;
        let metadata: ProviderMetadataWithLogout =
            serde_json::from_slice(&body).map_err(|e| err(format!("{url}: {e}")))?;
        // Microsoft's multi-tenant endpoints publish a template
        // (`…/{tenantid}/v2.0`); each token's `iss` is then checked against it (`check_tenant`).
        let template = self.config.kind == IdpKind::Microsoft
            && metadata.issuer().as_str().contains(TENANT_PLACEHOLDER);
        if metadata.issuer().as_str() != self.config.issuer && !template {
            return Err(err(format!(
                "the document names the issuer {}",
                metadata.issuer().as_str()
            )));
        }
        let (jwks, keys) = self.fetch_keys(&metadata).await?;
        Ok(self.build(metadata.set_jwks(jwks), generation, keys))
    }

    /// GETs a JSON document from the IdP; network failures and 5xx are `Unreachable`.
    async fn get_json(&self, url: &str) -> Result<(bytes::Bytes, http::HeaderMap), IdpError> {
        let resp = self
            .http
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| IdpError::Unreachable(format!("{url}: {}", error_chain(&e))))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(IdpError::Unreachable(format!("{url} answered {status}")));
        }
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map_err(|e| IdpError::Unreachable(format!("{url}: {}", error_chain(&e))))?;
        Ok((body, headers))
    }

    async fn fetch_keys(
        &self,
        metadata: &ProviderMetadataWithLogout,
    ) -> Result<(CoreJsonWebKeySet, KeyAge), IdpError> {
        let url = metadata.jwks_uri().url().as_str();
        let (body, headers) = self.get_json(url).await?;
        let jwks: CoreJsonWebKeySet =
            serde_json::from_slice(&body).map_err(|e| IdpError::Discovery {
                issuer: self.config.issuer.clone(),
                reason: format!("{url}: {e}"),
            })?;
        let age = KeyAge {
            fetched: Instant::now(),
            max_age: max_age(&headers),
        };
        Ok((jwks, age))
    }

    /// The discovered provider with keys fit to verify a token now: fetched again when
    /// past their age, the old ones kept (for the grace) only while the IdP is unreachable.
    async fn with_current_keys(&self) -> Result<Arc<Discovered>, IdpError> {
        let d = self.discovered().await?;
        let freshness = d.keys.freshness(Instant::now());
        if freshness == KeyFreshness::Fresh {
            return Ok(d);
        }
        let _one_at_a_time = self.refetch.lock().await;
        if let Some(cur) = self.discovered.read().await.as_ref()
            && cur.generation > d.generation
        {
            return Ok(cur.clone());
        }
        match self.fetch_keys(&d.metadata).await {
            Ok((jwks, keys)) => {
                let fresh =
                    Arc::new(self.build(d.metadata.clone().set_jwks(jwks), d.generation + 1, keys));
                *self.discovered.write().await = Some(fresh.clone());
                Ok(fresh)
            }
            Err(e) if freshness == KeyFreshness::Refresh => {
                tracing::warn!(idp = %self.config.id, "refreshing the signing keys failed; the last ones serve a while longer: {e}");
                Ok(d)
            }
            Err(e) => Err(e),
        }
    }

    fn build(
        &self,
        metadata: ProviderMetadataWithLogout,
        generation: u64,
        keys: KeyAge,
    ) -> Discovered {
        let end_session = metadata
            .additional_metadata()
            .end_session_endpoint
            .as_ref()
            .map(|u| u.url().clone());
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect_uri.clone());
        Discovered {
            client,
            metadata,
            end_session,
            generation,
            keys,
        }
    }

    /// Builds the authorization request (PKCE S256, nonce) with `state`: the id of the flow
    /// that waits for the callback, a random token of the caller's.
    pub async fn start(
        &self,
        state: &str,
        login_hint: Option<&str>,
        fresh: bool,
    ) -> Result<AuthRequest, IdpError> {
        let d = self.discovered().await?;
        let state = state.to_string();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = d
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for s in self.config.scopes.iter().filter(|s| *s != "openid") {
            req = req.add_scope(Scope::new(s.clone()));
        }
        if let Some(hd) = &self.config.hosted_domain {
            // Google's account chooser shows only this domain's accounts; the callback
            // still checks the token's `hd`, since the browser can drop the hint.
            req = req.add_extra_param("hd", hd.clone());
        }
        if let Some(hint) = login_hint {
            // The IdP can skip its own account chooser or address field (OIDC Core 3.1.2.1).
            req = req.add_extra_param("login_hint", hint.to_string());
        }
        if fresh {
            // OIDC Core 3.1.2.1: re-authenticate even with a session at the provider, and
            // state `auth_time` so the gateway can see that it did.
            req = req
                .add_prompt(openidconnect::core::CoreAuthPrompt::Login)
                .set_max_age(std::time::Duration::ZERO);
        }
        let (url, _state, nonce) = req.url();
        Ok(AuthRequest {
            url,
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the code and verifies everything the ID token and UserInfo say.
    pub async fn finish(
        &self,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<Identity, IdpError> {
        let d = self.with_current_keys().await?;
        let token = d
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| IdpError::Exchange(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                // No answer at all, or not even JSON (a proxy's 503 page): the IdP is down,
                // the sign-in itself did nothing wrong. JSON that is not a valid token
                // response is the IdP's answer, and refused as such.
                openidconnect::RequestTokenError::Request(_) => {
                    IdpError::Unreachable(error_chain(&e))
                }
                openidconnect::RequestTokenError::Parse(_, ref body)
                    if serde_json::from_slice::<serde_json::Value>(body).is_err() =>
                {
                    IdpError::Unreachable(error_chain(&e))
                }
                _ => IdpError::Exchange(error_chain(&e)),
            })?;
        let raw = token.id_token().ok_or(IdpError::NoIdToken)?;
        let raw = serde_json::to_value(raw)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .ok_or(IdpError::NoIdToken)?;
        let id_token: FullIdToken = raw
            .parse()
            .map_err(|e: serde_json::Error| IdpError::IdToken(e.to_string()))?;
        let nonce = Nonce::new(nonce.to_string());

        let (d, claims) = match verify(&d, &self.config, &id_token, &nonce) {
            Ok(c) => (d, c),
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // The provider may have rotated its keys: refetch once, then try again.
                let d2 = self.refetch_keys(&d).await?;
                let c = verify(&d2, &self.config, &id_token, &nonce)
                    .map_err(|e| IdpError::IdToken(e.to_string()))?;
                (d2, c)
            }
            Err(e) => return Err(IdpError::IdToken(error_chain(&e))),
        };

        check_times(&claims)?;
        if self.config.kind == IdpKind::Microsoft {
            check_tenant(&self.config, d.metadata.issuer().as_str(), &claims)?;
        }
        if let Some(hd) = &self.config.hosted_domain {
            let token_hd = claims
                .additional_claims()
                .claims
                .get("hd")
                .and_then(|v| v.as_str())
                .map(str::to_ascii_lowercase);
            if token_hd.as_deref() != Some(hd.as_str()) {
                return Err(IdpError::IdToken(format!(
                    "the account is not in the hosted domain {hd} (hd: {token_hd:?})"
                )));
            }
        }

        let subject = claims.subject().clone();
        let mut all: serde_json::Map<String, serde_json::Value> =
            claims.additional_claims().claims.clone();
        // Standard claims that openidconnect parsed into typed fields.
        all.insert("sub".into(), subject.as_str().into());
        if let Some(name) = claims.name().and_then(|n| n.get(None)) {
            all.insert("name".into(), name.as_str().into());
        }
        // `email` and `email_verified` are one statement and come from one source: the ID
        // token when it names an address, else UserInfo. Mixing them would let a verified
        // flag from one vouch for an address from the other.
        let mut email = claims.email().map(|e| {
            let verified = email_verified(
                &self.config,
                e.as_str(),
                claims.email_verified(),
                &claims.additional_claims().claims,
            );
            (e.as_str().to_string(), verified)
        });

        if let Some(Ok(req)) = d.client.user_info_url().map(|_| {
            d.client
                .user_info(token.access_token().clone(), Some(subject.clone()))
        }) {
            // `expected_subject` makes openidconnect refuse a UserInfo `sub` that differs.
            let info: UserInfoClaims<AllClaims, CoreGenderClaim> = req
                .request_async(&self.http)
                .await
                .map_err(|e| IdpError::UserInfo(error_chain(&e)))?;
            for (k, v) in &info.additional_claims().claims {
                if !matches!(k.as_str(), "sub" | "iss" | "aud") {
                    all.insert(k.clone(), v.clone());
                }
            }
            if email.is_none() {
                email = info.email().map(|e| {
                    let verified = email_verified(
                        &self.config,
                        e.as_str(),
                        info.email_verified(),
                        &info.additional_claims().claims,
                    );
                    (e.as_str().to_string(), verified)
                });
            }
            if let Some(name) = info.name().and_then(|n| n.get(None)) {
                all.insert("name".into(), name.as_str().into());
            }
        }
        let amr = claims
            .auth_method_refs()
            .map(|v| v.iter().map(|a| a.as_str().to_string()).collect())
            .unwrap_or_default();
        Ok(Asserted {
            issuer: claims.issuer().as_str().to_string(),
            subject: subject.as_str().to_string(),
            claims: all,
            email,
            amr,
            acr: claims.auth_context_ref().map(|a| a.as_str().to_string()),
            auth_time: claims.auth_time().map(|t| t.timestamp()),
        }
        .into_identity(&self.config))
    }

    /// Single-flight, rate-limited key refetch.
    async fn refetch_keys(&self, seen: &Arc<Discovered>) -> Result<Arc<Discovered>, IdpError> {
        let mut last = self.refetch.lock().await;
        // Someone refetched while this task waited for the lock: use their result.
        if let Some(cur) = self.discovered.read().await.as_ref()
            && cur.generation > seen.generation
        {
            return Ok(cur.clone());
        }
        if let Some(at) = *last
            && at.elapsed() < JWKS_REFETCH_INTERVAL
        {
            return Err(IdpError::IdToken(
                "unknown signing key (key refetch rate-limited)".into(),
            ));
        }
        *last = Some(Instant::now());
        tracing::info!(target: "borderless::security", idp = %self.config.id, "unknown key id; refetching the provider's keys");
        let (jwks, keys) = self.fetch_keys(&seen.metadata).await?;
        let metadata = seen.metadata.clone().set_jwks(jwks);
        let d = Arc::new(self.build(metadata, seen.generation + 1, keys));
        *self.discovered.write().await = Some(d.clone());
        Ok(d)
    }

    /// RP-initiated logout URL, when the provider publishes `end_session_endpoint`.
    pub async fn end_session_url(&self, post_logout_redirect: &Url) -> Option<Url> {
        let d = self.discovered().await.ok()?;
        let mut url = d.end_session.clone()?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id)
            .append_pair("post_logout_redirect_uri", post_logout_redirect.as_str());
        Some(url)
    }
}

fn verify(
    d: &Discovered,
    config: &IdpConfig,
    token: &FullIdToken,
    nonce: &Nonce,
) -> Result<openidconnect::IdTokenClaims<AllClaims, CoreGenderClaim>, ClaimsVerificationError> {
    use CoreJwsSigningAlgorithm as A;
    // An issuer template cannot match any token's `iss` as is: `check_tenant` compares the
    // template filled with the token's own `tid` instead.
    let template = config.kind == IdpKind::Microsoft
        && d.metadata.issuer().as_str().contains(TENANT_PLACEHOLDER);
    // Asymmetric algorithms only: never `none`, never HMAC keyed by the client secret.
    let verifier = d
        .client
        .id_token_verifier()
        .require_issuer_match(!template)
        .set_allowed_algs([
            A::RsaSsaPkcs1V15Sha256,
            A::RsaSsaPkcs1V15Sha384,
            A::RsaSsaPkcs1V15Sha512,
            A::RsaSsaPssSha256,
            A::RsaSsaPssSha384,
            A::RsaSsaPssSha512,
            A::EcdsaP256Sha256,
            A::EcdsaP384Sha384,
            A::EdDsa,
        ]);
    token.claims(&verifier, nonce).cloned()
}

/// The placeholder in Microsoft's multi-tenant issuer.
const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Microsoft: the token's `iss` must be the issuer (a template filled with the token's own
/// `tid`, or the single tenant's issuer), and `tid` must be an admitted tenant.
fn check_tenant(
    config: &IdpConfig,
    issuer: &str,
    claims: &openidconnect::IdTokenClaims<AllClaims, CoreGenderClaim>,
) -> Result<(), IdpError> {
    let tid = claims
        .additional_claims()
        .claims
        .get("tid")
        .and_then(|v| v.as_str())
        .ok_or_else(|| IdpError::IdToken("no tenant id (tid)".into()))?;
    let tid_ok = tid.len() == 36 && tid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    if !tid_ok {
        return Err(IdpError::IdToken(format!("malformed tenant id {tid:?}")));
    }
    let expected = issuer.replace(TENANT_PLACEHOLDER, tid);
    if claims.issuer().as_str() != expected {
        return Err(IdpError::IdToken(format!(
            "iss {} is not the issuer of tenant {tid}",
            claims.issuer().as_str()
        )));
    }
    let tid = tid.to_ascii_lowercase();
    if !config.tenants.is_empty() && !config.tenants.contains(&tid) {
        return Err(IdpError::IdToken(format!("tenant {tid} is not admitted")));
    }
    Ok(())
}

/// Whether the provider vouched for the address: `email_verified: true`, or Microsoft's
/// own signal.
fn email_verified(
    config: &IdpConfig,
    email: &str,
    standard: Option<bool>,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> bool {
    match config.kind {
        IdpKind::Microsoft => microsoft_email_verified(config, email, claims),
        _ => standard == Some(true),
    }
}

/// Entra sends no `email_verified`. An address counts only when the optional claim
/// `xms_edov` says its domain is verified in the tenant, or the operator vouches for the
/// domain (`verified_domains`); otherwise it is kept, unverified, to say so on a page.
fn microsoft_email_verified(
    config: &IdpConfig,
    email: &str,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> bool {
    let edov = matches!(claims.get("xms_edov"), Some(serde_json::Value::Bool(true)))
        || matches!(claims.get("xms_edov"), Some(serde_json::Value::String(s)) if s == "true" || s == "1");
    let domain = email
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    edov || config.verified_domains.contains(&domain)
}

/// How far ahead of our clock an IdP's `iat` or `auth_time` may be.
pub const CLOCK_SKEW: i64 = 60;

/// openidconnect checks `exp` but not whether the token (or the authentication it reports)
/// comes from the future; a token minted ahead of time would outlive its real validity.
fn check_times(
    claims: &openidconnect::IdTokenClaims<AllClaims, CoreGenderClaim>,
) -> Result<(), IdpError> {
    let limit = crate::session::now_unix() + CLOCK_SKEW;
    if claims.issue_time().timestamp() > limit {
        return Err(IdpError::IdToken("issued in the future (iat)".into()));
    }
    if claims.auth_time().is_some_and(|t| t.timestamp() > limit) {
        return Err(IdpError::IdToken("auth_time is in the future".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_control(v: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_str(v).expect("value"),
        );
        h
    }

    #[test]
    fn max_age_is_honoured_within_bounds() {
        assert_eq!(max_age(&http::HeaderMap::new()), JWKS_DEFAULT_AGE);
        assert_eq!(
            max_age(&cache_control("public, max-age=600")),
            Duration::from_secs(600)
        );
        assert_eq!(max_age(&cache_control("max-age=0")), JWKS_MIN_AGE);
        assert_eq!(max_age(&cache_control("max-age=99999999")), JWKS_MAX_AGE);
        assert_eq!(max_age(&cache_control("no-cache")), JWKS_DEFAULT_AGE);
    }

    #[test]
    fn stale_keys_serve_only_for_the_grace() {
        let now = Instant::now();
        let age = |ago: Duration| KeyAge {
            fetched: now - ago,
            max_age: Duration::from_secs(60),
        };
        assert_eq!(
            age(Duration::from_secs(59)).freshness(now),
            KeyFreshness::Fresh
        );
        assert_eq!(
            age(Duration::from_secs(61)).freshness(now),
            KeyFreshness::Refresh
        );
        assert_eq!(
            age(Duration::from_secs(61) + JWKS_STALE_GRACE).freshness(now),
            KeyFreshness::Expired
        );
    }
}
