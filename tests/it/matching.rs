//! Matching events against watchlists: the shipped watchlists on a labelled set of real
//! EU titles (precision and recall per watchlist), real fixture titles, dossier spellings
//! and URLs, accents and wildcards, exclusions, the sources filter, and reasons.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{NaiveDate, TimeZone, Utc};
use veille::dossier::item_event;
use veille::model::{
    Document, DossierEvent, DossierRef, EventId, EventKind, FeedItem, Observation, ProcedureRef,
    Provenance,
};
use veille::sources::{feed, Input};
use veille::watchlist::{load_dir, load_str, Match, Reason, WatchlistSet};

use crate::support::fixtures;

fn shipped() -> WatchlistSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("watchlists");
    load_dir(&dir, &[]).unwrap_or_else(|errs| {
        panic!(
            "{}",
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn set(lists: &[(&str, &str)], sources: &[&str]) -> WatchlistSet {
    let known: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
    WatchlistSet::new(
        lists
            .iter()
            .map(|(id, text)| {
                load_str(id, Path::new(&format!("{id}.toml")), text, &known)
                    .unwrap_or_else(|e| panic!("{id}: {e:?}"))
            })
            .collect(),
    )
}

fn event(title: &str) -> DossierEvent {
    DossierEvent {
        id: EventId::derive(&[title]),
        kind: EventKind::Item,
        stage: None,
        dossier: None,
        dossier_title: None,
        date: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap_or_default(),
        title: title.to_string(),
        summary: String::new(),
        url: None,
        documents: vec![],
        mentions: vec![],
        provenance: vec![Provenance {
            source: "ep-press".into(),
            url: "https://www.europarl.europa.eu/news/en/press-room".into(),
            fetched_at: Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap(),
        }],
    }
}

fn ids(ms: &[Match]) -> Vec<&str> {
    ms.iter().map(|m| m.watchlist.as_str()).collect()
}

fn reasons(ms: &[Match], id: &str) -> Vec<String> {
    ms.iter()
        .find(|m| m.watchlist == id)
        .map(|m| m.reasons.iter().map(|r| r.to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn real_fixture_titles_match_their_focus_group() {
    let lists = shipped();
    // CELLAR tree notice of the single-use plastics directive: its titles in EN, FR, DE.
    let notice = String::from_utf8_lossy(&fixtures::read(
        "eurlex-cellar-notice/procedure_2018_172_COD_tree-notice_single-use-plastics.xml",
    ))
    .into_owned();
    for title in [
        "Directive (EU) 2019/904 of the European Parliament and of the Council of 5 June 2019 on the reduction of the impact of certain plastic products on the environment (Text with EEA relevance)",
        "Proposition de DIRECTIVE DU PARLEMENT EUROPÉEN ET DU CONSEIL relative à la réduction de l'incidence sur l'environnement de certains produits en plastique",
        "Vorschlag für eine RICHTLINIE DES EUROPÄISCHEN PARLAMENTS UND DES RATES über die Verringerung der Auswirkungen bestimmter Kunststoffprodukte auf die Umwelt",
        "Opinion of the European Committee of the Regions — Proposal for a single-use plastics directive",
    ] {
        assert!(notice.contains(title), "fixture lacks {title}");
        assert_eq!(ids(&lists.matches(&event(title))), ["air-quality"], "{title}");
    }
    // The same notice names the procedure: COM/2018/340 final - 2018/0172 (COD).
    let m = lists.matches(&event("COM/2018/340 final - 2018/0172 (COD)"));
    assert_eq!(reasons(&m, "air-quality"), ["dossier 2018/0172(COD)"]);
    // The macro-financial assistance to Ukraine in another CELLAR notice is a near-miss.
    let other = String::from_utf8_lossy(&fixtures::read(
        "eurlex-cellar-notice/procedure_2009_162_tree-notice.xml",
    ))
    .into_owned();
    let t = "Proposal for a COUNCIL DECISION providing macro-financial assistance to Ukraine";
    assert!(other.contains(t));
    assert!(lists.matches(&event(t)).is_empty());

    // EP press release on AFIR: headline and summary name no keyword of the procurement
    // group but the alternative fuels regulation is found through its OEIL link.
    let html = String::from_utf8_lossy(&fixtures::read(
        "ep-press/press-release_20221014IPR43206_AFIR-2021-0223-COD.html",
    ))
    .into_owned();
    let headline = "Car-recharging stations should be available every 60 km, say MEPs";
    assert!(html.contains(headline));
    let mut e = event(headline);
    e.summary = "To help the EU become climate neutral, MEPs want car-recharging stations every 60 km, hydrogen refuelling stations every 100 km and fewer emissions from ships.".into();
    e.documents = vec![Document {
        reference: "Procedure file".into(),
        url: Some("https://oeil.secure.europarl.europa.eu/oeil/popups/ficheprocedure.do?reference=2021/0223(COD)&l=en".into()),
    }];
    let m = lists.matches(&e);
    assert_eq!(ids(&m), ["urban-mobility"]);
    assert_eq!(
        reasons(&m, "urban-mobility"),
        ["dossier 2021/0223(COD)", "keyword \"recharging station*\""]
    );

    // EP API procedure titles that concern no focus group.
    for (file, _) in [
        ("ep-api/procedure_2016-0132_COD.jsonld.json", "Eurodac"),
        (
            "ep-api/procedure_2025-0260_COD.jsonld.json",
            "customs duties",
        ),
        ("ep-api/procedure_2025-0581_CNS.jsonld.json", "excise duty"),
    ] {
        let v: serde_json::Value = serde_json::from_slice(&fixtures::read(file)).unwrap();
        let mut titles = Vec::new();
        collect_titles(&v, &mut titles);
        assert!(!titles.is_empty(), "{file}");
        for t in titles {
            assert!(lists.match_text(&t, None).is_empty(), "{file}: {t}");
        }
    }
}

fn collect_titles(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                if k == "process_title" {
                    for l in ["en", "fr", "de"] {
                        if let Some(t) = x.get(l).and_then(|t| t.as_str()) {
                            out.push(t.to_string());
                        }
                    }
                }
                collect_titles(x, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_titles(x, out)),
        _ => {}
    }
}

const PROC: &str = r#"
name = "Procurement"
recipients = ["p@example.org"]
dossiers = ["2011/0438(COD)", "COM(2011)896", "32014L0024"]
keywords = ["public procurement", "marchés publics", "öffentliche Auftragsvergabe", "concession contract*", "state-aid", "l'accord-cadre", "Straße"]
exclude = ["defence and security"]
"#;

#[test]
fn dossiers_match_in_every_spelling() {
    let lists = set(&[("proc", PROC)], &[]);
    let proc_reason = vec!["dossier 2011/0438(COD)".to_string()];
    let com_reason = vec!["dossier COM(2011)896".to_string()];
    for title in [
        "Report on 2011/0438(COD)",
        "CELLAR says 2011/0438/COD",
        "Vote on 2011/0438 (COD)",
    ] {
        assert_eq!(
            reasons(&lists.matches(&event(title)), "proc"),
            proc_reason,
            "{title}"
        );
    }
    for title in [
        "Proposal COM(2011) 896 final",
        "COM/2011/0896 final",
        "CELEX:52011PC0896",
        "see 52011PC0896",
    ] {
        assert_eq!(
            reasons(&lists.matches(&event(title)), "proc"),
            com_reason,
            "{title}"
        );
    }
    // A listed act is shown by its Official Journal name, found by number or by name.
    for title in [
        "OJ L 94: 32014L0024",
        "Directive 2014/24/EU on public procurement",
        "Richtlinie 2014/24/EU über die öffentliche Auftragsvergabe",
    ] {
        assert_eq!(
            reasons(&lists.matches(&event(title)), "proc")[0],
            "act \"Directive 2014/24/EU\" (32014L0024)",
            "{title}"
        );
    }
    // Structured fields: the event's dossier in another spelling, mentions, documents.
    let mut e = event("Plenary vote");
    e.dossier = Some("2011-0438".parse::<ProcedureRef>().unwrap());
    assert_eq!(reasons(&lists.matches(&e), "proc"), proc_reason);
    let mut e = event("Plenary vote");
    e.mentions = vec!["52011PC0896".parse::<DossierRef>().unwrap()];
    assert_eq!(reasons(&lists.matches(&e), "proc"), com_reason);
    let mut e = event("Plenary vote");
    e.documents = vec![Document {
        reference: "COM(2011)0896".into(),
        url: None,
    }];
    assert_eq!(reasons(&lists.matches(&e), "proc"), com_reason);
    // URLs.
    for url in [
        "http://publications.europa.eu/resource/procedure/2011_438",
        "https://data.europarl.europa.eu/eli/dl/proc/2011-0438",
        "https://eur-lex.europa.eu/procedure/EN/2011_438",
        "https://oeil.secure.europarl.europa.eu/oeil/popups/ficheprocedure.do?reference=2011/0438(COD)&l=en",
    ] {
        let mut e = event("News");
        e.url = Some(url.into());
        assert_eq!(reasons(&lists.matches(&e), "proc"), proc_reason, "{url}");
    }
    let mut e = event("News");
    e.url = Some("https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=COM:2011:0896:FIN".into());
    assert_eq!(reasons(&lists.matches(&e), "proc"), com_reason);
    // Neighbours do not match.
    for title in [
        "Report on 2011/0439(COD)",
        "COM(2011) 897 final",
        "published on 2011-04-38",
        "procedure 2011_4380",
        "32014L0023",
        "In 2011, 438 contracts",
    ] {
        assert!(lists.matches(&event(title)).is_empty(), "{title}");
    }
    for url in [
        "https://example.org/2011_4381",
        "https://example.org/news/2011-04-38",
        "https://example.org/20110438",
    ] {
        let mut e = event("News");
        e.url = Some(url.into());
        assert!(lists.matches(&e).is_empty(), "{url}");
    }
}

/// `matches` reads an `ItemEvent` (what `item_event` makes) without reading the references
/// in its text again: it must give the full read's answer, for every spelling
/// and its neighbours in titles, summaries and links, and for every real feed item.
#[test]
fn fresh_item_events_match_the_same_without_reading_their_text_again() {
    let provenance = Provenance {
        source: "ep-press".into(),
        url: "https://www.europarl.europa.eu/news/en/press-room".into(),
        fetched_at: Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap(),
    };
    let at = provenance.fetched_at;
    let same = |lists: &WatchlistSet, item: &FeedItem| -> usize {
        let ev = item_event(item, &provenance, at, None);
        let full = lists.matches(ev.event());
        assert_eq!(lists.matches(&ev), full, "{item:?}");
        full.len()
    };
    let lists = set(&[("proc", PROC)], &[]);
    let texts = [
        "Report on 2011/0438(COD)",
        "CELLAR says 2011/0438/COD",
        "Vote on 2011/0438 (COD)",
        "Proposal COM(2011) 896 final",
        "COM/2011/0896 final",
        "CELEX:52011PC0896",
        "see 52011PC0896",
        "OJ L 94: 32014L0024",
        "Report on 2011/0439(COD)",
        "procedure 2011_4380",
        "In 2011, 438 contracts",
        "public procurement and state-aid",
    ];
    let links = [
        "http://publications.europa.eu/resource/procedure/2011_438",
        "https://data.europarl.europa.eu/eli/dl/proc/2011-0438",
        "https://oeil.secure.europarl.europa.eu/oeil/popups/ficheprocedure.do?reference=2011/0438(COD)&l=en",
        "https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=COM:2011:0896:FIN",
        "https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=CELEX:32014L0024",
        "https://example.org/2011_4381",
    ];
    let mut matched = 0;
    for text in texts {
        for (title, summary) in [(text, ""), ("News", text)] {
            for link in links.iter().map(|l| Some(l.to_string())).chain([None]) {
                let item = FeedItem {
                    key: format!("{title} {summary}"),
                    title: title.into(),
                    link,
                    summary: summary.into(),
                    published: None,
                    categories: vec![],
                };
                matched += same(&lists, &item);
            }
        }
    }
    assert!(matched > 100, "{matched}");
    // The labelled real EU titles as titles and as summaries, and every item of the real
    // feeds, against the shipped watchlists.
    let shipped = shipped();
    let text = String::from_utf8(fixtures::own("titles/eval.tsv")).unwrap();
    let mut matched = 0;
    for title in text
        .lines()
        .filter(|l| !l.starts_with('#') || l.contains('\t'))
    {
        // The first column of `titles/eval.tsv` is the title (the measure is in eval.rs).
        let title = title.split('\t').next().unwrap_or(title);
        for (title, summary) in [(title, ""), ("News", title)] {
            let item = FeedItem {
                key: title.into(),
                title: title.into(),
                link: None,
                summary: summary.into(),
                published: None,
                categories: vec![],
            };
            matched += same(&shipped, &item).min(1);
        }
    }
    assert!(matched > 200, "{matched}");
    let mut items = 0;
    for path in fixtures::list("generic-rss") {
        let body = fixtures::read(&path);
        let input = Input {
            body: &body,
            content_type: None,
            provenance: &provenance,
        };
        for o in feed::parse(&input).unwrap_or_default() {
            if let Observation::Item(item) = o {
                items += 1;
                same(&shipped, &item);
            }
        }
    }
    assert!(items >= 9, "{items} items");
}

#[test]
fn keywords_match_whole_words_whatever_the_accents_case_and_punctuation() {
    let lists = set(&[("proc", PROC)], &[]);
    for (text, kw) in [
        ("Public Procurement: new rules", "public procurement"),
        ("PUBLIC-PROCUREMENT reform", "public procurement"),
        ("Réforme des marches publics", "marchés publics"),
        ("Réforme des MARCHÉS PUBLICS", "marchés publics"),
        (
            "Richtlinie über die Öffentliche Auftragsvergabe",
            "öffentliche Auftragsvergabe",
        ),
        ("Richtlinie über die oeffentliche Auftragsvergabe", ""),
        ("award of concession contracts", "concession contract*"),
        ("a concession contract", "concession contract*"),
        ("concession contracting", "concession contract*"),
        ("concession contra", ""),
        ("State aid rules", "state-aid"),
        ("state-aid rules", "state-aid"),
        ("Member-State Aid", "state-aid"),
        ("modifiant l’accord-cadre", "l'accord-cadre"),
        ("l'accord cadre", "l'accord-cadre"),
        ("Strasse", "Straße"),
        ("STRASSE", "Straße"),
        ("public procurements", ""),
        ("publicprocurement", ""),
        ("the e-public procurement", "public procurement"),
        ("apublic procurement", ""),
        ("statement aid", ""),
    ] {
        let got = reasons(&lists.match_text(text, None), "proc");
        let want: Vec<String> = if kw.is_empty() {
            vec![]
        } else {
            vec![format!("keyword \"{kw}\"")]
        };
        assert_eq!(got, want, "{text}");
    }
}

#[test]
fn exclusions_suppress_keywords_in_the_same_text_but_never_listed_dossiers() {
    let lists = set(&[("proc", PROC)], &[]);
    assert!(lists
        .match_text(
            "Public procurement in the fields of defence and security",
            None
        )
        .is_empty());
    // Listed dossier: the officer chose it, exclusions do not apply.
    let m = lists.match_text(
        "2011/0438(COD): public procurement, defence and security",
        None,
    );
    assert_eq!(reasons(&m, "proc"), ["dossier 2011/0438(COD)"]);
    // An exclusion in the summary does not cancel a keyword in the title.
    let mut e = event("Public procurement: Council agrees its position");
    e.summary = "Also discussed: defence and security".into();
    assert_eq!(
        reasons(&lists.matches(&e), "proc"),
        ["keyword \"public procurement\""]
    );
    e.title = "Defence and security".into();
    e.summary = "Public procurement rules for defence and security".into();
    assert!(lists.matches(&e).is_empty());
}

#[test]
fn reasons_are_all_recorded_once_in_the_watchlists_order() {
    let lists = set(&[("proc", PROC)], &[]);
    let mut e =
        event("Concession contracts and public procurement: COM(2011)896 and 2011/0438(COD)");
    e.summary = "public procurement again, and 2011/0438/COD again".into();
    e.dossier_title = Some("Public procurement".into());
    e.dossier = Some("2011/0438(COD)".parse().unwrap());
    let m = lists.matches(&e);
    assert_eq!(
        m,
        vec![Match {
            watchlist: "proc".into(),
            reasons: vec![
                Reason::Dossier("2011/0438(COD)".into()),
                Reason::Dossier("COM(2011)896".into()),
                Reason::Keyword("public procurement".into()),
                Reason::Keyword("concession contract*".into()),
            ]
        }]
    );
    assert_eq!(
        serde_json::to_string(&m[0]).unwrap(),
        r#"{"watchlist":"proc","reasons":["dossier 2011/0438(COD)","dossier COM(2011)896","keyword \"public procurement\"","keyword \"concession contract*\""]}"#
    );
}

#[test]
fn dossier_title_is_matched_too() {
    let lists = set(&[("proc", PROC)], &[]);
    let mut e = event("Committee vote");
    e.dossier_title = Some("Sur la passation des marchés publics".into());
    assert_eq!(
        reasons(&lists.matches(&e), "proc"),
        ["keyword \"marchés publics\""]
    );
}

#[test]
fn sources_filter_and_several_watchlists() {
    let only_press = r#"
name = "Press only"
recipients = ["press@example.org"]
keywords = ["public procurement"]
sources = ["ep-press"]
"#;
    let only_oeil = r#"
name = "OEIL only"
recipients = ["oeil@example.org"]
dossiers = ["2011/0438(COD)"]
sources = ["oeil"]
"#;
    let lists = set(
        &[
            ("a-press", only_press),
            ("b-oeil", only_oeil),
            ("proc", PROC),
        ],
        &["ep-press", "oeil"],
    );
    let mut e = event("Public procurement: 2011/0438(COD) adopted");
    assert_eq!(ids(&lists.matches(&e)), ["a-press", "proc"]);
    e.provenance[0].source = "oeil".into();
    assert_eq!(ids(&lists.matches(&e)), ["b-oeil", "proc"]);
    // match_text ignores source filters and can be restricted to one watchlist.
    assert_eq!(
        ids(&lists.match_text("public procurement", None)),
        ["a-press", "proc"]
    );
    assert_eq!(
        ids(&lists.match_text("public procurement", Some("proc"))),
        ["proc"]
    );
    assert!(lists
        .match_text("public procurement", Some("nope"))
        .is_empty());
}

#[test]
fn tracked_dossiers_are_every_listed_procedure_once() {
    let lists = shipped();
    let tracked: Vec<String> = lists
        .tracked_dossiers()
        .iter()
        .map(|p| p.to_string())
        .collect();
    for r in [
        "2011/0438(COD)",
        "2012/0011(COD)",
        "2021/0223(COD)",
        "2022/0347(COD)",
        "2016/0070(COD)",
    ] {
        assert!(tracked.contains(&r.to_string()), "{r}");
    }
    let mut sorted = tracked.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), tracked.len());
    let other = r#"
name = "Other"
recipients = ["o@example.org"]
dossiers = ["2011-0438", "2012/0011(COD)"]
"#;
    let two = set(&[("proc", PROC), ("other", other)], &[]);
    let t: Vec<String> = two
        .tracked_dossiers()
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(t, ["2011/0438(COD)", "2012/0011(COD)"]);
}

#[test]
fn many_watchlists_share_one_automaton() {
    // 300 watchlists with overlapping terms: every one is found, none spuriously.
    let texts: Vec<(String, String)> = (0..300)
        .map(|i| {
            (
                format!("w{i:03}"),
                format!(
                    "name = \"W{i}\"\nrecipients = [\"w{i}@example.org\"]\nkeywords = [\"topic {i}\", \"shared term\", \"pre{i}*\"]\nexclude = [\"not {i}\"]\n"
                ),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = texts
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let lists = set(&refs, &[]);
    assert_eq!(lists.match_text("shared term", None).len(), 300);
    assert_eq!(
        ids(&lists.match_text("about topic 42 and pre7xyz", None)),
        ["w007", "w042"]
    );
    assert_eq!(lists.match_text("shared term, not 5", None).len(), 299);
    assert_eq!(
        reasons(&lists.match_text("topic 17 shared term", None), "w017"),
        ["keyword \"topic 17\"", "keyword \"shared term\""]
    );
}

#[test]
fn shipped_exclusions_and_near_misses() {
    let lists = shipped();
    for text in [
        "Customs reform: removing the EUR 150 de minimis threshold for low-value parcels",
        "Réforme douanière : suppression du seuil de minimis de 150 euros",
        "Zollreform: Abschaffung der De-minimis-Schwelle von 150 Euro",
        "Air transport: Commission proposes to revise air passenger rights",
        "Data on fisheries: collection of catch data",
        "EU aid to Ukraine",
        "Procurement of defence products in the fields of defence and security",
        "State of the Union 2026",
        "Recycling targets",
        "Military mobility package",
    ] {
        let m = lists.match_text(text, None);
        assert!(m.is_empty(), "{text}: {m:?}");
    }
    for (text, id) in [
        ("De-minimis-Beihilfen für Gemeinden", "state-aid"),
        ("aides de minimis", "state-aid"),
        ("Recycling and cycling lanes in cities", "urban-mobility"),
        ("Directive relative aux déchets d'emballages", "air-quality"),
        ("Arbeitszeitrichtlinie: Bereitschaftsdienst", "employers"),
    ] {
        assert_eq!(ids(&lists.match_text(text, None)), [id], "{text}");
    }
}

proptest::proptest! {
    #[test]
    fn matching_never_panics(text in "\\PC{0,80}") {
        let lists = shipped();
        let _ = lists.match_text(&text, None);
        let mut e = event(&text);
        e.url = Some(text.clone());
        e.summary = text.clone();
        let _ = lists.matches(&e);
    }
}

/// A citation written with or without its union marker, in English, French and German
/// (docs/watchlists.md, "Keywords: how they match").
#[test]
fn citations_match_with_or_without_the_union_marker() {
    let lists = set(
        &[
            (
                "red",
                "name = \"RED\"\nrecipients = [\"a@example.org\"]\nkeywords = [\"Directive 2018/2001\", \"Richtlinie 2018/2001\", \"Regulation (EU) No 1303/2013\"]\n",
            ),
            (
                "fr",
                "name = \"FR\"\nrecipients = [\"a@example.org\"]\nkeywords = [\"directive (UE) 2018/2001\"]\n",
            ),
        ],
        &[],
    );
    for (text, keyword) in [
        (
            "Directive (EU) 2018/2001 on renewable energy",
            "Directive 2018/2001",
        ),
        (
            "Directive 2018/2001 on renewable energy",
            "Directive 2018/2001",
        ),
        (
            "Amending Directive (EU, Euratom) 2018/2001",
            "Directive 2018/2001",
        ),
        (
            "modifiant la directive (UE) 2018/2001",
            "directive (UE) 2018/2001",
        ),
        (
            "modifiant la directive 2018/2001",
            "directive (UE) 2018/2001",
        ),
        (
            "zur Änderung der Richtlinie (EU) 2018/2001",
            "Richtlinie 2018/2001",
        ),
        ("Regulation No 1303/2013", "Regulation (EU) No 1303/2013"),
        (
            "Regulation (EU) No 1303/2013",
            "Regulation (EU) No 1303/2013",
        ),
    ] {
        let m = lists.match_text(text, None);
        assert!(
            m.iter()
                .any(|m| m.reasons.contains(&Reason::Keyword(keyword.into()))),
            "{text}: {m:?}"
        );
    }
    assert!(lists
        .match_text("Directive (EU) 2019/2001", None)
        .is_empty());
}

/// The examples of "Keywords: how they match": compound words are one word; `*` only
/// ends a word.
#[test]
fn compound_words_and_wildcards_as_the_guide_says() {
    let lists = set(
        &[
            (
                "whole",
                "name = \"W\"\nrecipients = [\"a@example.org\"]\nkeywords = [\"Energieeffizienz\"]\n",
            ),
            (
                "star",
                "name = \"S\"\nrecipients = [\"a@example.org\"]\nkeywords = [\"Energie*\"]\n",
            ),
            (
                "klima",
                "name = \"K\"\nrecipients = [\"a@example.org\"]\nkeywords = [\"Klima*\"]\nexclude = [\"Klimaanlage*\"]\n",
            ),
        ],
        &[],
    );
    let ids = |t: &str| -> Vec<String> {
        lists
            .match_text(t, None)
            .into_iter()
            .map(|m| m.watchlist)
            .collect()
    };
    assert_eq!(
        ids("Richtlinie über die Gesamtenergieeffizienz von Gebäuden"),
        Vec::<String>::new()
    );
    assert_eq!(ids("Richtlinie zur Energieeffizienz"), ["whole", "star"]);
    assert_eq!(ids("Energieeffizienzrichtlinie"), ["star"]);
    assert_eq!(ids("Gesamt-Energieeffizienz"), ["whole", "star"]);
    assert_eq!(ids("Europäisches Klimagesetz"), ["klima"]);
    assert_eq!(
        ids("Klimaanlagen in Fahrzeugen und Klimaschutz"),
        Vec::<String>::new()
    );
}

/// A new procedure is evaluated by every title it has (each language on its own for the
/// exclusions), its references, and its EuroVoc concepts by id or by any label; a
/// watchlist limited to other sources is not asked.
#[test]
fn a_new_procedure_is_found_by_any_title_reference_or_eurovoc_subject() {
    use veille::model::{Candidate, ComRef, EuroVoc, Titles};
    let lists = set(
        &[
            ("nl", "name = \"n\"\nrecipients = [\"a@example.org\"]\nkeywords = [\"accijns\"]\n"),
            (
                "excluded",
                "name = \"x\"\nrecipients = [\"a@example.org\"]\nkeywords = [\"Tabak\"]\nexclude = [\"Erzeugnisse\"]\n",
            ),
            ("com", "name = \"c\"\nrecipients = [\"a@example.org\"]\ndossiers = [\"COM(2025)580\"]\n"),
            (
                "subjects",
                "name = \"s\"\nrecipients = [\"a@example.org\"]\nsubjects = [\"Tobacco Product\", \"eurovoc:4493\", \"eurovoc:c_2b70515a\"]\n",
            ),
            (
                "elsewhere",
                "name = \"e\"\nrecipients = [\"a@example.org\"]\nkeywords = [\"accijns\"]\nsources = [\"feed\"]\n",
            ),
        ],
        &["feed", "ep-api"],
    );
    let c = Candidate {
        reference: "2025/0581(CNS)".parse().unwrap_or_else(|e| panic!("{e}")),
        titles: Titles {
            en: Some("Excise duty on tobacco".into()),
            de: Some("Verbrauchsteuer auf Tabak und mit Tabak verwandte Erzeugnisse".into()),
            more: vec![("nl".into(), "Accijns op rookwaren".into())],
            ..Titles::default()
        },
        com: vec![ComRef {
            year: 2025,
            number: 580,
        }],
        final_act: None,
        subjects: vec![],
        eurovoc: vec![
            EuroVoc {
                id: "4493".into(),
                labels: vec!["capital transfer".into()],
            },
            EuroVoc {
                id: "2120".into(),
                labels: vec!["tobacco product".into(), "tobacco".into()],
            },
            EuroVoc {
                id: "c_2b70515a".into(),
                labels: vec!["plastic waste".into()],
            },
        ],
    };
    let found: BTreeMap<String, Vec<String>> = lists
        .discover(&c, "ep-api")
        .into_iter()
        .map(|m| {
            let why = m.reasons.iter().map(Reason::as_discovery).collect();
            (m.watchlist, why)
        })
        .collect();
    let expected: BTreeMap<String, Vec<String>> = [
        ("com", vec!["dossier COM(2025)580"]),
        ("nl", vec!["keyword \"accijns\" in its title"]),
        (
            "subjects",
            vec![
                "subject \"Tobacco Product\" (EuroVoc)",
                "subject \"eurovoc:4493\" (EuroVoc)",
                "subject \"eurovoc:c_2b70515a\" (EuroVoc)",
            ],
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(str::to_string).collect()))
    .collect();
    assert_eq!(found, expected);
}

/// The shipped watchlists' `subjects` find a new procedure by the EuroVoc descriptors of
/// its CELLAR notice (the real notice of the single-use plastics directive), and find
/// nothing in the notice of a payment-services procedure, which concerns no focus group.
#[test]
fn shipped_subjects_find_new_procedures_by_their_real_cellar_notices() {
    use veille::model::{Candidate, Dossier};
    use veille::sources::cellar;
    let lists = shipped();
    let candidate = |file: &str| -> Candidate {
        let body = fixtures::read(&format!("eurlex-cellar-notice/{file}"));
        let provenance = Provenance {
            source: "cellar".into(),
            url: "https://publications.europa.eu/resource/procedure".into(),
            fetched_at: Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap(),
        };
        let obs = cellar::parse(&Input {
            body: &body,
            content_type: Some("application/xml"),
            provenance: &provenance,
        })
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        let snap = obs
            .iter()
            .find_map(|o| match o {
                Observation::Dossier(d) => Some(d.as_ref().clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{file}: no dossier"));
        let d: Dossier = veille::dossier::merge(None, &snap);
        // As a procedure no watchlist lists: only its titles and subjects can find it.
        let mut c = Candidate::of(&d);
        c.com.clear();
        c.final_act = None;
        c.reference = "2031/0999(COD)".parse().unwrap_or_else(|e| panic!("{e}"));
        c
    };
    let plastics = candidate("procedure_2018_172_COD_tree-notice_single-use-plastics.xml");
    let found = lists.discover(&plastics, "cellar");
    assert_eq!(ids(&found), ["air-quality"]);
    let why = reasons(&found, "air-quality");
    for subject in ["waste management", "waste recycling", "plastic waste"] {
        assert!(
            why.contains(&format!("subject \"{subject}\" (EuroVoc)")),
            "{subject}: {why:?}"
        );
    }
    let payments = candidate("procedure_2013_449_COD_tree-notice.xml");
    assert!(
        !payments.eurovoc.is_empty(),
        "the payment-services notice carries EuroVoc descriptors"
    );
    assert_eq!(
        ids(&lists.discover(&payments, "cellar")),
        Vec::<&str>::new()
    );
}

#[test]
fn the_newer_groups_overlap_where_the_law_does_and_skip_their_false_friends() {
    let lists = shipped();
    // Real titles (tests/fixtures/titles/eval.tsv names where each was read).
    // The Social Climate Fund amends the common provisions regulation: both groups.
    let scf = "Regulation (EU) 2023/955 of the European Parliament and of the Council of 10 May 2023 establishing a Social Climate Fund and amending Regulation (EU) 2021/1060";
    assert_eq!(
        ids(&lists.matches(&event(scf))),
        ["cohesion-urban", "energy-climate"]
    );
    assert_eq!(
        reasons(&lists.matches(&event(scf)), "cohesion-urban"),
        [
            "act \"Regulation (EU) 2021/1060\" (32021R1060)",
            "keyword \"Social Climate Fund\""
        ]
    );
    // Its proposal's French title, by the fund's name in both groups; the Social Climate
    // Fund is not the European Social Fund.
    let fr = "Proposition de RÈGLEMENT DU PARLEMENT EUROPÉEN ET DU CONSEIL établissant un Fonds social pour le climat";
    let m = lists.matches(&event(fr));
    assert_eq!(ids(&m), ["cohesion-urban", "energy-climate"]);
    assert_eq!(
        reasons(&m, "cohesion-urban"),
        ["keyword \"Fonds social pour le climat\""]
    );
    // Pay transparency is the employers' and the equality group's.
    let pay = "Directive (EU) 2023/970 of the European Parliament and of the Council of 10 May 2023 to strengthen the application of the principle of equal pay for equal work or work of equal value between men and women through pay transparency and enforcement mechanisms (Text with EEA relevance)";
    assert_eq!(ids(&lists.matches(&event(pay))), ["employers", "equality"]);
    // The buildings directive by its act number and its words.
    let epbd = "Directive (EU) 2024/1275 of the European Parliament and of the Council of 24 April 2024 on the energy performance of buildings (recast)";
    assert_eq!(
        reasons(&lists.matches(&event(epbd)), "energy-climate"),
        [
            "act \"Directive (EU) 2024/1275\" (32024L1275)",
            "keyword \"energy performance\"",
            "keyword \"energy\""
        ]
    );
    // Work-life balance in French holds "vie privée" (privacy): equality's, not data
    // protection's.
    let m = lists.matches(&event("Equilibre entre vie professionnelle et vie privée"));
    let wlb = ids(&m);
    assert!(
        wlb.contains(&"equality") && !wlb.contains(&"data-protection"),
        "{wlb:?}"
    );
    // The Council directive on equality bodies is 2022/0401(APP), not 2022/0400(APP).
    let m = lists.matches(&event("COM(2022) 689 final 2022/0401(APP)"));
    assert_eq!(reasons(&m, "equality"), ["dossier 2022/0401(APP)"]);
    // False friends: the industry committee's name (ignored), fuels for ships, the Energy Charter
    // Treaty, the Globalisation Adjustment Fund (not a cohesion fund), women's rights in a
    // third country.
    for title in [
        "OPINION of the Committee on Industry, Research and Energy for the Committee on the Environment, Public Health and Food Safety on the proposal for a directive of the European Parliament and of the Council on the reduction of the impact of certain plastic products on the environment",
        "Proposal for a Regulation on the use of renewable and low-carbon fuels in maritime transport",
        "Withdrawal of the Union from the Energy Charter Treaty ***",
        "Mobilisation of the European Globalisation Adjustment Fund: Application EGF/2023/003 DE/Vallourec – Germany",
        "The increasing and systematic repression of women in Iran",
    ] {
        let m = lists.matches(&event(title));
        for id in ["energy-climate", "cohesion-urban", "equality"] {
            assert!(!ids(&m).contains(&id), "{id}: {title}");
        }
    }
}

/// Title keywords count in an event's title, its dossier's title and a new procedure's
/// titles, never in a summary; exclusions cancel them in the same text as any keyword.
#[test]
fn title_keywords_count_in_titles_only() {
    use veille::model::{Candidate, Titles};
    let lists = set(
        &[(
            "energy",
            "name = \"E\"\nrecipients = [\"a@example.org\"]\ntitle_keywords = [\"climate\", \"Klima*\"]\nexclude = [\"Klimaanlage*\"]\n",
        )],
        &[],
    );
    let mut e = event("Climate: Council agrees its position on the 2040 target");
    e.summary = "Ministers agreed on the climate target.".into();
    assert_eq!(
        reasons(&lists.matches(&e), "energy"),
        ["keyword \"climate\""]
    );
    // The real summary of an EP press release on recharging points: not the group's.
    e.title = "Alternative fuels infrastructure: MEPs want more charging points".into();
    e.summary =
        "To help the EU become climate neutral, MEPs want car-recharging stations every 60 km"
            .into();
    assert!(lists.matches(&e).is_empty());
    e.dossier_title = Some("Europäisches Klimagesetz".into());
    assert_eq!(
        reasons(&lists.matches(&e), "energy"),
        ["keyword \"Klima*\""]
    );
    e.dossier_title = Some("Klimaanlagen in Fahrzeugen".into());
    assert!(lists.matches(&e).is_empty());
    // A free text is read as a title.
    assert_eq!(
        ids(&lists.match_text("EU climate diplomacy after COP29", None)),
        ["energy"]
    );
    let c = Candidate {
        reference: "2026/0012(COD)".parse().unwrap_or_else(|e| panic!("{e}")),
        titles: Titles {
            de: Some("Änderung des Europäischen Klimagesetzes".into()),
            ..Titles::default()
        },
        com: vec![],
        final_act: None,
        subjects: vec![],
        eurovoc: vec![],
    };
    let found = lists.discover(&c, "ep-api");
    let why: Vec<String> = found[0].reasons.iter().map(Reason::as_discovery).collect();
    assert_eq!(why, ["keyword \"Klima*\" in its title"]);
}

/// A keyword found only inside a phrase its watchlist ignores does not count; found
/// elsewhere in the same text too, it does; ignored phrases cancel nothing else, in titles,
/// summaries or a new procedure's titles; `match` says which phrase hid which keyword.
#[test]
fn ignored_phrases_hide_the_keywords_inside_them_only() {
    use veille::model::{Candidate, Titles};
    let lists = set(
        &[(
            "energy",
            "name = \"E\"\nrecipients = [\"a@example.org\"]\nkeywords = [\"energy efficiency\", \"Energie*\"]\ntitle_keywords = [\"energy\"]\nignore = [\"Committee on Industry, Research and Energy\", \"Ausschuss für Industrie, Forschung und Energie\"]\n",
        )],
        &[],
    );
    // Real titles of the Parliament's committee opinions.
    let plastics = "OPINION of the Committee on Industry, Research and Energy for the Committee on the Environment, Public Health and Food Safety on the proposal for a directive of the European Parliament and of the Council on the reduction of the impact of certain plastic products on the environment";
    assert!(lists.matches(&event(plastics)).is_empty());
    assert!(lists.match_text(plastics, None).is_empty());
    let buildings = "OPINION of the Committee on Industry, Research and Energy on the energy performance of buildings and energy efficiency";
    assert_eq!(
        reasons(&lists.matches(&event(buildings)), "energy"),
        ["keyword \"energy efficiency\"", "keyword \"energy\""]
    );
    // In a summary, and with a `*` keyword in German.
    let mut e = event("Stellungnahme zur Verpackungsverordnung");
    e.summary = "Stellungnahme: Ausschuss für Industrie, Forschung und Energie".into();
    assert!(lists.matches(&e).is_empty());
    e.summary = "Ausschuss für Industrie, Forschung und Energie: Energiesparen".into();
    assert_eq!(
        reasons(&lists.matches(&e), "energy"),
        ["keyword \"Energie*\""]
    );
    // A new procedure's titles.
    let c = Candidate {
        reference: "2026/0013(COD)".parse().unwrap_or_else(|e| panic!("{e}")),
        titles: Titles {
            en: Some(plastics.into()),
            ..Titles::default()
        },
        com: vec![],
        final_act: None,
        subjects: vec![],
        eurovoc: vec![],
    };
    assert!(lists.discover(&c, "ep-api").is_empty());
    // `veille match` names the phrase, and only for keywords found nowhere else.
    let why = lists.explain(&[plastics], None, None);
    assert!(why.matches.is_empty());
    assert_eq!(why.ignored.len(), 1, "{:?}", why.ignored);
    assert_eq!(why.ignored[0].keyword, "energy");
    assert_eq!(
        why.ignored[0].phrase,
        "Committee on Industry, Research and Energy"
    );
    assert!(lists.explain(&[buildings], None, None).ignored.is_empty());
}

/// A watchlist without title keywords keeps the fingerprints it had before title keywords
/// existed (hashed from the same parts, in the same way), so an upgrade neither reaches
/// back into the archive nor evaluates remembered candidates again; writing one changes them.
#[test]
fn title_keywords_change_the_fingerprints_only_when_written() {
    let head = "name = \"E\"\nrecipients = [\"a@example.org\"]\nkeywords = [\"climate change\"]\n";
    let one = |text: &str| set(&[("energy", text)], &[]);
    let before = one(head);
    let empty = one(&format!("{head}title_keywords = []\n"));
    let written = one(&format!("{head}title_keywords = [\"climate\"]\n"));
    let w = |s: &WatchlistSet| veille::archive::watchlist_fingerprint(&s.lists()[0]);
    // The parts and the encoding the fingerprint of one watchlist has always hashed.
    let mut h = blake3::Hasher::new();
    let parts: [&[&str]; 5] = [&[], &["climate change"], &[], &[], &[]];
    for part in parts {
        h.update(&(part.len() as u64).to_le_bytes());
        for s in part {
            h.update(&(s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
    }
    assert_eq!(w(&before), h.finalize().to_hex()[..32].to_string());
    assert_eq!(w(&empty), w(&before));
    assert_ne!(w(&written), w(&before));
    assert_eq!(empty.fingerprint(), before.fingerprint());
    assert_ne!(written.fingerprint(), before.fingerprint());
    // Ignored phrases likewise: hashed only when written.
    let no_phrase = one(&format!("{head}ignore = []\n"));
    let phrase = one(&format!("{head}ignore = [\"climate change committee\"]\n"));
    assert_eq!(w(&no_phrase), w(&before));
    assert_ne!(w(&phrase), w(&before));
    assert_ne!(phrase.fingerprint(), before.fingerprint());
}

#[test]
fn a_source_taken_whole_brings_every_item_but_the_excluded() {
    let cohesion = r#"
name = "Cohesion"
recipients = ["c@example.org"]
keywords = ["cohesion policy"]
exclude = ["Common Agricultural Policy"]
all_items_from = ["regio-news"]
"#;
    let lists = set(
        &[("cohesion", cohesion), ("proc", PROC)],
        &["regio-news", "ep-press"],
    );
    // A real title of DG REGIO's news (its newsroom, item type 1165): no keyword in it.
    let mut e = event("Panorama 63 - The Outermost Regions: joining forces across the EU");
    assert!(lists.matches(&e).is_empty(), "from ep-press");
    e.provenance[0].source = "regio-news".into();
    assert_eq!(
        reasons(&lists.matches(&e), "cohesion"),
        ["every item of source \"regio-news\""]
    );
    // Keywords still count, before the source.
    e.title = "Cohesion policy: more than €200 billion ready to be invested in Europe's cities and regions".into();
    assert_eq!(
        reasons(&lists.matches(&e), "cohesion"),
        [
            "keyword \"cohesion policy\"",
            "every item of source \"regio-news\""
        ]
    );
    // An exclusion in the title or the summary leaves the item out.
    e.title = "Outermost regions and the Common Agricultural Policy".into();
    assert!(lists.matches(&e).is_empty());
    e.title = "Outermost regions: specific measures".into();
    e.summary = "Support under the Common Agricultural Policy.".into();
    assert!(lists.matches(&e).is_empty());
    // A source among the others that reported a merged event counts too.
    e.summary.clear();
    e.provenance[0].source = "ep-press".into();
    let mut also = e.provenance[0].clone();
    also.source = "regio-news".into();
    e.provenance.push(also);
    assert_eq!(ids(&lists.matches(&e)), ["cohesion"]);
    // Free text has no source: `match_text` finds by words only.
    assert!(lists.match_text(&e.title, None).is_empty());
}

#[test]
fn a_source_taken_whole_changes_the_fingerprint_only_when_written() {
    let head = "name = \"C\"\nrecipients = [\"a@example.org\"]\nkeywords = [\"cohesion policy\"]\n";
    let one = |text: &str| set(&[("cohesion", text)], &["regio-news"]);
    let w = |s: &WatchlistSet| veille::archive::watchlist_fingerprint(&s.lists()[0]);
    let before = one(head);
    let empty = one(&format!("{head}all_items_from = []\n"));
    let written = one(&format!("{head}all_items_from = [\"regio-news\"]\n"));
    assert_eq!(w(&empty), w(&before));
    assert_ne!(w(&written), w(&before));
    assert_ne!(written.fingerprint(), before.fingerprint());
}
