//! A real browser for the tests that look at HTML as a reader would: Debian's `chromium`,
//! headless. When it is not installed and the tests run as root on Debian (as CI does),
//! it is installed with `apt-get` once, under a lock; otherwise the test fails saying how
//! to install it. Nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn works(browser: &Path) -> bool {
    Command::new(browser)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn find() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| works(p))
}

fn install() {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    assert!(
        is_root && Path::new("/usr/bin/apt-get").exists(),
        "this test needs Debian's chromium: run `apt-get install chromium` as root"
    );
    let _lock = super::smtp::DirLock::acquire(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("target/chromium-install.lock"),
    );
    if find().is_some() {
        return;
    }
    eprintln!("installing Debian's chromium for the browser tests (once)");
    for args in [
        &["update", "-qq"][..],
        &[
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "chromium",
        ][..],
    ] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .unwrap_or_else(|e| panic!("apt-get {args:?}: {e}"));
        assert!(status.success(), "apt-get {args:?} failed: {status}");
    }
}

/// The path of a working headless Chromium, installed on first use where possible.
pub fn chromium() -> PathBuf {
    static BROWSER: OnceLock<PathBuf> = OnceLock::new();
    BROWSER
        .get_or_init(|| {
            if find().is_none() {
                install();
            }
            find().unwrap_or_else(|| panic!("chromium is still missing after apt-get install"))
        })
        .clone()
}

/// Headless Chromium with the profile at `profile` and no traffic of its own (the machine
/// has no network beyond loopback); the caller adds what to do and the URL.
pub fn headless(profile: &Path) -> Command {
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// The DOM of `url` after Chromium loaded it (`--dump-dom`), with a fresh profile.
pub fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = headless(profile.path())
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("running chromium: {e}"));
    assert!(
        out.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
