//! Access decisions, evaluated on every request (not only at sign-in): the app's auth mode,
//! its allowed IdPs and, for `assignment_required` apps, the user's assignments. Partner
//! settings and Conditional Access plug in here and return the same `Decision`.

use crate::config::AppConfig;
use crate::config::file::AuthMode;
use crate::session::Session;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    SignIn,
    Deny(String),
}

/// `assigned` is the user's assigned apps; callers look it up only for apps with
/// `assignment_required` (it is ignored otherwise).
pub fn evaluate(
    app: &AppConfig,
    session: Option<&Session>,
    assigned: Option<&[String]>,
) -> Decision {
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
    if app.assignment_required && !assigned.is_some_and(|a| a.iter().any(|x| x == &app.id)) {
        return Decision::Deny(format!(
            "You do not have access to {}. Ask the person who invited you, or the app's owner, to assign it to you.",
            app.display_name
        ));
    }
    Decision::Allow
}
