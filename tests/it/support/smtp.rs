//! A real SMTP server for tests: aiosmtpd (PyPI) on a free loopback port, delivering into
//! a Maildir that tests read back. Killed on drop; `stop()`/`restart()` keep the port so
//! a test can stage an outage.
//!
//! Python: `$VEILLE_PYTHON` if set, else `<crate>/target/test-venv/bin/python`, created
//! with aiosmtpd on first use (under a cross-process lock directory, since nextest runs
//! tests in parallel processes). Messages are parsed back with Python's `email` package
//! (policy `default`) through the same interpreter: no Rust MIME parser is needed.

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

/// A running aiosmtpd with its Maildir.
pub struct SmtpServer {
    python: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// aiosmtpd's `--size`: a larger message is refused (552), as relays do.
    size_limit: Option<usize>,
}

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
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut s = SmtpServer {
            python: python(),
            port: free_port(),
            dir,
            child: None,
            size_limit,
        };
        s.spawn();
        s
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
        let child = Command::new(&self.python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(
                self.size_limit
                    .map(|b| vec!["--size".to_string(), b.to_string()])
                    .unwrap_or_default(),
            )
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.maildir())
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
