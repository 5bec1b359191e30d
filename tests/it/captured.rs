//! The captured payloads are the bytes their sources served: each file listed in
//! `tests/fixtures/captured/MANIFEST.sha256` (the hashes of `SOURCES.md`) is present and
//! unchanged, and no file is there without provenance.

use sha2::{Digest, Sha256};

use crate::support::fixtures;

#[test]
fn every_capture_is_present_unchanged_and_documented() {
    let manifest = std::fs::read_to_string(fixtures::root().join("MANIFEST.sha256"))
        .unwrap_or_else(|e| panic!("{e}"));
    let sources = std::fs::read_to_string(fixtures::root().join("SOURCES.md"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut listed = Vec::new();
    for line in manifest.lines() {
        let (hash, rel) = line
            .split_once("  ")
            .unwrap_or_else(|| panic!("bad manifest line {line:?}"));
        let bytes = fixtures::read(rel);
        let actual = format!("{:x}", Sha256::digest(&bytes));
        assert_eq!(
            actual, hash,
            "{rel} is not the captured file (line endings?)"
        );
        assert!(
            sources.contains(&format!("`{rel}`")),
            "{rel} has no entry in SOURCES.md"
        );
        assert!(
            sources.contains(hash),
            "SOURCES.md does not give {rel}'s hash"
        );
        listed.push(rel.to_string());
    }
    let mut on_disk = Vec::new();
    for dir in [
        "oeil",
        "ep-api",
        "ep-press",
        "eurlex-cellar-notice",
        "eurlex-procedure-html",
        "eurlex-webservice",
        "generic-rss",
    ] {
        on_disk.extend(fixtures::list(dir));
    }
    listed.sort();
    on_disk.sort();
    assert_eq!(
        listed, on_disk,
        "files without provenance, or listed but missing"
    );
    // Not vacuous: the four kinds of capture, CRLF files among them.
    assert!(listed.len() >= 25, "{listed:?}");
    let crlf = listed
        .iter()
        .filter(|rel| fixtures::read(rel).windows(2).any(|w| w == b"\r\n"))
        .count();
    assert!(crlf >= 2, "the CRLF captures lost their line endings");
}
