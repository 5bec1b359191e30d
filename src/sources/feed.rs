//! Any RSS 0.9x/1.0/2.0, Atom or JSON Feed, through feed-rs: one `Observation::Item` per
//! entry, in feed order, with plain-text titles and summaries, a stable identity and the
//! publication time when the feed gives one (in any of the date spellings European feeds
//! use, see [`parse_date`]).
//!
//! The shapes feed-rs misreads (RSS 1.0 items without a link, `<rss>` without a version,
//! Atom 0.3, …) are rewritten first by [`super::feed_shape`]. No item is dropped for what
//! it lacks: one without a link points to the feed's own page (its channel link); a body
//! that holds `<item>`/`<entry>` elements and yields no item is `ParseError::Layout`.
//!
//! Owns: encoding repair (a Latin-1/Windows-1252 feed without, or with a wrong, encoding
//! declaration is re-read with the HTTP charset; in a body read as UTF-8, a text run
//! with invalid sequences is read as Latin-1, or has them replaced by U+FFFD when it also
//! holds UTF-8, so that one bad byte loses no text), HTML-to-text for titles and summaries,
//! the identity rule (guid/id, else link, else a blake3 hash of title and link — never an
//! id feed-rs invented), link resolution.
//! Must not: do IO, read the clock (an undated item has `published: None`; the poller
//! stamps first-seen time), or accept an HTML page as a feed.

use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use encoding_rs::Encoding;
use regex::Regex;

use feed_rs::model::FeedType;
use feed_rs::parser::{ParseErrorKind, ParseFeedError};

use super::{feed_shape, looks_like_challenge, Input, ParseError};
use crate::model::{FeedItem, Observation};
use crate::text::PlainText;

/// Parse a feed body into one `Observation::Item` per entry, in feed order.
pub fn parse(input: &Input) -> Result<Vec<Observation>, ParseError> {
    let body = input.body;
    if looks_like_html(body) {
        return Err(html_error(body));
    }

    // A body read as UTF-8 that is not valid UTF-8 is repaired first: feed-rs drops the
    // whole text of an element with one invalid sequence (a title lost for one byte).
    if let Some(repaired) = repair_utf8(body, input.content_type) {
        return parse_bytes(&repaired, input)
            .map(|items| items.into_iter().map(Observation::Item).collect());
    }

    let first = parse_bytes(body, input);
    let badness = |r: &Result<Vec<FeedItem>, ParseError>| match r {
        Ok(items) => items.iter().map(mojibake_score).sum::<usize>(),
        Err(_) => usize::MAX,
    };
    let mut best = first;
    if badness(&best) > 0 {
        if let Some(encoding) = fallback_encoding(body, input.content_type) {
            let again = parse_bytes(&transcode(body, encoding), input);
            if badness(&again) < badness(&best) {
                best = again;
            }
        }
    }
    best.map(|items| items.into_iter().map(Observation::Item).collect())
}

/// One feed-rs pass over `bytes`.
fn parse_bytes(bytes: &[u8], input: &Input) -> Result<Vec<FeedItem>, ParseError> {
    let base = input.provenance.url.as_str();
    let parser = feed_rs::parser::Builder::new()
        // Leave missing ids empty, so that our own rule applies (feed-rs would invent one).
        .id_generator(|_, _, _| String::new())
        .timestamp_parser(parse_date)
        .sanitize_content(false)
        .build();
    // No base URI for feed-rs: it resolves xml:base only, and a relative link left over is
    // resolved below against the feed's own link (the site), else the URL fetched.
    // Shapes feed-rs misreads are rewritten first (feed_shape's doc lists them); an Atom
    // feed it refuses for a text construct's type is rewritten and read again.
    let reshaped = feed_shape::reshape(bytes, false);
    let source = reshaped.as_deref().unwrap_or(bytes);
    let feed = match (parser.parse(source), &reshaped) {
        (Ok(feed), _) => feed,
        // A rewrite feed-rs refuses: the body as it came, and its own error.
        (Err(_), Some(_)) => parser.parse(bytes).map_err(|e| parse_error(bytes, e))?,
        (Err(e), None) => {
            let retry = match &e {
                ParseFeedError::ParseError(ParseErrorKind::UnknownMimeType(_)) => {
                    feed_shape::reshape(bytes, true)
                }
                _ => None,
            };
            match retry {
                Some(again) => parser
                    .parse(again.as_slice())
                    .map_err(|e| parse_error(&again, e))?,
                None => return Err(parse_error(bytes, e)),
            }
        }
    };
    if feed.entries.is_empty() {
        if let Some(unread) = unread_items(bytes) {
            return Err(ParseError::Layout(unread));
        }
    }

    let site = feed
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .and_then(|l| url::Url::parse(&l.href).ok());
    let feed_base = site.clone().or_else(|| url::Url::parse(base).ok());
    let context = FeedContext {
        base: feed_base.as_ref(),
        site: site.as_ref().and_then(|s| absolute_http(s.as_str(), None)),
        atom: feed.feed_type == FeedType::Atom,
    };

    // Each entry is dropped as soon as it is made an item: a feed of 50,000 entries is
    // not held twice.
    Ok(feed
        .entries
        .into_iter()
        .map(|entry| to_item(&entry, &context))
        .collect())
}

/// What every item of one feed is read with.
struct FeedContext<'a> {
    /// What relative links resolve against: the feed's site, else the URL fetched.
    base: Option<&'a url::Url>,
    /// The feed's own page (its channel link), where an item without a link points.
    site: Option<String>,
    /// An Atom feed: a title of `type="text"` is text, whatever it holds.
    atom: bool,
}

/// A body that gave no entries although it holds elements named like items (`item`,
/// `entry`, any prefix): what the operator is told, `None` when it holds none.
fn unread_items(bytes: &[u8]) -> Option<String> {
    // A start tag `<item`, `<rss:item`: `<`, then a prefix and `:` if any, then the name.
    let opens_here = |i: usize| match i.checked_sub(1).map(|j| bytes[j]) {
        Some(b'<') => true,
        Some(b':') => {
            let prefix = bytes[..i - 1]
                .iter()
                .rev()
                .take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                .count();
            prefix > 0 && (i - 1).checked_sub(prefix + 1).map(|k| bytes[k]) == Some(b'<')
        }
        _ => false,
    };
    let count = |name: &[u8]| {
        memchr::memmem::find_iter(bytes, name)
            .filter(|&i| {
                let after = bytes.get(i + name.len());
                after.is_some_and(|b| b.is_ascii_whitespace() || matches!(b, b'>' | b'/'))
                    && opens_here(i)
            })
            .count()
    };
    let (items, entries) = (count(b"item"), count(b"entry"));
    let (n, name) = if items >= entries {
        (items, "item")
    } else {
        (entries, "entry")
    };
    (n > 0).then(|| format!("{n} <{name}> element(s), none read as a feed item"))
}

fn to_item(entry: &feed_rs::model::Entry, feed: &FeedContext<'_>) -> FeedItem {
    let base = feed.base;
    let title = entry
        .title
        .as_ref()
        .map(
            |t| match feed.atom && t.content_type.as_str() == "text/plain" {
                true => text_as_text(&t.content),
                false => plain_text(&t.content),
            },
        )
        .unwrap_or_default();
    let own_link = entry
        .links
        .iter()
        .filter(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .chain(entry.links.iter())
        .find_map(|l| absolute_http(&l.href, base));
    let summary = entry
        .summary
        .as_ref()
        .map(|s| s.content.as_str())
        .or_else(|| entry.content.as_ref().and_then(|c| c.body.as_deref()))
        .map(plain_text)
        .unwrap_or_default();
    let mut categories: Vec<String> = Vec::new();
    for c in &entry.categories {
        let text = plain_text(c.label.as_deref().unwrap_or(&c.term));
        if !text.is_empty() && !categories.contains(&text) {
            categories.push(text);
        }
    }
    let id = entry.id.trim();
    let key = if !id.is_empty() {
        id.to_string()
    } else if let Some(link) = &own_link {
        link.clone()
    } else {
        let raw_link = entry.links.first().map(|l| l.href.as_str()).unwrap_or("");
        let mut h = blake3::Hasher::new();
        h.update(title.as_bytes());
        h.update(b"\n");
        h.update(raw_link.trim().as_bytes());
        h.finalize().to_hex().to_string()
    };
    // An item without a link of its own (an RSS guid that is a permalink URL is one, see
    // feed_shape) points to the feed's page.
    let link = own_link.or_else(|| feed.site.clone());
    FeedItem {
        key,
        title,
        link,
        summary,
        published: entry.published.or(entry.updated),
        categories,
    }
}

/// `href` as an absolute http(s) URL, resolved against `base` when relative.
fn absolute_http(href: &str, base: Option<&url::Url>) -> Option<String> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    let url = match url::Url::parse(href) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => base?.join(href).ok()?,
        Err(_) => return None,
    };
    matches!(url.scheme(), "http" | "https").then(|| url.to_string())
}

fn parse_error(bytes: &[u8], e: ParseFeedError) -> ParseError {
    match e {
        ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot) => {
            if looks_like_challenge(bytes) {
                ParseError::Challenge
            } else {
                ParseError::Layout("no RSS, Atom or JSON Feed root element".to_string())
            }
        }
        ParseFeedError::ParseError(kind) => ParseError::Layout(kind.to_string()),
        ParseFeedError::JsonSerde(e) => ParseError::Syntax {
            format: "JSON",
            message: e.to_string(),
        },
        ParseFeedError::JsonUnsupportedVersion(v) => {
            ParseError::Layout(format!("unsupported JSON Feed version {v}"))
        }
        ParseFeedError::XmlReader(e) => ParseError::Syntax {
            format: "XML",
            message: e.to_string(),
        },
        ParseFeedError::IoError(e) => ParseError::Syntax {
            format: "XML",
            message: e.to_string(),
        },
    }
}

/// The body starts like an HTML document.
fn looks_like_html(body: &[u8]) -> bool {
    let head = &body[..body.len().min(1024)];
    let text = String::from_utf8_lossy(head);
    let text = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .to_ascii_lowercase();
    text.starts_with("<!doctype html") || text.starts_with("<html")
}

fn html_error(body: &[u8]) -> ParseError {
    if looks_like_challenge(body) {
        ParseError::Challenge
    } else {
        ParseError::Layout("an HTML page where a feed was expected".to_string())
    }
}

// ---------------------------------------------------------------------------------------
// Encodings

/// The encoding to try when the first pass failed or gave mojibake: the HTTP charset, else
/// Windows-1252 when the bytes are not UTF-8 at all.
fn fallback_encoding(body: &[u8], content_type: Option<&str>) -> Option<&'static Encoding> {
    http_charset(content_type).or_else(|| {
        std::str::from_utf8(body)
            .is_err()
            .then_some(encoding_rs::WINDOWS_1252)
    })
}

/// The encoding the HTTP `Content-Type` names (`charset=`), if any.
fn http_charset(content_type: Option<&str>) -> Option<&'static Encoding> {
    content_type?.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| Encoding::for_label(value.trim().trim_matches('"').as_bytes()))?
    })
}

/// Decode `body` with `encoding` and re-declare it as UTF-8.
fn transcode(body: &[u8], encoding: &'static Encoding) -> Vec<u8> {
    let (text, _, _) = encoding.decode(body);
    static DECL: OnceLock<Option<Regex>> = OnceLock::new();
    let decl = DECL
        .get_or_init(|| Regex::new(r#"^(\s*<\?xml[^>]*?\bencoding\s*=\s*)["'][^"']*["']"#).ok());
    match decl {
        Some(re) => re
            .replace(&text, r#"${1}"UTF-8""#)
            .into_owned()
            .into_bytes(),
        None => text.into_owned().into_bytes(),
    }
}

/// The encoding the XML declaration names, if it names one.
fn declared_encoding(body: &[u8]) -> Option<&'static Encoding> {
    static DECL: OnceLock<Option<Regex>> = OnceLock::new();
    let decl = DECL
        .get_or_init(|| Regex::new(r#"^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']"#).ok())
        .as_ref()?;
    let head = String::from_utf8_lossy(&body[..body.len().min(512)]);
    let label = decl.captures(head.trim_start_matches('\u{feff}'))?.get(1)?;
    Encoding::for_label(label.as_str().trim().as_bytes())
}

/// A body that will be read as UTF-8 (its XML declaration, else its HTTP charset, says
/// so, or neither names an encoding) but is not valid UTF-8, repaired text run by text
/// run (the bytes between two of `<` and `>`, which are ASCII in every encoding read
/// here): a run whose only non-ASCII bytes are the invalid ones is Latin-1 (read as
/// Windows-1252, as browsers do); in a run that also holds UTF-8, each invalid sequence
/// becomes U+FFFD. The rest of the body is kept byte for byte. `None` when there is
/// nothing to repair.
fn repair_utf8(body: &[u8], content_type: Option<&str>) -> Option<Vec<u8>> {
    let mut pos = match std::str::from_utf8(body) {
        Ok(_) => return None,
        Err(e) => e.valid_up_to(),
    };
    if body.starts_with(&[0xFE, 0xFF]) || body.starts_with(&[0xFF, 0xFE]) {
        return None; // UTF-16, which feed-rs reads by its byte order mark
    }
    let encoding = declared_encoding(body)
        .or_else(|| http_charset(content_type))
        .unwrap_or(encoding_rs::UTF_8);
    if encoding != encoding_rs::UTF_8 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() + body.len() / 8);
    let mut copied = 0;
    loop {
        let start =
            memchr::memrchr2(b'<', b'>', &body[copied..pos]).map_or(copied, |i| copied + i + 1);
        let end = memchr::memchr2(b'<', b'>', &body[pos..]).map_or(body.len(), |i| pos + i);
        out.extend_from_slice(&body[copied..start]);
        let run = &body[start..end];
        if run.utf8_chunks().all(|c| c.valid().is_ascii()) {
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(run);
            out.extend_from_slice(text.as_bytes());
        } else {
            out.extend_from_slice(String::from_utf8_lossy(run).as_bytes());
        }
        copied = end;
        match std::str::from_utf8(&body[end..]) {
            Ok(_) => break,
            Err(e) => pos = end + e.valid_up_to(),
        }
    }
    out.extend_from_slice(&body[copied..]);
    Some(out)
}

/// How much an item looks mis-decoded: replacement characters and UTF-8-read-as-Latin-1
/// sequences (`Ã©`).
fn mojibake_score(item: &FeedItem) -> usize {
    // On the bytes: U+FFFD is `EF BF BD`; `Ã` and `Â` are `C3 83` and `C3 82`, and a
    // character from U+0080 to U+00BF after them is `C2 80` to `C2 BF`.
    let score = |s: &str| {
        let b = s.as_bytes();
        memchr::memchr2_iter(0xC3, 0xEF, b)
            .filter(|&j| {
                let rest = &b[j..];
                rest.starts_with(&[0xEF, 0xBF, 0xBD])
                    || (rest.len() >= 4
                        && matches!(rest[..3], [0xC3, 0x82 | 0x83, 0xC2])
                        && (0x80..=0xBF).contains(&rest[3]))
            })
            .count()
    };
    score(&item.title) + score(&item.summary)
}

// ---------------------------------------------------------------------------------------
// Text

/// Text that is text (an Atom `type="text"` title): what looks like a tag is kept as
/// words (`History of the <blink> tag`); HTML entities are decoded all the same, since
/// a text title holding `&eacute;` or `&#8217;` is a producer's double escaping far more
/// often than a title about entities; control characters dropped, whitespace collapsed.
fn text_as_text(s: &str) -> String {
    let decoded = html_escape::decode_html_entities(s);
    let mut out = PlainText::with_capacity(decoded.len());
    for c in decoded.chars() {
        out.push(c);
    }
    out.finish()
}

/// HTML or text to plain text: tags stripped (script and style with their content), HTML
/// entities decoded, control characters dropped, whitespace collapsed.
pub fn plain_text(s: &str) -> String {
    let stripped = match s.contains('<') {
        true => std::borrow::Cow::Owned(strip_tags(s)),
        false => std::borrow::Cow::Borrowed(s),
    };
    let decoded = html_escape::decode_html_entities(&stripped);
    let mut out = PlainText::with_capacity(decoded.len());
    // Runs of printable ASCII other than the space (`!` to `~`) are copied whole; the
    // result is the same as `PlainText::push` on each character (a proptest checks).
    let bytes = decoded.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if matches!(b, b'!'..=b'~') {
            let end = bytes[i..]
                .iter()
                .position(|b| !matches!(b, b'!'..=b'~'))
                .map_or(bytes.len(), |p| i + p);
            out.push_run(&decoded[i..end]);
            i = end;
        } else if b.is_ascii() {
            out.push(char::from(b));
            i += 1;
        } else if let Some(c) = decoded[i..].chars().next() {
            out.push(c);
            i += c.len_utf8();
        }
    }
    out.finish()
}

const INLINE_TAGS: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "em", "font", "i", "kbd", "mark", "q",
    "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var", "wbr",
];

/// Remove tags; block-level tags become a space. Text that only looks like `a < b` stays.
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('<') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let starts_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
        if !starts_tag {
            out.push('<');
            rest = after;
            continue;
        }
        if let Some(comment) = after.strip_prefix("!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let Some(end) = after.find('>') else {
            // An unclosed tag: drop the rest.
            rest = "";
            break;
        };
        let tag = &after[..end];
        let bare = tag.trim_start_matches('/');
        let name = &bare[..bare
            .bytes()
            .position(|b| !b.is_ascii_alphanumeric())
            .unwrap_or(bare.len())];
        rest = &after[end + 1..];
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if (is("script") || is("style")) && !tag.starts_with('/') {
            let closing = format!("</{}", name.to_ascii_lowercase());
            let lower = rest.to_ascii_lowercase();
            rest = match lower.find(&closing) {
                Some(i) => rest[i..].find('>').map_or("", |j| &rest[i + j + 1..]),
                None => "",
            };
            out.push(' ');
            continue;
        }
        if !INLINE_TAGS.iter().any(|t| is(t)) {
            out.push(' ');
        }
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------
// Dates

/// Parse a feed date as European feeds write it: RFC 3339, RFC 2822 (also with French,
/// German, Italian or Spanish day and month names, and `CET`/`CEST`-style zone names),
/// `dd/mm/yyyy`, `dd.mm.yyyy` and `dd-mm-yyyy` with an optional `HH:MM[:SS]`, and
/// `3 mars 2025`, `3. März 2025`. A time without a zone is Brussels time; a date without a
/// time is midnight UTC. Day-first only: `03/15/2025` is refused, not guessed.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(s) {
        return Some(d.with_timezone(&Utc));
    }
    parse_date_tokens(s)
}

#[derive(Default)]
struct DateParts {
    day: Option<u32>,
    month: Option<u32>,
    year: Option<i32>,
    time: Option<NaiveTime>,
    offset: Option<FixedOffset>,
    pm: Option<bool>,
}

/// The run of ASCII digits at the start of `s`, if its length is within `len`.
fn digits(s: &str, len: std::ops::RangeInclusive<usize>) -> Option<(&str, &str)> {
    let n = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    len.contains(&n).then(|| s.split_at(n))
}

/// `s` without its first character if that is one of `seps`.
fn sep<'a>(s: &'a str, seps: &[u8]) -> Option<&'a str> {
    (s.bytes().next().is_some_and(|b| seps.contains(&b))).then(|| &s[1..])
}

/// `dd/mm/yyyy`, `dd.mm.yyyy`, `dd-mm-yyyy` (also two-digit years): day, month, year.
fn dmy_token(t: &str) -> Option<(&str, &str, &str)> {
    let (d, rest) = digits(t, 1..=2)?;
    let (m, rest) = digits(sep(rest, b"./-")?, 1..=2)?;
    let (y, rest) = digits(sep(rest, b"./-")?, 2..=4)?;
    (rest.is_empty() && y.len() != 3).then_some((d, m, y))
}

/// `yyyy-mm-dd`, `yyyy/mm/dd`, `yyyy.mm.dd`: year, month, day.
fn ymd_token(t: &str) -> Option<(&str, &str, &str)> {
    let (y, rest) = digits(t, 4..=4)?;
    let (m, rest) = digits(sep(rest, b"-/.")?, 1..=2)?;
    let (d, rest) = digits(sep(rest, b"-/.")?, 1..=2)?;
    rest.is_empty().then_some((y, m, d))
}

/// `HH:MM`, `HH:MM:SS`, `HH:MM:SS.fff` (or `,fff`), `14h30`, `14h`: hours, minutes and
/// seconds as written (absent ones `None`).
fn hms_token(t: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
    let (h, rest) = digits(t, 1..=2)?;
    if let Some(rest) = rest.strip_prefix('h') {
        return match rest {
            "" => Some((h, None, None)),
            _ => {
                let (m, rest) = digits(rest, 2..=2)?;
                rest.is_empty().then_some((h, Some(m), None))
            }
        };
    }
    let (m, rest) = digits(rest.strip_prefix(':')?, 2..=2)?;
    if rest.is_empty() {
        return Some((h, Some(m), None));
    }
    let (sec, rest) = digits(rest.strip_prefix(':')?, 2..=2)?;
    match sep(rest, b".,") {
        None if rest.is_empty() => Some((h, Some(m), Some(sec))),
        Some(fraction) if !fraction.is_empty() && fraction.bytes().all(|b| b.is_ascii_digit()) => {
            Some((h, Some(m), Some(sec)))
        }
        _ => None,
    }
}

/// `+0100`, `+01:00`, `-05`, `+1`: the sign, hours and minutes as written.
fn zone_token(t: &str) -> Option<(&str, &str, Option<&str>)> {
    let (sign, rest) = t.split_at_checked(1)?;
    if sign != "+" && sign != "-" {
        return None;
    }
    let (d, after) = digits(rest, 1..=4)?;
    if after.is_empty() {
        // Hours take one or two digits and minutes exactly two: `+100` is 1:00.
        return Some(match d.len() {
            1 | 2 => (sign, d, None),
            n => (sign, &d[..n - 2], Some(&d[n - 2..])),
        });
    }
    if d.len() > 2 {
        return None;
    }
    let (m, rest) = digits(after.strip_prefix(':')?, 2..=2)?;
    rest.is_empty().then_some((sign, d, Some(m)))
}

fn parse_date_tokens(s: &str) -> Option<DateTime<Utc>> {
    let spaced = split_glued_tokens(&s.to_lowercase());
    let mut reader = DateReader::default();
    for raw in spaced.split_whitespace() {
        let token = raw.trim_end_matches('.');
        if !token.is_empty() {
            reader.token(token)?;
        }
    }
    let mut parts = reader.parts;
    if parts.month.is_none() {
        parts.month = reader.ambiguous_month;
    }
    parts.to_utc()
}

/// Split `2025-03-03t10:00:00+01:00` and `10:00:00z` into separate tokens (`lower` is
/// lowercase); commas become spaces.
fn split_glued_tokens(lower: &str) -> String {
    let mut spaced = String::with_capacity(lower.len() + 8);
    let chars: Vec<char> = lower.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let prev_digit = i > 0 && chars[i - 1].is_ascii_digit();
        let next_digit = chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        match c {
            't' if prev_digit && next_digit => spaced.push(' '),
            '+' if prev_digit => {
                spaced.push(' ');
                spaced.push('+');
            }
            // `10:00:00-05:00`, but not the dashes of `2025-03-03` or `03-03-2025`.
            '-' if prev_digit && spaced.contains(':') && next_digit => {
                spaced.push(' ');
                spaced.push('-');
            }
            'z' if prev_digit && i + 1 == chars.len() => spaced.push_str(" z"),
            ',' => spaced.push(' '),
            _ => spaced.push(c),
        }
    }
    spaced
}

/// The tokens of a date read so far.
#[derive(Default)]
struct DateReader {
    parts: DateParts,
    /// A word that names both a month and a weekday, seen before any number: the month
    /// only if no other is named.
    ambiguous_month: Option<u32>,
    seen_number: bool,
}

impl DateReader {
    /// One token: `None` when it cannot be part of a date, so the text is not one.
    fn token(&mut self, token: &str) -> Option<()> {
        if self.numeric_date(token) {
            return Some(());
        }
        let parts = &mut self.parts;
        if parts.day.is_some() || parts.month.is_some() {
            if let Some((h, m, sec)) = hms_token(token) {
                let h: u32 = h.parse().ok()?;
                let m: u32 = m.map_or(Some(0), |m| m.parse().ok())?;
                let sec: u32 = sec.map_or(Some(0), |s| s.parse().ok())?;
                parts.time = Some(NaiveTime::from_hms_opt(h, m, sec.min(59))?);
                return Some(());
            }
            if parts.time.is_some() {
                if let Some((sign, h, m)) = zone_token(token) {
                    let sign = if sign == "-" { -1 } else { 1 };
                    let h: i32 = h.parse().ok()?;
                    let m: i32 = m.map_or(Some(0), |m| m.parse().ok())?;
                    parts.offset = Some(FixedOffset::east_opt(sign * (h * 3600 + m * 60))?);
                    return Some(());
                }
            }
        }
        if token.chars().all(|c| c.is_ascii_digit()) {
            return self.number(token);
        }
        // "1er mars"
        if let Some(d) = token.strip_suffix("er").filter(|d| d == &"1") {
            self.parts.day = d.parse().ok();
            self.seen_number = true;
            return Some(());
        }
        if let Some(offset) = zone_name(token) {
            self.parts.offset = Some(offset);
            return Some(());
        }
        self.word(token)
    }

    /// A whole date in one token: `dd/mm/yyyy` and the like, or `yyyy-mm-dd`.
    fn numeric_date(&mut self, token: &str) -> bool {
        let parts = &mut self.parts;
        if let Some((d, m, y)) = dmy_token(token) {
            parts.day = d.parse().ok();
            parts.month = m.parse().ok();
            parts.year = year(y);
        } else if let Some((y, m, d)) = ymd_token(token) {
            parts.year = y.parse().ok();
            parts.month = m.parse().ok();
            parts.day = d.parse().ok();
        } else {
            return false;
        }
        self.seen_number = true;
        true
    }

    /// A number alone: the day, then the year (four digits, or two after the month).
    fn number(&mut self, token: &str) -> Option<()> {
        let parts = &mut self.parts;
        self.seen_number = true;
        match token.len() {
            1 | 2 if parts.day.is_none() => parts.day = token.parse().ok(),
            4 if parts.year.is_none() => parts.year = token.parse().ok(),
            2 if parts.year.is_none() && parts.month.is_some() => parts.year = year(token),
            _ => return None,
        }
        Some(())
    }

    /// A word: a month or weekday name, am/pm, or a connecting word.
    fn word(&mut self, token: &str) -> Option<()> {
        let parts = &mut self.parts;
        match (month_name(token), is_weekday(token)) {
            (Some(m), true) if !self.seen_number && parts.month.is_none() => {
                self.ambiguous_month = Some(m)
            }
            (Some(m), _) => parts.month = Some(m),
            (None, true) => {}
            (None, false) => match token {
                "am" => parts.pm = Some(false),
                "pm" => parts.pm = Some(true),
                // Connecting words: "à", "um", "alle", "ore", "at", "de", "del", "le", "den".
                "à" | "a" | "um" | "alle" | "ore" | "at" | "de" | "del" | "le" | "den" | "h"
                | "uhr" | "-" | "|" => {}
                _ => return None,
            },
        }
        Some(())
    }
}

impl DateParts {
    /// The instant: a 12-hour time made 24-hour; a time without a zone is Brussels time,
    /// a date without a time is midnight (UTC unless a zone is given).
    fn to_utc(&self) -> Option<DateTime<Utc>> {
        let date = NaiveDate::from_ymd_opt(self.year?, self.month?, self.day?)?;
        let time = match (self.time, self.pm) {
            (Some(t), Some(pm)) => {
                use chrono::Timelike;
                let h = t.hour() % 12 + if pm { 12 } else { 0 };
                t.with_hour(h)
            }
            (t, _) => t,
        };
        match (time, self.offset) {
            (Some(t), Some(off)) => off
                .from_local_datetime(&NaiveDateTime::new(date, t))
                .single()
                .map(|d| d.with_timezone(&Utc)),
            (None, Some(off)) => off
                .from_local_datetime(&date.and_time(NaiveTime::MIN))
                .single()
                .map(|d| d.with_timezone(&Utc)),
            (Some(t), None) => crate::tz::Tz::brussels()
                .from_local_datetime(&NaiveDateTime::new(date, t))
                .earliest()
                .map(|d| d.with_timezone(&Utc)),
            (None, None) => Some(Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN))),
        }
    }
}

fn year(s: &str) -> Option<i32> {
    let y: i32 = s.parse().ok()?;
    Some(match s.len() {
        2 if y < 70 => 2000 + y,
        2 => 1900 + y,
        _ => y,
    })
}

fn zone_name(token: &str) -> Option<FixedOffset> {
    let hours = match token {
        "z" | "utc" | "gmt" | "ut" | "wet" => 0,
        "cet" | "mez" | "bst" | "west" => 1,
        "cest" | "mesz" | "eet" => 2,
        "eest" | "msk" => 3,
        "est" => -5,
        "edt" => -4,
        "cst" => -6,
        "cdt" => -5,
        "mst" => -7,
        "mdt" => -6,
        "pst" => -8,
        "pdt" => -7,
        _ => return None,
    };
    FixedOffset::east_opt(hours * 3600)
}

fn month_name(token: &str) -> Option<u32> {
    let m = match token {
        "jan" | "january" | "janvier" | "janv" | "januar" | "jänner" | "jän" | "gennaio"
        | "gen" | "enero" | "ene" => 1,
        "feb" | "february" | "février" | "fevrier" | "févr" | "fevr" | "fév" | "fev"
        | "februar" | "febbraio" | "febrero" => 2,
        "mar" | "march" | "mars" | "märz" | "maerz" | "mär" | "mrz" | "marzo" => 3,
        "apr" | "april" | "avril" | "avr" | "aprile" | "abril" | "abr" => 4,
        "may" | "mai" | "maggio" | "mag" | "mayo" => 5,
        "jun" | "june" | "juin" | "juni" | "giugno" | "giu" | "junio" => 6,
        "jul" | "july" | "juillet" | "juil" | "juli" | "luglio" | "lug" | "julio" => 7,
        "aug" | "august" | "août" | "aout" | "agosto" | "ago" => 8,
        "sep" | "sept" | "september" | "septembre" | "settembre" | "set" | "septiembre" => 9,
        "oct" | "october" | "octobre" | "okt" | "oktober" | "ottobre" | "ott" | "octubre" => 10,
        "nov" | "november" | "novembre" | "noviembre" => 11,
        "dec" | "december" | "décembre" | "decembre" | "déc" | "dez" | "dezember" | "dicembre"
        | "dic" | "diciembre" => 12,
        _ => return None,
    };
    Some(m)
}

fn is_weekday(token: &str) -> bool {
    matches!(
        token,
        "mon"
            | "tue"
            | "wed"
            | "thu"
            | "fri"
            | "sat"
            | "sun"
            | "monday"
            | "tuesday"
            | "wednesday"
            | "thursday"
            | "friday"
            | "saturday"
            | "sunday"
            | "lun"
            | "mar"
            | "mer"
            | "jeu"
            | "ven"
            | "sam"
            | "dim"
            | "lundi"
            | "mardi"
            | "mercredi"
            | "jeudi"
            | "vendredi"
            | "samedi"
            | "dimanche"
            | "mo"
            | "di"
            | "mi"
            | "do"
            | "fr"
            | "sa"
            | "so"
            | "montag"
            | "dienstag"
            | "mittwoch"
            | "donnerstag"
            | "freitag"
            | "samstag"
            | "sonntag"
            | "gio"
            | "sab"
            | "dom"
            | "lunedì"
            | "martedì"
            | "mercoledì"
            | "giovedì"
            | "venerdì"
            | "sabato"
            | "domenica"
            | "lunedi"
            | "martedi"
            | "mercoledi"
            | "giovedi"
            | "venerdi"
            | "mié"
            | "mie"
            | "jue"
            | "vie"
            | "lunes"
            | "martes"
            | "miércoles"
            | "jueves"
            | "viernes"
            | "sábado"
            | "domingo"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn dates() {
        for (input, expected) in [
            ("mer, 16 nov 2022 00:38:15 +0100", "2022-11-15T23:38:15Z"),
            ("Mon, 03 Mar 2025 10:00:00 CET", "2025-03-03T09:00:00Z"),
            ("Mon, 07 Jul 2025 10:00:00 CEST", "2025-07-07T08:00:00Z"),
            ("03/03/2025", "2025-03-03T00:00:00Z"),
            ("03.03.2025 14:30", "2025-03-03T13:30:00Z"),
            ("3 mars 2025", "2025-03-03T00:00:00Z"),
            ("3. März 2025", "2025-03-03T00:00:00Z"),
            ("1er août 2025 à 14h30", "2025-08-01T12:30:00Z"),
            ("2022-12-17", "2022-12-17T00:00:00Z"),
            ("2025-03-03 10:00:00", "2025-03-03T09:00:00Z"),
            ("2025-03-03T10:00:00+01:00", "2025-03-03T09:00:00Z"),
            ("mar, 15 mar 2022 10:00:00 +0100", "2022-03-15T09:00:00Z"),
            ("Mar 15, 2022", "2022-03-15T00:00:00Z"),
        ] {
            assert_eq!(parse_date(input), Some(utc(expected)), "{input}");
        }
        for bad in ["", "soon", "03/15/2025", "32.01.2025", "mars 2025", "12"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn text() {
        assert_eq!(
            plain_text("<p>Caf&eacute;&nbsp;cr&#232;me</p><p>x &lt; y</p>"),
            "Café crème x < y"
        );
        assert_eq!(plain_text("a < b and <b>bold</b>\u{7}"), "a < b and bold");
        assert_eq!(
            plain_text("<script>alert(1)</script>  Hello\n\tworld <!-- c -->"),
            "Hello world"
        );
        assert_eq!(
            plain_text("<P>Public <SPAN>procure</SPAN>ment</P><Style>p{}</STYLE>end"),
            "Public procurement end"
        );
        // A text title keeps what looks like a tag, and decodes entities.
        assert_eq!(
            text_as_text(" History of the <blink> tag:\n Caf&eacute; &amp; <b>\u{7}"),
            "History of the <blink> tag: Café & <b>"
        );
    }

    /// What `plain_text` does after tags and entities: `PlainText::push` on each
    /// character (the test text has neither `<` nor `&`).
    fn collapse_by_definition(text: &str) -> String {
        let mut out = crate::text::PlainText::default();
        for c in text.chars() {
            out.push(c);
        }
        out.finish()
    }

    /// What `mojibake_score` counts, character by character: replacement characters, and
    /// U+0080 to U+00BF right after `Ã` or `Â`.
    fn mojibake_by_definition(s: &str) -> usize {
        let mut n = 0;
        let mut prev = ' ';
        for c in s.chars() {
            if c == '\u{fffd}' || (matches!(prev, 'Ã' | 'Â') && ('\u{80}'..='\u{bf}').contains(&c))
            {
                n += 1;
            }
            prev = c;
        }
        n
    }

    #[test]
    fn mojibake_is_counted() {
        let item = |title: &str| FeedItem {
            key: String::new(),
            title: title.to_string(),
            link: None,
            summary: "RÃ©glement \u{fffd}".to_string(),
            published: None,
            categories: Vec::new(),
        };
        assert_eq!(mojibake_score(&item("Règlement")), 2);
        assert_eq!(mojibake_score(&item("MarchÃ©s publics, Ã©tat, Â°")), 5);
    }

    #[test]
    fn invalid_utf8_is_repaired_run_by_run() {
        let repaired =
            |body: &[u8], ct| repair_utf8(body, ct).map(|b| String::from_utf8(b).unwrap());
        assert_eq!(
            repaired(b"<t>New \xe9t\xe9 \x92x\x92</t><d>caf\xc3\xa9 \xe9t\xe9</d><e>\xc3\xa9</e>", None)
                .as_deref(),
            Some("<t>New \u{e9}t\u{e9} \u{2019}x\u{2019}</t><d>caf\u{e9} \u{fffd}t\u{fffd}</d><e>\u{e9}</e>")
        );
        let utf8 = Some("text/xml; charset=utf-8");
        assert_eq!(
            repaired(b"<?xml version='1.0' encoding='utf-8'?><t>\xe9</t>", utf8).as_deref(),
            Some("<?xml version='1.0' encoding='utf-8'?><t>\u{e9}</t>")
        );
        // Valid UTF-8, another encoding declared or sent, UTF-16: nothing to repair here.
        assert_eq!(repaired("<t>\u{e9}</t>".as_bytes(), None), None);
        assert_eq!(
            repaired(
                b"<?xml version=\"1.0\" encoding=\"ISO-8859-15\"?><t>\xa4</t>",
                utf8
            ),
            None
        );
        assert_eq!(
            repaired(b"<t>\xe9</t>", Some("text/xml; charset=windows-1250")),
            None
        );
        assert_eq!(repaired(b"\xff\xfe<\x00t\x00>\x00", None), None);
    }

    /// The date tokens' definitions, as regular expressions: what `dmy_token`, `ymd_token`,
    /// `hms_token` and `zone_token` recognise, and the groups they give.
    fn token_by_definition(re: &str, token: &str) -> Option<Vec<Option<String>>> {
        static COMPILED: std::sync::Mutex<Vec<(String, Regex)>> = std::sync::Mutex::new(Vec::new());
        let mut compiled = COMPILED.lock().unwrap();
        if !compiled.iter().any(|(r, _)| r == re) {
            compiled.push((re.to_string(), Regex::new(re).unwrap()));
        }
        let re = &compiled.iter().find(|(r, _)| r == re).unwrap().1;
        re.captures(token).map(|c| {
            c.iter()
                .skip(1)
                .map(|m| m.map(|m| m.as_str().to_string()))
                .collect()
        })
    }

    fn groups<const N: usize>(g: [Option<&str>; N]) -> Vec<Option<String>> {
        g.iter().map(|m| m.map(str::to_string)).collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn date_tokens_give_the_definition(token in "[0-9+:./,h-]{0,9}|[0-9]{1,4}[./-][0-9]{1,3}[./-][0-9]{1,5}|[+-][0-9]{1,5}(:[0-9]{1,3})?|[0-9]{1,3}(:[0-9]{1,3}(:[0-9]{1,3}([.,][0-9]{0,3})?)?|h[0-9]{0,3})") {
            proptest::prop_assert_eq!(
                dmy_token(&token).map(|(d, m, y)| groups([Some(d), Some(m), Some(y)])),
                token_by_definition(r"^([0-9]{1,2})[./-]([0-9]{1,2})[./-]([0-9]{4}|[0-9]{2})$", &token)
            );
            proptest::prop_assert_eq!(
                ymd_token(&token).map(|(y, m, d)| groups([Some(y), Some(m), Some(d)])),
                token_by_definition(r"^([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})$", &token)
            );
            // The definition gives the minutes of `14h30` in a fourth group.
            proptest::prop_assert_eq!(
                hms_token(&token).map(|(h, m, s)| groups([Some(h), m, s])),
                token_by_definition(
                    r"^([0-9]{1,2})(?::([0-9]{2})(?::([0-9]{2})(?:[.,][0-9]+)?)?|h([0-9]{2})?)$",
                    &token
                )
                .map(|g| vec![g[0].clone(), g[1].clone().or(g[3].clone()), g[2].clone()])
            );
            proptest::prop_assert_eq!(
                zone_token(&token).map(|(s, h, m)| groups([Some(s), Some(h), m])),
                token_by_definition(r"^([+-])([0-9]{1,2})(?::?([0-9]{2}))?$", &token)
            );
        }

        #[test]
        fn mojibake_on_bytes_gives_the_definition(
            text in "[a ÃÂé\u{80}\u{a9}\u{bf}\u{c0}\u{fffd}\u{fffe}\u{10fffd}]{0,24}"
        ) {
            let item = FeedItem {
                key: String::new(),
                title: text.clone(),
                link: None,
                summary: String::new(),
                published: None,
                categories: Vec::new(),
            };
            proptest::prop_assert_eq!(mojibake_score(&item), mojibake_by_definition(&text));
        }

        #[test]
        fn a_repaired_body_is_utf8_with_every_ascii_byte_kept(
            body in proptest::collection::vec(proptest::sample::select(
                b"<>a &;\xc3\xa9\xe9\x80\xbf\xf0\x9f\x98\x80\xff".to_vec()), 0..64)
        ) {
            if let Some(out) = repair_utf8(&body, None) {
                let text = String::from_utf8(out);
                proptest::prop_assert!(text.is_ok());
                let ascii = |b: &[u8]| b.iter().copied().filter(u8::is_ascii).collect::<Vec<u8>>();
                proptest::prop_assert_eq!(ascii(text.unwrap_or_default().as_bytes()), ascii(&body));
            } else {
                proptest::prop_assert!(std::str::from_utf8(&body).is_ok());
            }
        }

        #[test]
        fn the_ascii_runs_give_the_definition(
            text in "([ -%'-;=-~]{0,8}[ \t\n\u{b}\u{7}\u{feff}\u{200b}\u{a0}é—]{0,3}){0,8}"
        ) {
            proptest::prop_assert_eq!(plain_text(&text), collapse_by_definition(&text));
        }
    }
}
