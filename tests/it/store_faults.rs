//! Store faults through the binary. A full disk is a real one: a 1 MiB tmpfs mounted on the
//! test's data folder (these tests run as root, as CI does; they fail, saying why, where mounting is refused), unmounted in
//! `Drop`. A damaged store is made by hand: its `db` truncated or deleted, its `blobs/`
//! deleted, after a poll.
//! - A store IO error is an error, never a hang: `veille poll` exits 1 within seconds,
//!   naming the device; below `storage.min_free` the step is skipped and reported.
//! - The daemon reports a store below the floor (`status` exits 1, /healthz 503 naming
//!   the store), keeps answering, resumes when space is back and obeys SIGTERM; a store
//!   that failed makes it exit 1 by itself, so that systemd restarts it.
//! - A store that holds less than its last flush recorded is moved aside as damaged and
//!   reported loudly; the next poll is a first poll.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::app::{Source, TestApp};
use crate::support::http::{free_port, http_get, Response, TestServer};

/// `n` items whose titles match the keyword "zebra" (or not), dated late November 2026.
fn feed(n: usize, matching: bool) -> Response {
    let word = if matching { "Zebra" } else { "Okapi" };
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>Big feed</title><link>https://example.org/</link><description>x</description>\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "<item><title>{word} crossing rules {i}</title><link>https://example.org/i{i}</link>\
             <guid isPermaLink=\"false\">item-{i}</guid>\
             <pubDate>Fri, 27 Nov 2026 09:00:00 GMT</pubDate></item>\n"
        ));
    }
    s.push_str("</channel></rss>\n");
    Response::ok(s).content_type("application/rss+xml")
}

/// An installation polling one feed of `n` items, with `storage.min_free` and extra TOML.
fn app(n: usize, matching: bool, min_free: &str, extra: &str) -> TestApp {
    let server = TestServer::start_background();
    server.route("/big.rss", feed(n, matching));
    let url = server.url("/big.rss");
    let app = TestApp::new(server, vec![Source::new("big", "feed", url)]);
    let config = std::fs::read_to_string(app.config_path()).unwrap_or_else(|e| panic!("{e}"));
    let config = config.replacen(
        "cache_capacity = \"8MiB\"\n",
        &format!("cache_capacity = \"8MiB\"\nmin_free = \"{min_free}\"\n"),
        1,
    );
    std::fs::write(app.config_path(), format!("{config}{extra}")).unwrap_or_else(|e| panic!("{e}"));
    app.add_watchlist(
        "w",
        "name = \"Zebras\"\nrecipients = [\"fg@example.org\"]\ndigest = \"daily\"\nkeywords = [\"zebra\"]\n",
    );
    app
}

/// A small tmpfs on the app's data folder, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mount it; fails the test, saying why, when this process may not mount.
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "cannot mount a tmpfs on {}: the full-disk tests need root (as CI runs them)",
            dir.display()
        );
        Tmpfs(dir.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remounting the tmpfs failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Run veille with a bound: (exit status, stdout, stderr, how long it took).
fn run_bounded(
    app: &TestApp,
    now: Option<&str>,
    args: &[&str],
) -> (ExitStatus, String, String, Duration) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_veille"));
    cmd.arg("--config").arg(app.config_path());
    if let Some(n) = now {
        cmd.args(["--now", n]);
    }
    let out = app.path(&format!("out-{}", std::process::id()));
    let err = app.path(&format!("err-{}", std::process::id()));
    let mut child = cmd
        .args(args)
        .env_remove("VEILLE_CONFIG")
        .env("RUST_LOG", "warn,sled=off")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap_or_else(|e| panic!("{e}")))
        .stderr(std::fs::File::create(&err).unwrap_or_else(|e| panic!("{e}")))
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let start = Instant::now();
    let st = wait_child(&mut child, Duration::from_secs(60)).unwrap_or_else(|| {
        panic!(
            "veille {args:?} hung (killed after 60 s)\n{}",
            std::fs::read_to_string(&err).unwrap_or_default()
        )
    });
    (
        st,
        std::fs::read_to_string(&out).unwrap_or_default(),
        std::fs::read_to_string(&err).unwrap_or_default(),
        start.elapsed(),
    )
}

fn wait_child(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
            return Some(st);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_full_disk_fails_a_poll_within_seconds_naming_the_device() {
    let app = app(5000, true, "0", "");
    let _fs = Tmpfs::mount(&app.path("data"), "1m");
    let (st, _, err, took) = run_bounded(&app, None, &["poll"]);
    assert_eq!(st.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(
        err.contains("no space left on the device holding") && err.contains("data/veille.sled"),
        "{err}"
    );
    // Nothing hangs afterwards either: the store opens (or says why it cannot).
    let (st, _, err, _) = run_bounded(&app, None, &["status"]);
    assert_ne!(st.code(), None, "{err}");
}

#[test]
fn below_min_free_a_poll_is_skipped_and_says_why() {
    let app = app(50, true, "4MiB", "");
    let _fs = Tmpfs::mount(&app.path("data"), "1m");
    let (st, out, err, _) = run_bounded(&app, None, &["poll"]);
    assert_eq!(st.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("no space left on the device holding")
            && err.contains("below storage.min_free (4.0 MiB)"),
        "{err}"
    );
    assert!(
        app.server.requests_to("/big.rss").is_empty(),
        "the poll ran"
    );
}

fn spawn_daemon(app: &TestApp) -> (Child, PathBuf) {
    let log = app.path("run.stderr");
    let child = Command::new(env!("CARGO_BIN_EXE_veille"))
        .arg("--config")
        .arg(app.config_path())
        .arg("run")
        .env_remove("VEILLE_CONFIG")
        .env("RUST_LOG", "info,sled=off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}")))
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    (child, log)
}

fn wait_for<T>(what: &str, log: &Path, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "gave up waiting for {what}\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_daemon_below_min_free_reports_keeps_answering_resumes_and_stops_on_sigterm() {
    let port = free_port();
    let app = app(
        500,
        true,
        "2MiB",
        &format!("[server]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let fs = Tmpfs::mount(&app.path("data"), "1m");
    let (mut child, log) = spawn_daemon(&app);
    let body = wait_for("/healthz 503", &log, || {
        let (code, body) = http_get(port, "/healthz")?;
        (code == 503).then_some(body)
    });
    assert!(
        body.contains("store: no space left on the device holding")
            && body.contains("data/veille.sled"),
        "{body}"
    );
    let (st, out, err, took) = run_bounded(&app, None, &["status"]);
    assert_eq!(st.code(), Some(1), "{out}{err}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(out.contains("daemon: running"), "{out}");
    assert!(
        out.contains("store: no space left on the device holding"),
        "{out}"
    );
    assert!(
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("poll step skipped"),
        "not in the log"
    );
    // Space is back: "poll now" through the daemon runs, and all is well again.
    fs.resize("16m");
    let (st, out, err, _) = run_bounded(&app, None, &["poll"]);
    assert_eq!(st.code(), Some(0), "{out}{err}");
    assert!(out.contains("500 new event(s)"), "{out}");
    let (st, out, err, _) = run_bounded(&app, None, &["status"]);
    assert_eq!(st.code(), Some(0), "{out}{err}");
    assert_eq!(http_get(port, "/healthz").map(|r| r.0), Some(200));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let st = wait_child(&mut child, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("SIGTERM not obeyed within 10 s"));
    assert_eq!(st.code(), Some(0));
}

#[test]
fn the_daemon_whose_store_failed_exits_1_to_be_restarted() {
    let app = app(5000, true, "0", "");
    let _fs = Tmpfs::mount(&app.path("data"), "1m");
    let (mut child, log) = spawn_daemon(&app);
    let st = wait_child(&mut child, Duration::from_secs(40)).unwrap_or_else(|| {
        panic!(
            "the daemon did not exit\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(st.code(), Some(1), "{log}");
    assert!(log.contains("THE STORE FAILED"), "{log}");
    assert!(
        log.contains("no space left on the device holding ") && log.contains("data/veille.sled"),
        "{log}"
    );
}

/// Poll once (at `now`), then damage the store with `damage`; the next command must say
/// loudly that the store lost what it held and move it aside.
fn damaged_after_a_poll(n: usize, matching: bool, damage: impl FnOnce(&Path)) -> TestApp {
    let app = app(n, matching, "0", "");
    let out = app.expect(Some("2026-11-30T09:00:00Z"), &["poll"], 0);
    assert!(out.contains(&format!("{n} new event(s)")), "{out}");
    damage(&app.path("data/veille.sled"));
    let (st, out, err, _) = run_bounded(&app, Some("2026-11-30T10:00:00Z"), &["status"]);
    assert_eq!(st.code(), Some(0), "{out}{err}");
    assert!(
        err.contains("WARNING: the database lost what it held"),
        "no warning:\n{out}{err}"
    );
    let aside: Vec<_> = std::fs::read_dir(app.path("data"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("veille.sled.damaged-20261130T100000"))
        .collect();
    assert!(!aside.is_empty(), "not moved aside");
    app
}

#[test]
fn a_truncated_store_is_moved_aside_as_damaged_and_the_next_poll_is_a_first_poll() {
    let app = damaged_after_a_poll(2000, true, |store| {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(store.join("db"))
            .unwrap_or_else(|e| panic!("{e}"));
        f.set_len(2046).unwrap_or_else(|e| panic!("{e}"));
    });
    // Months later: a first poll reports only what is within digest.backfill (30 days).
    let out = app.expect(Some("2027-03-01T09:00:00Z"), &["poll"], 0);
    assert!(out.contains(", 0 matched"), "{out}");
    // And the rebuilt store is checked from then on: opening again is quiet.
    let (st, _, err, _) = run_bounded(&app, Some("2027-03-01T10:00:00Z"), &["status"]);
    assert_eq!(st.code(), Some(0), "{err}");
    assert!(!err.contains("WARNING"), "{err}");
}

#[test]
fn a_deleted_store_file_is_reported_not_silently_replaced() {
    damaged_after_a_poll(2000, true, |store| {
        std::fs::remove_file(store.join("db")).unwrap_or_else(|e| panic!("{e}"));
    });
}

#[test]
fn a_deleted_blobs_folder_is_reported_not_silently_forgotten() {
    damaged_after_a_poll(5000, false, |store| {
        let blobs = store.join("blobs");
        let n = std::fs::read_dir(&blobs).map(|d| d.count()).unwrap_or(0);
        assert!(n > 0, "the feed's item list is not in a blob");
        std::fs::remove_dir_all(&blobs).unwrap_or_else(|e| panic!("{e}"));
    });
}
