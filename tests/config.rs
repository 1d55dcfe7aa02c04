//! Config loading beyond syntax: secrets from environment variables and files, relative
//! paths, and errors that point at the key to fix.

use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

fn config_with_idp(secret_lines: &str) -> String {
    format!(
        "version = 1\n[gateway]\npublic_url = \"https://login.test\"\n\n[[listener]]\nbind = \"127.0.0.1:0\"\nredirect_to_https = true\n\n\
         [[idp]]\nid = \"op\"\nkind = \"oidc\"\nissuer = \"https://idp.test\"\nclient_id = \"c\"\n{secret_lines}\n"
    )
}

#[test]
fn client_secret_from_a_file_relative_to_the_config() {
    let dir = tempfile::tempdir().expect("dir");
    write(dir.path(), "op.secret", "s3cret-from-file\n");
    let p = write(
        dir.path(),
        "b.toml",
        &config_with_idp("client_secret_file = \"op.secret\""),
    );
    let c = borderless::config::load(&p).expect("valid");
    assert_eq!(c.idps[0].client_secret, "s3cret-from-file");
    assert!(
        !format!("{:?}", c.idps[0]).contains("s3cret"),
        "secrets never appear in debug output"
    );
}

#[test]
fn client_secret_from_the_environment() {
    // Through the binary, so the variable is set for that process only (no `set_var` here).
    let dir = tempfile::tempdir().expect("dir");
    let var = "BORDERLESS_TEST_SECRET_7F3A";
    let p = write(
        dir.path(),
        "b.toml",
        &config_with_idp(&format!("client_secret_env = \"{var}\"")),
    );
    let run = |value: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_borderless"));
        cmd.arg("check-config").arg(&p).env_remove(var);
        if let Some(v) = value {
            cmd.env(var, v);
        }
        cmd.output().expect("run")
    };
    assert!(run(Some("s3cret-from-env")).status.success());
    let unset = run(None);
    assert_eq!(unset.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unset.stderr)
            .contains(&format!("environment variable {var} is not set"))
    );
}

#[test]
fn missing_or_ambiguous_secrets_name_the_key_and_line() {
    let dir = tempfile::tempdir().expect("dir");
    let cases = [
        (
            "client_secret_env = \"BORDERLESS_TEST_UNSET_91C2\"",
            "idp[0].client_secret_env",
            "is not set",
        ),
        (
            "client_secret_file = \"nope.secret\"",
            "idp[0].client_secret_file",
            "cannot read",
        ),
        ("", "idp[0].client_secret", "set one of"),
        (
            "client_secret = \"a\"\nclient_secret_env = \"B\"",
            "idp[0].client_secret",
            "only one",
        ),
    ];
    for (lines, key, msg) in cases {
        let p = write(dir.path(), "b.toml", &config_with_idp(lines));
        let errs = borderless::config::load(&p).expect_err("invalid");
        let text = errs.to_string();
        assert!(
            text.contains(&format!("key `{key}`")) && text.contains(msg),
            "{lines}: {text}"
        );
        assert!(errs.0[0].line.is_some(), "{lines}: a line number");
    }
}

#[test]
fn directory_collaboration_and_smtp_errors_name_their_keys() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "version = 1\n\
         [gateway]\npublic_url = \"https://login.test\"\ndatabase_url = \"mysql://x\"\n\
         [[listener]]\nbind = \"127.0.0.1:0\"\nredirect_to_https = true\n\
         [directory]\ntenant_domain = \"not a domain\"\ninvitation_ttl_days = 0\n\
         [collaboration]\nallowed_domains = [\"fabrikam.example\"]\nblocked_domains = [\"evil..example\"]\n\
         [smtp]\nhost = \"smtp.test\"\nfrom = \"no address\"\nusername = \"u\"\n\
         [[app]]\nid = \"hr\"\nhost = \"hr.test\"\nupstream = \"http://127.0.0.1:9\"\nauth = \"none\"\nassignment_required = true\nowners = [\"a@b@c.example\"]\n",
    )
    .expect("write");
    let errs = borderless::config::load(&path)
        .expect_err("invalid")
        .to_string();
    for (line, key) in [
        (4, "gateway.database_url"),
        (9, "directory.tenant_domain"),
        (10, "directory.invitation_ttl_days"),
        (13, "collaboration.blocked_domains[0]"),
        (16, "smtp.from"),
        (14, "smtp.password"),
        (23, "app[0].assignment_required"),
        (24, "app[0].owners[0]"),
    ] {
        assert!(
            errs.contains(&format!("bad.toml:{line}: key `{key}`")),
            "missing {key} at line {line} in:\n{errs}"
        );
    }
}

/// Every ready-made provider snippet in `config/providers/` loads when pasted into a config.
#[test]
fn every_provider_snippet_is_a_valid_idp() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/providers");
    let dir = tempfile::tempdir().expect("dir");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&root).expect("config/providers") {
        let path = entry.expect("entry").path();
        let snippet = std::fs::read_to_string(&path).expect("read");
        // The secret comes from the environment in production; inline here.
        let snippet: String = snippet
            .lines()
            .map(|l| {
                if l.starts_with("client_secret_env") {
                    "client_secret = \"test\"".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let config = format!(
            "version = 1\n[gateway]\npublic_url = \"https://login.test\"\n\n[[listener]]\nbind = \"127.0.0.1:0\"\nredirect_to_https = true\n\n{snippet}\n"
        );
        let file = write(dir.path(), "snippet.toml", &config);
        let c =
            borderless::config::load(&file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(c.idps.len(), 1, "{}", path.display());
        seen.push(c.idps[0].id.clone());
    }
    seen.sort();
    assert_eq!(
        seen,
        ["adfs", "facebook", "github", "google", "microsoft", "okta"]
    );
}
