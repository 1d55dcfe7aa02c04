//! Access decisions, evaluated on every request (not only at sign-in). This first version knows
//! the app's auth mode and its allowed IdPs; assignments, partner settings and Conditional
//! Access plug in here and return the same `Decision`.

use crate::config::AppConfig;
use crate::config::file::AuthMode;
use crate::session::Session;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    SignIn,
    Deny(String),
}

pub fn evaluate(app: &AppConfig, session: Option<&Session>) -> Decision {
    if app.auth == AuthMode::None {
        return Decision::Allow;
    }
    let Some(session) = session else {
        return Decision::SignIn;
    };
    if !app.allowed_idps.is_empty() && !app.allowed_idps.iter().any(|i| i == &session.idp) {
        return Decision::Deny(format!(
            "{} does not accept accounts from this identity provider.",
            app.display_name
        ));
    }
    Decision::Allow
}
