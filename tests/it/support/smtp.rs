//! A real SMTP server for tests: aiosmtpd (PyPI) on a free loopback port, delivering into
//! a Maildir that tests read back. Killed on drop; `stop()`/`restart()` keep the port so
//! a test can stage an outage.
//!
//! Python: `$VEILLE_PYTHON` if set, else `<crate>/target/test-venv/bin/python`, created
//! with aiosmtpd on first use (under a cross-process lock directory, since nextest runs
//! tests in parallel processes). Messages are parsed back with Python's `email` package
//! (policy `default`) through the same interpreter: no Rust MIME parser is needed.
//!
//! [`SmtpServer::start_secure`] runs aiosmtpd as deployments' relays behave, with a
//! certificate from `support::tls::TestCa`: STARTTLS required and AUTH offered only after
//! it (`require_starttls`, `auth_require_tls`), or implicit TLS from the first byte
//! (`ssl_context`; aiosmtpd 1.4 counts only STARTTLS as TLS for `auth_require_tls`, so it
//! is off there, the whole session being TLS), or no TLS with AUTH offered in clear (what
//! veille must refuse to log in to). Every login attempt is recorded (mechanism, user,
//! accepted, inside TLS), never the password.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::http::free_port;

/// The aiosmtpd release installed into the test venv.
pub const AIOSMTPD_VERSION: &str = "1.4.6";

const STARTUP_DEADLINE: Duration = Duration::from_secs(30);
const BOOTSTRAP_DEADLINE: Duration = Duration::from_secs(600);
const POLL: Duration = Duration::from_millis(25);

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn has_aiosmtpd(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The interpreter that runs aiosmtpd, bootstrapping the test venv when needed.
pub fn python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(find_python).clone()
}

fn find_python() -> PathBuf {
    if let Some(p) = std::env::var_os("VEILLE_PYTHON") {
        let p = PathBuf::from(p);
        assert!(
            has_aiosmtpd(&p),
            "$VEILLE_PYTHON={} cannot import aiosmtpd; pip install aiosmtpd=={AIOSMTPD_VERSION}",
            p.display()
        );
        return p;
    }
    let venv = crate_dir().join("target/test-venv");
    let python = venv.join("bin/python");
    if has_aiosmtpd(&python) {
        return python;
    }
    let _lock = DirLock::acquire(&crate_dir().join("target/test-venv.lock"));
    // Another process may have finished the job while we waited.
    if has_aiosmtpd(&python) {
        return python;
    }
    eprintln!(
        "creating {} with aiosmtpd=={AIOSMTPD_VERSION}",
        venv.display()
    );
    let base = std::env::var_os("PYTHON3").unwrap_or_else(|| "python3".into());
    run(Command::new(&base).arg("-m").arg("venv").arg(&venv));
    run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &format!("aiosmtpd=={AIOSMTPD_VERSION}"),
    ]));
    assert!(
        has_aiosmtpd(&python),
        "aiosmtpd still missing in {}",
        venv.display()
    );
    python
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A lock shared by processes: a directory created atomically with `create_dir`.
pub struct DirLock(PathBuf);

impl DirLock {
    pub fn acquire(path: &Path) -> DirLock {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        let deadline = Instant::now() + BOOTSTRAP_DEADLINE;
        loop {
            match std::fs::create_dir(path) {
                Ok(()) => return DirLock(path.to_path_buf()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // A holder that died leaves the lock behind: take it over once it is
                    // older than any bootstrap could take.
                    let stale = std::fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > BOOTSTRAP_DEADLINE);
                    if stale {
                        let _ = std::fs::remove_dir(path);
                        continue;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "waited too long for {}",
                        path.display()
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("creating lock {}: {e}", path.display()),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// How a relay started by [`SmtpServer::start_secure`] protects its sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecureMode {
    /// Port-587 style: plain greeting, STARTTLS required before MAIL and before AUTH.
    StartTls,
    /// Port-465 style: TLS from the first byte.
    ImplicitTls,
    /// No TLS at all, AUTH offered in clear (a misconfigured relay).
    Clear,
}

/// A relay with TLS and a login.
#[derive(Debug, Clone)]
pub struct Secure {
    pub mode: SecureMode,
    pub cert: super::tls::ServerCert,
    /// The one account the relay knows.
    pub user: String,
    pub password: String,
    /// The AUTH mechanisms offered ("PLAIN", "LOGIN").
    pub mechanisms: Vec<&'static str>,
}

/// One login attempt the relay saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthAttempt {
    pub mechanism: String,
    pub login: String,
    pub accepted: bool,
    /// Whether the session was inside TLS (STARTTLS or implicit) when it came.
    pub tls: bool,
}

/// A running aiosmtpd with its Maildir.
pub struct SmtpServer {
    python: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// aiosmtpd's `--size`: a larger message is refused (552), as relays do.
    size_limit: Option<usize>,
    secure: Option<Secure>,
}

const SECURE_SCRIPT: &str = r#"
import sys, json, ssl, threading
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword
cfg = json.loads(sys.argv[1])
def authenticator(server, session, envelope, mechanism, auth_data):
    login = password = ""
    if isinstance(auth_data, LoginPassword):
        login, password = auth_data.login.decode(), auth_data.password.decode()
    ok = login == cfg["user"] and password == cfg["password"]
    tls = session.ssl is not None or cfg["mode"] == "ImplicitTls"
    with open(cfg["auth_log"], "a") as f:
        f.write(json.dumps({"mechanism": mechanism, "login": login, "ok": ok, "tls": tls}) + "\n")
    return AuthResult(success=ok, handled=False)
kw = dict(hostname="127.0.0.1", port=cfg["port"], authenticator=authenticator,
          auth_required=True,
          auth_exclude_mechanism=[m for m in ("PLAIN", "LOGIN") if m not in cfg["mechanisms"]])
ctx = None
if cfg["mode"] != "Clear":
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cfg["cert"], cfg["key"])
if cfg["mode"] == "StartTls":
    kw.update(tls_context=ctx, require_starttls=True, auth_require_tls=True)
elif cfg["mode"] == "ImplicitTls":
    kw.update(ssl_context=ctx, auth_require_tls=False)
else:
    kw.update(auth_require_tls=False)
controller = Controller(Mailbox(cfg["maildir"]), **kw)
controller.start()
print("ready", flush=True)
threading.Event().wait()
"#;

impl SmtpServer {
    /// Start on a free loopback port and wait until it accepts connections.
    pub fn start() -> SmtpServer {
        SmtpServer::spawned(None)
    }

    /// Start, refusing messages larger than `bytes` (aiosmtpd's default is 32 MiB).
    pub fn start_with_size_limit(bytes: usize) -> SmtpServer {
        SmtpServer::spawned(Some(bytes))
    }

    fn spawned(size_limit: Option<usize>) -> SmtpServer {
        SmtpServer::spawned_with(size_limit, None)
    }

    /// Start a relay with TLS and a login (see the module's comment).
    pub fn start_secure(secure: Secure) -> SmtpServer {
        SmtpServer::spawned_with(None, Some(secure))
    }

    fn spawned_with(size_limit: Option<usize>, secure: Option<Secure>) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut s = SmtpServer {
            python: python(),
            port: free_port(),
            dir,
            child: None,
            size_limit,
            secure,
        };
        s.spawn();
        s
    }

    /// Every login attempt the relay saw, in order.
    pub fn auth_attempts(&self) -> Vec<AuthAttempt> {
        std::fs::read_to_string(self.dir.path().join("auth.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
                AuthAttempt {
                    mechanism: v["mechanism"].as_str().unwrap_or_default().to_string(),
                    login: v["login"].as_str().unwrap_or_default().to_string(),
                    accepted: v["ok"].as_bool().unwrap_or(false),
                    tls: v["tls"].as_bool().unwrap_or(false),
                }
            })
            .collect()
    }

    /// aiosmtpd's own log (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("aiosmtpd.log")).unwrap_or_default()
    }

    /// The command that runs this server: aiosmtpd's own command line, or the script
    /// of a secure relay.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.python);
        match &self.secure {
            None => {
                cmd.args(["-m", "aiosmtpd", "-n", "-l"])
                    .arg(format!("127.0.0.1:{}", self.port))
                    .args(
                        self.size_limit
                            .map(|b| vec!["--size".to_string(), b.to_string()])
                            .unwrap_or_default(),
                    )
                    .args(["-c", "aiosmtpd.handlers.Mailbox"])
                    .arg(self.maildir());
            }
            Some(s) => {
                let cfg = serde_json::json!({
                    "mode": format!("{:?}", s.mode),
                    "port": self.port,
                    "cert": s.cert.cert,
                    "key": s.cert.key,
                    "user": s.user,
                    "password": s.password,
                    "mechanisms": s.mechanisms,
                    "maildir": self.maildir(),
                    "auth_log": self.dir.path().join("auth.log"),
                });
                cmd.args(["-c", SECURE_SCRIPT]).arg(cfg.to_string());
            }
        }
        cmd
    }

    /// Change the size limit; the server restarts on the same port.
    pub fn set_size_limit(&mut self, bytes: Option<usize>) {
        self.size_limit = bytes;
        self.restart();
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("maildir")
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("aiosmtpd.log"))
            .unwrap_or_else(|e| panic!("{e}"));
        let log2 = log.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let child = self
            .command()
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| panic!("starting aiosmtpd: {e}"));
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!(
                        "aiosmtpd exited with {status}: {}",
                        std::fs::read_to_string(self.dir.path().join("aiosmtpd.log"))
                            .unwrap_or_default()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on {addr} within {STARTUP_DEADLINE:?}"
            );
            std::thread::sleep(POLL);
        }
    }

    /// Kill the server; connections to its port are refused until `restart`.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same port with the same Maildir.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The raw bytes of every delivered message (`new/` and `cur/`), by file name.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<PathBuf> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.maildir().join(sub)).ok())
            .flat_map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Wait until something accepts connections on 127.0.0.1:`port`.
pub fn wait_listening(port: u16, what: &str) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + STARTUP_DEADLINE;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {addr} within {STARTUP_DEADLINE:?}"
        );
        std::thread::sleep(POLL);
    }
}

/// A message parsed by Python's `email` package (policy `default`, so encoded words in
/// headers are decoded).
#[derive(Debug, Clone)]
pub struct ParsedMail {
    /// Header name and decoded value, in order.
    pub headers: Vec<(String, String)>,
    pub content_type: String,
    /// The leaf parts in order: content type, charset, decoded text.
    pub parts: Vec<MimePart>,
}

#[derive(Debug, Clone)]
pub struct MimePart {
    pub content_type: String,
    pub charset: Option<String>,
    pub body: String,
}

impl ParsedMail {
    /// Every value of one header (case-insensitive name).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// The one value of a header; panics when absent or repeated.
    pub fn header(&self, name: &str) -> &str {
        match self.all(name).as_slice() {
            [v] => v,
            other => panic!("header {name}: expected one, found {other:?}"),
        }
    }
}

const PARSE_SCRIPT: &str = r#"
import sys, json, email, email.policy
msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
parts = []
for p in msg.walk():
    if p.is_multipart():
        continue
    parts.append({"content_type": p.get_content_type(), "charset": p.get_content_charset(),
                  "body": p.get_content()})
print(json.dumps({"headers": [[k, str(v)] for k, v in msg.items()],
                  "content_type": msg.get_content_type(), "parts": parts}))
"#;

/// Parse one raw message with Python's `email` package.
pub fn parse(raw: &[u8]) -> ParsedMail {
    let mut child = Command::new(python())
        .args(["-c", PARSE_SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting python: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(raw).unwrap_or_else(|e| panic!("{e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("python: {e}"));
    assert!(
        out.status.success(),
        "parsing mail failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    ParsedMail {
        headers: v["headers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| (s(&h[0]), s(&h[1])))
            .collect(),
        content_type: s(&v["content_type"]),
        parts: v["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| MimePart {
                content_type: s(&p["content_type"]),
                charset: p["charset"].as_str().map(str::to_string),
                body: s(&p["body"]),
            })
            .collect(),
    }
}
