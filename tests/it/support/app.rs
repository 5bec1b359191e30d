//! `TestApp`: a temporary veille installation (config, watchlists, store, outbox) whose
//! sources point at a loopback `TestServer`, driven through the real `veille` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::http::TestServer;

/// One `[[sources]]` entry.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: String,
    pub kind: String,
    pub url: String,
}

impl Source {
    pub fn new(id: &str, kind: &str, url: String) -> Source {
        Source {
            id: id.into(),
            kind: kind.into(),
            url,
        }
    }
}

#[derive(Debug)]
pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub server: TestServer,
    pub sources: Vec<Source>,
    /// Extra TOML appended to the configuration (e.g. a `[mail.smtp]` table).
    pub mail: String,
}

/// The entry titles of a `digest preview --format json`.
pub fn titles_of(preview: &serde_json::Value) -> Vec<String> {
    preview["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["title"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The entry kinds of a `digest preview --format json` (a step's stage, else the kind).
pub fn kinds_of(preview: &serde_json::Value) -> Vec<String> {
    preview["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["kind"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The repository's own files.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

impl TestApp {
    /// A new installation with no watchlists yet.
    pub fn new(server: TestServer, sources: Vec<Source>) -> TestApp {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(dir.path().join("watchlists")).unwrap_or_else(|e| panic!("{e}"));
        let app = TestApp {
            dir,
            server,
            sources,
            mail: "[mail]\nfrom = \"Veille <veille@example.org>\"\ntransport = \"file\"\noutbox_dir = \"outbox\"\n".into(),
        };
        app.write_config();
        app
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path("config.toml")
    }

    /// Deliver mail over plain SMTP to a loopback server on `port`.
    pub fn use_smtp(&mut self, port: u16) {
        self.mail = format!(
            "[mail]\nfrom = \"Veille <veille@example.org>\"\ntransport = \"smtp\"\noutbox_dir = \"outbox\"\n\
             [mail.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\ntimeout = \"5s\"\n"
        );
        self.write_config();
    }

    pub fn write_config(&self) {
        let mut c = String::from(
            "timezone = \"Europe/Brussels\"\nwatchlists_dir = \"watchlists\"\n\
             [storage]\npath = \"data/veille.sled\"\ncache_capacity = \"8MiB\"\n\
             [http]\nuser_agent = \"veille-test\"\ntimeout = \"5s\"\nmax_body = \"16MiB\"\nper_host_interval = \"0s\"\nconcurrency = 4\n",
        );
        c.push_str(&self.mail);
        for s in &self.sources {
            c.push_str(&format!(
                "[[sources]]\nid = \"{}\"\nkind = \"{}\"\nurl = \"{}\"\nevery = \"1h\"\n",
                s.id, s.kind, s.url
            ));
        }
        std::fs::write(self.config_path(), c).unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn add_watchlist(&self, id: &str, toml: &str) {
        std::fs::write(self.path(&format!("watchlists/{id}.toml")), toml)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Copy the shipped watchlists in.
    pub fn add_shipped_watchlists(&self) {
        for e in std::fs::read_dir(repo("watchlists"))
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
        {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "toml") {
                let name = p.file_name().map(|n| n.to_owned()).unwrap_or_default();
                std::fs::copy(&p, self.path("watchlists").join(name))
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    /// Run `veille --config … ARGS` (with `--now` when given).
    pub fn veille(&self, now: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_veille"));
        cmd.arg("--config").arg(self.config_path());
        if let Some(n) = now {
            cmd.arg("--now").arg(n);
        }
        cmd.args(args).env("RUST_LOG", "warn");
        // Nor the developer's or CI's proxies and certificate stores (tests/it/proxy.rs
        // sets them when it means to).
        for v in super::tls::CLEARED {
            cmd.env_remove(v);
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("running veille: {e}"))
    }

    /// Start `veille --config … --now NOW run`, its log (at `info`) written to `log`.
    pub fn spawn_run(&self, now: &str, log: &Path) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_veille"))
            .arg("--config")
            .arg(self.config_path())
            .args(["--now", now, "run"])
            .env_remove("VEILLE_CONFIG")
            .env("RUST_LOG", "info,sled=warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(log).unwrap_or_else(|e| panic!("{e}")))
            .spawn()
            .unwrap_or_else(|e| panic!("spawning veille run: {e}"))
    }

    /// Run and expect an exit code; returns stdout.
    pub fn expect(&self, now: Option<&str>, args: &[&str], code: i32) -> String {
        self.expect_both(now, args, code).0
    }

    /// Run and expect an exit code; returns stdout and stderr.
    pub fn expect_both(&self, now: Option<&str>, args: &[&str], code: i32) -> (String, String) {
        let out = self.veille(now, args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "veille {args:?} exited {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status.code()
        );
        (stdout, stderr)
    }

    /// Run and parse stdout as JSON.
    pub fn json(&self, now: Option<&str>, args: &[&str], code: i32) -> serde_json::Value {
        let s = self.expect(now, args, code);
        serde_json::from_str(&s).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{s}"))
    }

    /// The `.eml` files in the outbox.
    /// `digest preview ID --format json` at `now`.
    pub fn preview(&self, now: &str, id: &str) -> serde_json::Value {
        self.json(Some(now), &["digest", "preview", id, "--format", "json"], 0)
    }

    pub fn outbox(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.path("outbox"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        v.sort();
        v
    }
}
