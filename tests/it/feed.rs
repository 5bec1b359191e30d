//! The generic feed source on the real feeds in `generic-rss/` (golden JSON under
//! `tests/golden/feed/`), encoding repair, identities, HTML pages, and `parse_date`.

use chrono::{DateTime, TimeZone, Utc};
use veille::model::{FeedItem, Observation, Provenance};
use veille::sources::feed::{parse, parse_date};
use veille::sources::{Input, ParseError};

use crate::support::fixtures;

fn provenance(url: &str) -> Provenance {
    Provenance {
        source: "test-feed".to_string(),
        url: url.to_string(),
        fetched_at: Utc.with_ymd_and_hms(2025, 3, 3, 12, 0, 0).unwrap(),
    }
}

fn items(body: &[u8], content_type: Option<&str>) -> Result<Vec<FeedItem>, ParseError> {
    let p = provenance("https://feeds.example.org/feed.xml");
    let input = Input {
        body,
        content_type,
        provenance: &p,
    };
    parse(&input).map(|obs| {
        obs.into_iter()
            .map(|o| match o {
                Observation::Item(item) => item,
                other => panic!("a feed gives items only, got {other:?}"),
            })
            .collect()
    })
}

#[test]
fn every_generic_feed_parses_or_fails_cleanly() {
    for path in fixtures::list("generic-rss") {
        let name = path.rsplit('/').next().unwrap().trim_end_matches(".xml");
        let body = fixtures::read(&path);
        let result = items(&body, None);
        if name == "rss_2.0_invalid_1" {
            assert!(
                matches!(result, Err(ParseError::Syntax { .. })),
                "{path}: {result:?}"
            );
            continue;
        }
        let first = result.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(!first.is_empty(), "{path}: no items");
        // Identities are stable across parses and unique within the feed.
        let second = items(&body, None).unwrap();
        assert_eq!(first, second, "{path}: two parses differ");
        let mut keys: Vec<&str> = first.iter().map(|i| i.key.as_str()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), first.len(), "{path}: duplicate keys");
        for item in &first {
            assert!(!item.key.trim().is_empty(), "{path}: empty key");
            if let Some(link) = &item.link {
                assert!(link.starts_with("http://") || link.starts_with("https://"));
            }
            for text in [&item.title, &item.summary] {
                assert!(
                    !text.contains('<') || !text.contains('>'),
                    "{path}: tags left in {text:?}"
                );
                assert!(
                    !text.contains("&eacute;") && !text.contains("&nbsp;") && !text.contains("&#"),
                    "{path}: entity left in {text:?}"
                );
                assert!(
                    !text.chars().any(char::is_control),
                    "{path}: control char in {text:?}"
                );
                assert_eq!(text.trim(), text.as_str());
            }
        }
        let json = serde_json::to_string_pretty(&first).unwrap() + "\n";
        fixtures::golden(&format!("feed/{name}.json"), &json);
    }
}

#[test]
fn iso_8859_1_feeds_keep_their_accents() {
    let tjrs = items(&fixtures::read("generic-rss/rss_0.91_encoding_2.xml"), None).unwrap();
    assert!(
        tjrs[0]
            .title
            .contains("Comitê completa 150 dias de atuação na prevenção"),
        "{:?}",
        tjrs[0].title
    );
    let dival = items(&fixtures::read("generic-rss/rss_0.91_missing_id.xml"), None).unwrap();
    assert!(dival[0].title.contains("TÉCNICO/A"), "{:?}", dival[0].title);
}

#[test]
fn italian_dates_are_parsed() {
    let items = items(
        &fixtures::read("generic-rss/rss_2.0_ilmessaggero.xml"),
        None,
    )
    .unwrap();
    // <pubDate>mer, 16 nov 2022 00:38:15 +0100</pubDate>
    assert_eq!(
        items[0].published,
        Some(Utc.with_ymd_and_hms(2022, 11, 15, 23, 38, 15).unwrap())
    );
    assert!(items.iter().all(|i| i.published.is_some()));
}

#[test]
fn missing_ids_fall_back_to_the_link_or_a_hash_and_undated_items_stay_undated() {
    // RSS 0.91 without guid, link or date: the key is the hash of title and (no) link;
    // the item links to the feed's own page.
    let dival = items(&fixtures::read("generic-rss/rss_0.91_missing_id.xml"), None).unwrap();
    let item = &dival[0];
    assert_eq!(item.link.as_deref(), Some("http://www.dival.es/personal"));
    assert_eq!(item.published, None);
    let expected = blake3::hash(format!("{}\n", item.title).as_bytes());
    assert_eq!(item.key, expected.to_hex().to_string());
    // RSS 0.91 without guid but with links: the key is the link.
    let tjrs = items(&fixtures::read("generic-rss/rss_0.91_encoding_2.xml"), None).unwrap();
    for item in &tjrs {
        assert!(item.link.is_some());
        assert_eq!(Some(&item.key), item.link.as_ref());
        assert_eq!(item.published, None);
    }
}

const LATIN1_RSS: &str = "<rss version=\"2.0\"><channel><title>Commune</title>\
<link>https://commune.example.fr/</link>\
<item><title>D\u{e9}lib\u{e9}ration du conseil &amp; arr\u{ea}t\u{e9}s</title>\
<link>/actes/42</link><description>&lt;p&gt;Ordre du jour&amp;nbsp;: budget&lt;/p&gt;</description>\
<pubDate>lun., 3 mars 2025 18:00:00 CET</pubDate></item></channel></rss>";

fn latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("Latin-1 text"))
        .collect()
}

#[test]
fn latin1_without_declaration_uses_the_http_charset() {
    let body = latin1(LATIN1_RSS);
    let items = items(&body, Some("application/rss+xml; charset=ISO-8859-1")).unwrap();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item.title, "Délibération du conseil & arrêtés");
    assert_eq!(item.summary, "Ordre du jour : budget");
    assert_eq!(
        item.link.as_deref(),
        Some("https://commune.example.fr/actes/42")
    );
    assert_eq!(item.key, "https://commune.example.fr/actes/42");
    assert_eq!(
        item.published,
        Some(Utc.with_ymd_and_hms(2025, 3, 3, 17, 0, 0).unwrap())
    );
}

#[test]
fn latin1_without_any_charset_is_read_as_windows_1252() {
    let body = latin1(LATIN1_RSS);
    let items = items(&body, None).unwrap();
    assert_eq!(items[0].title, "Délibération du conseil & arrêtés");
}

#[test]
fn utf8_declared_as_latin1_is_repaired_with_the_http_charset() {
    let body = format!("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>{LATIN1_RSS}");
    let items = items(body.as_bytes(), Some("application/rss+xml; charset=utf-8")).unwrap();
    assert_eq!(items[0].title, "Délibération du conseil & arrêtés");
}

#[test]
fn items_without_id_or_link_get_a_stable_hash() {
    let body = b"<rss version=\"2.0\"><channel><title>t</title>\
<item><title>Avis n\xc2\xb0 1</title></item><item><title>Avis n\xc2\xb0 2</title></item></channel></rss>";
    let a = items(body, None).unwrap();
    let b = items(body, None).unwrap();
    assert_eq!(a, b);
    assert_eq!(a[0].key.len(), 64);
    assert!(a[0].key.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a[0].key, a[1].key);
    let expected = blake3::hash("Avis n° 1\n".as_bytes()).to_hex().to_string();
    assert_eq!(a[0].key, expected);
}

#[test]
fn atom_and_json_feeds() {
    let atom = br#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://ec.example.eu/news/">
  <title>News</title><id>urn:feed</id><updated>2025-03-03T10:00:00Z</updated>
  <entry><id>urn:1</id><title type="html">&lt;b&gt;Green&lt;/b&gt; Deal</title>
    <link href="item/1"/><link rel="enclosure" href="ftp://x/y"/>
    <updated>2025-03-03T10:00:00+01:00</updated>
    <category term="env" label="Environment"/></entry>
</feed>"#;
    let a = items(atom, Some("application/atom+xml")).unwrap();
    assert_eq!(a[0].key, "urn:1");
    assert_eq!(a[0].title, "Green Deal");
    assert_eq!(
        a[0].link.as_deref(),
        Some("https://ec.example.eu/news/item/1")
    );
    assert_eq!(a[0].categories, vec!["Environment".to_string()]);
    assert_eq!(
        a[0].published,
        Some(Utc.with_ymd_and_hms(2025, 3, 3, 9, 0, 0).unwrap())
    );

    let json = br#"{"version": "https://jsonfeed.org/version/1.1", "title": "J",
      "items": [{"id": "42", "url": "https://j.example/42", "title": "Caf&eacute;",
                 "content_html": "<p>Hello <em>world</em></p>", "date_published": "2025-03-03T10:00:00Z"},
                {"id": "43", "content_text": "no title"}]}"#;
    let j = items(json, Some("application/feed+json")).unwrap();
    assert_eq!(j.len(), 2);
    assert_eq!(j[0].key, "42");
    assert_eq!(j[0].title, "Café");
    assert_eq!(j[0].summary, "Hello world");
    assert_eq!(j[1].summary, "no title");
    assert_eq!(j[1].published, None);
}

#[test]
fn html_pages_and_invalid_bodies_are_errors() {
    let page = b"<!DOCTYPE html><html><head><title>Home</title></head><body>Hi</body></html>";
    assert!(matches!(
        items(page, Some("text/html")),
        Err(ParseError::Layout(_))
    ));
    let challenge = b"<!DOCTYPE html><html><head><script src=\"https://x.awswaf.com/challenge.js\"></script></head></html>";
    assert_eq!(
        items(challenge, Some("text/html")),
        Err(ParseError::Challenge)
    );
    let xhtml =
        b"<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"><body/></html>";
    assert!(matches!(items(xhtml, None), Err(ParseError::Layout(_))));
    assert!(matches!(
        items(
            b"<rss version=\"2.0\"><channel><item><title>x</title></chan",
            None
        ),
        Err(ParseError::Syntax { .. }) | Err(ParseError::Layout(_))
    ));
    assert!(matches!(items(b"", None), Err(ParseError::Layout(_))));
    assert!(matches!(
        items(b"{\"version\": 3", None),
        Err(ParseError::Syntax { .. })
    ));
}

/// A body that reads as no items while it holds item-like elements is an error that says
/// so; a feed with no items at all is a valid, empty feed.
#[test]
fn unreadable_items_are_an_error_and_an_empty_feed_is_not() {
    let outside = b"<rss version=\"2.0\"><channel><title>t</title></channel>\
<item><title>a</title></item></rss>";
    assert_eq!(
        items(outside, None),
        Err(ParseError::Layout(
            "1 <item> element(s), none read as a feed item".to_string()
        ))
    );
    let foreign = b"<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title>\
<a:entry xmlns:a=\"urn:other\"><a:title>x</a:title></a:entry><a:entry xmlns:a=\"urn:other\"/></feed>";
    assert_eq!(
        items(foreign, None),
        Err(ParseError::Layout(
            "2 <entry> element(s), none read as a feed item".to_string()
        ))
    );
    let empty = b"<rss version=\"2.0\"><channel><title>t</title><description>no items yet</description></channel></rss>";
    assert_eq!(items(empty, None), Ok(Vec::new()));
    let atom = b"<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title><id>f</id></feed>";
    assert_eq!(items(atom, None), Ok(Vec::new()));
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn parse_date_table() {
    for (input, expected) in [
        // RFC 2822 and RFC 3339
        ("Mon, 03 Mar 2025 10:00:00 +0000", "2025-03-03T10:00:00Z"),
        ("Mon, 03 Mar 2025 10:00:00 GMT", "2025-03-03T10:00:00Z"),
        ("Sun, 03 May 2020 21:56:15 -0000", "2020-05-03T21:56:15Z"),
        ("2025-03-03T10:00:00+01:00", "2025-03-03T09:00:00Z"),
        ("2025-03-03T10:00:00.250Z", "2025-03-03T10:00:00.250Z"),
        // zone names
        ("Mon, 03 Mar 2025 10:00:00 CET", "2025-03-03T09:00:00Z"),
        ("Mon, 07 Jul 2025 10:00:00 CEST", "2025-07-07T08:00:00Z"),
        ("Mo, 07 Jul 2025 10:00:00 MESZ", "2025-07-07T08:00:00Z"),
        // day-first numeric; a date alone is midnight UTC, a time alone is Brussels time
        ("03/03/2025", "2025-03-03T00:00:00Z"),
        ("3/3/2025 9:05", "2025-03-03T08:05:00Z"),
        ("03.03.2025", "2025-03-03T00:00:00Z"),
        ("03.03.2025 14:30", "2025-03-03T13:30:00Z"),
        ("07.07.2025 14:30:15", "2025-07-07T12:30:15Z"),
        ("03-03-2025", "2025-03-03T00:00:00Z"),
        ("2025-03-03 10:00:00", "2025-03-03T09:00:00Z"),
        // French, German, Italian, Spanish
        ("3 mars 2025", "2025-03-03T00:00:00Z"),
        ("lundi 3 mars 2025 14:30", "2025-03-03T13:30:00Z"),
        ("1er août 2025", "2025-08-01T00:00:00Z"),
        ("3. März 2025", "2025-03-03T00:00:00Z"),
        ("Montag, 3. März 2025 um 14:30 Uhr", "2025-03-03T13:30:00Z"),
        ("Di, 04 Mär 2025 10:00:00 +0100", "2025-03-04T09:00:00Z"),
        ("mer, 16 nov 2022 00:38:15 +0100", "2022-11-15T23:38:15Z"),
        ("16 dicembre 2024", "2024-12-16T00:00:00Z"),
        ("3 de marzo de 2025", "2025-03-03T00:00:00Z"),
    ] {
        assert_eq!(parse_date(input), Some(utc(expected)), "{input}");
    }
    for bad in [
        "",
        "  ",
        "n/a",
        "13/13/2025",
        "03/15/2025",
        "31.02.2025",
        "March 2025",
    ] {
        assert_eq!(parse_date(bad), None, "{bad:?}");
    }
}

proptest::proptest! {
    #[test]
    fn parse_date_never_panics(s in "\\PC{0,40}") {
        let _ = parse_date(&s);
    }

    #[test]
    fn parse_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
                          tail in "[<>&;a-z/ \"=?!-]{0,80}") {
        let _ = items(&body, None);
        let feed = format!("<rss version=\"2.0\"><channel><item><title>{tail}</title><description>{tail}</description></item></channel></rss>");
        let _ = items(feed.as_bytes(), Some("text/xml; charset=windows-1252"));
    }
}

/// Inline XHTML content becomes plain text with the words of every element, and links are
/// resolved against `xml:base` and normalised by veille.
#[test]
fn xhtml_content_and_xml_base_links() {
    let atom = br#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:f</id>
<entry><id>urn:1</id><title>x</title><link href=" https://Example.EU/a b "/>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p class="lead">Hello <em>world</em></p><br/><x:y xmlns:x="urn:x">z</x:y></div></content></entry>
<entry xml:base="https://ec.example.eu/news/"><id>urn:2</id><title>y</title><link href="item/2"/></entry></feed>"#;
    // The link normalised (and resolved), the summary made plain text from the XHTML.
    let items = items(atom, Some("application/atom+xml")).unwrap();
    assert_eq!(items[0].link.as_deref(), Some("https://example.eu/a%20b"));
    assert_eq!(items[0].summary, "Hello world z");
    assert_eq!(
        items[1].link.as_deref(),
        Some("https://ec.example.eu/news/item/2")
    );
}

/// feed-rs resolves namespaces in scope, as veille relies on: declarations are scoped to
/// their element, redeclared defaults and prefixes win inside, and an undeclared prefix is
/// no namespace. An element in no namespace (`xmlns=""`) is read as in the feed's own.
#[test]
fn feed_namespaces_are_resolved_in_scope() {
    let parse = |xml: &[u8]| feed_rs::parser::Builder::new().build().parse(xml).unwrap();
    let rss = br#"<?xml version="1.0"?>
<rss version="2.0"><channel><title>t</title>
<item xmlns:dc="http://purl.org/dc/elements/1.1/"><title>one</title><dc:creator>Ana</dc:creator></item>
<item><title>two</title><dc:creator>Ben</dc:creator></item>
<item><title>three</title><x:creator xmlns:x="http://purl.org/dc/elements/1.1/">Cy</x:creator>
  <dc:creator xmlns:dc="urn:not-dublin-core">Dee</dc:creator></item>
</channel></rss>"#;
    let feed = parse(rss);
    let authors: Vec<Vec<&str>> = feed
        .entries
        .iter()
        .map(|e| e.authors.iter().map(|a| a.name.as_str()).collect())
        .collect();
    assert_eq!(authors, [vec!["Ana"], vec![], vec!["Cy"]]);

    let atom = br#"<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:a="http://www.w3.org/2005/Atom"><title>t</title><id>f</id>
<entry><id>1</id><title xmlns="urn:other">not this</title><title>the title</title></entry>
<a:entry><a:id>2</a:id><a:title>prefixed</a:title></a:entry>
<entry><id>3</id><title xmlns="">unqualified</title><summary>s</summary></entry>
</feed>"#;
    let feed = parse(atom);
    let titles: Vec<Option<&str>> = feed
        .entries
        .iter()
        .map(|e| e.title.as_ref().map(|t| t.content.as_str()))
        .collect();
    assert_eq!(
        titles,
        [Some("the title"), Some("prefixed"), Some("unqualified")]
    );
    assert_eq!(feed.entries[2].summary.as_ref().unwrap().content, "s");
}

// ---------------------------------------------------------------------------------------
// Through the binary

mod through_the_binary {
    use crate::support::app::{titles_of, Source, TestApp};
    use crate::support::http::{Response, TestServer};

    const NOW: &str = "2026-11-28T10:00:00Z";
    const LATER: &str = "2026-11-28T12:00:00Z";
    const STATE_AID: &str =
        "name = \"State aid\"\nrecipients = [\"sa@example.org\"]\nkeywords = [\"state aid\"]\n";

    fn app_with(body: Vec<u8>) -> TestApp {
        let server = TestServer::start_background();
        server.route(
            "/feed.xml",
            Response::ok(body).content_type("application/rss+xml; charset=utf-8"),
        );
        let url = server.url("/feed.xml");
        let app = TestApp::new(server, vec![Source::new("feed", "feed", url)]);
        app.add_watchlist("w", STATE_AID);
        app
    }

    fn rss(items: &[Vec<u8>]) -> Vec<u8> {
        let mut body =
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
<title>Competition</title><link>https://competition.example.eu/</link>\n"
                .to_vec();
        for item in items {
            body.extend_from_slice(item);
        }
        body.extend_from_slice(b"</channel></rss>\n");
        body
    }

    fn item(id: &str, title: &[u8], description: &[u8]) -> Vec<u8> {
        let mut s = format!(
            "<item><guid>urn:{id}</guid><link>https://competition.example.eu/{id}</link>\
<pubDate>Fri, 27 Nov 2026 10:00:00 +0100</pubDate><title>"
        )
        .into_bytes();
        s.extend_from_slice(title);
        s.extend_from_slice(b"</title><description>");
        s.extend_from_slice(description);
        s.extend_from_slice(b"</description></item>\n");
        s
    }

    /// Latin-1 bytes in the title of a feed declared UTF-8: the title reads as Latin-1,
    /// matches, and shows whole in the digest; a title with UTF-8 and stray bytes keeps
    /// its UTF-8 and has U+FFFD for the stray bytes; the feed's other items keep theirs.
    #[test]
    fn a_bad_byte_in_a_title_loses_nothing_else() {
        let app = app_with(rss(&[
            item(
                "1",
                b"New state aid guidelines \xe9t\xe9 2026",
                b"Summer guidelines.",
            ),
            item(
                "2",
                "R\u{e9}gime d'aide \u{2014} "
                    .as_bytes()
                    .iter()
                    .chain(b"\xe9t\xe9")
                    .copied()
                    .collect::<Vec<u8>>()
                    .as_slice(),
                b"A state aid scheme.",
            ),
            item(
                "3",
                "State aid: Sommet d'\u{e9}t\u{e9}".as_bytes(),
                b"Valid UTF-8.",
            ),
            item("4", b"Fisheries \xe9t\xe9", b"Nothing to see."),
        ]));
        let out = app.expect(Some(NOW), &["poll"], 0);
        assert!(out.contains("4 new event(s), 3 matched"), "{out}");
        let preview = app.json(
            Some(NOW),
            &["digest", "preview", "w", "--format", "json"],
            0,
        );
        let mut titles = titles_of(&preview);
        titles.sort();
        assert_eq!(
            titles,
            [
                "New state aid guidelines \u{e9}t\u{e9} 2026",
                "R\u{e9}gime d'aide \u{2014} \u{fffd}t\u{fffd}",
                "State aid: Sommet d'\u{e9}t\u{e9}",
            ],
            "{preview}"
        );
    }

    const RSS_1_0_WITHOUT_LINK: &str = r#"<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
  xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://region.example.eu/news.rdf"><title>Region news</title>
  <link>https://region.example.eu/news</link><description>d</description>
  <items><rdf:Seq><rdf:li rdf:resource="urn:region:1"/></rdf:Seq></items></channel>
<item rdf:about="urn:region:1"><title>State aid: the region's broadband scheme is approved</title>
  <description>No link of its own.</description><dc:date>2026-11-27T09:00:00Z</dc:date></item>
</rdf:RDF>"#;

    const ATOM_0_3: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed version="0.3" xmlns="http://purl.org/atom/ns#">
  <title>Competition weblog</title>
  <link rel="alternate" type="text/html" href="https://blog.example.eu/"/>
  <modified>2026-11-27T10:00:00Z</modified>
  <entry>
    <title mode="escaped" type="text/html">State aid &amp;amp; &lt;em&gt;airports&lt;/em&gt;</title>
    <link rel="alternate" type="text/html" href="https://blog.example.eu/2026/11/airports"/>
    <id>tag:blog.example.eu,2026:airports</id>
    <issued>2026-11-27T10:00:00+01:00</issued>
    <content type="text/html" mode="escaped">&lt;p&gt;Guidelines.&lt;/p&gt;</content>
  </entry>
</feed>"#;

    /// An RSS 1.0 item without a link and an Atom 0.3 entry become events that match
    /// and show in the digest; the item without a link points to its feed's page.
    #[test]
    fn rss_1_0_items_without_link_and_atom_0_3_feeds_become_events() {
        let server = TestServer::start_background();
        server.route(
            "/news.rdf",
            Response::ok(RSS_1_0_WITHOUT_LINK).content_type("application/rdf+xml"),
        );
        server.route(
            "/atom03.xml",
            Response::ok(ATOM_0_3).content_type("application/atom+xml"),
        );
        let sources = vec![
            Source::new("region", "feed", server.url("/news.rdf")),
            Source::new("weblog", "feed", server.url("/atom03.xml")),
        ];
        let app = TestApp::new(server, sources);
        app.add_watchlist("w", STATE_AID);
        let out = app.expect(Some(NOW), &["poll"], 0);
        for id in ["region", "weblog"] {
            let line = out.lines().find(|l| l.starts_with(&format!("{id} ")));
            assert!(
                line.is_some_and(|l| l.contains(" ok ") && l.contains("1 new event(s), 1 matched")),
                "{out}"
            );
        }
        let preview = app.json(
            Some(NOW),
            &["digest", "preview", "w", "--format", "json"],
            0,
        );
        let mut titles = titles_of(&preview);
        titles.sort();
        assert_eq!(
            titles,
            [
                "State aid & airports",
                "State aid: the region's broadband scheme is approved",
            ],
            "{preview}"
        );
        let url_of = |title: &str| {
            preview["entries"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["title"] == title)
                .map(|e| e["url"].clone())
                .unwrap_or_default()
        };
        assert_eq!(
            url_of("State aid: the region's broadband scheme is approved"),
            "https://region.example.eu/news",
            "{preview}"
        );
        assert_eq!(
            url_of("State aid & airports"),
            "https://blog.example.eu/2026/11/airports",
            "{preview}"
        );
        let status = app.expect(Some(LATER), &["status"], 0);
        for id in ["region", "weblog"] {
            let line = status.lines().find(|l| l.starts_with(&format!("{id} ")));
            assert!(line.is_some_and(|l| l.contains(" ok ")), "{status}");
        }
    }

    /// A feed whose items cannot be read (outside the channel) is a failing source in
    /// `veille status`, with its cause, never "ok" with nothing.
    #[test]
    fn a_feed_of_unreadable_items_is_a_problem_in_status() {
        let body = b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Broken</title>\
<link>https://broken.example.eu/</link></channel>\
<item><title>State aid: one</title></item><item><title>State aid: two</title></item></rss>"
            .to_vec();
        let app = app_with(body);
        let out = app.expect(Some(NOW), &["poll"], 2);
        assert!(out.contains("feed"), "{out}");
        let status = app.expect(Some(LATER), &["status"], 0);
        let line = status
            .lines()
            .find(|l| l.starts_with("feed "))
            .unwrap_or_else(|| panic!("no line for the feed:\n{status}"));
        assert!(line.contains("FAILING"), "{status}");
        assert!(
            line.contains("not a feed: 2 <item> element(s), none read as a feed item"),
            "{status}"
        );
        let json = app.json(Some(LATER), &["status", "--format", "json"], 0);
        assert_eq!(json["events"], 0, "{json}");
    }

    /// `n` items about state aid, then `unmatched` that match nothing.
    fn big_feed(n: usize, unmatched: usize) -> Vec<u8> {
        let items: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                item(
                    &format!("sa-{i}"),
                    format!("State aid: Commission approves scheme SA.{i}").as_bytes(),
                    b"The Commission found the measure in line with the rules on regional aid.",
                )
            })
            .chain((0..unmatched).map(|i| {
                item(
                    &format!("fish-{i}"),
                    format!("Fisheries: quota {i}").as_bytes(),
                    b"Nothing to see.",
                )
            }))
            .collect();
        rss(&items)
    }

    /// One feed of more matching items than one transaction takes (2,000), so written in
    /// parts: each is recorded and enqueued once, the source counts them all, and the
    /// feed's item list is recorded whole: the same body again brings nothing new, one
    /// more item (and one more that matches nothing) brings exactly those. (The bench
    /// polls 50,000 such items, for its memory; a debug build takes a minute for them.)
    #[test]
    fn a_feed_of_6500_matching_items_is_recorded_in_parts_once_whole() {
        let app = app_with(big_feed(6_500, 100));
        let out = app.expect(Some(NOW), &["poll"], 0);
        assert!(out.contains("6600 new event(s), 6500 matched"), "{out}");
        let status = app.json(Some(NOW), &["status", "--format", "json"], 0);
        assert_eq!(status["pending"]["w"], 6_500, "{status}");
        assert_eq!(status["events"], 6_500, "{status}");

        let out = app.expect(Some(LATER), &["poll"], 0);
        assert!(out.contains("0 new event(s), 0 matched"), "{out}");

        app.server.route(
            "/feed.xml",
            Response::ok(big_feed(6_501, 101)).content_type("application/rss+xml"),
        );
        let out = app.expect(Some(LATER), &["poll", "--source", "feed"], 0);
        assert!(out.contains("2 new event(s), 1 matched"), "{out}");
        let status = app.json(Some(LATER), &["status", "--format", "json"], 0);
        assert_eq!(status["pending"]["w"], 6_501, "{status}");
        assert_eq!(status["events"], 6_501, "{status}");
    }
}
