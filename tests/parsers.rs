//! Property tests (proptest) for every parser of untrusted input: paths, the Cookie header,
//! query strings, Host, return URLs, email addresses and CSV files. None may panic; what
//! each accepts must keep its promise (normalised paths hold no dot segments, accepted
//! return URLs are a configured app, parse → print → parse is stable).

mod common;

use borderless::config::normalize_authority;
use borderless::directory::address::Address;
use borderless::web::{cookies, path, query, return_to};
use proptest::prelude::*;

/// Strings that look like paths: mostly path characters, escapes and separators.
fn path_like() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("/".to_string()),
            Just(".".to_string()),
            Just("..".to_string()),
            Just(";".to_string()),
            Just("%2e".to_string()),
            Just("%2F".to_string()),
            Just("%5c".to_string()),
            Just("%25".to_string()),
            Just("%c0%ae".to_string()),
            Just("%00".to_string()),
            Just("\\".to_string()),
            "[a-zA-Z0-9_~-]{1,6}",
            "%[0-9a-fA-F]{2}",
            any::<char>().prop_map(|c| c.to_string()),
        ],
        0..16,
    )
    .prop_map(|parts| format!("/{}", parts.concat()))
}

fn decoded_segments(p: &str) -> Vec<String> {
    p.split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s.split(';').next().unwrap_or(""))
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn normalised_paths_hold_no_dot_segments_and_are_stable(p in path_like()) {
        if let Ok(n) = path::normalize(&p) {
            prop_assert!(n.starts_with('/'));
            prop_assert!(!n.contains("//"));
            prop_assert!(!n.contains('\\'));
            for seg in decoded_segments(&n) {
                prop_assert!(seg != "." && seg != "..", "{p} → {n}");
                prop_assert!(!seg.contains('/') && !seg.contains('\\'));
                prop_assert!(!seg.chars().any(char::is_control));
            }
            let again = path::normalize(&n).map(|c| c.into_owned());
            prop_assert_eq!(again, Ok(n.to_string()));
        }
    }

    #[test]
    fn any_path_string_is_answered(p in any::<String>()) {
        let _ = path::normalize(&p);
    }

    #[test]
    fn cookie_headers_never_panic_and_lists_hold_tokens(raw in "[ -~]{0,200}") {
        let mut h = http::HeaderMap::new();
        if let Ok(v) = http::HeaderValue::from_str(&raw) {
            h.insert(http::header::COOKIE, v);
        }
        let _ = cookies::value(&h, "__Host-borderless_session");
        for id in cookies::list(&h, "__Host-borderless_session_flow") {
            prop_assert!(borderless::token::is_token(id));
        }
    }

    #[test]
    fn a_list_cookie_reads_back_what_was_written(n in 0usize..8) {
        let ids: Vec<String> = (0..n).map(|_| borderless::token::random_token()).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let set = cookies::set_list("l", &refs, 60);
        let value = set.to_str().unwrap_or("").split(';').next().unwrap_or("").to_string();
        let mut h = http::HeaderMap::new();
        h.insert(http::header::COOKIE, http::HeaderValue::from_str(&value).expect("value"));
        let read = cookies::list(&h, "l");
        let kept = &refs[refs.len().saturating_sub(cookies::MAX_LISTED)..];
        prop_assert_eq!(read, kept.to_vec());
    }

    #[test]
    fn query_strings_parse_print_parse_stably(
        pairs in prop::collection::btree_map("[a-z%&=+ ]{1,8}", any::<String>(), 0..6),
        raw in any::<String>(),
    ) {
        let _ = query::parse_unique(Some(&raw));
        let printed: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter())
            .finish();
        let parsed = query::parse_unique(Some(&printed)).expect("unique keys");
        prop_assert_eq!(parsed.len(), pairs.len());
        for (k, v) in &pairs {
            prop_assert_eq!(parsed.get(k), Some(v));
        }
    }

    #[test]
    fn host_normalisation_is_idempotent(raw in any::<String>(), host in "[a-zA-Z0-9.-]{1,20}(:[0-9]{1,5})?") {
        for input in [raw.as_str(), host.as_str()] {
            if let Some(n) = normalize_authority(input) {
                prop_assert_eq!(normalize_authority(&n), Some(n.clone()));
                prop_assert!(n.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()));
                prop_assert_eq!(n.to_ascii_lowercase(), n.clone());
            }
        }
    }

    #[test]
    fn accepted_addresses_parse_back_to_themselves(raw in any::<String>(), local in "[a-zA-Z0-9.+_-]{1,12}", domain in "[a-zA-Z0-9-]{1,8}(\\.[a-zA-Z0-9-]{1,8}){1,3}") {
        for input in [raw, format!("{local}@{domain}")] {
            if let Ok(a) = Address::parse(&input) {
                prop_assert_eq!(a.as_str().matches('@').count(), 1);
                let again = Address::parse(a.as_str()).expect("reparse");
                prop_assert_eq!(again.as_str(), a.as_str());
            }
        }
    }
}

/// Return URLs against a real config: whatever is accepted names the login host or an app.
#[test]
fn accepted_return_urls_are_always_a_configured_app() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = common::TestPki::create(dir.path());
    let toml = format!(
        "{}\n[[app]]\nid = \"hr\"\nhost = \"app.test:8443\"\npath_prefix = \"/hr/\"\nupstream = \"http://127.0.0.1:9\"\nauth = \"none\"\n",
        common::base_toml(8443, dir.path(), &pki, "")
    );
    let path = dir.path().join("c.toml");
    std::fs::write(&path, toml).expect("write");
    let config = borderless::config::load(&path).expect("config");
    let router = borderless::proxy::route::Router::new(&config.apps);
    let login = format!("{}:8443", common::LOGIN_HOST);
    let candidates = prop_oneof![
        any::<String>(),
        "(https?:)?//(app|login|evil)\\.test(:8443)?(/hr)?/[ -~]{0,20}",
        "/[ -~]{0,30}",
        "https://app\\.test:8443/hr/[a-z%./\\\\]{0,20}",
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(3000));
    runner
        .run(&candidates, |raw| {
            if let Some(url) = return_to::validate(&raw, &config.public_url, &login, &router) {
                prop_assert_eq!(url.scheme(), "https");
                let authority = return_to::authority_of(&url).expect("authority");
                let is_app = router.route_normalized(&authority, url.path()).is_some();
                prop_assert!(authority == login || is_app, "{raw} → {url}");
                prop_assert!(path::normalize(url.path()).is_ok(), "{raw} → {url}");
            }
            Ok(())
        })
        .expect("property");
}

/// CSV files of any shape: the import reports a result (or a whole-file error), never panics,
/// and every good row is invited while bad rows carry their line number.
#[test]
fn csv_imports_never_panic_and_report_every_row() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let env = rt.block_on(common::guests::GuestEnv::start_with(
        common::guests::Options {
            smtp_port: Some(9),
            ..Default::default()
        },
    ));
    let inviter = &env.gw.gw.runtime.load_full().inviter;
    let cell = prop_oneof![
        "[a-z]{1,6}@fabrikam\\.example",
        "[ -~]{0,12}",
        Just("true".to_string()),
        Just("\"a,b\"".to_string()),
        Just("\"".to_string()),
    ];
    let row = prop::collection::vec(cell, 0..5).prop_map(|c| c.join(","));
    let file = (
        prop_oneof![
            Just("email,send email,display name".to_string()),
            Just("version:v1.0\nEmail address to invite [inviteeEmail] Required,Send invitation message (true or false) [sendEmail]".to_string()),
            "[ -~]{0,30}",
        ],
        prop::collection::vec(row, 0..12),
    )
        .prop_map(|(header, rows)| format!("{header}\n{}", rows.join("\n")));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    runner
        .run(&file, |csv| {
            let lines = csv.lines().count() as u64 + 1;
            let outcome =
                rt.block_on(inviter.invite_csv(&borderless::directory::Actor::Cli, csv.as_bytes()));
            if let Ok((report, _mail)) = outcome {
                prop_assert_eq!(report.invited + report.failed, report.rows.len());
                for r in &report.rows {
                    prop_assert!(r.line >= 1 && r.line <= lines, "line {} of {lines}", r.line);
                    if r.status == "error" {
                        prop_assert!(r.error.is_some());
                    }
                }
            }
            Ok(())
        })
        .expect("property");
}
