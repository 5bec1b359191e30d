//! The real EU payloads captured from the institutions' services, kept byte for byte in
//! `tests/fixtures/captured` (provenance in its `SOURCES.md`), our own small fixtures in
//! `tests/fixtures`, and golden files under `tests/golden`, rewritten when `VEILLE_BLESS=1`.
//! A missing fixture fails the test that reads it: nothing is skipped.

use std::path::{Path, PathBuf};

/// The folder of the captured payloads, inside the repository.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captured")
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
