//! The Atom 1.0 feed of a watchlist (RFC 4287): its matched events, pending or sent,
//! newest first, each with a stable id (`urn:veille:event:…`), the time veille recorded
//! it, a link to its source (`http(s)` only) and to its dossier's page.
//!
//! Must not: read anything but the store and the watchlist; every text is cleaned of
//! control characters and escaped here.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use super::pages::{dossier_url, path_segment};
use super::WebContext;
use crate::digest::safe_link;
use crate::model::Language;
use crate::store::StoreError;
use crate::watchlist::Watchlist;

/// The most entries a feed carries.
const MAX_ENTRIES: usize = 200;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in crate::text::one_line(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Not allowed in XML 1.0 (`one_line` already turned the other controls into
            // spaces).
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The feed's XML.
pub(super) fn feed(
    ctx: &WebContext,
    w: &Watchlist,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let events = super::search::matched_events(&ctx.store, Some(&w.id))?;
    let base = ctx.base_url();
    let page = format!("{base}/watchlists/{}", path_segment(&w.id));
    let updated = events.iter().map(|(t, _)| *t).max().unwrap_or(now);
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = writeln!(x, "<id>urn:veille:watchlist:{}</id>", esc(&w.id));
    let _ = writeln!(x, "<title>{}</title>", esc(&format!("veille: {}", w.name)));
    let _ = writeln!(x, "<updated>{}</updated>", stamp(updated));
    let _ = writeln!(
        x,
        "<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
        esc(&page)
    );
    let _ = writeln!(x, "<author><name>veille</name></author>");
    let _ = writeln!(x, "<generator>veille</generator>");
    for (recorded, e) in events.iter().take(MAX_ENTRIES) {
        x.push_str("<entry>\n");
        let _ = writeln!(x, "<id>urn:veille:event:{}</id>", e.id.to_hex());
        let _ = writeln!(x, "<title>{}</title>", esc(&e.title));
        let _ = writeln!(x, "<updated>{}</updated>", stamp(*recorded));
        let _ = writeln!(
            x,
            "<published>{}</published>",
            stamp(
                e.date
                    .and_hms_opt(0, 0, 0)
                    .map_or(*recorded, |d| d.and_utc())
            )
        );
        if let Some(url) = e.url.as_deref().and_then(safe_link) {
            let _ = writeln!(x, "<link rel=\"alternate\" href=\"{}\"/>", esc(&url));
        }
        if let Some(r) = &e.dossier {
            let _ = writeln!(
                x,
                "<link rel=\"related\" type=\"text/html\" title=\"{}\" href=\"{}\"/>",
                esc(&r.to_string()),
                esc(&format!("{base}{}", dossier_url(r)))
            );
        }
        if let Some(stage) = e.stage {
            let _ = writeln!(
                x,
                "<category term=\"{}\" label=\"{}\"/>",
                stage.as_str(),
                esc(stage.label(Language::En))
            );
        }
        let mut summary = String::new();
        if let Some(t) = &e.dossier_title {
            summary.push_str(t);
        }
        if !e.summary.is_empty() {
            if !summary.is_empty() {
                summary.push_str(" — ");
            }
            summary.push_str(&e.summary);
        }
        if !summary.is_empty() {
            let _ = writeln!(x, "<summary type=\"text\">{}</summary>", esc(&summary));
        }
        x.push_str("</entry>\n");
    }
    x.push_str("</feed>\n");
    Ok(x)
}
