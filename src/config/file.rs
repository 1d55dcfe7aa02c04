//! The configuration file format: what operators write. Every struct refuses unknown keys so
//! a typo is an error, not a silently ignored setting. Nothing here is validated beyond its
//! type; `runtime.rs` turns this into the checked runtime config.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Format version; only 1 exists.
    pub version: u32,
    pub gateway: GatewaySection,
    #[serde(default, rename = "listener")]
    pub listeners: Vec<ListenerSection>,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub session: SessionSection,
    #[serde(default)]
    pub assertion: AssertionSection,
    #[serde(default)]
    pub mfa: MfaSection,
    #[serde(default, rename = "idp")]
    pub idps: Vec<IdpSection>,
    #[serde(default, rename = "app")]
    pub apps: Vec<AppSection>,
    #[serde(default)]
    pub directory: DirectorySection,
    #[serde(default)]
    pub collaboration: CollaborationSection,
    pub smtp: Option<SmtpSection>,
    /// Which providers new guests are sent to, for every domain no `[[partner]]` names.
    #[serde(default)]
    pub redemption: RedemptionSection,
    #[serde(default, rename = "partner")]
    pub partners: Vec<PartnerSection>,
    /// Partner settings for every guest no `[[partner]]` matches.
    #[serde(default)]
    pub partner_default: PartnerDefaultSection,
    /// Named locations Conditional Access policies refer to.
    #[serde(default, rename = "location")]
    pub locations: Vec<LocationSection>,
    /// Conditional Access policies.
    #[serde(default, rename = "policy")]
    pub policies: Vec<PolicySection>,
    /// Terms of use documents policies can require.
    #[serde(default, rename = "terms")]
    pub terms: Vec<TermsSection>,
}

/// A terms-of-use document, versioned: a new `version` is asked for again.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermsSection {
    pub id: String,
    pub version: String,
    pub title: String,
    /// The text (plain; blank lines separate paragraphs), or `text_file`.
    pub text: Option<String>,
    pub text_file: Option<String>,
}

/// Entra's "invitation redemption order": the primary providers, in order, and a fallback.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RedemptionSection {
    /// IdP ids in order; each is used for the domains in its `domains` [default: every
    /// IdP but email passcodes, in file order].
    pub providers: Option<Vec<String>>,
    /// An `email_passcode` IdP, or `"none"` [default: the first `email_passcode` IdP].
    pub fallback: Option<String>,
}

/// A partner organisation: its email domains and the providers its users are sent to, and
/// its cross-tenant access settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerSection {
    pub name: Option<String>,
    #[serde(default)]
    pub domains: Vec<String>,
    /// IdP issuers whose users belong to this partner, whatever their address.
    #[serde(default)]
    pub issuers: Vec<String>,
    /// IdP ids in order: the first one the app admits is where the partner's users go.
    #[serde(default)]
    pub providers: Vec<String>,
    /// An `email_passcode` IdP, or `"none"` [default: `[redemption] fallback`].
    pub fallback: Option<String>,
    // Cross-tenant inbound settings; each one left out is `[partner_default]`'s.
    pub inbound: Option<PartnerInbound>,
    pub apps: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
    pub mfa_trust: Option<MfaTrustSection>,
    /// The partner's Shared Signals (CAEP) transmitter, pushing events to the gateway.
    pub signals: Option<SignalsSection>,
}

/// A partner's Shared Signals transmitter: who signs its Security Event Tokens, with which
/// keys, and for which audience.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalsSection {
    /// The `iss` of its SETs.
    pub issuer: String,
    /// Its JWKS, fetched (and refetched for an unknown `kid`, at most once a minute).
    pub jwks_url: Option<String>,
    /// Or its JWKS in a file, read at load.
    pub jwks_file: Option<String>,
    /// The `aud` its SETs must carry [default: the gateway's public URL].
    pub audience: Option<String>,
}

/// Cross-tenant inbound settings for guests no `[[partner]]` matches, and the defaults of
/// those a partner entry leaves out.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PartnerDefaultSection {
    /// `allow` or `block` [default: allow].
    pub inbound: Option<PartnerInbound>,
    /// App ids the partner's users may reach [default: all].
    pub apps: Option<Vec<String>>,
    /// Directory groups (by name) a partner's user must be in, one of them, to reach any app.
    pub groups: Option<Vec<String>>,
    /// The partner's claims that count as MFA here [default: none, whatever they say].
    pub mfa_trust: Option<MfaTrustSection>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PartnerInbound {
    Allow,
    Block,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct MfaTrustSection {
    /// OIDC `amr` values, e.g. `["mfa", "hwk"]`.
    pub amr: Vec<String>,
    /// OIDC `acr` values.
    pub acr: Vec<String>,
    /// SAML `AuthnContextClassRef` values.
    pub authn_context: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationSection {
    pub name: String,
    /// IPv4 and IPv6 addresses and CIDR ranges.
    pub ranges: Vec<String>,
}

/// One Conditional Access policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    pub name: String,
    #[serde(default)]
    pub state: PolicyState,
    /// `all`, `guests`, `invited_guests`, `self_service_guests`, `members`, addresses, user ids.
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub exclude_users: Vec<String>,
    /// Directory group names.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub exclude_groups: Vec<String>,
    /// `[[partner]]` names.
    #[serde(default)]
    pub partners: Vec<String>,
    #[serde(default)]
    pub exclude_partners: Vec<String>,
    /// `all` or app ids.
    #[serde(default)]
    pub apps: Vec<String>,
    #[serde(default)]
    pub exclude_apps: Vec<String>,
    /// `[[location]]` names [default: any location].
    #[serde(default)]
    pub locations: Vec<String>,
    #[serde(default)]
    pub exclude_locations: Vec<String>,
    /// `android`, `ios`, `windows`, `macos`, `linux`, `chromeos`, `other` [default: any].
    #[serde(default)]
    pub platforms: Vec<String>,
    #[serde(default)]
    pub exclude_platforms: Vec<String>,
    /// IdP ids [default: any].
    #[serde(default)]
    pub idps: Vec<String>,
    #[serde(default)]
    pub exclude_idps: Vec<String>,
    /// Refuse access outright; no other control may be set.
    #[serde(default)]
    pub block: bool,
    /// Grant controls: `mfa`, `phishing_resistant`, `terms`.
    #[serde(default)]
    pub require: Vec<String>,
    /// The `[[terms]]` id that `require = ["terms"]` asks for.
    pub terms: Option<String>,
    /// Whether every control in `require` must be met, or one of them.
    #[serde(default)]
    pub require_operator: RequireOperator,
    /// Re-authenticate after this many seconds since the last sign-in; also how old a
    /// trusted partner's MFA may be.
    pub sign_in_frequency_secs: Option<u64>,
    /// End sessions older than this many seconds.
    pub session_lifetime_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PolicyState {
    #[default]
    On,
    Off,
    ReportOnly,
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RequireOperator {
    #[default]
    All,
    Any,
}

/// The organisation as guests see it, and the directory's own settings.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DirectorySection {
    /// Domain in guest UPNs (`alice_fabrikam.example#EXT#@<tenant_domain>`); defaults to the
    /// public URL's host.
    pub tenant_domain: Option<String>,
    /// Organisation name on invitation emails and redemption pages.
    pub organization: Option<String>,
    pub logo_url: Option<String>,
    /// Where guests ask for help (an email address or URL).
    pub support_contact: Option<String>,
    /// How long an invitation link stays valid.
    pub invitation_ttl_days: Option<u64>,
}

/// Azure's "external collaboration settings": who may invite, and which domains.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CollaborationSection {
    pub who_may_invite: WhoMayInvite,
    /// Only these email domains may be invited and redeem (exclusive with blocked_domains).
    pub allowed_domains: Vec<String>,
    /// These email domains may not be invited nor redeem.
    pub blocked_domains: Vec<String>,
    /// Let the lists above also match subdomains (`eu.fabrikam.example` for `fabrikam.example`).
    pub include_subdomains: bool,
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WhoMayInvite {
    /// Only holders of admin API keys and the local CLI.
    AdminsOnly,
    /// Admins, and an app's owners for that app only.
    #[default]
    AdminsAndAppOwners,
    /// Admins, app owners and any member user.
    Members,
    /// Every signed-in user, guests included.
    Everyone,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    pub host: String,
    pub port: Option<u16>,
    #[serde(default)]
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<String>,
    /// Sender, e.g. `Contoso Invitations <invites@contoso.example>`.
    pub from: String,
    /// Extra CA (PEM) trusted for the SMTP server's certificate.
    pub ca_file: Option<String>,
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587); refuses servers without it.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all; only for a relay on loopback.
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// Public URL of the login host, e.g. `https://login.example.com`.
    pub public_url: String,
    /// Directory database URL; relative SQLite paths are resolved against the config file.
    #[serde(default = "default_database_url")]
    pub database_url: String,
    /// Peers whose `X-Forwarded-*` headers are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Who may read `/.borderless/metrics`.
    #[serde(default = "default_metrics_allow")]
    pub metrics_allow: Vec<String>,
    #[serde(default)]
    pub log_format: LogFormat,
    /// Worker threads serving connections; 0 means one per CPU.
    #[serde(default)]
    pub workers: usize,
}

fn default_database_url() -> String {
    "sqlite://borderless.db".into()
}

fn default_metrics_allow() -> Vec<String> {
    vec!["127.0.0.0/8".into(), "::1/128".into()]
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSection {
    pub bind: String,
    /// TLS certificate chain (PEM). Required unless `redirect_to_https`.
    pub tls_cert: Option<String>,
    /// TLS private key (PEM).
    pub tls_key: Option<String>,
    /// A plain-HTTP listener that only redirects to HTTPS.
    #[serde(default)]
    pub redirect_to_https: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    pub header_read_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub max_header_bytes: usize,
    pub max_connections: usize,
    pub max_body_bytes: u64,
    pub upstream_connect_timeout_secs: u64,
    pub upstream_response_timeout_secs: u64,
    pub shutdown_grace_secs: u64,
    /// Sign-ins one client address (an IPv6 /64) may start per minute.
    pub sign_ins_per_minute: u32,
    /// Wrong admin API keys one client address may send per minute before it is refused.
    pub api_key_failures_per_minute: u32,
    /// Invitations one non-admin inviter may send per hour.
    pub invitations_per_hour: u32,
    /// Sign-ins waiting at an IdP, over all clients.
    pub pending_sign_ins: u64,
    /// Email passcodes sent to one address per hour (a burst of this many, then one per
    /// hour/n).
    pub passcodes_per_address_per_hour: u32,
    /// Email passcodes one client may request per hour, over all addresses.
    pub passcodes_per_client_per_hour: u32,
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_header_bytes: 16 * 1024,
            max_connections: 10_000,
            max_body_bytes: 10 * 1024 * 1024,
            upstream_connect_timeout_secs: 5,
            upstream_response_timeout_secs: 60,
            shutdown_grace_secs: 30,
            sign_ins_per_minute: 30,
            api_key_failures_per_minute: 10,
            invitations_per_hour: 20,
            pending_sign_ins: 100_000,
            passcodes_per_address_per_hour: 5,
            passcodes_per_client_per_hour: 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowStoreKind {
    /// This process only: a callback must come back to the instance that started it.
    Memory,
    /// The gateway's database: any instance continues any sign-in.
    Database,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSection {
    pub cookie_name: String,
    /// Where sign-ins wait between requests [default: `database` on PostgreSQL, where
    /// several instances share one, else `memory`].
    pub flow_store: Option<FlowStoreKind>,
    pub lifetime_secs: u64,
    pub cache_capacity: u64,
    pub cache_ttl_secs: u64,
}

impl Default for SessionSection {
    fn default() -> Self {
        Self {
            cookie_name: "borderless_session".into(),
            flow_store: None,
            lifetime_secs: 8 * 3600,
            cache_capacity: 100_000,
            cache_ttl_secs: 300,
        }
    }
}

/// MFA the gateway performs (TOTP).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MfaSection {
    /// 32 random bytes (base64) that seal TOTP secrets at rest. Created on first start if
    /// missing [default: `mfa-sealing.key` beside the config file].
    pub key_file: Option<String>,
    /// The name authenticator apps show for the account [default: `[directory] organization`].
    pub issuer: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AssertionSection {
    /// PEM (PKCS#8) P-256 key that signs assertions. Generated beside the database if unset.
    pub signing_key_file: Option<String>,
    pub ttl_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpSection {
    pub id: String,
    pub kind: IdpKind,
    pub display_name: Option<String>,
    /// `kind = "saml"`: the IdP's metadata, from a file or a URL (one of them).
    pub metadata_file: Option<String>,
    pub metadata_url: Option<String>,
    /// `kind = "saml"`: minutes between fetches of `metadata_url` [default: 60].
    pub metadata_refresh_minutes: Option<u64>,
    /// `kind = "saml"`: our entity id at this IdP [default: the SP metadata URL].
    pub sp_entity_id: Option<String>,
    /// `kind = "saml"`: accept responses no sign-in of ours asked for (IdP-initiated).
    #[serde(default)]
    pub allow_unsolicited: bool,
    /// `kind = "saml"`: authentication context classes to ask for (RequestedAuthnContext,
    /// exact); a response authenticated otherwise is refused.
    pub requested_authn_context: Option<Vec<String>>,
    /// `kind = "saml"`: our key and certificate (PEM), to decrypt encrypted assertions;
    /// the certificate is published in our metadata.
    pub sp_key_file: Option<String>,
    pub sp_cert_file: Option<String>,
    /// `kind = "email_passcode"`: digits in a code [default: 8].
    pub code_length: Option<u32>,
    /// `kind = "email_passcode"`: minutes a code is valid, at most 30 [default: 10].
    pub code_ttl_minutes: Option<u64>,
    /// `kind = "email_passcode"`: wrong codes per address before it is locked [default: 5].
    pub max_failures: Option<u32>,
    /// `kind = "email_passcode"`: minutes an address stays locked [default: 15].
    pub lockout_minutes: Option<u64>,
    /// `kind = "email_passcode"`: a passcode sign-in satisfies a policy's `mfa` (the
    /// operator's call: a code to a mailbox is one more thing the user holds, not a second
    /// factor of the sign-in it is) [default: false].
    #[serde(default)]
    pub counts_as_mfa: bool,
    /// OpenID Connect: the issuer, exactly as its discovery document names it. OAuth2: the
    /// namespace of the provider's user ids [default: the provider's web origin].
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<String>,
    /// [default: `openid email profile`; for `oauth2`, what its profile API needs]
    pub scopes: Option<Vec<String>>,
    /// Attribute name → claim name, e.g. `email = "email"`.
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
    /// Users of this IdP belong to the organisation: they sign in as members without an
    /// invitation. Off by default, so an IdP's users are guests who need one.
    #[serde(default)]
    pub members: bool,
    /// Google Workspace: admit only accounts of this domain (the ID token's `hd` claim).
    pub hosted_domain: Option<String>,
    /// A private CA (PEM) trusted for this IdP besides the system roots (on-premises ADFS,
    /// Keycloak).
    pub ca_file: Option<String>,
    /// `kind = "microsoft"`: the tenant ids (`tid`) admitted; empty admits every tenant.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Domains whose addresses the operator vouches for, for providers that do not say
    /// whether an address is verified (Microsoft Entra sends no `email_verified`).
    #[serde(default)]
    pub verified_domains: Vec<String>,
    /// Email domains whose users this IdP serves (home-realm discovery): a partner's own
    /// domains, or `gmail.com` for Google.
    #[serde(default)]
    pub domains: Vec<String>,
    /// `kind = "oauth2"`: whose profile API tells who signed in.
    pub profile_api: Option<ProfileApi>,
    /// `kind = "oauth2"`: endpoints, for GitHub Enterprise Server, another Graph API version,
    /// or a test [defaults: the provider's public ones].
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub api_url: Option<String>,
    /// `kind = "oauth2"`: send a PKCE challenge (both GitHub and Facebook take one)
    /// [default: true].
    pub pkce: Option<bool>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IdpKind {
    Oidc,
    /// Microsoft Entra ID (work accounts, multi-tenant) and personal Microsoft accounts:
    /// OpenID Connect with an issuer template and no `email_verified`.
    Microsoft,
    /// OAuth 2.0 without an ID token (Facebook, GitHub): who signed in comes from the
    /// provider's profile API.
    #[serde(rename = "oauth2")]
    OAuth2,
    /// A one-time passcode mailed to the address the guest types: proof of the mailbox,
    /// for guests whose domain has no federation.
    EmailPasscode,
    /// A SAML 2.0 identity provider (a partner's ADFS, Shibboleth, Okta, Entra, …).
    Saml,
}

impl IdpKind {
    /// The name the config file uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Microsoft => "microsoft",
            Self::OAuth2 => "oauth2",
            Self::EmailPasscode => "email_passcode",
            Self::Saml => "saml",
        }
    }
}

/// The profile APIs an `oauth2` provider can have, each with its own wire format.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProfileApi {
    /// `GET /user` and `GET /user/emails` (the verified primary address).
    Github,
    /// Graph `GET /me?fields=id,name,email` with `appsecret_proof`.
    Facebook,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    pub id: String,
    pub display_name: Option<String>,
    /// External host the app is reached at, optionally with a port.
    pub host: String,
    #[serde(default = "default_path_prefix")]
    pub path_prefix: String,
    pub upstream: String,
    /// Extra CA (PEM) trusted for an https upstream.
    pub upstream_ca: Option<String>,
    #[serde(default)]
    pub auth: AuthMode,
    /// IdPs whose users may use this app; empty means all.
    #[serde(default)]
    pub allowed_idps: Vec<String>,
    /// Header name → attribute name.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Provider buttons the sign-in page shows under the address field [default: every
    /// provider the app admits]; `[]` shows the address field only.
    pub sign_in_buttons: Option<Vec<String>>,
    /// Send a signed JWT assertion in this header (off when unset).
    pub assertion_header: Option<String>,
    /// Attributes the assertion carries [default: those `headers` map].
    pub assertion_claims: Option<Vec<String>>,
    pub max_body_bytes: Option<u64>,
    #[serde(default)]
    pub websocket: bool,
    /// Send the external `Host` to the app instead of the upstream's.
    #[serde(default)]
    pub preserve_host: bool,
    /// Admit only users assigned to the app, directly or through a group.
    #[serde(default)]
    pub assignment_required: bool,
    /// Email addresses of the app's owners, who may invite guests to it.
    #[serde(default)]
    pub owners: Vec<String>,
}

fn default_path_prefix() -> String {
    "/".into()
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    #[default]
    Required,
    /// Pass-through without sign-in (public assets, benchmarks).
    None,
}
