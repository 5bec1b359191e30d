//! Officers read previews through the running daemon's control socket without the service
//! account (`[control] readers`): the real binary, the daemon and each command line run as
//! different Unix users with `setpriv` (util-linux), so these tests need root (as in CI) and
//! fail, saying so, without it.
//!
//! The daemon runs as uid 1 (`daemon`); the readers group is `users` (gid 100); the officer
//! is uid 65534 (`nobody`), with or without `users` among its groups. Checked: a member
//! reads `status` and `digest preview`; its `poll` and `digest send` are refused with a
//! message and change nothing; a non-member is told at connect why and what fixes it; the
//! socket is 0600 without the key, 0660 with the group with it, and 0600 with an error in
//! the log when the daemon's user may not give it to the group; `check` and `run` refuse
//! an unknown group, naming the key.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::rss;
use crate::support::app::{titles_of, Source, TestApp};
use crate::support::http::TestServer;

/// The daemon's user: `daemon` (uid and gid 1), present on every Debian-like system.
const SERVICE: u32 = 1;
/// The officer: `nobody`.
const OFFICER: u32 = 65534;
/// The readers group of these tests: `users`.
const READERS: (&str, u32) = ("users", 100);
/// Monday 30 November 2026, 10:00 in Brussels.
const MONDAY: &str = "2026-11-30T09:00:00Z";
const DEADLINE: Duration = Duration::from_secs(30);

/// Who runs a command: uid, gid and supplementary groups.
#[derive(Debug, Clone, Copy)]
struct As {
    uid: u32,
    gid: u32,
    groups: &'static [u32],
}

const SERVICE_IN_READERS: As = As {
    uid: SERVICE,
    gid: SERVICE,
    groups: &[READERS.1],
};
const SERVICE_ALONE: As = As {
    uid: SERVICE,
    gid: SERVICE,
    groups: &[],
};
const MEMBER: As = As {
    uid: OFFICER,
    gid: OFFICER,
    groups: &[READERS.1],
};
const STRANGER: As = As {
    uid: OFFICER,
    gid: OFFICER,
    groups: &[],
};

/// Fail (never skip) unless these tests can run commands as other users.
fn require_root_and_setpriv(app: &TestApp) {
    let uid = std::fs::metadata(app.config_path())
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    assert_eq!(
        uid, 0,
        "these tests run the daemon and the officers' commands as other Unix users with setpriv, \
         which needs root: run them as root (CI does)"
    );
    let setpriv = Command::new("setpriv").arg("--version").output();
    assert!(
        setpriv.is_ok_and(|o| o.status.success()),
        "these tests need setpriv (util-linux): install it"
    );
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    assert!(
        groups
            .lines()
            .any(|l| l.starts_with(&format!("{}:x:{}:", READERS.0, READERS.1))),
        "these tests need group {} with gid {} in /etc/group",
        READERS.0,
        READERS.1
    );
}

/// `setpriv … veille --config … ARGS` as `who`.
fn command(app: &TestApp, who: As, args: &[&str]) -> Command {
    let mut c = Command::new("setpriv");
    c.arg(format!("--reuid={}", who.uid))
        .arg(format!("--regid={}", who.gid));
    if who.groups.is_empty() {
        c.arg("--clear-groups");
    } else {
        let g: Vec<String> = who.groups.iter().map(u32::to_string).collect();
        c.arg(format!("--groups={}", g.join(",")));
    }
    c.arg(env!("CARGO_BIN_EXE_veille"))
        .arg("--config")
        .arg(app.config_path())
        .args(args)
        .env_remove("VEILLE_CONFIG")
        .env_remove("VEILLE_SMTP_PASSWORD")
        .env("RUST_LOG", "warn");
    c
}

fn run_as(app: &TestApp, who: As, args: &[&str]) -> Output {
    command(app, who, args)
        .output()
        .unwrap_or_else(|e| panic!("running setpriv: {e}"))
}

/// Run as `who`, expect `code`: (stdout, stderr).
fn expect_as(app: &TestApp, who: As, args: &[&str], code: i32) -> (String, String) {
    let out = run_as(app, who, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "veille {args:?} as {who:?} exited {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status.code()
    );
    (stdout, stderr)
}

/// An installation laid out as docs/operations.md says: the configuration and watchlists
/// readable by all, the data folder the service's, mode 0710 with the readers group (so
/// that its members reach the socket beside the store and nothing else), the outbox the
/// service's. `control` is appended to the configuration.
fn install(control: &str) -> TestApp {
    let server = TestServer::start_background();
    server.route("/feed.rss", rss(&[("Urban mobility package", "m1")]));
    let url = server.url("/feed.rss");
    let mut app = TestApp::new(server, vec![Source::new("feed", "feed", url)]);
    app.mail.push_str(control);
    app.write_config();
    app.add_watchlist(
        "w",
        "name = \"Urban mobility\"\nrecipients = [\"fg@example.org\"]\ndigest = \"daily\"\nkeywords = [\"urban mobility\"]\n",
    );
    require_root_and_setpriv(&app);
    let mode = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()))
    };
    mode(app.dir.path(), 0o755);
    for d in ["data", "outbox"] {
        let p = app.path(d);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::chown(&p, Some(SERVICE), Some(READERS.1))
            .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
    }
    mode(&app.path("data"), 0o710);
    mode(&app.path("outbox"), 0o700);
    app
}

/// `veille run` as `who`, until dropped (or stopped).
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn spawn(app: &TestApp, who: As) -> Daemon {
        let log = app.path("run.stderr");
        let child = command(app, who, &["--now", MONDAY, "run"])
            .env("RUST_LOG", "info,sled=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}")))
            .spawn()
            .unwrap_or_else(|e| panic!("spawning veille run: {e}"));
        let mut d = Daemon { child, log };
        d.wait_log("poll step");
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_log(&mut self, needle: &str) {
        let start = Instant::now();
        while !self.log().contains(needle) {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("veille run exited ({st}):\n{}", self.log());
            }
            assert!(
                start.elapsed() < DEADLINE,
                "gave up waiting for {needle:?} in the daemon's log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -TERM failed");
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
                assert_eq!(st.code(), Some(0), "{st}\n{}", self.log());
                return;
            }
            assert!(start.elapsed() < DEADLINE, "no exit\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The socket's mode bits, uid and gid.
fn socket_of(app: &TestApp) -> (u32, u32, u32) {
    let m = std::fs::symlink_metadata(app.path("data/veille.sled.sock"))
        .unwrap_or_else(|e| panic!("the control socket: {e}"));
    (m.permissions().mode() & 0o777, m.uid(), m.gid())
}

/// The refusal of a poll or a send to a reader.
const REFUSED: &str = "veille: only the service account may poll or send; ask your operator";

#[test]
fn a_member_of_the_readers_group_reads_previews_but_may_not_poll_or_send() {
    let app = install(&format!("[control]\nreaders = \"{}\"\n", READERS.0));
    let d = Daemon::spawn(&app, SERVICE_IN_READERS);
    assert_eq!(socket_of(&app), (0o660, SERVICE, READERS.1), "{}", d.log());

    // (a) The officer reads status and the preview through the daemon.
    let (status, _) = expect_as(&app, MEMBER, &["--now", MONDAY, "status"], 0);
    assert!(
        status.starts_with(&format!("daemon: running (pid {})", d.child.id())),
        "{status}"
    );
    let (preview, _) = expect_as(
        &app,
        MEMBER,
        &[
            "--now", MONDAY, "digest", "preview", "w", "--format", "json",
        ],
        0,
    );
    let preview: serde_json::Value =
        serde_json::from_str(&preview).unwrap_or_else(|e| panic!("{e}: {preview}"));
    assert_eq!(titles_of(&preview), ["Urban mobility package"], "{preview}");

    // (b) Its poll and send are refused, and nothing is polled or sent.
    let polls = app.server.requests_to("/feed.rss").len();
    for args in [&["poll"][..], &["poll", "--source", "feed", "--force"][..]] {
        let (out, err) = expect_as(&app, MEMBER, args, 1);
        assert!(out.is_empty(), "{out}");
        assert!(err.starts_with(REFUSED), "{args:?}: {err}");
    }
    let (_, err) = expect_as(&app, MEMBER, &["digest", "send", "w", "--force"], 1);
    assert!(err.starts_with(REFUSED), "{err}");
    assert!(app.outbox().is_empty(), "nothing sent: {:?}", app.outbox());
    assert_eq!(
        app.server.requests_to("/feed.rss").len(),
        polls,
        "nothing polled"
    );
    assert!(
        d.log().contains("refused a poll or send") && d.log().contains("uid=65534"),
        "the refusal is logged with the uid:\n{}",
        d.log()
    );
    assert_eq!(
        d.log().matches("poll step").count(),
        1,
        "only the start's poll:\n{}",
        d.log()
    );

    // The service account itself may (the daemon knows its own user), and so may root.
    let (out, _) = expect_as(&app, SERVICE_IN_READERS, &["poll", "--source", "feed"], 0);
    assert!(out.starts_with("feed "), "{out}");
    let out = app.expect(None, &["poll", "--source", "feed"], 0);
    assert!(out.starts_with("feed "), "root: {out}");
    assert_eq!(app.server.requests_to("/feed.rss").len(), polls + 2);
    expect_as(
        &app,
        SERVICE_IN_READERS,
        &["--now", MONDAY, "digest", "send", "w", "--force"],
        0,
    );
    assert_eq!(app.outbox().len(), 1, "{:?}", app.outbox());
    d.stop();
}

#[test]
fn a_user_outside_the_readers_group_is_told_why_at_connect_and_what_fixes_it() {
    let app = install(&format!("[control]\nreaders = \"{}\"\n", READERS.0));
    let d = Daemon::spawn(&app, SERVICE_IN_READERS);
    let told = |err: &str| {
        assert!(
            err.starts_with("veille: permission denied on the daemon's control socket")
                && err.contains("data/veille.sled.sock: this user may not ask the daemon")
                && err.contains("ask your operator to set `[control] readers` in")
                && err.contains("data (docs/operations.md"),
            "{err}"
        );
        assert!(!err.contains("opening the store"), "no fallback: {err}");
    };
    // The data folder (0710, group users) does not let it through…
    for args in [
        &["status"][..],
        &["digest", "preview", "w"][..],
        &["poll"][..],
    ] {
        let (out, err) = expect_as(&app, STRANGER, args, 1);
        assert!(out.is_empty(), "{out}");
        told(&err);
    }
    // …and where the folder does, the socket (0660) does not.
    std::fs::set_permissions(app.path("data"), std::fs::Permissions::from_mode(0o711))
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, err) = expect_as(&app, STRANGER, &["status"], 1);
    told(&err);
    d.stop();
    // Without a daemon, a user who may not read the store is told so, not sled's error.
    let (_, err) = expect_as(&app, STRANGER, &["status"], 1);
    assert!(
        err.starts_with("veille: the daemon is not running")
            && err.contains("you may not read its store"),
        "{err}"
    );
}

#[test]
fn without_readers_the_socket_stays_owner_only() {
    let app = install("");
    let d = Daemon::spawn(&app, SERVICE_IN_READERS);
    assert_eq!(socket_of(&app), (0o600, SERVICE, SERVICE), "{}", d.log());
    let (_, err) = expect_as(&app, MEMBER, &["status"], 1);
    assert!(
        err.starts_with("veille: permission denied on the daemon's control socket"),
        "{err}"
    );
    expect_as(&app, SERVICE_ALONE, &["status"], 0);
    d.stop();
}

#[test]
fn a_daemon_user_outside_the_readers_group_logs_why_and_keeps_the_socket_owner_only() {
    let app = install(&format!("[control]\nreaders = \"{}\"\n", READERS.0));
    let d = Daemon::spawn(&app, SERVICE_ALONE);
    assert_eq!(socket_of(&app), (0o600, SERVICE, SERVICE), "{}", d.log());
    let log = d.log();
    assert!(
        log.contains("ERROR")
            && log.contains("cannot give the control socket to group \"users\"")
            && log.contains("must be a member of it"),
        "{log}"
    );
    // The daemon runs on for its own user.
    expect_as(&app, SERVICE_ALONE, &["status"], 0);
    d.stop();
}

#[test]
fn an_unknown_readers_group_is_refused_by_check_and_run_naming_the_key() {
    let app = install("[control]\nreaders = \"no-such-group-veille\"\n");
    for args in [&["check"][..], &["run"][..]] {
        let (_, err) = expect_as(&app, SERVICE_IN_READERS, args, 3);
        assert!(
            err.starts_with(&format!(
                "veille: invalid configuration: {}: [control] readers: there is no group \"no-such-group-veille\" on this host",
                app.config_path().display()
            )),
            "{args:?}: {err}"
        );
        assert!(err.contains("hint: create it (groupadd"), "{err}");
    }
    // A known group: check says whom the socket serves.
    let mut app = app;
    app.mail = app.mail.replace("no-such-group-veille", READERS.0);
    app.write_config();
    let (out, _) = expect_as(&app, MEMBER, &["check"], 0);
    assert!(
        out.contains("control socket: also for group users (read-only queries)"),
        "{out}"
    );
}
