//! Every ID token check, each attacked with a token from a stand-in provider that signs
//! whatever the test asks for: bad signature, wrong `iss`/`aud`/`nonce`, missing `sub`/`iat`,
//! expired, `alg: none`, UserInfo for another subject, provider key rotation and withdrawal,
//! and the provider being down.

mod common;

use std::sync::Arc;

use common::fake_idp::{FakeIdp, SigningKey};
use common::{APP_HOST, TestGateway, echoed};

async fn start() -> (TestGateway, FakeIdp) {
    common::with_fake_idp("", |port, echo| {
        common::app_toml(
            "hr",
            APP_HOST,
            port,
            echo,
            "[app.headers]\nX-Remote-User = \"email\"",
        )
    })
    .await
}

/// Runs the whole browser round trip and returns the final status and body.
async fn attempt(gw: &TestGateway) -> (u16, String) {
    let client = gw.json_browser().client;
    let resp = client
        .get(gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

fn assert_refused(status: u16, body: &str, what: &str) {
    assert_eq!(
        status, 400,
        "{what}: expected the sign-in failure page, got {status}: {body}"
    );
    assert!(body.contains("Sign-in did not complete"), "{what}: {body}");
    assert!(
        body.contains("<code>token_rejected</code>"),
        "{what}: refused for another reason: {body}"
    );
    assert!(
        body.contains("request id"),
        "{what}: page must show the request id"
    );
    assert!(
        !body.contains("x-remote-user"),
        "{what}: the app must not be reached"
    );
}

#[tokio::test]
async fn a_well_formed_token_signs_in() {
    let (gw, _idp) = start().await;
    let (status, body) = attempt(&gw).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("echo json");
    assert_eq!(echoed(&json, "x-remote-user"), vec!["user1@partner.test"]);
    gw.stop().await;
}

macro_rules! refused {
    ($name:ident, $setup:expr) => {
        #[tokio::test]
        async fn $name() {
            let (gw, idp) = start().await;
            idp.set($setup);
            let (status, body) = attempt(&gw).await;
            assert_refused(status, &body, stringify!($name));
            gw.stop().await;
        }
    };
}

refused!(bad_signature_is_refused, |s| {
    // Signed by a key the provider never published, under the published key's id.
    let published_kid = s.published[0].kid.clone();
    s.signer = Arc::new(SigningKey::new(&published_kid));
});
refused!(wrong_issuer_is_refused, |s| {
    s.mutate = Box::new(|c| {
        c.insert("iss".into(), "https://evil.test".into());
    })
});
refused!(wrong_audience_is_refused, |s| {
    s.mutate = Box::new(|c| {
        c.insert("aud".into(), "someone-else".into());
    })
});
refused!(audience_list_without_us_is_refused, |s| {
    s.mutate = Box::new(|c| {
        c.insert("aud".into(), serde_json::json!(["a", "b"]));
    })
});
refused!(missing_sub_is_refused, |s| {
    s.mutate = Box::new(|c| {
        c.remove("sub");
    })
});
refused!(missing_iat_is_refused, |s| {
    s.mutate = Box::new(|c| {
        c.remove("iat");
    })
});
refused!(expired_token_is_refused, |s| {
    s.mutate = Box::new(|c| {
        c.insert("exp".into(), 1_000_000.into());
    })
});
refused!(wrong_nonce_is_refused, |s| {
    s.mutate = Box::new(|c| {
        c.insert("nonce".into(), "attacker-nonce".into());
    })
});
refused!(missing_nonce_is_refused, |s| {
    s.mutate = Box::new(|c| {
        c.remove("nonce");
    })
});
refused!(alg_none_is_refused, |s| s.alg_none = true);
refused!(userinfo_for_another_subject_is_refused, |s| s
    .userinfo_sub =
    Some("someone-else".into()));

#[tokio::test]
async fn key_rotation_refetches_keys_once_and_rate_limits_unknown_kids() {
    let (gw, idp) = start().await;
    let (status, _) = attempt(&gw).await;
    assert_eq!(status, 200);
    let fetches_before = idp.scenario.lock().expect("scenario").jwks_fetches;
    assert_eq!(fetches_before, 1, "discovery fetches the keys once");

    // The provider rotates to a new key: the next sign-in names an unknown kid.
    idp.set(|s| {
        let k = Arc::new(SigningKey::new("key-2"));
        s.published = vec![k.clone()];
        s.signer = k;
    });
    let (status, body) = attempt(&gw).await;
    assert_eq!(status, 200, "rotated key must be picked up: {body}");
    assert_eq!(
        idp.scenario.lock().expect("scenario").jwks_fetches,
        2,
        "exactly one refetch"
    );

    // A token with a kid nobody publishes right after: refused, and no refetch storm.
    idp.set(|s| s.signer = Arc::new(SigningKey::new("key-3")));
    for _ in 0..3 {
        let (status, body) = attempt(&gw).await;
        assert_refused(status, &body, "unknown kid");
    }
    assert_eq!(
        idp.scenario.lock().expect("scenario").jwks_fetches,
        2,
        "refetch is rate-limited"
    );
    gw.stop().await;
}

#[tokio::test]
async fn tokens_and_authentications_from_the_future_are_refused() {
    let (gw, idp) = start().await;
    let now = borderless::session::now_unix();
    for (what, claim) in [("iat", "iat"), ("auth_time", "auth_time")] {
        idp.set(|s| {
            s.mutate = Box::new(move |c| {
                c.insert(claim.into(), (now + 3600).into());
            })
        });
        let (status, body) = attempt(&gw).await;
        assert_refused(status, &body, &format!("{what} an hour ahead"));
    }
    // Within the clock-skew allowance is fine.
    idp.set(|s| {
        s.mutate = Box::new(move |c| {
            c.insert("iat".into(), (now + 20).into());
        })
    });
    let (status, body) = attempt(&gw).await;
    assert_eq!(status, 200, "iat 20 s ahead: {body}");
    gw.stop().await;
}

#[tokio::test]
async fn issuers_ending_in_a_slash_work_as_configured() {
    let idp = FakeIdp::start_with_trailing_slash().await;
    assert!(idp.issuer.ends_with('/'));
    let echo = common::start_echo().await;
    let idp_toml = idp.idp_toml();
    let gw = TestGateway::start("", |port| {
        format!(
            "{idp_toml}\n{}",
            common::app_toml(
                "hr",
                APP_HOST,
                port,
                echo,
                "[app.headers]\nX-Remote-User = \"email\""
            )
        )
    })
    .await;
    let (status, body) = attempt(&gw).await;
    assert_eq!(status, 200, "{body}");
    gw.stop().await;
}

/// A members provider: an address it does not vouch for must not become anyone. Each
/// variant is refused with `no_verified_email`, and no identity header is sent.
#[tokio::test]
async fn unverified_or_mixed_source_emails_never_become_identities() {
    let (gw, idp) = start().await;
    type Mutation = fn(&mut serde_json::Map<String, serde_json::Value>);
    let variants: [(&str, Mutation); 3] = [
        ("email_verified false", |c| {
            c.insert("email_verified".into(), false.into());
        }),
        ("email_verified absent", |c| {
            c.remove("email_verified");
        }),
        // The ID token vouches for no address; UserInfo names one without vouching. Taking
        // the flag from one and the address from the other would verify it.
        (
            "verified flag in the ID token, address only in UserInfo",
            |c| {
                c.remove("email");
            },
        ),
    ];
    for (what, mutation) in variants {
        idp.set(|s| s.mutate = Box::new(mutation));
        let (status, body) = attempt(&gw).await;
        assert_eq!(status, 403, "{what}: {body}");
        assert!(
            body.contains("<code>no_verified_email</code>"),
            "{what}: {body}"
        );
        assert!(!body.contains("user1@partner.test\""), "{what}: {body}");
    }
    idp.set(|s| s.mutate = Box::new(|_| {}));
    let (status, body) = attempt(&gw).await;
    assert_eq!(status, 200, "{body}");
    gw.stop().await;
}

#[tokio::test]
async fn a_withdrawn_key_stops_counting_after_the_next_refresh() {
    let (gw, idp) = start().await;
    idp.set(|s| s.jwks_cache_control = Some("public, max-age=5"));
    let (status, body) = attempt(&gw).await;
    assert_eq!(status, 200, "{body}");
    // The IdP withdraws key-1 (it leaked, say) and publishes key-2; whoever holds key-1
    // goes on signing tokens with it.
    idp.set(|s| s.published = vec![Arc::new(SigningKey::new("key-2"))]);
    let (status, _) = attempt(&gw).await;
    assert_eq!(status, 200, "within max-age the cached key still counts");
    tokio::time::sleep(std::time::Duration::from_millis(5500)).await;
    let (status, body) = attempt(&gw).await;
    assert_refused(status, &body, "a token signed with a withdrawn key");
    gw.stop().await;
}

#[tokio::test]
async fn cached_keys_serve_while_the_key_endpoint_is_down() {
    let (gw, idp) = start().await;
    idp.set(|s| s.jwks_cache_control = Some("max-age=5"));
    assert_eq!(attempt(&gw).await.0, 200);
    idp.set(|s| s.jwks_down = true);
    tokio::time::sleep(std::time::Duration::from_millis(5500)).await;
    let fetches = idp.scenario.lock().expect("scenario").jwks_fetches;
    let (status, body) = attempt(&gw).await;
    assert_eq!(status, 200, "the last keys serve during an outage: {body}");
    assert!(
        idp.scenario.lock().expect("scenario").jwks_fetches > fetches,
        "the gateway tried to refresh the keys"
    );
    gw.stop().await;
}

fn assert_unavailable(status: u16, body: &str, what: &str) {
    assert_eq!(status, 503, "{what}: {body}");
    assert!(
        body.contains("Identity provider unavailable"),
        "{what}: {body}"
    );
    assert!(body.contains("request id"), "{what}: {body}");
}

#[tokio::test]
async fn an_unreachable_identity_provider_gets_a_503_page() {
    // An IdP nobody listens on: discovery fails when the sign-in starts.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let echo = common::start_echo().await;
    let gw = TestGateway::start("", |port| {
        format!(
            "[[idp]]\nid = \"dead\"\nkind = \"oidc\"\nissuer = \"{dead}\"\nclient_id = \"c\"\nclient_secret = \"s\"\nmembers = true\n{}",
            common::app_toml("hr", APP_HOST, port, echo, "")
        )
    })
    .await;
    let (status, body) = attempt(&gw).await;
    assert_unavailable(status, &body, "discovery");
    gw.stop().await;

    // An IdP whose token endpoint fails after the user signed in there.
    let (gw, idp) = start().await;
    idp.set(|s| s.token_down = true);
    let (status, body) = attempt(&gw).await;
    assert_unavailable(status, &body, "token endpoint");
    gw.stop().await;
}

#[tokio::test]
async fn a_hosted_domain_admits_only_its_own_accounts() {
    let echo = common::start_echo().await;
    let idp = FakeIdp::start().await;
    // Google Workspace style: only accounts whose token says `hd = partner.test`.
    let idp_toml = idp.idp_toml() + "hosted_domain = \"Partner.Test\"\n";
    let gw = TestGateway::start("", |port| {
        format!(
            "{idp_toml}\n{}",
            common::app_toml("hr", APP_HOST, port, echo, "")
        )
    })
    .await;
    for (hd, admitted) in [
        (None, false),
        (Some("other.test"), false),
        (Some("partner.test.evil"), false),
        (Some("partner.test"), true),
        (Some("PARTNER.test"), true),
    ] {
        idp.set(|s| {
            s.mutate = Box::new(move |c| {
                if let Some(hd) = hd {
                    c.insert("hd".into(), hd.into());
                }
            })
        });
        let (status, body) = attempt(&gw).await;
        if admitted {
            assert_eq!(status, 200, "hd {hd:?}: {body}");
        } else {
            assert_refused(status, &body, &format!("hd {hd:?}"));
        }
    }
    // The authorization request asks the IdP to offer only that domain's accounts.
    let to_login = common::redirect_of(&gw.manual_client(), &gw.url(APP_HOST, "/")).await;
    let to_idp = common::redirect_of(&gw.manual_client(), &to_login).await;
    assert!(to_idp.contains("hd=partner.test"), "{to_idp}");
    gw.stop().await;
}

/// Microsoft Entra multi-tenant: the discovery issuer is a template, each token's `iss`
/// must be it filled with the token's own `tid`, tenants can be restricted, and an address
/// counts as verified only by `xms_edov` or a domain the operator vouches for.
#[tokio::test]
async fn microsoft_tenants_issuers_and_unverified_addresses() {
    const T1: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const T2: &str = "11111111-2222-3333-4444-555555555555";
    // Microsoft's tenant for personal accounts.
    const PERSONAL: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
    let echo = common::start_echo().await;
    let idp = FakeIdp::start().await;
    let base = idp.issuer.clone();
    idp.set(|s| s.discovery_issuer = Some(format!("{base}/{{tenantid}}/v2.0")));
    let idp_toml = |vouched: &str| {
        format!(
            "[[idp]]\nid = \"entra\"\nkind = \"microsoft\"\nissuer = \"{base}/common/v2.0\"\nclient_id = \"fake\"\nclient_secret = \"fake-secret\"\nmembers = true\ntenants = [\"{T1}\", \"{PERSONAL}\"]\nverified_domains = [{vouched}]\n"
        )
    };
    let first = idp_toml("");
    let gw = TestGateway::start("", |port| {
        format!(
            "{first}\n{}",
            common::app_toml(
                "hr",
                APP_HOST,
                port,
                echo,
                "[app.headers]\nX-Remote-User = \"email\""
            )
        )
    })
    .await;
    let mut n = 0;
    let mut try_token = |tid: Option<&'static str>, iss_tid: &'static str, edov: bool| {
        n += 1;
        // A new person each time: an address already pinned to another identity is refused.
        let (sub, base) = (format!("entra-user-{n}"), base.clone());
        let email = format!("entra{n}@partner.test");
        let mail = email.clone();
        idp.set(move |s| {
            s.mutate = Box::new(move |c| {
                c.insert("sub".into(), sub.clone().into());
                c.insert("email".into(), mail.clone().into());
                c.insert("iss".into(), format!("{base}/{iss_tid}/v2.0").into());
                match tid {
                    Some(t) => c.insert("tid".into(), t.into()),
                    None => c.remove("tid"),
                };
                if edov {
                    c.insert("xms_edov".into(), true.into());
                }
            })
        });
        email
    };
    try_token(Some(T1), T1, true);
    assert_eq!(attempt(&gw).await.0, 200, "an admitted tenant's own issuer");
    try_token(Some(PERSONAL), PERSONAL, true);
    assert_eq!(attempt(&gw).await.0, 200, "a personal account");
    try_token(Some(T1), T2, true);
    let (status, body) = attempt(&gw).await;
    assert_refused(status, &body, "iss of another tenant than tid");
    try_token(Some(T2), T2, true);
    let (status, body) = attempt(&gw).await;
    assert_refused(status, &body, "a tenant not admitted");
    try_token(None, T1, true);
    let (status, body) = attempt(&gw).await;
    assert_refused(status, &body, "no tid");
    // No `xms_edov` (and `email_verified`, which Entra never sends, does not count).
    let unvouched = try_token(Some(T1), T1, false);
    let (status, body) = attempt(&gw).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<code>no_verified_email</code>"), "{body}");
    // The operator vouches for the partner's domain: the same token is an identity.
    let config = std::fs::read_to_string(&gw.config_path).expect("config");
    std::fs::write(
        &gw.config_path,
        config.replace(&first, &idp_toml("\"partner.test\"")),
    )
    .expect("write");
    borderless::reload(&gw.gw, &gw.config_path).expect("reload");
    let (status, body) = attempt(&gw).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("echo");
    assert_eq!(echoed(&json, "x-remote-user"), vec![unvouched.as_str()]);
    gw.stop().await;
}

/// An IdP behind a private CA (on-premises ADFS or Keycloak): refused as unreachable until
/// its CA is configured as the IdP's `ca_file`, then trusted.
#[tokio::test]
async fn an_idp_behind_a_private_ca_is_trusted_through_its_ca_file() {
    let echo = common::start_echo().await;
    let (idp, ca_pem) = FakeIdp::start_tls().await;
    assert!(idp.issuer.starts_with("https://"));
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = dir.path().join("idp-ca.pem");
    std::fs::write(&ca_file, &ca_pem).expect("write ca");
    let without = idp.idp_toml();
    let gw = TestGateway::start("", |port| {
        format!(
            "{without}\n{}",
            common::app_toml("hr", APP_HOST, port, echo, "")
        )
    })
    .await;
    let (status, body) = attempt(&gw).await;
    assert_eq!(status, 503, "an unknown CA is not trusted: {body}");
    // The same IdP with its CA.
    let config = std::fs::read_to_string(&gw.config_path).expect("config");
    let with = format!("{without}ca_file = \"{}\"\n", ca_file.display());
    std::fs::write(&gw.config_path, config.replace(&without, &with)).expect("write");
    borderless::reload(&gw.gw, &gw.config_path).expect("reload");
    // The browser trusts the IdP's CA too (it is the partner's own machine's).
    let browser = gw
        .client_builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("ca"))
        .build()
        .expect("client");
    let r = browser
        .get(gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    gw.stop().await;
}
