//! What can go wrong at an identity provider, for every kind alike.

#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    #[error("discovery of {issuer} failed: {reason}")]
    Discovery { issuer: String, reason: String },
    /// The IdP could not be reached or answered with a server error.
    #[error("the identity provider is unreachable: {0}")]
    Unreachable(String),
    #[error("the identity provider returned an error: {0}")]
    Provider(String),
    #[error("code exchange failed: {0}")]
    Exchange(String),
    #[error("the token response has no ID token")]
    NoIdToken,
    #[error("ID token rejected: {0}")]
    IdToken(String),
    #[error("UserInfo rejected: {0}")]
    UserInfo(String),
    /// An OAuth2 provider's profile API (GitHub `/user`, Facebook Graph `/me`) said
    /// something unusable.
    #[error("profile rejected: {0}")]
    Profile(String),
}

impl IdpError {
    /// True when the fault is the IdP's availability, not the sign-in: a 503, not a 400.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Discovery { .. } | Self::Unreachable(_))
    }
}
