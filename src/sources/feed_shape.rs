//! Feeds as the world writes them, reshaped into what feed-rs reads: the feed's format
//! from its root element ([`format_of`]), and one streaming rewrite of the XML
//! ([`reshape`]) for the shapes feed-rs 2.4 gets wrong.
//!
//! What is rewritten, and only when the feed needs it:
//! - RSS 1.0 and 0.90 (`rdf:RDF`) become RSS 2.0: the items go inside the channel, and
//!   the `rdf:about` of an item without a link becomes its `guid` (feed-rs drops an RSS
//!   1.0 item without a `<link>`, and ignores `rdf:about`);
//! - an RSS item without a link gets its guid as its link when the guid is a permalink
//!   (`isPermaLink` is not `false`) and a URL (RSS 1.0's `rdf:about` included);
//! - `<rss>` without a version, or with one feed-rs does not know (0.93, 0.94), is read as
//!   2.0; RSS in a namespace (UserLand's `http://backend.userland.com/rss2`, or prefixed
//!   RSS 1.0 elements) is written without it;
//! - in an RSS item without `<title>`, the first `dc:title`, else `media:title`, is the
//!   title; without `<pubDate>` or `dc:date`, the first `dcterms:issued`, `created` or
//!   `modified` is the date;
//! - Atom 0.3 becomes Atom 1.0: the namespace, `issued` → `published` (`created` when
//!   there is no `issued`), `modified` → `updated`, `tagline` → `subtitle`, `copyright`
//!   → `rights`, and `mode="escaped|base64|xml"` with a MIME `type` → a 1.0 `type`;
//! - Atom text constructs: inline XHTML is handed over as escaped HTML (feed-rs unescapes
//!   the text inside XHTML, so that `&lt;blink&gt;`, words, became a tag); a MIME type
//!   other than text, HTML or XML (`application/octet-stream`) is base64, decoded.
//!
//! Everything else passes byte for byte. Must not: do IO, or fail where feed-rs would
//! not: a body this module cannot read is handed to feed-rs as it came (`None`).

use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::{NsReader, Writer};

/// A feed's format, as its root element says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// `<rss version="0.91|0.92|0.93|0.94">`, and RSS 0.90 (`rdf:RDF` in Netscape's namespace).
    Rss09x,
    /// `rdf:RDF` in the RSS 1.0 namespace.
    Rss10,
    /// `<rss version="2.0">`, and `<rss>` with no or another version.
    Rss20,
    /// `<feed>` in `http://purl.org/atom/ns#`.
    Atom03,
    /// `<feed>` or `<entry>` in `http://www.w3.org/2005/Atom`.
    Atom10,
    /// A JSON body.
    Json,
    /// Anything else (no feed root).
    Other,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Rss09x => "RSS 0.9x",
            Format::Rss10 => "RSS 1.0",
            Format::Rss20 => "RSS 2.0",
            Format::Atom03 => "Atom 0.3",
            Format::Atom10 => "Atom 1.0",
            Format::Json => "JSON Feed",
            Format::Other => "other",
        }
    }
}

const USERLAND: &[u8] = b"http://backend.userland.com/rss2";
const RSS10: &[u8] = b"http://purl.org/rss/1.0/";
const RSS090: &[u8] = b"http://my.netscape.com/rdf/simple/0.9/";
const ATOM03: &[u8] = b"http://purl.org/atom/ns#";
const ATOM10: &str = "http://www.w3.org/2005/Atom";
const DC: &[u8] = b"http://purl.org/dc/elements/1.1/";
const DCTERMS: &[u8] = b"http://purl.org/dc/terms/";
const MEDIA: &[u8] = b"http://search.yahoo.com/mrss/";
const RDF: &[u8] = b"http://www.w3.org/1999/02/22-rdf-syntax-ns#";

/// The namespace of an element, as far as this module cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    /// No namespace, or one of RSS's own (UserLand's, 1.0, 0.90).
    Rss,
    Atom03,
    Atom10,
    Dc,
    DcTerms,
    Media,
    Rdf,
    Other,
}

fn classify(r: &ResolveResult) -> Ns {
    match r {
        ResolveResult::Unbound => Ns::Rss,
        ResolveResult::Bound(Namespace(ns)) => match *ns {
            USERLAND | RSS10 | RSS090 => Ns::Rss,
            ATOM03 => Ns::Atom03,
            DC => Ns::Dc,
            DCTERMS => Ns::DcTerms,
            MEDIA => Ns::Media,
            RDF => Ns::Rdf,
            ns if ns == ATOM10.as_bytes() => Ns::Atom10,
            _ => Ns::Other,
        },
        ResolveResult::Unknown(_) => Ns::Other,
    }
}

/// The root element: its namespace, local name, `version`, and whether it declares an RSS
/// namespace as the default one.
struct Root {
    ns: Ns,
    ns_uri: Vec<u8>,
    local: Vec<u8>,
    version: Option<String>,
    rss_default_ns: bool,
}

fn root(body: &[u8]) -> Option<Root> {
    let mut reader = NsReader::from_reader(body);
    loop {
        match reader.read_resolved_event().ok()? {
            (res, Event::Start(e) | Event::Empty(e)) => {
                let ns_uri = match &res {
                    ResolveResult::Bound(Namespace(ns)) => ns.to_vec(),
                    _ => Vec::new(),
                };
                let mut version = None;
                let mut rss_default_ns = false;
                for attr in e.attributes().flatten() {
                    match attr.key.as_ref() {
                        b"version" => version = attr.unescape_value().ok().map(|v| v.trim().into()),
                        b"xmlns" => {
                            rss_default_ns = matches!(&*attr.value, USERLAND | RSS10 | RSS090)
                        }
                        _ => {}
                    }
                }
                return Some(Root {
                    ns: classify(&res),
                    ns_uri,
                    local: e.local_name().as_ref().to_vec(),
                    version,
                    rss_default_ns,
                });
            }
            (_, Event::Eof) => return None,
            _ => {}
        }
    }
}

/// The format of a feed body, from its root element.
pub fn format_of(body: &[u8]) -> Format {
    let text = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    if text.trim_ascii_start().starts_with(b"{") {
        return Format::Json;
    }
    let Some(root) = root(body) else {
        return Format::Other;
    };
    match (root.local.as_slice(), root.ns) {
        (b"rss", Ns::Rss) => match root.version.as_deref() {
            Some(v) if v.starts_with("0.9") => Format::Rss09x,
            _ => Format::Rss20,
        },
        (b"RDF", _) if root.ns_uri == RDF || root.ns == Ns::Rss => {
            match memchr::memmem::find(body, RSS090) {
                Some(_) if memchr::memmem::find(body, RSS10).is_none() => Format::Rss09x,
                _ => Format::Rss10,
            }
        }
        (b"feed", Ns::Atom03) => Format::Atom03,
        (b"feed" | b"entry", Ns::Atom10) => Format::Atom10,
        _ => Format::Other,
    }
}

/// The body rewritten into a shape feed-rs reads (see the module's doc), or `None` when
/// it needs nothing, or cannot be read here. `force` asks for the rewrite of an Atom 1.0
/// feed feed-rs refused.
pub fn reshape(body: &[u8], force: bool) -> Option<Vec<u8>> {
    if body.starts_with(&[0xFE, 0xFF]) || body.starts_with(&[0xFF, 0xFE]) {
        return None; // UTF-16: feed-rs reads it by its byte order mark
    }
    let root = root(body)?;
    let has = |needle: &[u8]| memchr::memmem::find(body, needle).is_some();
    let kind = match (root.local.as_slice(), root.ns) {
        (b"RDF", _) if root.ns_uri == RDF || root.ns == Ns::Rss => Kind::Rss { rdf: true },
        (b"rss", Ns::Rss) => {
            let known = matches!(root.version.as_deref(), Some("0.91" | "0.92" | "2.0"));
            let plain = !root.rss_default_ns && !has(b":title") && !has(b"dcterms:");
            // An item without a link, which its guid may give: fewer links than items and
            // the channel.
            let count = |tag: &[u8]| {
                memchr::memmem::find_iter(body, tag)
                    .filter(|&i| matches!(body.get(i + tag.len()), Some(b'>' | b' ' | b'\n')))
                    .count()
            };
            let plain = plain && count(b"<link") > count(b"<item");
            if known && plain && !has(b"<!ENTITY") {
                return None;
            }
            Kind::Rss { rdf: false }
        }
        (b"feed", Ns::Atom03) => Kind::Atom,
        (b"feed" | b"entry", Ns::Atom10) if force || has(b"xhtml") || has(b"</link>") => Kind::Atom,
        (b"feed" | b"entry", Ns::Atom10) if has(b"<!ENTITY") => Kind::Atom,
        _ => return None,
    };
    let mut r = Reshaper {
        reader: NsReader::from_reader(body),
        out: Writer::new(Vec::with_capacity(body.len() + body.len() / 16)),
        kind,
        depth: 0,
        entities: Vec::new(),
    };
    r.run()?;
    Some(r.out.into_inner())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rss { rdf: bool },
    Atom,
}

/// One buffered event of an item or text construct, with its element's namespace.
struct Buffered {
    ns: Ns,
    ev: Event<'static>,
}

struct Reshaper<'a> {
    reader: NsReader<&'a [u8]>,
    out: Writer<Vec<u8>>,
    kind: Kind,
    /// Open elements of the input.
    depth: usize,
    /// The general entities the internal DTD subset declares: `&name;` and its text.
    entities: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Reshaper<'_> {
    fn run(&mut self) -> Option<()> {
        loop {
            let (res, ev) = self.reader.read_resolved_event().ok()?;
            let ns = classify(&res);
            match ev {
                Event::Eof => return Some(()),
                Event::Start(e) => self.start(ns, e, false)?,
                Event::Empty(e) => self.start(ns, e, true)?,
                Event::End(e) => {
                    self.depth = self.depth.checked_sub(1)?;
                    let local = e.local_name();
                    let rdf = self.kind == Kind::Rss { rdf: true };
                    if rdf && self.depth == 0 {
                        self.write_raw(b"</channel></rss>");
                    } else if rdf
                        && self.depth == 1
                        && ns == Ns::Rss
                        && local.as_ref() == b"channel"
                    {
                        // The RDF channel's children are the new channel's.
                    } else {
                        let name = self.element_name(ns, e.name().as_ref(), local.as_ref());
                        match name {
                            Some(n) => self.write(Event::End(BytesEnd::new(n))),
                            None => self.write(Event::End(e)),
                        }
                    }
                }
                Event::DocType(d) => {
                    self.entities = entities(&d);
                    self.write(Event::DocType(d));
                }
                other => self.write(other),
            }
        }
    }

    fn start(&mut self, ns: Ns, e: BytesStart<'_>, empty: bool) -> Option<()> {
        let local = e.local_name().as_ref().to_vec();
        let rdf = self.kind == Kind::Rss { rdf: true };
        if self.depth == 0 {
            self.root_start(ns, &e, empty);
            self.depth += usize::from(!empty);
            return Some(());
        }
        if rdf && ns == Ns::Rss && self.depth == 1 && local == b"channel" {
            self.depth += usize::from(!empty);
            return Some(());
        }
        if rdf && ns == Ns::Rss && self.depth == 2 && local == b"items" {
            if !empty {
                self.skip()?;
            }
            return Some(());
        }
        let item = match self.kind {
            Kind::Rss { .. } => ns == Ns::Rss && local == b"item",
            Kind::Atom => is_atom(ns) && local == b"entry",
        };
        let construct = self.kind == Kind::Atom
            && text_kind(ns, &local, &e, false).is_some_and(|k| k != TextKind::Keep);
        if item || construct {
            let about = item.then(|| self.rdf_about(&e)).flatten();
            let first = Buffered {
                ns,
                ev: if empty {
                    Event::Empty(e.into_owned())
                } else {
                    Event::Start(e.into_owned())
                },
            };
            let block = if empty {
                vec![first]
            } else {
                self.read_block(first)?
            };
            match item {
                true => self.write_item(block, about),
                false => self.write_construct(&block),
            }
            return Some(());
        }
        self.depth += usize::from(!empty);
        let renamed = self.renamed_start(ns, &e);
        let e = renamed.unwrap_or(e);
        self.write(if empty {
            Event::Empty(e)
        } else {
            Event::Start(e)
        });
        Some(())
    }

    /// The root element: `rdf:RDF` becomes `<rss version="2.0"><channel>`, an `<rss>` gets
    /// a version feed-rs knows.
    fn root_start(&mut self, ns: Ns, e: &BytesStart<'_>, empty: bool) {
        let Kind::Rss { rdf } = self.kind else {
            let renamed = self.renamed_start(ns, e);
            let e = renamed.unwrap_or_else(|| e.clone().into_owned());
            self.write(if empty {
                Event::Empty(e)
            } else {
                Event::Start(e)
            });
            return;
        };
        let mut root = BytesStart::new("rss");
        let mut version = None;
        for attr in e.attributes().flatten() {
            match attr.key.as_ref() {
                b"xmlns" if matches!(&*attr.value, USERLAND | RSS10 | RSS090) => {}
                b"version" => version = attr.unescape_value().ok().map(|v| v.trim().to_string()),
                _ => push_attr(&mut root, attr),
            }
        }
        let version = match version.as_deref() {
            Some(v @ ("0.91" | "0.92")) if !rdf => v.to_string(),
            _ => "2.0".to_string(),
        };
        root.push_attribute(("version", version.as_str()));
        match (rdf, empty) {
            (_, true) => self.write(Event::Empty(root)),
            (true, false) => {
                self.write(Event::Start(root));
                self.write_raw(b"<channel>");
            }
            (false, false) => self.write(Event::Start(root)),
        }
    }

    /// `rdf:about` of an RSS 1.0 item.
    fn rdf_about(&self, e: &BytesStart<'_>) -> Option<String> {
        e.attributes().flatten().find_map(|attr| {
            let (res, local) = self.reader.resolve_attribute(attr.key);
            (classify(&res) == Ns::Rdf && local.as_ref() == b"about")
                .then(|| attr.unescape_value().ok().map(|v| v.trim().to_string()))
                .flatten()
                .filter(|v| !v.is_empty())
        })
    }

    /// Skip the rest of an element whose start was just read.
    fn skip(&mut self) -> Option<()> {
        let mut depth = 1usize;
        while depth > 0 {
            match self.reader.read_event().ok()? {
                Event::Start(_) => depth += 1,
                Event::End(_) => depth -= 1,
                Event::Eof => return None,
                _ => {}
            }
        }
        Some(())
    }

    /// The events of an element whose start is `first`, through its end.
    fn read_block(&mut self, first: Buffered) -> Option<Vec<Buffered>> {
        let mut block = vec![first];
        let mut depth = 1usize;
        while depth > 0 {
            let (res, ev) = self.reader.read_resolved_event().ok()?;
            match ev {
                Event::Start(_) => depth += 1,
                Event::End(_) => depth -= 1,
                Event::Eof => return None,
                _ => {}
            }
            block.push(Buffered {
                ns: classify(&res),
                ev: ev.into_owned(),
            });
        }
        Some(block)
    }

    /// An RSS item or Atom entry (its events from start to end): fallbacks for a missing
    /// title or date, `rdf:about` as the guid, text constructs rewritten.
    fn write_item(&mut self, block: Vec<Buffered>, about: Option<String>) {
        if let (
            Some(about),
            [Buffered {
                ev: Event::Empty(e),
                ns,
            }],
        ) = (&about, block.as_slice())
        {
            // `<item rdf:about="…"/>`: an item with its guid only.
            let start = self
                .renamed_start(*ns, e)
                .unwrap_or_else(|| e.clone().into_owned());
            let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
            self.write(Event::Start(start));
            self.write_tail(&block, Some(about));
            self.write(Event::End(BytesEnd::new(name)));
            return;
        }
        let renames = self.item_renames(&block);
        let mut depth = 0usize;
        let mut i = 0;
        let last = block.len() - 1;
        while i < block.len() {
            let b = &block[i];
            if depth == 1 && self.kind == Kind::Atom {
                if let (Event::Start(e), true) = (&b.ev, is_atom(b.ns)) {
                    let href = e.attributes().flatten().any(|a| a.key.as_ref() == b"href");
                    if e.local_name().as_ref() == b"link" && !href {
                        // `<link rel="alternate">URL</link>`: the URL is its href.
                        let end = matching_end(&block, i);
                        let mut link = self.renamed_start(b.ns, e).unwrap_or_else(|| e.clone());
                        link.push_attribute(("href", text_of(&block[i + 1..end]).trim()));
                        self.write(Event::Empty(link));
                        i = end + 1;
                        continue;
                    }
                }
                if let Event::Start(e) | Event::Empty(e) = &b.ev {
                    let empty = matches!(b.ev, Event::Empty(_));
                    if text_kind(b.ns, e.local_name().as_ref(), e, empty)
                        .is_some_and(|k| k != TextKind::Keep)
                    {
                        let end = if empty { i } else { matching_end(&block, i) };
                        self.write_construct(&block[i..=end]);
                        i = end + 1;
                        continue;
                    }
                }
            }
            if i == last && i > 0 && matches!(self.kind, Kind::Rss { .. }) {
                self.write_tail(&block, about.as_deref());
            }
            let rename = renames.iter().find(|(j, _)| *j == i).map(|(_, n)| *n);
            match (&b.ev, rename) {
                (Event::Start(e), Some(n)) => {
                    self.write(Event::Start(renamed_with_attrs(n, e)));
                }
                (Event::Empty(e), Some(n)) => {
                    self.write(Event::Empty(renamed_with_attrs(n, e)));
                }
                (Event::End(_), Some(n)) => self.write(Event::End(BytesEnd::new(n))),
                (Event::Start(e) | Event::Empty(e), None) => {
                    let ev = match self.renamed_start(b.ns, e) {
                        Some(r) if matches!(b.ev, Event::Start(_)) => Event::Start(r),
                        Some(r) => Event::Empty(r),
                        None => b.ev.clone(),
                    };
                    self.write(ev);
                }
                (Event::End(e), None) => {
                    let local = e.local_name();
                    let ev = match self.element_name(b.ns, e.name().as_ref(), local.as_ref()) {
                        Some(n) => Event::End(BytesEnd::new(n)),
                        None => b.ev.clone(),
                    };
                    self.write(ev);
                }
                (ev, _) => self.write(ev.clone()),
            }
            match b.ev {
                Event::Start(_) => depth += 1,
                Event::End(_) => depth = depth.saturating_sub(1),
                _ => {}
            }
            i += 1;
        }
    }

    /// What an RSS item gets before its end: `rdf:about` as its guid when it has neither
    /// guid nor link, and its guid as its link when it has none and the guid is a
    /// permalink URL.
    fn write_tail(&mut self, block: &[Buffered], about: Option<&str>) {
        let mut permalink = None;
        let (mut has_link, mut has_guid) = (false, false);
        for (i, ns, local) in direct_children(block) {
            let (Ns::Rss, Event::Start(e)) = (ns, &block[i].ev) else {
                continue;
            };
            let text = text_of(&block[i + 1..matching_end(block, i)]);
            match local {
                b"link" => has_link |= !text.trim().is_empty(),
                b"guid" => {
                    has_guid = true;
                    let not_permalink = e.attributes().flatten().any(|a| {
                        a.key.as_ref() == b"isPermaLink"
                            && a.value.trim_ascii().eq_ignore_ascii_case(b"false")
                    });
                    if !not_permalink {
                        permalink = Some(text.trim().to_string());
                    }
                }
                _ => {}
            }
        }
        // Only for an item without a link: one with a link keeps it as its identity, as
        // before RSS 1.0 was reshaped.
        let guid = (!has_guid && !has_link).then_some(about).flatten();
        if let Some(guid) = guid {
            self.write_element("guid", guid);
        }
        let link = permalink.as_deref().or(guid);
        if let Some(link) = link.filter(|l| l.starts_with("http://") || l.starts_with("https://")) {
            if !has_link {
                self.write_element("link", link);
            }
        }
    }

    fn write_element(&mut self, name: &str, text: &str) {
        self.write(Event::Start(BytesStart::new(name)));
        self.write(Event::Text(BytesText::new(text)));
        self.write(Event::End(BytesEnd::new(name)));
    }

    /// Which events of an item get another name: (index, new name) for the start and end
    /// of a fallback title or date, and of Atom 0.3's `created` standing for `issued`.
    fn item_renames(&self, block: &[Buffered]) -> Vec<(usize, &'static str)> {
        let children: Vec<(usize, Ns, Vec<u8>)> = direct_children(block)
            .map(|(i, ns, l)| (i, ns, l.to_vec()))
            .collect();
        let has = |ns: Ns, names: &[&[u8]]| {
            children
                .iter()
                .any(|(_, n, l)| *n == ns && names.contains(&l.as_slice()))
        };
        let first = |ns: Ns, name: &[u8]| {
            children
                .iter()
                .find(|(_, n, l)| *n == ns && l == name)
                .map(|(i, _, _)| *i)
        };
        let mut picks: Vec<(usize, &'static str)> = Vec::new();
        match self.kind {
            Kind::Rss { .. } => {
                if !has(Ns::Rss, &[b"title"]) {
                    if let Some(i) = first(Ns::Dc, b"title").or(first(Ns::Media, b"title")) {
                        picks.push((i, "title"));
                    }
                }
                if !has(Ns::Rss, &[b"pubDate"]) && !has(Ns::Dc, &[b"date"]) {
                    let date = first(Ns::DcTerms, b"issued")
                        .or(first(Ns::DcTerms, b"created"))
                        .or(first(Ns::DcTerms, b"modified"));
                    if let Some(i) = date {
                        picks.push((i, "pubDate"));
                    }
                }
            }
            Kind::Atom => {
                // Every `created`: the last one wins, as a repeated `issued` would.
                if !has(Ns::Atom03, &[b"issued"]) {
                    picks.extend(
                        children
                            .iter()
                            .filter(|(_, n, l)| *n == Ns::Atom03 && l == b"created")
                            .map(|(i, _, _)| (*i, "published")),
                    );
                }
            }
        }
        let mut renames = Vec::new();
        for (i, name) in picks {
            renames.push((i, name));
            if matches!(block[i].ev, Event::Start(_)) {
                renames.push((matching_end(block, i), name));
            }
        }
        renames
    }

    /// An Atom text construct (title, subtitle, summary, rights, content) from start to
    /// end, with a `type` feed-rs reads.
    fn write_construct(&mut self, block: &[Buffered]) {
        let (ns, start) = match &block[0] {
            Buffered {
                ns,
                ev: Event::Start(e) | Event::Empty(e),
            } => (*ns, e),
            _ => return,
        };
        let empty = matches!(block[0].ev, Event::Empty(_));
        let local = start.local_name().as_ref().to_vec();
        let kind = text_kind(ns, &local, start, empty).unwrap_or(TextKind::Keep);
        let name = self
            .element_name(ns, start.name().as_ref(), &local)
            .unwrap_or_else(|| String::from_utf8_lossy(start.name().as_ref()).into_owned());
        let mut e = BytesStart::new(name.clone());
        for attr in start.attributes().flatten() {
            match attr.key.as_ref() {
                b"type" | b"mode" if kind != TextKind::Keep => {}
                _ => push_xmlns_attr(&mut e, attr),
            }
        }
        let inner = if block.len() >= 2 {
            &block[1..block.len() - 1]
        } else {
            &[][..]
        };
        let (type_, text): (Option<&str>, Option<String>) = match kind {
            TextKind::Keep => (None, None),
            TextKind::Plain => (Some("text"), None),
            TextKind::Html => (Some("html"), None),
            TextKind::Markup => (Some("html"), Some(serialise(inner))),
            TextKind::Base64 { html } => match base64(&text_of(inner)) {
                Some(decoded) => (Some(if html { "html" } else { "text" }), Some(decoded)),
                None => (Some("text"), None),
            },
        };
        if let Some(t) = type_ {
            e.push_attribute(("type", t));
        }
        if empty {
            self.write(Event::Empty(e));
            return;
        }
        self.write(Event::Start(e));
        match text {
            Some(t) => self.write(Event::Text(BytesText::new(&t))),
            None => {
                for b in inner {
                    self.write(b.ev.clone());
                }
            }
        }
        self.write(Event::End(BytesEnd::new(name)));
    }

    /// An element's start with its name and namespace declarations rewritten, or `None`
    /// when it is written as it came.
    fn renamed_start(&self, ns: Ns, e: &BytesStart<'_>) -> Option<BytesStart<'static>> {
        let local = e.local_name();
        let name = self.element_name(ns, e.name().as_ref(), local.as_ref());
        let rewrites_attr = e.attributes().flatten().any(|a| self.drops_or_maps(&a));
        if name.is_none() && !rewrites_attr {
            return None;
        }
        let name = name.unwrap_or_else(|| String::from_utf8_lossy(e.name().as_ref()).into_owned());
        let mut out = BytesStart::new(name);
        for attr in e.attributes().flatten() {
            match self.kind {
                Kind::Rss { .. } if self.drops_or_maps(&attr) => {}
                _ => push_xmlns_attr(&mut out, attr),
            }
        }
        Some(out)
    }

    /// An RSS namespace declared as the default (dropped), or Atom 0.3's (mapped to 1.0).
    fn drops_or_maps(&self, attr: &Attribute<'_>) -> bool {
        let key = attr.key.as_ref();
        let decl = key == b"xmlns" || key.starts_with(b"xmlns:");
        match self.kind {
            Kind::Rss { .. } => {
                key == b"xmlns" && matches!(&*attr.value, USERLAND | RSS10 | RSS090)
            }
            Kind::Atom => decl && &*attr.value == ATOM03,
        }
    }

    /// The name an element is written with, when it differs: RSS elements without a
    /// prefix, Atom 0.3's names as Atom 1.0's.
    fn element_name(&self, ns: Ns, qname: &[u8], local: &[u8]) -> Option<String> {
        match (self.kind, ns) {
            (Kind::Rss { .. }, Ns::Rss) => {
                (qname != local).then(|| String::from_utf8_lossy(local).into_owned())
            }
            (Kind::Atom, Ns::Atom03) => {
                let new = match local {
                    b"issued" => "published",
                    b"modified" => "updated",
                    b"tagline" => "subtitle",
                    b"copyright" => "rights",
                    _ => return None,
                };
                let prefix = &qname[..qname.len() - local.len()];
                Some(format!("{}{new}", String::from_utf8_lossy(prefix)))
            }
            _ => None,
        }
    }

    fn write(&mut self, ev: Event<'_>) {
        if let Event::Text(t) = &ev {
            if !self.entities.is_empty() && t.contains(&b'&') {
                let mut text = t.to_vec();
                for (name, value) in &self.entities {
                    text = replace(&text, name, value);
                }
                self.write_raw(&text);
                return;
            }
        }
        // Writing into a Vec cannot fail.
        let _ = self.out.write_event(ev);
    }

    fn write_raw(&mut self, bytes: &[u8]) {
        self.out.get_mut().extend_from_slice(bytes);
    }
}

fn is_atom(ns: Ns) -> bool {
    matches!(ns, Ns::Atom03 | Ns::Atom10)
}

/// How an Atom text construct's content is handed to feed-rs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextKind {
    /// As it is.
    Keep,
    /// `type="text"`, content as it is.
    Plain,
    /// `type="html"`, content as it is (escaped HTML).
    Html,
    /// Inline markup, handed over as escaped HTML.
    Markup,
    /// Base64, decoded; HTML or text.
    Base64 { html: bool },
}

/// How the Atom element `local` is rewritten, `None` when it is not a text construct.
fn text_kind(ns: Ns, local: &[u8], e: &BytesStart<'_>, empty: bool) -> Option<TextKind> {
    let attr = |name: &[u8]| {
        e.attributes()
            .flatten()
            .find(|a| a.key.as_ref() == name)
            .and_then(|a| {
                a.unescape_value()
                    .ok()
                    .map(|v| v.trim().to_ascii_lowercase())
            })
    };
    if empty {
        return None;
    }
    match ns {
        Ns::Atom10 => {
            if !matches!(
                local,
                b"title" | b"subtitle" | b"summary" | b"rights" | b"content"
            ) {
                return None;
            }
            let kind = match attr(b"type").as_deref() {
                None | Some("text" | "html" | "text/html") => TextKind::Keep,
                Some("xhtml") => TextKind::Markup,
                Some(_) if local == b"content" => TextKind::Keep,
                Some(t) if t.starts_with("text/") => TextKind::Plain,
                Some(t) if t.ends_with("xml") => TextKind::Markup,
                Some(_) => TextKind::Base64 { html: true },
            };
            Some(kind)
        }
        Ns::Atom03 => {
            if !matches!(
                local,
                b"title" | b"tagline" | b"summary" | b"copyright" | b"content" | b"info"
            ) {
                return None;
            }
            let mime = attr(b"type").unwrap_or_else(|| "text/plain".to_string());
            let html = mime.contains("html");
            let kind = match attr(b"mode").as_deref() {
                Some("base64") => TextKind::Base64 {
                    html: html || mime != "text/plain",
                },
                Some("escaped") if html => TextKind::Html,
                Some("escaped") => TextKind::Plain,
                _ if mime == "text/plain" => TextKind::Plain,
                _ => TextKind::Markup,
            };
            Some(kind)
        }
        _ => None,
    }
}

/// The direct children of the element `block` holds: (index, namespace, local name).
fn direct_children(block: &[Buffered]) -> impl Iterator<Item = (usize, Ns, &[u8])> {
    let mut depth = 0usize;
    block.iter().enumerate().filter_map(move |(i, b)| {
        let at = depth;
        match &b.ev {
            Event::Start(e) => {
                depth += 1;
                (at == 1).then(|| (i, b.ns, local_of(e)))
            }
            Event::Empty(e) => (at == 1).then(|| (i, b.ns, local_of(e))),
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                None
            }
            _ => None,
        }
    })
}

fn local_of<'e>(e: &'e BytesStart<'_>) -> &'e [u8] {
    let name = e.name().0;
    match memchr::memchr(b':', name) {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// The index of the end of the element that starts at `start`.
fn matching_end(block: &[Buffered], start: usize) -> usize {
    let mut depth = 0usize;
    for (i, b) in block.iter().enumerate().skip(start) {
        match b.ev {
            Event::Start(_) => depth += 1,
            Event::End(_) => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    block.len() - 1
}

/// Inline markup as the text of escaped HTML.
fn serialise(inner: &[Buffered]) -> String {
    let mut w = Writer::new(Vec::new());
    for b in inner {
        let _ = w.write_event(b.ev.clone());
    }
    String::from_utf8_lossy(&w.into_inner()).into_owned()
}

/// The text content of some events (text unescaped, CDATA as it is).
fn text_of(inner: &[Buffered]) -> String {
    let mut s = String::new();
    for b in inner {
        match &b.ev {
            Event::Text(t) => match t.unescape() {
                Ok(u) => s.push_str(&u),
                Err(_) => s.push_str(&String::from_utf8_lossy(t)),
            },
            Event::CData(c) => s.push_str(&String::from_utf8_lossy(c)),
            _ => {}
        }
    }
    s
}

/// A new start tag named `name` with the attributes of `e`.
fn renamed_with_attrs(name: &str, e: &BytesStart<'_>) -> BytesStart<'static> {
    let mut out = BytesStart::new(name.to_string());
    for attr in e.attributes().flatten() {
        push_attr(&mut out, attr);
    }
    out
}

/// An attribute, with Atom 0.3's namespace declared as Atom 1.0's.
fn push_xmlns_attr(e: &mut BytesStart<'_>, attr: Attribute<'_>) {
    let key = attr.key.as_ref();
    if (key == b"xmlns" || key.starts_with(b"xmlns:")) && &*attr.value == ATOM03 {
        let key = String::from_utf8_lossy(key).into_owned();
        e.push_attribute((key.as_str(), ATOM10));
    } else {
        push_attr(e, attr);
    }
}

/// An attribute copied: re-escaped when its value reads as text, else byte for byte.
fn push_attr(e: &mut BytesStart<'_>, attr: Attribute<'_>) {
    match (
        std::str::from_utf8(attr.key.as_ref()),
        attr.unescape_value(),
    ) {
        (Ok(key), Ok(value)) => e.push_attribute((key, &*value)),
        _ => e.push_attribute(attr),
    }
}

/// The general entities an internal DTD subset declares with a literal value
/// (`<!ENTITY id "tag:example.com,">`): `&id;` and its replacement text. Expanded once,
/// so no declaration can multiply text (parameter and external entities are left).
fn entities(doctype: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for at in memchr::memmem::find_iter(doctype, b"<!ENTITY") {
        let rest = doctype[at + 8..].trim_ascii_start();
        let name_len = rest
            .iter()
            .position(|b| b.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let (name, rest) = rest.split_at(name_len);
        let rest = rest.trim_ascii_start();
        let Some((&quote @ (b'"' | b'\''), value)) = rest.split_first() else {
            continue;
        };
        let Some(end) = memchr::memchr(quote, value) else {
            continue;
        };
        if name.is_empty() || name.starts_with(b"%") {
            continue;
        }
        let mut reference = b"&".to_vec();
        reference.extend_from_slice(name);
        reference.push(b';');
        out.push((reference, value[..end].to_vec()));
    }
    out
}

/// `haystack` with every `needle` replaced by `with`.
fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut last = 0;
    for at in memchr::memmem::find_iter(haystack, needle) {
        out.extend_from_slice(&haystack[last..at]);
        out.extend_from_slice(with);
        last = at + needle.len();
    }
    out.extend_from_slice(&haystack[last..]);
    out
}

/// Decode base64 (standard alphabet, whitespace ignored, padding optional) into UTF-8
/// text; `None` when it is not base64 or not text.
fn base64(text: &str) -> Option<String> {
    let mut bits = 0u32;
    let mut n = 0u32;
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            c if c.is_ascii_whitespace() => continue,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reshaped(xml: &str) -> String {
        String::from_utf8(reshape(xml.as_bytes(), false).expect("reshaped")).unwrap()
    }

    /// Whether quick-xml reads `body` to its end without an error.
    fn well_formed(body: &[u8]) -> bool {
        let mut reader = quick_xml::Reader::from_reader(body);
        loop {
            match reader.read_event() {
                Ok(Event::Eof) => return true,
                Err(_) => return false,
                Ok(_) => {}
            }
        }
    }

    const SKELETONS: [&str; 4] = [
        r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><items/></channel><item rdf:about="a&amp;b">TAIL</item></rdf:RDF>"#,
        r#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry><title mode="base64">TAIL</title><content type="text/html">TAIL</content><link rel="alternate">TAIL</link><created>x</created></entry></feed>"#,
        r#"<rss xmlns="http://backend.userland.com/rss2" xmlns:media="http://search.yahoo.com/mrss/"><channel><item><guid>http://x/TAIL</guid><media:title>TAIL</media:title></item></channel></rss>"#,
        r#"<!DOCTYPE feed [<!ENTITY e "TAIL">]><feed xmlns="http://www.w3.org/2005/Atom"><entry><title type="xhtml"><div>TAIL &e;</div></title><summary type="application/octet-stream">TAIL</summary></entry></feed>"#,
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Reshaping never panics, and a well-formed body stays well-formed.
        #[test]
        fn reshaping_keeps_bodies_well_formed(
            tail in "([a-z:=\"' /#&;<>+]|<b>|</b>|<dc:title>|</dc:title>|&amp;|&lt;){0,12}",
            which in 0..4usize,
        ) {
            let body = SKELETONS[which].replace("TAIL", &tail);
            if let Some(out) = reshape(body.as_bytes(), true) {
                if well_formed(body.as_bytes()) {
                    proptest::prop_assert!(
                        well_formed(&out),
                        "{body}\n→ {}",
                        String::from_utf8_lossy(&out)
                    );
                }
            }
        }
    }

    #[test]
    fn base64_decodes() {
        assert_eq!(
            base64(" RXhhbXBsZSA8Yj5BdG9tPC9iPg==\n").as_deref(),
            Some("Example <b>Atom</b>")
        );
        assert_eq!(base64("not base64!"), None);
    }

    #[test]
    fn rdf_becomes_rss_2() {
        let out = reshaped(
            r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><channel rdf:about="x"><title>T</title><items><rdf:Seq><rdf:li resource="a"/></rdf:Seq></items></channel><item rdf:about="http://example.org/1"><title>A</title><link>L</link></item><item rdf:about="http://example.org/2"/></rdf:RDF>"#,
        );
        assert_eq!(
            out,
            r#"<rss xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" version="2.0"><channel><title>T</title><item rdf:about="http://example.org/1"><title>A</title><link>L</link></item><item rdf:about="http://example.org/2"><guid>http://example.org/2</guid><link>http://example.org/2</link></item></channel></rss>"#
        );
    }

    #[test]
    fn fallback_title_and_date() {
        let out = reshaped(
            r#"<rss xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"><channel><item><dc:title>D</dc:title><dcterms:modified>2003-12-31T10:14:55Z</dcterms:modified></item><item><title>T</title><dc:title>D</dc:title></item></channel></rss>"#,
        );
        assert!(out.contains(r#"version="2.0""#), "{out}");
        assert!(
            out.contains("<item><title>D</title><pubDate>2003-12-31T10:14:55Z</pubDate></item>"),
            "{out}"
        );
        assert!(
            out.contains("<item><title>T</title><dc:title>D</dc:title></item>"),
            "{out}"
        );
    }

    #[test]
    fn atom_03_becomes_atom_1() {
        let out = reshaped(
            r#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry><title mode="escaped" type="text/html">A &amp;lt;b&amp;gt;</title><created>2003-12-31T10:14:55Z</created><modified>2004-01-01T00:00:00Z</modified><content mode="base64" type="text/html">PGI+eDwvYj4=</content></entry></feed>"#,
        );
        assert_eq!(
            out,
            r#"<feed version="0.3" xmlns="http://www.w3.org/2005/Atom"><entry><title type="html">A &amp;lt;b&amp;gt;</title><published>2003-12-31T10:14:55Z</published><updated>2004-01-01T00:00:00Z</updated><content type="html">&lt;b&gt;x&lt;/b&gt;</content></entry></feed>"#
        );
    }
}
