//! Test kit: a throw-away CA, the real gateway in-process on 127.0.0.1:0, the demo app as the
//! echo upstream, the real `oidc-provider` (npm) as a child process, and an HTTP client that
//! resolves the test host names to the gateway.
#![allow(dead_code)]

pub mod databases;
pub mod e2e;
pub mod fake_idp;
pub mod guests;
pub mod oidc_provider;
pub mod passcode;
pub mod saml_idp;
pub mod smtp;
pub mod social_idp;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use borderless::state::Gateway;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub const LOGIN_HOST: &str = "login.test";
pub const APP_HOST: &str = "app.test";
pub const OTHER_HOST: &str = "other.test";

/// A CA and a server certificate for every test host name.
pub struct TestPki {
    pub ca_pem: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    ca: (rcgen::Certificate, rcgen::KeyPair),
}

impl TestPki {
    pub fn create(dir: &Path) -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Borderless Test CA");
        let ca_key = KeyPair::generate().expect("ca key");
        let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
        let pki = TestPki {
            ca_pem: ca_cert.pem(),
            cert_path: dir.join("gateway.crt"),
            key_path: dir.join("gateway.key"),
            ca: (ca_cert, ca_key),
        };
        pki.issue_leaf();
        pki
    }

    /// Writes a fresh server certificate (new key) signed by the same CA over the old files;
    /// returns its DER, to recognise it on the wire.
    pub fn issue_leaf(&self) -> Vec<u8> {
        let names = vec![
            LOGIN_HOST.to_string(),
            APP_HOST.to_string(),
            OTHER_HOST.to_string(),
            "localhost".to_string(),
        ];
        let leaf = rcgen::CertificateParams::new(names).expect("leaf params");
        let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
        let leaf_cert = leaf
            .signed_by(&leaf_key, &self.ca.0, &self.ca.1)
            .expect("leaf cert");
        std::fs::write(&self.cert_path, leaf_cert.pem()).expect("write cert");
        std::fs::write(&self.key_path, leaf_key.serialize_pem()).expect("write key");
        leaf_cert.der().to_vec()
    }
}

/// Starts the demo app (echo upstream) on 127.0.0.1:0.
pub async fn start_echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = l.local_addr().expect("echo addr");
    tokio::spawn(borderless::demo_app::serve(l));
    addr
}

/// The gateway, running in this process.
pub struct TestGateway {
    pub gw: Arc<Gateway>,
    pub port: u16,
    /// Where the listener is bound (127.0.0.1 unless a test put a second instance beside).
    pub bound: SocketAddr,
    pub dir: Arc<tempfile::TempDir>,
    pub pki: Arc<TestPki>,
    pub config_path: PathBuf,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// The part of every test config that is about the test machine, not the feature under test.
pub fn base_toml(port: u16, dir: &Path, pki: &TestPki, limits: &str) -> String {
    base_toml_on(
        port,
        dir,
        pki,
        limits,
        &format!("sqlite://{}", dir.join("borderless.db").display()),
    )
}

/// `base_toml` with another database.
pub fn base_toml_on(port: u16, dir: &Path, pki: &TestPki, limits: &str, db: &str) -> String {
    format!(
        r#"version = 1
[gateway]
public_url = "https://{LOGIN_HOST}:{port}"
database_url = "{db}"

[[listener]]
bind = "127.0.0.1:{port}"
tls_cert = "{cert}"
tls_key = "{key}"

[limits]
{limits}

[assertion]
signing_key_file = "{dir}/assertion.pem"
"#,
        cert = pki.cert_path.display(),
        key = pki.key_path.display(),
        dir = dir.display(),
    )
}

/// A bound port, directory and certificate waiting for a config: tests that register the
/// gateway's URL at an IdP first reserve the port, start the IdP, then start the gateway.
pub struct GatewaySlot {
    tcp: TcpListener,
    pub port: u16,
    pub dir: Arc<tempfile::TempDir>,
    pub pki: Arc<TestPki>,
    /// The database instead of the directory's SQLite file.
    pub database_url: Option<String>,
}

impl GatewaySlot {
    pub async fn new() -> GatewaySlot {
        let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        let pki = Arc::new(TestPki::create(dir.path()));
        Self::in_dir(dir, pki).await
    }

    /// Same directory (and so the same database) as an earlier gateway.
    pub async fn in_dir(dir: Arc<tempfile::TempDir>, pki: Arc<TestPki>) -> GatewaySlot {
        let tcp = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let port = tcp.local_addr().expect("addr").port();
        GatewaySlot {
            tcp,
            port,
            dir,
            pki,
            database_url: None,
        }
    }

    /// A second instance beside `first`: same port (so the same public URL) on another
    /// loopback address, same directory and certificate.
    pub async fn beside(first: &TestGateway, ip: std::net::IpAddr) -> GatewaySlot {
        let tcp = TcpListener::bind((ip, first.port))
            .await
            .expect("bind second instance");
        GatewaySlot {
            tcp,
            port: first.port,
            dir: first.dir.clone(),
            pki: first.pki.clone(),
            database_url: None,
        }
    }

    pub fn login_url(&self) -> String {
        format!("https://{LOGIN_HOST}:{}", self.port)
    }

    /// Starts the gateway with `base_toml` plus `sections`.
    pub async fn start(self, limits: &str, sections: &str) -> TestGateway {
        let GatewaySlot {
            tcp,
            port,
            dir,
            pki,
            database_url,
        } = self;
        let db = database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("borderless.db").display()));
        let toml = format!(
            "{}\n{}",
            base_toml_on(port, dir.path(), &pki, limits, &db),
            sections
        );
        let bound = tcp.local_addr().expect("addr");
        let ip = bound.ip();
        let config_path = dir.path().join(format!("gateway-{ip}-{port}.toml"));
        std::fs::write(&config_path, &toml).expect("write config");
        let config = borderless::config::load(&config_path)
            .unwrap_or_else(|e| panic!("test config invalid:\n{e}\n{toml}"));
        let limits_rt = config.limits.clone();
        let cert = borderless::server::tls::ReloadableCert::load(&pki.cert_path, &pki.key_path)
            .expect("tls");
        let acceptor = borderless::server::tls::acceptor(cert.clone()).expect("tls");
        let gw = borderless::build(config).await.expect("build gateway");
        gw.tls_certs.lock().expect("certs").push(cert.clone());
        let shutdown = CancellationToken::new();
        let listeners = vec![borderless::server::Bound {
            tcp,
            kind: borderless::server::Kind::Https(acceptor),
            cert: Some(cert),
        }];
        watch_worker_panics();
        // Two worker threads, as in production (`serve_threaded`), so tests exercise the
        // thread-per-core path and its per-thread upstream pools.
        let task = tokio::spawn({
            let (gw, shutdown) = (gw.clone(), shutdown.clone());
            async move {
                borderless::server::serve_threaded(gw, listeners, limits_rt, shutdown, 2)
                    .await
                    .expect("serve");
            }
        });
        TestGateway {
            gw,
            port,
            bound,
            dir,
            pki,
            config_path,
            shutdown,
            task,
        }
    }
}

impl TestGateway {
    /// Starts a gateway whose config is `base_toml` plus what `sections` returns for the port.
    pub async fn start(limits: &str, sections: impl FnOnce(u16) -> String) -> TestGateway {
        let slot = GatewaySlot::new().await;
        let s = sections(slot.port);
        slot.start(limits, &s).await
    }

    pub fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        self.bound
    }

    /// A browser-like client: cookie jar, follows redirects, trusts the test CA.
    pub fn client(&self) -> reqwest::Client {
        self.browser().client
    }

    /// A client plus its cookie jar, for tests that look at or replay cookies.
    pub fn browser(&self) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = self
            .client_builder()
            .cookie_provider(jar.clone())
            .build()
            .expect("client");
        Browser { client, jar }
    }

    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let ca = reqwest::Certificate::from_pem(self.pki.ca_pem.as_bytes()).expect("ca");
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(ca)
            .resolve(LOGIN_HOST, self.addr())
            .resolve(APP_HOST, self.addr())
            .resolve(OTHER_HOST, self.addr())
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::limited(20))
    }

    /// Like `browser`, but asking for JSON, so the echo app answers with what it received.
    pub fn json_browser(&self) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let accept = [(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        )];
        let client = self
            .client_builder()
            .cookie_provider(jar.clone())
            .default_headers(accept.into_iter().collect())
            .build()
            .expect("client");
        Browser { client, jar }
    }

    /// A client that does not follow redirects, to look at each hop.
    pub fn manual_client(&self) -> reqwest::Client {
        self.client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
        // A panic in a spawned task does not fail the request that caused it (tokio catches
        // it), so every test that stops its gateway also checks that none happened.
        assert_eq!(
            WORKER_PANICS.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "a gateway worker thread panicked (its message is in the output above)"
        );
    }
}

static WORKER_PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts panics on the gateway's worker threads (by their name), whatever task they hit.
fn watch_worker_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("borderless-worker"))
            {
                WORKER_PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            default(info);
        }));
    });
}

pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
}

impl Browser {
    /// The `Cookie` header the jar would send to `url`.
    pub fn cookies_for(&self, url: &str) -> String {
        use reqwest::cookie::CookieStore;
        let url = url.parse().expect("url");
        self.jar
            .cookies(&url)
            .map(|v| v.to_str().unwrap_or("").to_string())
            .unwrap_or_default()
    }
}

/// Extracts `action` and hidden inputs of the first form in an HTML page.
pub fn first_form(html: &str) -> (String, Vec<(String, String)>) {
    let form_start = html.find("<form").expect("page has a form");
    let form = &html[form_start..];
    let action = attr(form, "action").expect("form action");
    let mut fields = Vec::new();
    let mut rest = form;
    while let Some(i) = rest.find("<input") {
        let tag_end = rest[i..].find('>').map(|e| i + e).unwrap_or(rest.len());
        let tag = &rest[i..tag_end];
        if tag.contains("type=\"hidden\"")
            && let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value"))
        {
            fields.push((n, v));
        }
        rest = &rest[tag_end..];
    }
    (action.replace("&amp;", "&"), fields)
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_string())
}

impl TestGateway {
    /// A TLS connection speaking raw HTTP/1.1, for requests no HTTP client library would send.
    pub async fn raw_tls(
        &self,
        host: &str,
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        self.raw_tls_with(host, self.tls_client(rustls::DEFAULT_VERSIONS))
            .await
    }

    /// A TLS client that trusts the test CA and offers `versions`; it keeps the tickets it
    /// is given, so a second connection through it can resume.
    pub fn tls_client(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ClientConfig> {
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        let ca = rustls_pki_types::CertificateDer::from_pem_slice(self.pki.ca_pem.as_bytes())
            .expect("ca der");
        roots.add(ca).expect("add ca");
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .expect("tls versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(cfg)
    }

    pub async fn raw_tls_with(
        &self,
        host: &str,
        client: Arc<rustls::ClientConfig>,
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(self.addr())
            .await
            .expect("connect");
        let name = rustls_pki_types::ServerName::try_from(host.to_string()).expect("server name");
        tokio_rustls::TlsConnector::from(client)
            .connect(name, tcp)
            .await
            .expect("tls handshake")
    }

    /// Sends raw request bytes and returns the gateway's answer: one response (as far as
    /// its Content-Length says) or whatever came before the connection closed.
    pub async fn raw_exchange(&self, host: &str, request: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = self.raw_tls(host).await;
        s.write_all(request.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let n = match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => break,
            };
            out.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&out);
            if let Some(end) = text.find("\r\n\r\n") {
                let head = text[..end].to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                if let Some(len) = len
                    && out.len() >= end + 4 + len
                {
                    break;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Header values of one name in the demo app's JSON echo.
pub fn echoed<'a>(echo: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    echo["headers"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or(&[])
        .iter()
        .filter(|h| h[0].as_str() == Some(name))
        .filter_map(|h| h[1].as_str())
        .collect()
}

impl Browser {
    /// A client sharing this browser's cookie jar that does not follow redirects.
    pub fn manual(&self, gw: &TestGateway) -> reqwest::Client {
        gw.client_builder()
            .cookie_provider(self.jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }
}

/// The `Location` of a redirect response.
pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("expected a redirect, got {}", r.status()))
        .to_string()
}

/// GET `url` and return the status.
pub async fn status_of(client: &reqwest::Client, url: &str) -> u16 {
    client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .status()
        .as_u16()
}

/// GET `url` and return where it redirects to.
pub async fn redirect_of(client: &reqwest::Client, url: &str) -> String {
    location(
        &client
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}")),
    )
}

/// The common setup: the echo upstream, a stand-in IdP (`fake`) and a gateway whose apps
/// `apps(port, echo)` describes in TOML.
pub async fn with_fake_idp(
    limits: &str,
    apps: impl FnOnce(u16, SocketAddr) -> String,
) -> (TestGateway, fake_idp::FakeIdp) {
    let echo = start_echo().await;
    let idp = fake_idp::FakeIdp::start().await;
    let idp_toml = idp.idp_toml();
    let gw = TestGateway::start(limits, |port| format!("{idp_toml}\n{}", apps(port, echo))).await;
    (gw, idp)
}

/// TOML for one app on `host:port` in front of `upstream`, plus extra lines.
pub fn app_toml(id: &str, host: &str, port: u16, upstream: SocketAddr, extra: &str) -> String {
    format!(
        "[[app]]\nid = \"{id}\"\nhost = \"{host}:{port}\"\nupstream = \"http://{upstream}\"\n{extra}\n"
    )
}

/// Follows redirects by hand until one leaves the gateway: the IdP's authorization URL.
pub async fn walk_to_idp(manual: &reqwest::Client, start: &str) -> String {
    let mut url = url::Url::parse(start).expect("url");
    for _ in 0..10 {
        let r = manual.get(url.as_str()).send().await.expect("hop");
        let next = url.join(&location(&r)).expect("location");
        let host = next.host_str().unwrap_or("");
        if host != LOGIN_HOST && host != APP_HOST {
            return next.to_string();
        }
        url = next;
    }
    panic!("never reached the IdP from {start}");
}

/// Asserts that the config at `path` is refused with each `(line, key, part of the message)`
/// among its errors, as `file:line: key `…`: message` (line 0: on any line).
pub fn assert_config_errors(path: &Path, expected: &[(usize, &str, &str)]) {
    let errs = borderless::config::load(path)
        .expect_err("the config must be refused")
        .to_string();
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
    for (line, key, says) in expected {
        let at = match line {
            0 => format!(": key `{key}`"),
            n => format!("{file}:{n}: key `{key}`"),
        };
        assert!(
            errs.lines().any(|l| l.contains(&at) && l.contains(says)),
            "missing {at} … {says} in:\n{errs}"
        );
    }
}

/// The value of a page's `<input … name="{name}" value="…">`.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    html.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(str::to_string)
}
