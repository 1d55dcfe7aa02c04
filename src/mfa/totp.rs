//! TOTP authenticators: a new secret, the `otpauth://` URL and QR code an authenticator app
//! scans, and the check of a typed code — one step either side of now (RFC 6238 §5.2), and
//! never a step at or before the last one accepted, so a code works once.

use qrcode::QrCode;
use qrcode::render::svg;
use rand::RngCore;
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// 160 bits, as RFC 4226 recommends.
pub const SECRET_LEN: usize = 20;
pub const STEP_SECS: u64 = 30;

pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; SECRET_LEN];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

/// The authenticator for `secret`, named `issuer: account` in the user's app.
pub fn authenticator(secret: &[u8], issuer: &str, account: &str) -> Option<Totp> {
    // A colon separates issuer and account in the otpauth label.
    let clean = |s: &str| s.replace(':', " ");
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_SECS)
        .with_secret(Secret::new(secret.to_vec().into_boxed_slice()))
        .with_issuer(Some(clean(issuer)))
        .with_account_name(clean(account))
        .build()
        .ok()
}

/// The secret as people type it into an app: base32, in groups of four.
pub fn manual_key(secret: &[u8]) -> String {
    let b32 = Secret::new(secret.to_vec().into_boxed_slice()).to_base32();
    b32.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn otpauth_url(t: &Totp) -> Option<String> {
    t.to_url().ok()
}

/// The URL as an SVG QR code, to inline in the enrollment page.
pub fn qr_svg(url: &str) -> Option<String> {
    let code = QrCode::new(url.as_bytes()).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Right, for this time step (store it: it and earlier steps are now spent).
    Accepted(i64),
    /// Right, but for a step already used: a replay.
    Replayed,
    Wrong,
}

/// Checks a typed code at `now` against the last step accepted.
pub fn check(t: &Totp, code: &str, now: i64, last_step: i64) -> Check {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    match t.check(&code, now.max(0) as u64) {
        Some(step) if (step as i64) > last_step => Check::Accepted(step as i64),
        Some(_) => Check::Replayed,
        None => Check::Wrong,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_015;

    fn code_at(t: &Totp, at: i64) -> String {
        t.generate(at as u64).to_string()
    }

    #[test]
    fn one_step_either_side_and_each_step_once() {
        let secret = new_secret();
        let t = authenticator(&secret, "Contoso: HR", "alice@fabrikam.example").expect("totp");
        let step = NOW / 30;
        assert_eq!(check(&t, &code_at(&t, NOW), NOW, 0), Check::Accepted(step));
        assert_eq!(
            check(&t, &code_at(&t, NOW - 30), NOW, 0),
            Check::Accepted(step - 1)
        );
        assert_eq!(
            check(&t, &code_at(&t, NOW + 30), NOW, 0),
            Check::Accepted(step + 1)
        );
        assert_eq!(check(&t, &code_at(&t, NOW - 60), NOW, 0), Check::Wrong);
        assert_eq!(check(&t, &code_at(&t, NOW + 60), NOW, 0), Check::Wrong);
        // The same code again, or an older step, after this step was used.
        assert_eq!(check(&t, &code_at(&t, NOW), NOW, step), Check::Replayed);
        assert_eq!(
            check(&t, &code_at(&t, NOW - 30), NOW, step),
            Check::Replayed
        );
        assert_eq!(check(&t, "12345", NOW, 0), Check::Wrong);
        assert_eq!(check(&t, "abcdef", NOW, 0), Check::Wrong);
    }

    #[test]
    fn the_url_and_key_name_the_account_and_carry_the_secret() {
        let secret = new_secret();
        let t = authenticator(&secret, "Contoso", "alice@fabrikam.example").expect("totp");
        let url = otpauth_url(&t).expect("url");
        assert!(
            url.starts_with("otpauth://totp/Contoso:alice%40fabrikam.example?"),
            "{url}"
        );
        let key = manual_key(&secret);
        assert!(url.contains(&key.replace(' ', "")), "{url} {key}");
        assert!(qr_svg(&url).expect("svg").starts_with("<?xml"));
    }
}
