//! The real EU payloads in `../shared/fixtures`, read in place (DESIGN.md section 6), and
//! golden files under `tests/golden`, rewritten when `VEILLE_BLESS=1`.

use std::path::{Path, PathBuf};

/// The corpus root: `$VEILLE_FIXTURES`, else `../shared/fixtures` beside the crate.
pub fn root() -> PathBuf {
    match std::env::var_os("VEILLE_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"),
    }
}

/// Whether the corpus is present; when it is not, say that the caller is skipped, or fail
/// when `VEILLE_REQUIRE_FIXTURES=1` (as in CI).
pub fn available(test: &str) -> bool {
    if root().is_dir() {
        return true;
    }
    if std::env::var("VEILLE_REQUIRE_FIXTURES").as_deref() == Ok("1") {
        panic!(
            "the fixture corpus is missing at {} (VEILLE_REQUIRE_FIXTURES=1)",
            root().display()
        );
    }
    eprintln!("skipped {test}: no fixture corpus at {}", root().display());
    false
}

/// The bytes of one fixture, e.g. `read("oeil/2024-0258-COD_new-design-es_page-available-2025-11-13.html")`.
pub fn read(rel: &str) -> Vec<u8> {
    let p = root().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading fixture {}: {e}", p.display()))
}

/// Every file in one fixture directory, sorted by name.
pub fn list(dir: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("listing fixtures {dir}: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| format!("{dir}/{}", e.file_name().to_string_lossy()))
        .collect();
    out.sort();
    out
}

/// One of our own small fixtures in `tests/fixtures`.
pub fn own(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// Compare `actual` with `tests/golden/{name}`; with `VEILLE_BLESS=1`, write it instead.
pub fn golden(name: &str, actual: &str) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var("VEILLE_BLESS").as_deref() == Ok("1") {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(&p, actual).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
        return;
    }
    let expected = std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "golden file {} missing ({e}); run with VEILLE_BLESS=1 to create it",
            p.display()
        )
    });
    if expected != actual {
        let diff_at = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from its golden file at line {}:\n  expected: {:?}\n  actual:   {:?}\nrun with VEILLE_BLESS=1 to accept",
            diff_at + 1,
            expected.lines().nth(diff_at),
            actual.lines().nth(diff_at)
        );
    }
}
