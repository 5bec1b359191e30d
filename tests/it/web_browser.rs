//! The web window in a real browser (Debian's headless Chromium): the overview, a
//! watchlist's page and a dossier's page as rendered, checked in the DOM Chromium built
//! (title, the timeline's steps and dates, links), each kept as a screenshot under
//! `target/web-screenshots/` (phone width).

use std::path::PathBuf;

use crate::support::browser::{dump_dom, headless};
use crate::support::http::free_port;
use crate::web::{installed, Running, WATCHLIST};

fn screenshot(url: &str, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let file = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&file);
    let profile = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = headless(profile.path())
        .args(["--hide-scrollbars", "--window-size=412,1800"])
        .arg(format!("--screenshot={}", file.display()))
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("running chromium: {e}"));
    assert!(
        out.status.success(),
        "chromium --screenshot failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png =
        std::fs::read(&file).unwrap_or_else(|e| panic!("no screenshot {}: {e}", file.display()));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "{} is not a picture",
        file.display()
    );
    file
}

/// The text of the first `<title>` of a DOM.
fn title_of(dom: &str) -> String {
    dom.split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn web_pages_render_in_a_real_browser_with_the_timeline_drawn() {
    let port = free_port();
    let app = installed(&format!("[server]\nlisten = \"127.0.0.1:{port}\"\n"));
    let web = Running::start(&app, port);

    let home = dump_dom(&web.url("/"));
    assert_eq!(title_of(&home), "veille");
    assert!(home.contains("<h1>Watchlists</h1>"), "{home}");
    assert!(home.contains("href=\"/watchlists/waste\""), "{home}");
    assert!(home.contains("All 4 sources are working."), "{home}");
    assert!(!home.contains("<script"), "{home}");
    screenshot(&web.url("/"), "overview");

    let wl = dump_dom(&web.url(&format!("/watchlists/{WATCHLIST}")));
    assert_eq!(
        title_of(&wl),
        "Waste &amp; plastics &lt;b&gt;bold&lt;/b&gt;"
    );
    assert!(wl.contains("In the next digest: 1 event"), "{wl}");
    assert!(wl.contains("href=\"/dossiers/2018-0172-COD\""), "{wl}");
    assert!(!wl.contains("<script") && !wl.contains("<img"), "{wl}");
    screenshot(&web.url(&format!("/watchlists/{WATCHLIST}")), "watchlist");

    // Loaded by another spelling: Chromium follows the redirect to the canonical page.
    let d = dump_dom(&web.url("/dossiers/2018_172"));
    assert!(
        title_of(&d).starts_with("2018/0172(COD)"),
        "{}",
        title_of(&d)
    );
    assert!(d.contains("<svg class=\"timeline\""), "{d}");
    for (stage, date) in [
        ("proposal", "28 May 2018"),
        ("signed", "5 Jun 2019"),
        ("published", "12 Jun 2019"),
    ] {
        let step = d
            .split(&format!("data-stage=\"{stage}\""))
            .nth(1)
            .and_then(|s| s.split("</g>").next())
            .unwrap_or_else(|| panic!("no {stage} step in the picture: {d}"));
        assert!(step.contains(date), "{stage}: {date} in {step}");
        assert!(
            d.contains(&format!("class=\"step reached\" data-stage=\"{stage}\"")),
            "{stage} reached: {d}"
        );
    }
    assert!(d.contains("href=\"/watchlists/waste\""), "{d}");
    screenshot(&web.url("/dossiers/2018-0172-COD"), "dossier");
    drop(web);
}
