//! TLS as deployments have it, for tests: a throwaway certificate authority made at test
//! time (rcgen) with server certificates for loopback (good, expired, for another name),
//! a loopback HTTPS server serving files (Python's `http.server` wrapped in `ssl`, through
//! the same interpreter as aiosmtpd), and a runner for the `veille` binary with an
//! environment of the test's choosing (the password, proxies, `SSL_CERT_FILE`).
//!
//! Nothing here listens on, or lets veille reach, anything but 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

use super::app::TestApp;
use super::http::free_port;

/// A private CA: its certificate (PEM, in `dir/ca.pem`) and key, to sign server certificates.
pub struct TestCa {
    pub dir: tempfile::TempDir,
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A server certificate and key, as PEM files.
#[derive(Debug, Clone)]
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Which server certificate to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// For `localhost` and `127.0.0.1`, valid now.
    Good,
    /// For `localhost` and `127.0.0.1`, expired in 2020.
    Expired,
    /// Valid now, for `relay.example.org` only.
    OtherName,
}

fn check<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

impl TestCa {
    pub fn new() -> TestCa {
        let dir = check(tempfile::tempdir());
        let mut params = check(CertificateParams::new(Vec::<String>::new()));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "veille test association CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = check(KeyPair::generate());
        let cert = check(params.self_signed(&key));
        check(std::fs::write(dir.path().join("ca.pem"), cert.pem()));
        TestCa { dir, cert, key }
    }

    /// The CA's certificate, PEM.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A server certificate signed by this CA, written as `NAME.pem` and `NAME.key`.
    pub fn leaf(&self, kind: Leaf) -> ServerCert {
        let names: Vec<String> = match kind {
            Leaf::Good | Leaf::Expired => vec!["localhost".into(), "127.0.0.1".into()],
            Leaf::OtherName => vec!["relay.example.org".into()],
        };
        let mut params = check(CertificateParams::new(names));
        params
            .distinguished_name
            .push(DnType::CommonName, format!("veille test server ({kind:?})"));
        if kind == Leaf::Expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let key = check(KeyPair::generate());
        let cert = check(params.signed_by(&key, &self.cert, &self.key));
        let name = format!("{kind:?}").to_ascii_lowercase();
        let out = ServerCert {
            cert: self.dir.path().join(format!("{name}.pem")),
            key: self.dir.path().join(format!("{name}.key")),
        };
        check(std::fs::write(&out.cert, cert.pem()));
        check(std::fs::write(&out.key, key.serialize_pem()));
        out
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

const HTTPS_SCRIPT: &str = r#"
import http.server, ssl, sys, functools
port, root, cert, key, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        with open(log, "a") as f:
            f.write("%s %s\n" % (self.command, self.path))
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Handler, directory=root))
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
"#;

/// A loopback HTTPS server serving the files of a folder, with a certificate of the
/// test's CA. Killed on drop.
pub struct HttpsServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl HttpsServer {
    pub fn start(cert: &ServerCert) -> HttpsServer {
        let dir = check(tempfile::tempdir());
        check(std::fs::create_dir_all(dir.path().join("root")));
        let port = free_port();
        let child = check(
            Command::new(super::smtp::python())
                .args(["-c", HTTPS_SCRIPT, &port.to_string()])
                .arg(dir.path().join("root"))
                .arg(&cert.cert)
                .arg(&cert.key)
                .arg(dir.path().join("requests.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn(),
        );
        let server = HttpsServer { port, dir, child };
        super::smtp::wait_listening(port, "the HTTPS server");
        server
    }

    /// Serve `body` at `/name`.
    pub fn put(&self, name: &str, body: &str) {
        check(std::fs::write(
            self.dir.path().join("root").join(name),
            body,
        ));
    }

    /// `https://localhost:PORT/name`.
    pub fn url(&self, name: &str) -> String {
        format!("https://localhost:{}/{name}", self.port)
    }

    /// The requests served ("GET /feed.rss"), in order.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both streams.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// The environment variables a test run starts without: the developer's or CI's proxies
/// and certificate locations must not change what a test sees.
pub const CLEARED: &[&str] = &[
    "VEILLE_CONFIG",
    "VEILLE_SMTP_PASSWORD",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Run `veille --config … [--now NOW] ARGS` with `env` on top of a cleared environment.
pub fn run(app: &TestApp, now: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_veille"));
    cmd.arg("--config").arg(app.config_path());
    if let Some(n) = now {
        cmd.arg("--now").arg(n);
    }
    cmd.args(args).env("RUST_LOG", "warn");
    for v in CLEARED {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = check(cmd.output());
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Write the app's configuration with `http` added to its `[http]` table.
pub fn write_config_with_http(app: &TestApp, http: &str) {
    app.write_config();
    let text = check(std::fs::read_to_string(app.config_path()));
    let text = text.replacen("[http]\n", &format!("[http]\n{http}"), 1);
    check(std::fs::write(app.config_path(), text));
}

/// A TOML string for a path.
pub fn toml_path(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

/// Wait until `cond` holds, or panic after `within`.
pub fn wait_for(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}
