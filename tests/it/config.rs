//! The shipped `config.toml` loads, and documents every key the program knows.

use std::collections::BTreeSet;
use std::path::Path;

use veille::config::{Config, RawConfig};

fn repo(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn shipped_config_loads_and_uses_the_file_outbox() {
    let c = Config::from_str(
        &repo("config.toml"),
        &std::fs::read_to_string(repo("config.toml")).unwrap_or_default(),
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.timezone, veille::tz::Tz::brussels());
    assert_eq!(c.digest.max_events, veille::config::DEFAULT_MAX_EVENTS);
    assert!(matches!(
        c.mail.transport,
        veille::mail::Transport::File { .. }
    ));
    let kinds: BTreeSet<&str> = c.sources.iter().map(|s| s.kind.as_str()).collect();
    assert!(
        kinds.contains("ep-api") && kinds.contains("cellar") && kinds.contains("feed"),
        "{kinds:?}"
    );
    for s in &c.sources {
        assert_eq!(
            s.url.scheme(),
            "https",
            "{} polls the real source over https",
            s.id
        );
        assert!(
            !s.url.host_str().unwrap_or_default().contains("example"),
            "{} polls a real host",
            s.id
        );
    }
}

fn key_paths(v: &toml::Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(p.clone());
                key_paths(v, &p, out);
            }
        }
        toml::Value::Array(a) => {
            for v in a {
                key_paths(v, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// Every key of a fully populated configuration appears in the shipped `config.toml`,
/// either set or as a commented-out setting (`#key = value`, no space after `#`).
#[test]
fn every_config_key_is_documented_in_config_toml() {
    let text = std::fs::read_to_string(repo("config.toml")).unwrap_or_default();
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| !c.is_whitespace()) => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let shipped: toml::Value = toml::from_str(&uncommented).unwrap_or_else(|e| panic!("{e}"));
    let mut have = BTreeSet::new();
    key_paths(&shipped, "", &mut have);

    let full: RawConfig = toml::from_str(&uncommented).unwrap_or_else(|e| panic!("{e}"));
    let mut full = full;
    // Populate every optional field so that its key is serialised.
    let s = &mut full.storage;
    s.cache_capacity.get_or_insert_with(|| "1MiB".into());
    s.retention.get_or_insert_with(|| "1d".into());
    let h = &mut full.http;
    h.connect_timeout.get_or_insert_with(|| "1s".into());
    h.per_host_concurrency.get_or_insert(1);
    h.concurrency.get_or_insert(1);
    h.max_redirects.get_or_insert(1);
    h.ca_file.get_or_insert_with(|| "ca.pem".into());
    h.tls_roots.get_or_insert_with(|| "bundled".into());
    h.proxy.get_or_insert_with(|| "none".into());
    let smtp = full
        .mail
        .smtp
        .as_mut()
        .unwrap_or_else(|| panic!("[mail.smtp] is documented"));
    smtp.username.get_or_insert_with(|| "u".into());
    smtp.timeout.get_or_insert_with(|| "1s".into());
    smtp.ca_file.get_or_insert_with(|| "ca.pem".into());
    smtp.tls_roots.get_or_insert_with(|| "bundled".into());
    let d = full
        .digest
        .as_mut()
        .unwrap_or_else(|| panic!("[digest] is documented"));
    d.send_empty.get_or_insert(false);
    d.upcoming.get_or_insert_with(|| "1d".into());
    d.backfill.get_or_insert_with(|| "1d".into());
    d.retry_max.get_or_insert_with(|| "1d".into());
    d.max_events.get_or_insert(1);
    d.reminders.get_or_insert_with(|| vec!["1 month".into()]);
    assert!(full.server.is_some(), "[server] is documented");
    assert!(full.ical.is_some(), "[ical] is documented");
    for src in &mut full.sources {
        src.timeout.get_or_insert_with(|| "1s".into());
        src.refresh.get_or_insert_with(|| "1d".into());
    }
    let mut want = BTreeSet::new();
    key_paths(
        &toml::Value::try_from(&full).unwrap_or_else(|e| panic!("{e}")),
        "",
        &mut want,
    );
    // Optional per-source keys need only appear on one source.
    let have_any: BTreeSet<String> = have.iter().map(|k| k.to_string()).collect();
    let missing: Vec<&String> = want.iter().filter(|k| !have_any.contains(*k)).collect();
    let sources_missing: Vec<&&String> = missing
        .iter()
        .filter(|k| !k.starts_with("sources[]"))
        .collect();
    assert!(
        sources_missing.is_empty(),
        "keys missing from config.toml: {sources_missing:?}"
    );
    for k in [
        "sources[].timeout",
        "sources[].refresh",
        "sources[].id",
        "sources[].kind",
        "sources[].url",
        "sources[].every",
    ] {
        assert!(have.contains(k), "no source in config.toml shows {k}");
    }
}

/// The shipped `config.toml` shows the storage defaults: leaving a key out changes nothing.
#[test]
fn the_shipped_storage_settings_are_the_defaults() {
    let text = std::fs::read_to_string(repo("config.toml")).unwrap_or_default();
    let load =
        |t: &str| Config::from_str(&repo("config.toml"), t, None).unwrap_or_else(|e| panic!("{e}"));
    let shipped = load(&text);
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("cache_capacity") && !l.starts_with("retention"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(without, text);
    let defaults = load(&without);
    assert_eq!(defaults.storage.cache_capacity, 8 * 1024 * 1024);
    assert_eq!(
        defaults.storage.cache_capacity,
        shipped.storage.cache_capacity
    );
    assert_eq!(defaults.storage.retention, shipped.storage.retention);
}

/// A digest message must carry at least one event: `max_events = 0` is refused by name.
#[test]
fn a_digest_cap_of_zero_events_is_an_error() {
    let text = std::fs::read_to_string(repo("config.toml"))
        .unwrap_or_default()
        .replace("max_events = 1000", "max_events = 0");
    let err = Config::from_str(&repo("config.toml"), &text, None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("digest.max_events") && err.contains("at least 1"),
        "{err}"
    );
}
