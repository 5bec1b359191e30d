//! Inputs shared by the benches: the fixture corpus, a scaled-up feed, parsed dossiers,
//! and a deterministic stream of events.

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use veille::dossier::{self, DiffContext};
use veille::model::{Dossier, DossierEvent, Observation, Provenance};
use veille::sources::{self, Input};

/// The captured payloads, inside the repository (`tests/fixtures/captured`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captured")
}

pub fn read(rel: &str) -> Vec<u8> {
    let p = root().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading fixture {}: {e}", p.display()))
}

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 12, 22, 9, 0, 0)
        .single()
        .unwrap_or_default()
}

pub fn provenance(source: &str, url: &str) -> Provenance {
    Provenance {
        source: source.into(),
        url: url.into(),
        fetched_at: now(),
    }
}

/// A 1,000-item RSS 2.0 document made of the items of the UTF-8 RSS 2.0 fixtures, each copy
/// with its own guid and link (a real feed never repeats an id).
pub fn scaled_rss(items: usize) -> Vec<u8> {
    let item_re = regex::Regex::new(r"(?s)<item\b.*?</item>").unwrap_or_else(|e| panic!("{e}"));
    let guid_re =
        regex::Regex::new(r"(?s)(<guid\b[^>]*>)(.*?)(</guid>)").unwrap_or_else(|e| panic!("{e}"));
    let link_re =
        regex::Regex::new(r"(?s)(<link>)(.*?)(</link>)").unwrap_or_else(|e| panic!("{e}"));
    let mut blocks: Vec<String> = Vec::new();
    for f in [
        "generic-rss/rss_2.0_spiegel.xml",
        "generic-rss/rss_2.0_kdist.xml",
        "generic-rss/rss_2.0_ilmessaggero.xml",
    ] {
        let text = String::from_utf8_lossy(&read(f)).into_owned();
        blocks.extend(item_re.find_iter(&text).map(|m| m.as_str().to_string()));
    }
    // The ISO-8859-1 fixture, transcoded: its accented titles exercise normalisation.
    let latin = read("generic-rss/rss_2.0_encoding_1.xml");
    let (text, _, _) = encoding_rs::WINDOWS_1252.decode(&latin);
    blocks.extend(item_re.find_iter(&text).map(|m| m.as_str().to_string()));
    assert!(!blocks.is_empty(), "no <item> in the RSS 2.0 fixtures");

    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>bench</title><link>https://example.org/</link><description>scaled</description>\n",
    );
    for i in 0..items {
        let b = &blocks[i % blocks.len()];
        let b = guid_re.replace(b, |c: &regex::Captures| {
            format!("{}{}-{i}{}", &c[1], &c[2], &c[3])
        });
        let b = link_re.replace(&b, |c: &regex::Captures| {
            let sep = if c[2].contains('?') { "&amp;" } else { "?" };
            format!("{}{}{sep}n={i}{}", &c[1], c[2].trim(), &c[3])
        });
        out.push_str(&b);
        out.push('\n');
    }
    out.push_str("</channel></rss>\n");
    out.into_bytes()
}

/// Parse one fixture with one parser into its single dossier snapshot, merged.
pub fn dossier(
    rel: &str,
    source: &str,
    parse: sources::ParseFn,
    content_type: &str,
) -> Option<Dossier> {
    let body = read(rel);
    let prov = provenance(source, "https://example.org/");
    let input = Input {
        body: &body,
        content_type: Some(content_type),
        provenance: &prov,
    };
    let obs = parse(&input).ok()?;
    obs.into_iter().find_map(|o| match o {
        Observation::Dossier(s) => Some(dossier::merge(None, &s)),
        _ => None,
    })
}

/// Three real dossiers (OEIL, EP API, CELLAR) merged, with the events of first sight.
pub fn dossiers_and_steps() -> (Vec<Dossier>, Vec<DossierEvent>) {
    let list = [
        dossier(
            "oeil/2024-0258-COD_new-design-es_page-available-2025-11-13.html",
            "oeil",
            sources::oeil::parse,
            "text/html; charset=utf-8",
        ),
        dossier(
            "ep-api/procedure_2016-0132_COD.jsonld.json",
            "ep-api",
            sources::ep_api::parse,
            "application/ld+json",
        ),
        dossier(
            "eurlex-cellar-notice/procedure_2018_172_COD_tree-notice_single-use-plastics.xml",
            "cellar",
            sources::cellar::parse,
            "application/xml",
        ),
    ];
    let prov = provenance("bench", "https://example.org/");
    let mut dossiers = Vec::new();
    let mut events = Vec::new();
    for d in list.into_iter().flatten() {
        let ctx = DiffContext {
            now: now(),
            // Everything is news: the most events per dossier.
            backfill: std::time::Duration::from_secs(86_400 * 365 * 30),
            provenance: &prov,
        };
        events.extend(dossier::diff(None, &d, &ctx));
        dossiers.push(d);
    }
    (dossiers, events)
}

/// The feed items of the scaled feed as events.
pub fn item_events(n: usize) -> Vec<DossierEvent> {
    let body = scaled_rss(n);
    let prov = provenance("bench-feed", "https://example.org/feed.xml");
    let input = Input {
        body: &body,
        content_type: Some("application/rss+xml"),
        provenance: &prov,
    };
    let obs = sources::feed::parse(&input).unwrap_or_else(|e| panic!("scaled feed: {e}"));
    obs.iter()
        .filter_map(|o| match o {
            Observation::Item(i) => {
                Some(dossier::item_event(i, &prov, now(), Some("bench")).into_event())
            }
            _ => None,
        })
        .collect()
}

/// A tiny deterministic generator (no rand dependency).
#[derive(Debug)]
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() as usize) % xs.len()]
    }
}
