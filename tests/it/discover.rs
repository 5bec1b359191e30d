//! Discovering new dossiers, through the binary against a loopback server: a procedure the
//! EP API change feed names that veille does not know is read once and evaluated against
//! every watchlist (its titles in every language, its EuroVoc subjects from CELLAR); a
//! procedure found is news once ("New dossiers in your field") and followed for that
//! watchlist; one that matched nothing is remembered and not fetched again.

use crate::support::app::{Source, TestApp};
use crate::support::fixtures;
use crate::support::http::{Response, TestServer};
use veille::model::ProcedureRef;
use veille::sources::{cellar, ep_api};

const NOW: &str = "2026-06-18T08:00:00Z";
const LATER: &str = "2026-06-18T10:00:00Z";
const NEXT_DAY: &str = "2026-06-19T08:00:00Z";

fn proc(s: &str) -> ProcedureRef {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn path_of(server: &TestServer, url: &str) -> String {
    url.strip_prefix(&server.url("")).unwrap_or(url).to_string()
}

/// An Atom change feed naming these procedures (`2025-0260`), shaped as the one
/// `ep_api::parse_feed` reads (tests/fixtures/ep-api-procedures-feed.atom); `updated`
/// makes each version's bytes differ.
fn feed(ids: &[&str], updated: &str) -> String {
    let mut out = String::from(
        "<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"en\"><id>https://data.europarl.europa.eu/api/v2/procedures/feed</id><title type=\"text\">EP Procedures</title>",
    );
    out.push_str(&format!("<updated>{updated}</updated>"));
    for id in ids {
        out.push_str(&format!(
            "<entry><id>https://data.europarl.europa.eu/eli/dl/proc/{id}</id><link href=\"https://data.europarl.europa.eu/eli/dl/proc/{id}\" rel=\"alternate\"/><updated>{updated}</updated></entry>"
        ));
    }
    out.push_str("</feed>");
    out
}

/// A procedure record shaped like the captures, with these English titles and steps.
fn synthetic_procedure(label: &str, title: &str, steps: &[(&str, &str)]) -> Vec<u8> {
    let r = proc(label);
    let id = r.ep_process_id();
    let events: Vec<serde_json::Value> = steps
        .iter()
        .enumerate()
        .map(|(i, (activity, date))| {
            serde_json::json!({
                "id": format!("eli/dl/event/{id}-X{i}-{date}"),
                "type": "Activity",
                "activity_date": date,
                "had_activity_type": format!("def/ep-activities/{activity}"),
            })
        })
        .collect();
    let kind = label
        .rsplit_once('(')
        .map(|(_, k)| k.trim_end_matches(')'))
        .unwrap_or("COD");
    serde_json::to_vec(&serde_json::json!({
        "data": [{
            "id": format!("eli/dl/proc/{id}"),
            "type": "Process",
            "process_id": id,
            "label": label,
            "process_type": format!("def/ep-procedure-types/{kind}"),
            "process_title": {"en": title},
            "consists_of": events,
        }],
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A CELLAR tree notice naming only its procedure.
fn bare_notice(r: &ProcedureRef) -> String {
    let id = r.eurlex_id();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><NOTICE decoding=\"eng\" type=\"tree\"><DOSSIER><SAMEAS><URI><VALUE>http://publications.europa.eu/resource/procedure/{id}</VALUE><IDENTIFIER>{id}</IDENTIFIER><TYPE>procedure</TYPE></URI></SAMEAS></DOSSIER></NOTICE>"
    )
}

struct Rig {
    app: TestApp,
    api: String,
    base: String,
}

impl Rig {
    /// An EP API and a CELLAR on one loopback server; the events feed is empty.
    fn new() -> Rig {
        let server = TestServer::start_background();
        let api = server.url("/api/v2");
        let base = server.url("").trim_end_matches('/').to_string();
        let sources = vec![
            Source::new("ep-api", "ep-api", api.clone()),
            Source::new("cellar", "cellar", base.clone()),
        ];
        let app = TestApp::new(server, sources);
        let rig = Rig { app, api, base };
        for first in [true, false] {
            let urls = ep_api::feed_urls(&rig.api, first);
            rig.route(&urls[1], Response::status(204));
        }
        rig
    }

    fn route(&self, url: &str, r: Response) {
        let p = path_of(&self.app.server, url);
        self.app.server.route(&p, r);
    }

    /// The procedures feed, at the first poll's window and the later ones'.
    fn serve_feed(&self, ids: &[&str], updated: &str) {
        for first in [true, false] {
            let url = &ep_api::feed_urls(&self.api, first)[0];
            self.route(
                url,
                Response::ok(feed(ids, updated)).content_type("application/atom+xml"),
            );
        }
    }

    fn serve_procedure(&self, r: &str, body: Vec<u8>) {
        let url = ep_api::procedure_url(&self.api, &proc(r));
        self.route(&url, Response::ok(body).content_type("application/ld+json"));
    }

    fn serve_notice(&self, r: &str, body: impl Into<Vec<u8>>) {
        let url = cellar::procedure_url(&self.base, &proc(r));
        self.route(&url, Response::ok(body).content_type("application/xml"));
    }

    fn procedure_requests(&self, r: &str) -> usize {
        let url = ep_api::procedure_url(&self.api, &proc(r));
        self.app
            .server
            .requests_to(&path_of(&self.app.server, &url))
            .len()
    }

    fn notice_requests(&self, r: &str) -> usize {
        let url = cellar::procedure_url(&self.base, &proc(r));
        self.app
            .server
            .requests_to(&path_of(&self.app.server, &url))
            .len()
    }

    fn poll(&self, now: &str) {
        self.app.expect(Some(now), &["poll"], 0);
    }

    fn preview(&self, now: &str, watchlist: &str) -> serde_json::Value {
        self.app.json(
            Some(now),
            &["digest", "preview", watchlist, "--format", "json"],
            0,
        )
    }
}

/// The entries of a preview of this kind.
fn entries_of<'a>(preview: &'a serde_json::Value, kind: &str) -> Vec<&'a serde_json::Value> {
    preview["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == kind)
        .collect()
}

fn reasons(e: &serde_json::Value) -> Vec<String> {
    e["matched_by"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect()
}

#[test]
fn new_procedures_are_found_by_english_and_german_titles_and_eurovoc_subjects() {
    let rig = Rig::new();
    // A watchlist naming no dossier at all; one whose keyword is only in the German title
    // of 2025/0581(CNS); one with only a EuroVoc subject.
    rig.app.add_watchlist(
        "customs",
        "name = \"Customs\"\nrecipients = [\"customs@example.org\"]\nkeywords = [\"customs duties\"]\n",
    );
    rig.app.add_watchlist(
        "tabak",
        "name = \"Tabak\"\nrecipients = [\"tabak@example.org\"]\nkeywords = [\"Verbrauchsteuersystem\"]\nlanguage = \"fr\"\n",
    );
    rig.app.add_watchlist(
        "plastics",
        "name = \"Plastics\"\nrecipients = [\"plastics@example.org\"]\nsubjects = [\"Marine Pollution\", \"eurovoc:99999\"]\n",
    );
    rig.app.expect(None, &["check"], 0);
    // `match` says which watchlist a EuroVoc label would find.
    let said = rig.app.expect(None, &["match", "MARINE pollution"], 0);
    assert!(
        said.contains("plastics: subject \"Marine Pollution\" (EuroVoc)"),
        "{said}"
    );
    for (r, file) in [
        (
            "2025/0260(COD)",
            "ep-api/procedure_2025-0260_COD.jsonld.json",
        ),
        (
            "2025/0581(CNS)",
            "ep-api/procedure_2025-0581_CNS.jsonld.json",
        ),
        (
            "2016/0132(COD)",
            "ep-api/procedure_2016-0132_COD.jsonld.json",
        ),
    ] {
        rig.serve_procedure(r, fixtures::read(file));
    }
    rig.serve_procedure(
        "2018/0172(COD)",
        synthetic_procedure(
            "2018/0172(COD)",
            "Reduction of the impact of certain plastic products on the environment",
            &[("REFERRAL", "2026-06-10")],
        ),
    );
    rig.serve_notice(
        "2018/0172(COD)",
        fixtures::read(
            "eurlex-cellar-notice/procedure_2018_172_COD_tree-notice_single-use-plastics.xml",
        ),
    );
    rig.serve_notice("2016/0132(COD)", bare_notice(&proc("2016/0132(COD)")));
    rig.serve_feed(
        &["2025-0260", "2025-0581", "2016-0132", "2018-0172"],
        "2026-06-18T06:00:00Z",
    );

    // First poll: each new procedure is read once from the EP API.
    rig.poll(NOW);
    for r in [
        "2025/0260(COD)",
        "2025/0581(CNS)",
        "2016/0132(COD)",
        "2018/0172(COD)",
    ] {
        assert_eq!(rig.procedure_requests(r), 1, "{r}");
    }
    let customs = rig.preview(NOW, "customs");
    let found = entries_of(&customs, "discovered");
    assert_eq!(found.len(), 1, "{customs:#}");
    assert_eq!(found[0]["dossier"], "2025/0260(COD)");
    assert_eq!(
        reasons(found[0]),
        ["new dossier: keyword \"customs duties\" in its title"]
    );
    // Its steps within digest.backfill are news for it too.
    assert!(
        entries_of(&customs, "plenary-vote").len() + entries_of(&customs, "committee-vote").len()
            > 0,
        "{customs:#}"
    );
    let tabak = rig.preview(NOW, "tabak");
    let found = entries_of(&tabak, "discovered");
    assert_eq!(found.len(), 1, "{tabak:#}");
    assert_eq!(found[0]["dossier"], "2025/0581(CNS)");
    assert_eq!(
        reasons(found[0]),
        ["new dossier: keyword \"Verbrauchsteuersystem\" in its title"]
    );
    // The EP API record alone says nothing of EuroVoc: not found yet.
    assert!(entries_of(&rig.preview(NOW, "plastics"), "discovered").is_empty());

    // The digest says it under its own heading, in the watchlist's language.
    let (text, _) = rig
        .app
        .expect_both(Some(NOW), &["digest", "preview", "customs"], 0);
    assert!(text.contains("== New dossiers in your field =="), "{text}");
    assert!(
        text.contains(
            "Non-application of customs duties on imports of certain goods (2025/0260(COD))"
        ),
        "{text}"
    );
    assert!(
        text.contains("new dossier: keyword \"customs duties\" in its title"),
        "{text}"
    );
    let (text, _) = rig
        .app
        .expect_both(Some(NOW), &["digest", "preview", "tabak"], 0);
    assert!(
        text.contains("== Nouveaux dossiers dans votre domaine =="),
        "{text}"
    );

    // Second poll (the feed names them all again): the candidates are not fetched again;
    // CELLAR reads the candidates' notices once, and a EuroVoc subject finds 2018/0172.
    rig.serve_feed(
        &["2025-0260", "2025-0581", "2016-0132", "2018-0172"],
        "2026-06-18T09:00:00Z",
    );
    rig.poll(LATER);
    assert_eq!(rig.procedure_requests("2016/0132(COD)"), 1);
    assert_eq!(rig.notice_requests("2018/0172(COD)"), 1);
    assert_eq!(rig.notice_requests("2016/0132(COD)"), 1);
    let plastics = rig.preview(LATER, "plastics");
    let found = entries_of(&plastics, "discovered");
    assert_eq!(found.len(), 1, "{plastics:#}");
    assert_eq!(found[0]["dossier"], "2018/0172(COD)");
    assert_eq!(
        reasons(found[0]),
        ["new dossier: subject \"Marine Pollution\" (EuroVoc)"]
    );
    // Found once: the second poll did not report 2025/0260 again.
    assert_eq!(
        entries_of(&rig.preview(LATER, "customs"), "discovered").len(),
        1
    );
    // dossier show lists the EuroVoc subjects.
    let shown = rig
        .app
        .expect(Some(LATER), &["dossier", "show", "2018/0172(COD)"], 0);
    assert!(
        shown.contains("marine pollution (EuroVoc, eurovoc:2535)"),
        "{shown}"
    );
    let json = rig.app.json(
        Some(LATER),
        &["dossier", "show", "2018/0172(COD)", "--format", "json"],
        0,
    );
    assert!(
        json["eurovoc"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["id"] == "2535"),
        "{json:#}"
    );

    // Third poll, the next day: nothing is fetched again for the candidate.
    rig.app
        .expect(Some(LATER), &["digest", "send", "customs"], 0);
    rig.serve_feed(
        &["2025-0260", "2025-0581", "2016-0132", "2018-0172"],
        "2026-06-19T06:00:00Z",
    );
    rig.poll(NEXT_DAY);
    assert_eq!(rig.procedure_requests("2016/0132(COD)"), 1);
    assert_eq!(rig.notice_requests("2016/0132(COD)"), 1);
    assert!(
        entries_of(&rig.preview(NEXT_DAY, "customs"), "discovered").is_empty(),
        "sent once, not reported again"
    );
}

#[test]
fn a_later_step_of_a_dossier_found_by_a_german_title_reaches_its_watchlist() {
    let rig = Rig::new();
    rig.app.add_watchlist(
        "tabak",
        "name = \"Tabak\"\nrecipients = [\"tabak@example.org\"]\nkeywords = [\"Verbrauchsteuersystem\"]\n",
    );
    let record = fixtures::read("ep-api/procedure_2025-0581_CNS.jsonld.json");
    rig.serve_procedure("2025/0581(CNS)", record.clone());
    rig.serve_feed(&["2025-0581"], "2026-06-18T06:00:00Z");
    rig.poll(NOW);
    assert_eq!(
        entries_of(&rig.preview(NOW, "tabak"), "discovered").len(),
        1
    );
    rig.app.expect(Some(NOW), &["digest", "send", "tabak"], 0);

    // A week later the Parliament signs the act: a step whose English text names no
    // keyword of the watchlist.
    let mut v: serde_json::Value =
        serde_json::from_slice(&record).unwrap_or_else(|e| panic!("{e}"));
    let events = v["data"][0]["consists_of"]
        .as_array_mut()
        .unwrap_or_else(|| panic!("consists_of"));
    events.push(serde_json::json!({
        "id": "eli/dl/event/2025-0581-SIGN-2026-06-24",
        "type": "Activity",
        "activity_date": "2026-06-24",
        "had_activity_type": "def/ep-activities/SIGNATURE",
    }));
    rig.serve_procedure("2025/0581(CNS)", serde_json::to_vec(&v).unwrap_or_default());
    rig.serve_feed(&["2025-0581"], "2026-06-25T06:00:00Z");
    rig.poll("2026-06-25T08:00:00Z");
    let preview = rig.preview("2026-06-25T08:00:00Z", "tabak");
    let signed = entries_of(&preview, "signed");
    assert_eq!(signed.len(), 1, "{preview:#}");
    assert_eq!(signed[0]["dossier"], "2025/0581(CNS)");
    assert_eq!(
        reasons(signed[0]),
        ["a dossier found for you as new (keyword \"Verbrauchsteuersystem\" in its title)"]
    );
    assert!(entries_of(&preview, "discovered").is_empty(), "{preview:#}");
}

#[test]
fn fifty_new_procedures_cost_fifty_records_and_fifty_notices_once() {
    let rig = Rig::new();
    rig.app.add_watchlist(
        "customs",
        "name = \"Customs\"\nrecipients = [\"customs@example.org\"]\nkeywords = [\"customs duties\"]\n",
    );
    let refs: Vec<String> = (1..=50).map(|n| format!("2026/{n:04}(COD)")).collect();
    for r in &refs {
        rig.serve_procedure(
            r,
            synthetic_procedure(r, &format!("Fishing quota number {r}"), &[]),
        );
        rig.serve_notice(r, bare_notice(&proc(r)));
    }
    let ids: Vec<String> = refs.iter().map(|r| proc(r).ep_process_id()).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    rig.serve_feed(&ids, "2026-06-18T06:00:00Z");
    let count = |rig: &Rig| {
        let records: usize = refs.iter().map(|r| rig.procedure_requests(r)).sum();
        let notices: usize = refs.iter().map(|r| rig.notice_requests(r)).sum();
        (records, notices, rig.app.server.requests().len())
    };

    rig.poll(NOW);
    let (records, notices, first) = count(&rig);
    assert_eq!((records, notices), (50, 0));
    // The change feeds and the fifty records.
    assert_eq!(first, 52);

    rig.serve_feed(&ids, "2026-06-18T09:00:00Z");
    rig.poll(LATER);
    let (records, notices, second) = count(&rig);
    assert_eq!((records, notices), (50, 50));
    assert_eq!(second - first, 2 + 50, "the feeds and the notices");

    rig.serve_feed(&ids, "2026-06-19T06:00:00Z");
    rig.poll(NEXT_DAY);
    let (records, notices, third) = count(&rig);
    assert_eq!((records, notices), (50, 50));
    assert_eq!(third - second, 2, "the feeds only");
}

#[test]
fn a_watchlist_added_later_finds_a_remembered_candidate_without_fetching_it() {
    let rig = Rig::new();
    rig.app.add_watchlist(
        "customs",
        "name = \"Customs\"\nrecipients = [\"customs@example.org\"]\nkeywords = [\"customs duties\"]\n",
    );
    rig.serve_procedure(
        "2025/0581(CNS)",
        fixtures::read("ep-api/procedure_2025-0581_CNS.jsonld.json"),
    );
    rig.serve_feed(&["2025-0581"], "2026-06-18T06:00:00Z");
    rig.poll(NOW);
    assert_eq!(rig.procedure_requests("2025/0581(CNS)"), 1);

    // A Dutch keyword, only in the Dutch title: the candidate is evaluated again at the
    // next step, from what was remembered of it.
    rig.app.add_watchlist(
        "accijns",
        "name = \"Accijns\"\nrecipients = [\"nl@example.org\"]\nkeywords = [\"accijns\"]\n",
    );
    rig.serve_feed(&[], "2026-06-18T09:00:00Z");
    rig.poll(LATER);
    let preview = rig.preview(LATER, "accijns");
    let found = entries_of(&preview, "discovered");
    assert_eq!(found.len(), 1, "{preview:#}");
    assert_eq!(found[0]["dossier"], "2025/0581(CNS)");
    assert_eq!(
        reasons(found[0]),
        ["new dossier: keyword \"accijns\" in its title"]
    );
}

#[test]
fn check_validates_subjects_and_accepts_a_watchlist_of_subjects_only() {
    let rig = Rig::new();
    rig.app.add_watchlist(
        "subjects",
        "name = \"S\"\nrecipients = [\"s@example.org\"]\nsubjects = [\"public contract\", \"eurovoc:4493\", \"eurovoc:c_2b70515a\"]\n",
    );
    rig.app.expect(None, &["check"], 0);
    rig.app.add_watchlist(
        "bad",
        "name = \"B\"\nrecipients = [\"b@example.org\"]\nsubjects = [\"\", \"eurovoc:12a\", 3, \"Public Contract\", \"public-contract\"]\n",
    );
    rig.app.add_watchlist(
        "kind",
        "name = \"K\"\nrecipients = [\"k@example.org\"]\nsubjects = \"plastic waste\"\n",
    );
    let (out, err) = rig.app.expect_both(None, &["check"], 3);
    let all = format!("{out}{err}");
    assert!(
        all.contains("bad.toml:3:13: an empty subject matches nothing"),
        "{all}"
    );
    assert!(
        all.contains("bad.toml:3:17: subject \"eurovoc:12a\" is not a EuroVoc id"),
        "{all}"
    );
    assert!(
        all.contains("bad.toml:3:32: each entry of \"subjects\" must be a string"),
        "{all}"
    );
    assert!(
        all.contains(
            "bad.toml:3:54: subject \"public-contract\" duplicates \"Public Contract\" (line 3)"
        ),
        "{all}"
    );
    assert!(
        all.contains("kind.toml:3:12: \"subjects\" must be an array of strings"),
        "{all}"
    );
}
