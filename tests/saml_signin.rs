//! SAML 2.0 against a real IdP built on pysaml2 (tests/support/saml_idp.py): SP metadata the
//! IdP imports, SP-initiated sign-in (Redirect, then POST to the ACS), redemption, and every
//! response a careful SP refuses, each sent: unsigned, SHA-1, wrong audience, recipient or
//! destination, expired and not yet valid, unsolicited, replayed, comments in the NameID,
//! a DOCTYPE, a second assertion and the eight signature-wrapping layouts.

mod common;

use common::guests::{GuestEnv, Options};
use common::saml_idp::{Posted, SamlIdp};
use common::{APP_HOST, LOGIN_HOST, echoed};

const ALICE_UPN: &str = "alice_fabrikam.example#EXT#@contoso.example";

fn users() -> serde_json::Value {
    serde_json::json!({
        "alice": {"name_id": "fab-0001", "attributes": {"mail": ["alice@fabrikam.example"], "displayName": ["Alice Fabrikam"]}},
        "carol": {"name_id": "fab-0002", "attributes": {"mail": ["carol@fabrikam.example"]}},
        "mallory": {"name_id": "fab-0666", "attributes": {"mail": ["ceo@victim.example"]}},
    })
}

struct Saml {
    env: GuestEnv,
    idp: SamlIdp,
}

async fn start(extra_idp: &str) -> Saml {
    let idp = SamlIdp::start(users()).await;
    let source = format!("metadata_url = \"{}\"", idp.metadata_url);
    start_with(idp, &source, extra_idp).await
}

/// `source`: the `metadata_url` or `metadata_file` line.
async fn start_with(idp: SamlIdp, source: &str, extra_idp: &str) -> Saml {
    let extra = format!(
        "[[idp]]\nid = \"saml\"\nkind = \"saml\"\ndisplay_name = \"Fabrikam (SAML)\"\n{source}\ndomains = [\"fabrikam.example\"]\n{extra_idp}\n"
    );
    let env = GuestEnv::start_with(Options {
        extra,
        // Every attack is a sign-in of its own.
        limits: "sign_ins_per_minute = 1000".into(),
        ..Default::default()
    })
    .await;
    let sp = env
        .browser()
        .get(env.gw.url(LOGIN_HOST, "/.borderless/saml/saml/metadata"))
        .send()
        .await
        .expect("SP metadata");
    assert_eq!(sp.status(), 200);
    idp.trust_sp(&sp.text().await.expect("xml")).await;
    Saml { env, idp }
}

impl Saml {
    /// A browser at the IdP's login for a new sign-in at the app: its client and the
    /// response form the IdP gives `login`.
    async fn response_for(&self, login: &str) -> (reqwest::Client, Posted) {
        let (client, authorize) = self.to_idp("saml").await;
        let posted = self.idp.sign_in(&client, &authorize, login).await;
        (client, posted)
    }

    /// A new browser's sign-in at the app through the IdP `idp`, up to the IdP: its client
    /// and the AuthnRequest URL it was sent to.
    async fn to_idp(&self, idp: &str) -> (reqwest::Client, String) {
        let b = self.env.gw.json_browser();
        let manual = b.manual(&self.env.gw);
        let start = self.env.gw.url(
            LOGIN_HOST,
            &format!(
                "/.borderless/signin/{idp}?rd={}",
                urlencode(&self.env.gw.url(APP_HOST, "/"))
            ),
        );
        let authorize = common::walk_to_idp(&manual, &start).await;
        assert!(authorize.contains("SAMLRequest="), "{authorize}");
        (b.client, authorize)
    }

    /// An IdP-initiated response for `login`, to our ACS.
    async fn unsolicited(&self, login: &str) -> Posted {
        let acs = self.env.gw.url(LOGIN_HOST, "/.borderless/saml/saml/acs");
        let sp = self
            .env
            .gw
            .url(LOGIN_HOST, "/.borderless/saml/saml/metadata");
        self.idp.unsolicited(login, &acs, &sp).await
    }

    async fn invite(&self, email: &str) {
        self.env
            .cli_json(&["invite", email, "--app", "hr", "--no-email"])
            .await;
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The refusal page a bad response gets.
async fn assert_refused(r: reqwest::Response, what: &str) {
    let status = r.status().as_u16();
    let body = r.text().await.expect("body");
    assert_eq!(status, 400, "{what}: {body}");
    assert!(
        body.contains("<code>token_rejected</code>"),
        "{what}: {body}"
    );
    assert!(
        !body.contains("x-remote-user"),
        "{what}: the app must not be reached"
    );
}

#[tokio::test]
async fn a_partner_guest_redeems_and_signs_in_through_saml() {
    let s = start("").await;
    s.invite("alice@fabrikam.example").await;
    // Just-in-time redemption at the app: the consent page, then the app.
    let (client, posted) = s.response_for("alice").await;
    let xml = posted.xml();
    assert!(xml.contains("Signature"), "signed: {xml}");
    let page = posted.post(&client).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("page");
    assert!(html.contains("id=\"accept\""), "the consent page: {html}");
    let r = s.env.consent(&client, "accept").await;
    assert_eq!(r.status(), 200);
    let echo: serde_json::Value = r.json().await.expect("echo");
    assert_eq!(echoed(&echo, "x-remote-user"), vec![ALICE_UPN]);

    // Again later: straight in, pinned to the persistent NameID.
    let (client, posted) = s.response_for("alice").await;
    let session_index = posted
        .xml()
        .split("SessionIndex=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .expect("a SessionIndex")
        .to_string();
    let r = posted.post(&client).await;
    assert_eq!(r.status(), 200);
    let echo: serde_json::Value = r.json().await.expect("echo");
    assert_eq!(echoed(&echo, "x-remote-user"), vec![ALICE_UPN]);

    // Signing out ends the session here, then asks the IdP to end its own (SP-initiated
    // single logout) for this NameID and SessionIndex.
    let r = client
        .post(s.env.gw.url(APP_HOST, "/.borderless/signout"))
        .header("origin", s.env.gw.url(APP_HOST, ""))
        .send()
        .await
        .expect("sign out");
    assert_eq!(r.status(), 200);
    assert!(
        r.url().as_str().starts_with(&s.idp.base),
        "on to the IdP: {}",
        r.url()
    );
    let logouts = s.idp.logouts().await;
    assert_eq!(logouts.as_array().map(Vec::len), Some(1), "{logouts}");
    let l = &logouts[0];
    assert_eq!(l["name_id"], "fab-0001");
    assert_eq!(
        l["name_id_format"],
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    );
    assert_eq!(l["session_index"][0], session_index.as_str());
    assert_eq!(
        l["issuer"],
        s.env.gw.url(LOGIN_HOST, "/.borderless/saml/saml/metadata")
    );
    let r = client
        .get(s.env.gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("app");
    assert_eq!(
        r.url().host_str(),
        Some(LOGIN_HOST),
        "signed out: {}",
        r.url()
    );
    assert!(r.text().await.expect("page").contains("Sign in to Contoso"));
    s.env.gw.stop().await;
}

/// `[start, end)` of the first element `<{tag}` … `</{tag}>` (tags do not nest here).
fn span(xml: &str, tag: &str) -> (usize, usize) {
    let start = xml
        .find(&format!("<{tag}"))
        .unwrap_or_else(|| panic!("no {tag}"));
    let close = format!("</{tag}>");
    let end = xml[start..]
        .find(&close)
        .unwrap_or_else(|| panic!("no {close}"))
        + start
        + close.len();
    (start, end)
}

const ASSERTION: &str = "ns1:Assertion";
const SIGNATURE: &str = "ns2:Signature";

/// The response's assertion and signatures, as an attacker cuts them apart.
struct Parts {
    xml: String,
    assertion: (usize, usize),
}

impl Parts {
    fn of(xml: &str) -> Parts {
        Parts {
            xml: xml.to_string(),
            assertion: span(xml, ASSERTION),
        }
    }
    fn assertion(&self) -> &str {
        &self.xml[self.assertion.0..self.assertion.1]
    }
    /// The assertion made about someone else (another NameID and address), unsigned.
    fn evil(&self) -> String {
        let a = self.assertion();
        let (s, e) = span(a, SIGNATURE);
        let unsigned = format!("{}{}", &a[..s], &a[e..]);
        let id_start = unsigned.find(" ID=\"").expect("ID") + 5;
        let id_end = unsigned[id_start..].find('"').expect("end") + id_start;
        format!("{}id-evil{}", &unsigned[..id_start], &unsigned[id_end..])
            .replace("fab-0001", "fab-0666")
            .replace("alice@fabrikam.example", "ceo@victim.example")
    }
    fn before_assertion(&self) -> &str {
        &self.xml[..self.assertion.0]
    }
    fn after_assertion(&self) -> &str {
        &self.xml[self.assertion.1..]
    }
    /// The assertion's own signature element.
    fn assertion_signature(&self) -> &str {
        let a = self.assertion();
        let (s, e) = span(a, SIGNATURE);
        &a[s..e]
    }
}

/// The eight XML signature wrapping layouts (after SAML Raider's XSW1–XSW8): the signed
/// element stays somewhere the signature still verifies, an unsigned one where a careless
/// SP reads.
fn wrapped(xml: &str) -> Vec<(&'static str, String)> {
    let p = Parts::of(xml);
    let evil = p.evil();
    let body = xml.trim_start_matches("<?xml version=\"1.0\"?>").trim();
    let root_end = body.find('>').expect("root") + 1;
    let (rs, re) = span(body, SIGNATURE);
    let response_signature = &body[rs..re];
    let evil_response = {
        let b = Parts::of(body);
        format!("{}{}{}", b.before_assertion(), evil, b.after_assertion()).replacen(
            response_signature,
            "",
            1,
        )
    };
    let evil_root = &evil_response[..evil_response.find('>').expect("root") + 1];
    let evil_rest = &evil_response[evil_root.len()..];
    let sig_open = &response_signature[..response_signature.find('>').expect("sig") + 1];
    let sig_inner =
        &response_signature[sig_open.len()..response_signature.len() - "</ns2:Signature>".len()];
    let orig_unsigned = p.assertion().replacen(p.assertion_signature(), "", 1);
    let evil_signed = {
        let marker = "<ns1:Subject>";
        evil.replacen(marker, &format!("{}{marker}", p.assertion_signature()), 1)
    };
    let _ = root_end;
    vec![
        // XSW1: a new root; the original response inside the copied response signature.
        (
            "XSW1",
            format!("{evil_root}{sig_open}{sig_inner}{body}</ns2:Signature>{evil_rest}"),
        ),
        // XSW2: as XSW1, the original response beside the signature (detached).
        (
            "XSW2",
            format!("{evil_root}{response_signature}{body}{evil_rest}"),
        ),
        // XSW3: the evil assertion first, the signed one after it.
        (
            "XSW3",
            format!(
                "{}{}{}{}",
                p.before_assertion(),
                evil,
                p.assertion(),
                p.after_assertion()
            ),
        ),
        // XSW4: the signed assertion inside the evil one.
        (
            "XSW4",
            format!(
                "{}{}{}",
                p.before_assertion(),
                evil.replacen(
                    "</ns1:Assertion>",
                    &format!("{}</ns1:Assertion>", p.assertion()),
                    1
                ),
                p.after_assertion()
            ),
        ),
        // XSW5: the evil assertion carries the signature; the signed one, unsigned, at the end.
        (
            "XSW5",
            format!(
                "{}{}{}",
                p.before_assertion(),
                evil_signed,
                p.after_assertion().replacen(
                    "</ns0:Response>",
                    &format!("{orig_unsigned}</ns0:Response>"),
                    1
                )
            ),
        ),
        // XSW6: the signed assertion inside the evil assertion's (copied) signature.
        (
            "XSW6",
            format!(
                "{}{}{}",
                p.before_assertion(),
                evil_signed.replacen(
                    "</ns2:Signature>",
                    &format!("{orig_unsigned}</ns2:Signature>"),
                    1
                ),
                p.after_assertion()
            ),
        ),
        // XSW7: the signed assertion in an Extensions element, the evil one where it was.
        (
            "XSW7",
            format!(
                "{}<ns0:Extensions>{}</ns0:Extensions>{}{}",
                p.before_assertion(),
                p.assertion(),
                evil,
                p.after_assertion()
            ),
        ),
        // XSW8: the signed assertion, unsigned, in an Object of the evil assertion's signature.
        (
            "XSW8",
            format!(
                "{}{}{}",
                p.before_assertion(),
                evil_signed.replacen(
                    "</ns2:Signature>",
                    &format!("<ns2:Object>{orig_unsigned}</ns2:Object></ns2:Signature>"),
                    1
                ),
                p.after_assertion()
            ),
        ),
    ]
}

/// Posts `xml` in place of a genuine response for the same flow.
async fn send_instead(
    s: &Saml,
    login: &str,
    edit: impl FnOnce(&str) -> String,
) -> reqwest::Response {
    let (client, posted) = s.response_for(login).await;
    let forged = posted.with_xml(&edit(&posted.xml()));
    forged.post(&client).await
}

#[tokio::test]
async fn responses_a_careful_sp_refuses_are_refused() {
    let s = start("").await;
    s.invite("alice@fabrikam.example").await;
    s.invite("ceo@victim.example").await;

    // Each of the eight wrapping layouts, built from a validly signed response.
    let (_c, sample) = s.response_for("alice").await;
    for (name, _) in wrapped(&sample.xml()) {
        let r = send_instead(&s, "alice", |xml| {
            wrapped(xml)
                .into_iter()
                .find(|(n, _)| *n == name)
                .expect("variant")
                .1
        })
        .await;
        assert_refused(r, name).await;
    }
    // Signature stripping: both signatures removed.
    let r = send_instead(&s, "alice", |xml| {
        let mut out = xml.to_string();
        while out.contains("<ns2:Signature") {
            let (a, b) = span(&out, SIGNATURE);
            out.replace_range(a..b, "");
        }
        out
    })
    .await;
    assert_refused(r, "unsigned").await;
    // A second, unsigned assertion after the signed one.
    let r = send_instead(&s, "alice", |xml| {
        let p = Parts::of(xml);
        format!(
            "{}{}{}{}",
            p.before_assertion(),
            p.assertion(),
            p.evil(),
            p.after_assertion()
        )
    })
    .await;
    assert_refused(r, "a second assertion").await;
    // A comment in the NameID: exclusive C14N drops it, so the signature still verifies.
    let r = send_instead(&s, "alice", |xml| {
        xml.replacen("fab-0001", "fab-0001<!---->.evil", 1)
    })
    .await;
    assert_refused(r, "a comment in the NameID").await;
    let r = send_instead(&s, "alice", |xml| {
        xml.replacen(
            "alice@fabrikam.example",
            "alice@fabrikam.example<!---->.evil.com",
            1,
        )
    })
    .await;
    assert_refused(r, "a comment in an attribute").await;
    // A DOCTYPE (entity expansion).
    let r = send_instead(&s, "alice", |xml| {
        xml.replacen(
            "<?xml version=\"1.0\"?>",
            "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x \"x\">]>",
            1,
        )
    })
    .await;
    assert_refused(r, "a DOCTYPE").await;

    // Responses the IdP itself signs, each wrong in one way.
    for (what, opts) in [
        (
            "unsigned by the IdP",
            serde_json::json!({"sign_response": false, "sign_assertion": false}),
        ),
        ("SHA-1", serde_json::json!({"sign_alg": "sha1"})),
        (
            "another audience",
            serde_json::json!({"mutations": [["<ns1:Audience>https://", "<ns1:Audience>https://other."]]}),
        ),
        (
            "another destination and recipient",
            serde_json::json!({"destination": "https://evil.example/acs"}),
        ),
        ("expired", serde_json::json!({"shift_minutes": -60})),
        ("not yet valid", serde_json::json!({"shift_minutes": 60})),
        (
            "no audience restriction",
            serde_json::json!({"mutations": [["<ns1:AudienceRestriction>", "<ns1:Foo>"], ["</ns1:AudienceRestriction>", "</ns1:Foo>"]]}),
        ),
    ] {
        s.idp.next(opts).await;
        let (client, posted) = s.response_for("alice").await;
        assert_refused(posted.post(&client).await, what).await;
    }
    // Only the recipient wrong: the IdP signs it so.
    s.idp
        .next(serde_json::json!({"mutations": [["Recipient=\"https://", "Recipient=\"https://evil."]]}))
        .await;
    let (client, posted) = s.response_for("alice").await;
    assert_refused(posted.post(&client).await, "another recipient").await;

    // A genuine response for another browser's flow, and a replay of one already used.
    let (client, posted) = s.response_for("alice").await;
    let (other, _) = s.response_for("alice").await;
    let r = posted.post(&other).await;
    assert_eq!(r.status(), 400, "another browser's response");
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("no_sign_in_in_progress")
    );
    let (client2, posted2) = s.response_for("alice").await;
    assert_eq!(
        posted2.post(&client2).await.status(),
        200,
        "a genuine one still works"
    );
    let r = posted2.post(&client2).await;
    assert_eq!(r.status(), 400, "the same response again");
    let _ = client;

    // An unsolicited (IdP-initiated) response: refused unless the IdP entry allows it.
    let posted = s.unsolicited("alice").await;
    let r = posted.post(&s.env.browser()).await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("no_sign_in_in_progress")
    );
    s.env.gw.stop().await;
}

/// With `allow_unsolicited`, an IdP-initiated response signs in, once: its assertion id is
/// remembered until it expires, so the same response again is refused.
#[tokio::test]
async fn unsolicited_responses_when_allowed_are_single_use() {
    let s = start("allow_unsolicited = true").await;
    s.invite("alice@fabrikam.example").await;
    let posted = s.unsolicited("alice").await;
    let client = s.env.browser();
    let r = posted.post(&client).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("page").contains("id=\"accept\""));
    let r = posted.post(&s.env.browser()).await;
    assert_refused(r, "a replayed unsolicited response").await;
    s.env.gw.stop().await;
}

/// A partner's IdP vouches only for its own domains: an address elsewhere is not verified,
/// so it cannot take an invitation sent to that address.
#[tokio::test]
async fn a_saml_idp_vouches_only_for_its_domains() {
    let s = start("").await;
    s.invite("ceo@victim.example").await;
    let (client, posted) = s.response_for("mallory").await;
    let r = posted.post(&client).await;
    assert_eq!(r.status(), 403);
    let body = r.text().await.expect("body");
    // Unverified, the address matches no invitation (and never redeems one).
    assert!(body.contains("<code>not_invited</code>"), "{body}");
    s.env.gw.stop().await;
}

/// During a certificate rollover the metadata names two signing certificates, the new one
/// first (here an EC one, which xmlsec cannot even try on the IdP's RSA signature): the
/// response verifies with the other.
#[tokio::test]
async fn both_certificates_of_a_rollover_are_trusted() {
    let idp = SamlIdp::start(users()).await;
    let metadata = idp.metadata().await;
    let other =
        rcgen::generate_simple_self_signed(vec!["next.idp.example".to_string()]).expect("cert");
    let der = base64::engine::general_purpose::STANDARD.encode(other.cert.der());
    use base64::Engine;
    let descriptor = format!(
        "<ns0:KeyDescriptor use=\"signing\"><ns2:KeyInfo><ns2:X509Data><ns2:X509Certificate>{der}</ns2:X509Certificate></ns2:X509Data></ns2:KeyInfo></ns0:KeyDescriptor>"
    );
    let at = metadata
        .find("<ns0:KeyDescriptor")
        .expect("a key descriptor");
    let rolled = format!("{}{descriptor}{}", &metadata[..at], &metadata[at..]);
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("idp-metadata.xml");
    std::fs::write(&file, rolled).expect("write");
    let s = start_with(idp, &format!("metadata_file = \"{}\"", file.display()), "").await;
    s.invite("alice@fabrikam.example").await;
    let (client, posted) = s.response_for("alice").await;
    let r = posted.post(&client).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("page").contains("id=\"accept\""));
    s.env.gw.stop().await;
}

/// Metadata without a signing certificate is a config error, not "skip verification".
#[test]
fn metadata_without_a_signing_certificate_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let md = dir.path().join("idp.xml");
    std::fs::write(
        &md,
        r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.partner.example"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.partner.example/sso"/></IDPSSODescriptor></EntityDescriptor>"#,
    )
    .expect("write");
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "version = 1\n[gateway]\npublic_url = \"https://login.test\"\n\
         [[listener]]\nbind = \"127.0.0.1:0\"\nredirect_to_https = true\n\
         [[idp]]\nid = \"saml\"\nkind = \"saml\"\nmetadata_file = \"idp.xml\"\n\
         [[idp]]\nid = \"both\"\nkind = \"saml\"\nmetadata_file = \"idp.xml\"\nmetadata_url = \"https://idp.partner.example/md\"\nclient_id = \"x\"\n",
    )
    .expect("write");
    common::assert_config_errors(
        &path,
        &[
            (10, "idp[0].metadata_file", "no signing certificate"),
            (
                14,
                "idp[1].metadata_file",
                "exactly one of metadata_file and metadata_url",
            ),
            (16, "idp[1].client_id", "not for kind = \"saml\""),
        ],
    );
}

/// The whole redemption in headless Chromium: the IdP's login form, its page posting the
/// response (by script, as IdPs do), the gateway's ACS, consent, the app.
#[tokio::test]
async fn chromium_redeems_through_the_saml_idp() {
    let mut s = start("").await;
    s.env
        .cli_json(&["invite", "alice@fabrikam.example", "--app", "hr"])
        .await;
    let link = s.env.smtp().next_mail().await.redeem_link();
    let result = common::e2e::run(
        "saml.mjs",
        &[&link, "alice", ALICE_UPN],
        &s.env.gw.dir.path().join("saml.png"),
    )
    .await;
    assert_eq!(result["idp"], s.idp.base);
    assert_eq!(result["url"], s.env.gw.url(APP_HOST, "/"));
    s.env.gw.stop().await;
}

/// With an SP key configured, the IdP encrypts the assertion to our certificate (from the
/// SP metadata the partner imported) and the gateway decrypts it; the same response without
/// the key would be unreadable.
#[tokio::test]
async fn encrypted_assertions_are_decrypted_with_the_sp_key() {
    use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
    let dir = tempfile::tempdir().expect("dir");
    let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("key");
    let mut name = x509::X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "borderless SP")
        .expect("cn");
    let name = name.build();
    let mut b = x509::X509Builder::new().expect("builder");
    b.set_version(2).expect("version");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("t"))
        .expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(30).expect("t"))
        .expect("na");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    let cert = b.build();
    let key_file = dir.path().join("sp.key");
    let cert_file = dir.path().join("sp.crt");
    std::fs::write(&key_file, key.private_key_to_pem_pkcs8().expect("pem")).expect("write");
    std::fs::write(&cert_file, cert.to_pem().expect("pem")).expect("write");
    let s = start(&format!(
        "sp_key_file = \"{}\"\nsp_cert_file = \"{}\"",
        key_file.display(),
        cert_file.display()
    ))
    .await;
    // Our certificate is in the metadata the IdP imported.
    let sp = s
        .env
        .browser()
        .get(s.env.gw.url(LOGIN_HOST, "/.borderless/saml/saml/metadata"))
        .send()
        .await
        .expect("metadata")
        .text()
        .await
        .expect("xml");
    let der = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        cert.to_der().expect("der"),
    );
    assert!(
        sp.contains(&der),
        "the SP metadata publishes our certificate: {sp}"
    );
    s.invite("alice@fabrikam.example").await;
    s.idp
        .next(serde_json::json!({"encrypt_cert": cert_file.display().to_string()}))
        .await;
    let (client, posted) = s.response_for("alice").await;
    let xml = posted.xml();
    assert!(xml.contains("EncryptedAssertion"), "{xml}");
    assert!(
        !xml.contains("fab-0001"),
        "the NameID is not readable in transit"
    );
    let r = posted.post(&client).await;
    let status = r.status();
    let body = r.text().await.expect("page");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("id=\"accept\""), "{body}");
    s.env.gw.stop().await;
}

/// Partners sign the response, the assertion or both: each is accepted.
#[tokio::test]
async fn a_signed_response_or_a_signed_assertion_is_enough() {
    let s = start("").await;
    s.invite("alice@fabrikam.example").await;
    for (what, opts) in [
        (
            "the assertion only",
            serde_json::json!({"sign_response": false}),
        ),
        (
            "the response only",
            serde_json::json!({"sign_assertion": false}),
        ),
    ] {
        s.idp.next(opts).await;
        let (client, posted) = s.response_for("alice").await;
        let signatures = posted.xml().matches("<ns2:Signature ").count();
        assert_eq!(signatures, 1, "{what}");
        let r = posted.post(&client).await;
        assert_eq!(r.status(), 200, "{what}");
        assert!(
            r.text().await.expect("page").contains("id=\"accept\""),
            "{what}"
        );
    }
    s.env.gw.stop().await;
}

/// Two SAML IdPs side by side: each signs in through its own ACS, and one IdP's response
/// posted to the other's ACS is refused (issuer and certificate are the other's).
#[tokio::test]
async fn two_saml_idps_side_by_side_do_not_mix() {
    let second = SamlIdp::start(users()).await;
    let s = start(&format!(
        "[[idp]]\nid = \"saml2\"\nkind = \"saml\"\nmetadata_url = \"{}\"\ndomains = [\"fabrikam.example\"]\n",
        second.metadata_url
    ))
    .await;
    let sp = s
        .env
        .browser()
        .get(s.env.gw.url(LOGIN_HOST, "/.borderless/saml/saml2/metadata"))
        .send()
        .await
        .expect("metadata")
        .text()
        .await
        .expect("xml");
    second.trust_sp(&sp).await;
    s.invite("alice@fabrikam.example").await;
    s.invite("carol@fabrikam.example").await;
    let (client, authorize) = s.to_idp("saml2").await;
    assert!(authorize.starts_with(&second.base), "{authorize}");
    let posted = second.sign_in(&client, &authorize, "carol").await;
    assert!(
        posted.action.ends_with("/.borderless/saml/saml2/acs"),
        "{}",
        posted.action
    );
    let r = posted.post(&client).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("page").contains("id=\"accept\""));

    // The first IdP's response for a flow at the first IdP, posted to the second's ACS.
    let (client, posted) = s.response_for("alice").await;
    let crossed = Posted {
        action: posted.action.replace("/saml/saml/acs", "/saml/saml2/acs"),
        ..posted
    };
    let r = crossed.post(&client).await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("<code>idp_mismatch</code>")
    );
    s.env.gw.stop().await;
}

/// `requested_authn_context`: every AuthnRequest asks for the class (exact), and a response
/// that says the IdP authenticated otherwise is refused.
#[tokio::test]
async fn a_requested_authentication_context_is_asked_for_and_required() {
    use std::io::Read;
    const MFA: &str = "https://refeds.org/profile/mfa";
    let s = start(&format!("requested_authn_context = [\"{MFA}\"]")).await;
    s.invite("alice@fabrikam.example").await;
    let (client, authorize) = s.to_idp("saml").await;
    let authorize = url::Url::parse(&authorize).expect("url");
    let request = authorize
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .map(|(_, v)| v.into_owned())
        .expect("SAMLRequest");
    let deflated = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, request)
        .expect("base64");
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .expect("inflate");
    assert!(
        xml.contains("RequestedAuthnContext") && xml.contains(MFA),
        "{xml}"
    );
    assert!(xml.contains("Comparison=\"exact\""), "{xml}");

    // The IdP authenticated with a password only: refused.
    let posted = s.idp.sign_in(&client, authorize.as_str(), "alice").await;
    assert_refused(posted.post(&client).await, "a password, MFA requested").await;
    // With MFA: in.
    s.idp.next(serde_json::json!({"authn_class": MFA})).await;
    let (client, posted) = s.response_for("alice").await;
    let r = posted.post(&client).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("page").contains("id=\"accept\""));
    s.env.gw.stop().await;
}

/// Partner MFA trust across protocols: a SAML partner's `AuthnContextClassRef` counts as MFA
/// only where that partner's entry lists it; a password class is asked for the gateway's
/// own MFA instead.
#[tokio::test]
async fn a_saml_partners_authn_context_counts_as_mfa_only_where_trusted() {
    const MFA: &str = "https://refeds.org/profile/mfa";
    let s = start(&format!(
        "\n[[partner]]\nname = \"fabrikam\"\ndomains = [\"fabrikam.example\"]\nproviders = [\"saml\"]\n\
         [partner.mfa_trust]\nauthn_context = [\"{MFA}\"]\n\
         acr = [\"urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport\"]\n\n\
         [[policy]]\nname = \"MFA for HR\"\nusers = [\"guests\"]\napps = [\"hr\"]\nrequire = [\"mfa\"]\n"
    ))
    .await;
    s.invite("alice@fabrikam.example").await;
    s.idp.next(serde_json::json!({"authn_class": MFA})).await;
    let (client, posted) = s.response_for("alice").await;
    let page = posted.post(&client).await;
    assert!(page.text().await.expect("page").contains("id=\"accept\""));
    let r = s.env.consent(&client, "accept").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.url().host_str(),
        Some(common::APP_HOST),
        "trusted MFA: no prompt"
    );

    // A password sign-in: the class is in the entry's OIDC `acr` list, which does not reach
    // a SAML assertion, so the gateway asks for its own second factor.
    let (client, posted) = s.response_for("alice").await;
    let r = posted.post(&client).await;
    assert_eq!(r.url().path(), "/.borderless/mfa", "{}", r.url());
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("Set up an authenticator")
    );
    s.env.gw.stop().await;
}
