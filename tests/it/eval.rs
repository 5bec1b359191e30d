//! The quality measure of the shipped watchlists: precision and recall on the labelled real
//! EU titles of `tests/fixtures/titles/eval.tsv` (its header says where each title comes
//! from and how the rows are split into `tune` and the held-out `eval`), through the
//! library's `WatchlistSet` on the shipped `watchlists/`, as a poll matches a title. The
//! numbers are printed (`cargo nextest run eval --no-capture`), per part, language,
//! watchlist, set and origin (the sites of the shipped sources, other EU sites, other
//! pages); the target is asserted on the held-out part in the languages the focus groups
//! read. For the three newer groups a title's labels are the majority of three labellers
//! (the file's header), and the first labeller's figures, the labellers' agreement and the
//! figures with the field feeds shipped commented out taken whole are printed beside them.
//! News items with their summaries (`titles/eval-summaries.tsv`) are read as a poll reads a
//! feed item, title and summary, and measured against their title alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use veille::watchlist::{load_dir, WatchlistSet};

use crate::support::fixtures;

/// The languages the focus groups read (the shipped keywords are written in them).
const READ: [&str; 4] = ["en", "fr", "de", "nl"];

/// The watchlists of energy and climate, cohesion and urban policy, and equality, asserted
/// one by one on the held-out part of every set: precision at least 0.9, and the recall
/// given here, a floor under the figure measured (the target, 0.9, is not reached). On
/// titles their keywords were never reviewed on (each later set's rows, read after the
/// keywords were written, measured before the review that used that set's tune rows, on
/// the first labeller's labels) they found, in recall: energy-climate 0.53, 0.71, 0.62,
/// 0.70, 0.57, 0.67 (the seventh set, after the title keywords; 0.55 before them), 0.84,
/// 0.74 (the ninth), 0.86 (the tenth, on the majority of three labellers like every
/// figure from here on), 0.85 (the twelfth), 0.94 and 0.88 (the thirteenth and fourteenth,
/// titles of the shipped sources' sites only), cohesion-urban 0.77, 0.59, 0.56, 0.63 (0.55
/// before), 0.56, 0.65, 0.75, 0.70, 0.83 and 0.80, equality 0.65, 0.52, 0.64, 0.49, 0.76,
/// 0.63, 0.74, 0.82, 0.83 and 0.90. The whole labelled set, both parts, is printed too.
const NEW_GROUPS: [(&str, f64); 3] = [
    ("energy-climate", 0.88),
    ("cohesion-urban", 0.78),
    ("equality", 0.85),
];

/// Those three on the held-out titles read on the sites of the sources `config.toml` ships
/// ([`origin`]), which is what veille reads out of the box: precision at least 0.9, and the
/// recall given here, a floor under the figure measured (0.958, 0.869 and 0.932). The
/// thirteenth and fourteenth sets hold only such titles; unseen, both parts, before their
/// reviews, they found 0.939 and 0.881, 0.829 and 0.800, 0.833 and 0.900, at 0.951 and
/// 0.894, 0.968 and 0.966, 0.962 and 0.783 precision.
const SHIPPED_SITES: [(&str, f64); 3] = [
    ("energy-climate", 0.94),
    ("cohesion-urban", 0.85),
    ("equality", 0.92),
];

/// The origin of the titles [`SHIPPED_SITES`] is asserted on.
const SHIPPED: &str = "the shipped sources' sites";

/// The six watchlists shipped before those three: their whole held-out part keeps the bar
/// it had (0.95).
const FIRST_SIX: [&str; 6] = [
    "air-quality",
    "data-protection",
    "employers",
    "public-procurement",
    "state-aid",
    "urban-mobility",
];

/// Fewest held-out titles labelled with each of those groups for its figures to be asserted.
const MIN_NEW_POSITIVES: usize = 15;

struct Row {
    title: String,
    language: String,
    /// The first labeller's groups.
    labels: BTreeSet<String>,
    /// The second labeller's, for the three newer groups only (rows in the languages read).
    second: Option<BTreeSet<String>>,
    /// The third labeller's, for the three newer groups, where the first two disagree.
    third: Option<BTreeSet<String>>,
    split: String,
    /// The set the row was added with: "first", or the name of its `#@` line.
    set: String,
    /// Where it was read ([`origin`]).
    origin: &'static str,
    /// The watchlist a field feed would bring it to ([`field_feed`]).
    feed: Option<&'static str>,
}

fn rows() -> Vec<Row> {
    let text = String::from_utf8(fixtures::own("titles/eval.tsv")).unwrap_or_default();
    let mut set = "first".to_string();
    let mut rows = Vec::new();
    for l in text.lines() {
        if let Some(name) = l.strip_prefix("#@") {
            set = name.trim().to_string();
        }
        if is_comment(l) || l.trim().is_empty() {
            continue;
        }
        let c: Vec<&str> = l.split('\t').collect();
        assert!(c.len() == 5 || c.len() == 7, "five or seven columns: {l}");
        assert!(!c[3].trim().is_empty(), "no provenance: {l}");
        assert!(c[4] == "tune" || c[4] == "eval", "split: {l}");
        rows.push(Row {
            title: c[0].to_string(),
            language: c[1].to_string(),
            labels: groups(c[2]),
            second: c.get(5).map(|g| groups(g)),
            third: c.get(6).filter(|g| **g != ".").map(|g| groups(g)),
            split: c[4].to_string(),
            set: set.clone(),
            origin: origin(c[3]),
            feed: field_feed(c[3]),
        });
    }
    rows
}

/// A comment of the labelled files: a line that starts with `#` and holds no tab. A row
/// whose title starts with `#` ("#EURegionsWeek - Join us online") is a row.
fn is_comment(line: &str) -> bool {
    line.starts_with('#') && !line.contains('\t')
}

/// A labels cell: comma-separated watchlist ids, "-" for none.
fn groups(cell: &str) -> BTreeSet<String> {
    cell.split(',')
        .filter(|x| *x != "-")
        .map(str::to_string)
        .collect()
}

impl Row {
    /// Whether the title belongs to watchlist `id`: for the three newer groups, the
    /// majority of the labellers (the first two when they agree, else the third); for the
    /// others, and rows not labelled again, the first labeller.
    fn belongs(&self, id: &str) -> bool {
        let first = self.labels.contains(id);
        let newer = NEW_GROUPS.iter().any(|(n, _)| *n == id);
        let Some(second) = self.second.as_ref().filter(|_| newer) else {
            return first;
        };
        if second.contains(id) == first {
            return first;
        }
        let third = self.third.as_ref();
        let third = third.unwrap_or_else(|| panic!("labellers disagree, no third: {}", self.title));
        third.contains(id)
    }
}

/// True and false positives and negatives over (title, watchlist) pairs.
#[derive(Default, Clone, Copy)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
    titles: usize,
}

impl Counts {
    fn precision(&self) -> f64 {
        self.tp as f64 / ((self.tp + self.fp) as f64).max(1.0)
    }
    fn recall(&self) -> f64 {
        self.tp as f64 / ((self.tp + self.fn_) as f64).max(1.0)
    }
    fn line(&self) -> String {
        format!(
            "precision {:.3} recall {:.3} ({} titles, {} tp, {} fp, {} fn)",
            self.precision(),
            self.recall(),
            self.titles,
            self.tp,
            self.fp,
            self.fn_
        )
    }
}

/// Count one title's outcome for each watchlist: (id, labelled, matched).
fn add(c: &mut Counts, outcomes: &[(&str, bool, bool)]) {
    c.titles += 1;
    for (_, want, have) in outcomes {
        match (want, have) {
            (true, true) => c.tp += 1,
            (false, true) => c.fp += 1,
            (true, false) => c.fn_ += 1,
            (false, false) => {}
        }
    }
}

/// Where a labelled title was read: on the sites of the sources `config.toml` ships (the
/// captures; the Parliament's documents, press and Legislative Observatory; EUR-Lex and
/// the Publications Office; the Council; the Commission's press corner and Have Your Say;
/// the hand-typed EUR-Lex and OEIL titles), which is what veille reads out of the box; on
/// the other EU sites (a Directorate-General's news, the Committee of the Regions, the
/// Urban Agenda's pages), which a field's own feed taken whole may bring; or on other
/// pages (national parliaments and governments, associations, news sites).
fn origin(provenance: &str) -> &'static str {
    let url = provenance
        .split_whitespace()
        .find_map(|w| w.split("://").nth(1))
        .unwrap_or("");
    let (host, path) = url.split_once('/').unwrap_or((url, ""));
    let host = host.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let path = format!("/{path}");
    let shipped = provenance.starts_with("captured")
        || provenance.starts_with("GitHub")
        || provenance.starts_with("legacy set")
        || shipped_site(host, &path);
    if shipped {
        SHIPPED
    } else if host == "europa.eu" || host.ends_with(".europa.eu") {
        "other EU sites"
    } else {
        "other pages"
    }
}

/// The watchlist that would take the title whole if the field feed `config.toml` ships
/// commented out for it were enabled as its comment says: a page of DG REGIO's news and
/// newsletters (`regio-news`, cohesion-urban) or of EIGE's site (`eige-news`, equality).
/// The feeds carry their news items; their pages are where the labelled titles were read,
/// so this models them, it does not replay them.
fn field_feed(provenance: &str) -> Option<&'static str> {
    let regio = [
        "ec.europa.eu/newsroom/regio/",
        "ec.europa.eu/regional_policy/",
    ];
    if regio.iter().any(|p| provenance.contains(p)) {
        Some("cohesion-urban")
    } else if provenance.contains("eige.europa.eu/") {
        Some("equality")
    } else {
        None
    }
}

/// A page of one of the shipped sources' sites (`config.toml`): ep-api, oeil and ep-press
/// (the Parliament's documents, its observatory and its press), cellar and the EUR-Lex
/// feeds, council-press, commission-press (and the press releases it replaced) and
/// have-your-say.
fn shipped_site(host: &str, path: &str) -> bool {
    let under = |prefixes: &[&str]| prefixes.iter().any(|p| path.starts_with(p));
    match host {
        "eur-lex.europa.eu" | "eurlex.europa.eu" | "publications.europa.eu" => true,
        "consilium.europa.eu" | "data.europarl.europa.eu" => true,
        "oeil.europarl.europa.eu" | "oeil.secure.europarl.europa.eu" => true,
        "europarl.europa.eu" => under(&["/doceo/", "/sides/", "/news/", "/rss/"]),
        "europa.eu" => under(&["/rapid/"]),
        "ec.europa.eu" => under(&["/commission/presscorner", "/info/law/better-regulation"]),
        _ => false,
    }
}

/// Every count the measure prints, keyed by part ("tune", "eval") first.
#[derive(Default)]
struct Tally {
    /// (split, in the languages read?).
    by_part: BTreeMap<(String, bool), Counts>,
    by_lang: BTreeMap<(String, String), Counts>,
    /// (split, watchlist), languages read only; likewise below.
    by_list: BTreeMap<(String, String), Counts>,
    /// (split, set, watchlist): each later set's held-out rows were labelled, and first
    /// matched, after the keywords they test were written.
    by_set: BTreeMap<(String, String, String), Counts>,
    /// (split, origin, watchlist).
    by_origin: BTreeMap<(String, &'static str, String), Counts>,
    misses: Vec<String>,
}

impl Tally {
    /// Count one title's outcome for each watchlist: (id, labelled, matched).
    fn count(&mut self, r: &Row, outcomes: &[(&str, bool, bool)]) {
        let read = READ.contains(&r.language.as_str());
        let split = &r.split;
        add(
            self.by_part.entry((split.clone(), read)).or_default(),
            outcomes,
        );
        let lang = (split.clone(), r.language.clone());
        add(self.by_lang.entry(lang).or_default(), outcomes);
        for o in outcomes {
            let (id, want, have) = *o;
            if read {
                let one = std::slice::from_ref(o);
                add(
                    self.by_list.entry((split.clone(), id.into())).or_default(),
                    one,
                );
                let set = (split.clone(), r.set.clone(), id.to_string());
                add(self.by_set.entry(set).or_default(), one);
                let from = (split.clone(), r.origin, id.to_string());
                add(self.by_origin.entry(from).or_default(), one);
            }
            if want != have && (read || split == "tune") {
                let what = if want { "missed" } else { "false" };
                let line = format!("{split} {what} {id}: [{}] {}", r.language, r.title);
                self.misses.push(line);
            }
        }
    }

    fn list(&self, split: &str, id: &str) -> Counts {
        let key = (split.to_string(), id.to_string());
        self.by_list.get(&key).copied().unwrap_or_default()
    }

    fn print(&mut self) {
        self.misses.sort();
        for m in &self.misses {
            println!("{m}");
        }
        for ((split, read), c) in &self.by_part {
            let langs = if *read {
                "en/fr/de/nl"
            } else {
                "other languages"
            };
            println!("{split} {langs}: {}", c.line());
        }
        for ((split, lang), c) in &self.by_lang {
            println!("  {split} [{lang}]: {}", c.line());
        }
        for ((split, id), c) in &self.by_list {
            println!("  {split} {id} (en/fr/de/nl): {}", c.line());
        }
        let new = |id: &str| NEW_GROUPS.iter().any(|(n, _)| *n == id);
        for ((split, set, id), c) in self.by_set.iter().filter(|(k, _)| new(&k.2)) {
            println!("  {split} {id}, {set} set (en/fr/de/nl): {}", c.line());
        }
        for ((split, from, id), c) in self.by_origin.iter().filter(|(k, _)| new(&k.2)) {
            println!(
                "  {split} {id}, titles from {from} (en/fr/de/nl): {}",
                c.line()
            );
        }
    }
}

#[test]
fn shipped_watchlists_precision_and_recall_on_labelled_titles() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("watchlists");
    let lists: WatchlistSet = load_dir(&dir, &[]).unwrap_or_else(|e| panic!("{e:?}"));
    let rows = rows();
    assert!(rows.len() >= 300, "only {} labelled titles", rows.len());
    let mut tally = Tally::default();
    let mut by_first = Tally::default();
    let mut with_feeds = Tally::default();
    let mut agreement = Agreement::default();
    for r in &rows {
        let labelled = r.labels.iter().chain(r.second.iter().flatten());
        for l in labelled.chain(r.third.iter().flatten()) {
            assert!(lists.get(l).is_some(), "unknown watchlist {l}: {}", r.title);
        }
        let got: BTreeSet<String> = lists
            .match_text(&r.title, None)
            .into_iter()
            .map(|m| m.watchlist)
            .collect();
        let outcomes = |label: &dyn Fn(&str) -> bool| -> Vec<(&str, bool, bool)> {
            let lists = lists.lists().iter();
            lists
                .map(|l| (l.id.as_str(), label(&l.id), got.contains(&l.id)))
                .collect()
        };
        tally.count(r, &outcomes(&|id| r.belongs(id)));
        by_first.count(r, &outcomes(&|id| r.labels.contains(id)));
        let fed: Vec<(&str, bool, bool)> = outcomes(&|id| r.belongs(id))
            .into_iter()
            .map(|(id, want, have)| (id, want, have || r.feed == Some(id)))
            .collect();
        with_feeds.count(r, &fed);
        agreement.count(r);
    }
    tally.print();
    agreement.print();
    for split in ["eval", "tune"] {
        for (id, _) in NEW_GROUPS {
            let c = with_feeds.list(split, id);
            println!(
                "  {split} {id}, with the field feeds shipped commented out taken whole (en/fr/de/nl): {}",
                c.line()
            );
        }
    }
    for (id, _) in NEW_GROUPS {
        let c = by_first.list("eval", id);
        println!(
            "  eval {id}, first labeller alone (en/fr/de/nl): {}",
            c.line()
        );
    }
    assert_new_groups(&tally);
    let eval = tally.by_part.get(&("eval".to_string(), true)).copied();
    let eval = eval.unwrap_or_default();
    assert!(eval.titles >= 100, "eval: only {} titles", eval.titles);
    // The first six groups together, over the held-out titles of every set (printed) and
    // of the first set, on which their bar was set (asserted).
    let all = six_groups(|id| tally.by_list.get(&("eval".to_string(), id.to_string())));
    println!("eval en/fr/de/nl, the first six groups: {}", all.line());
    let first_set = |id: &str| ("eval".to_string(), "first".to_string(), id.to_string());
    let first = six_groups(|id| tally.by_set.get(&first_set(id)));
    let line = first.line();
    println!("eval en/fr/de/nl, the first six groups, first set: {line}");
    assert!(
        first.precision() >= 0.95 && first.recall() >= 0.95,
        "eval en/fr/de/nl, the first six groups, first set: {line}"
    );
}

/// The three groups added with the rest of the work programme: each is measured on its own
/// held-out pairs (en/fr/de/nl), which must hold enough positives to mean something; the
/// whole labelled set, both parts, is printed.
fn assert_new_groups(tally: &Tally) {
    for (id, min_recall) in NEW_GROUPS {
        let c = tally.list("eval", id);
        assert_held_out(&c, min_recall, &format!("eval {id}"));
        let t = tally.list("tune", id);
        let whole = Counts {
            tp: c.tp + t.tp,
            fp: c.fp + t.fp,
            fn_: c.fn_ + t.fn_,
            titles: c.titles + t.titles,
        };
        println!("  whole set {id} (en/fr/de/nl): {}", whole.line());
    }
    for (id, min_recall) in SHIPPED_SITES {
        let key = ("eval".to_string(), SHIPPED, id.to_string());
        let c = tally.by_origin.get(&key).copied().unwrap_or_default();
        assert_held_out(&c, min_recall, &format!("eval {id}, titles from {SHIPPED}"));
    }
}

/// One group's held-out figures (`what` names them): enough positives to mean something,
/// precision at least 0.9, recall at least `min_recall`.
fn assert_held_out(c: &Counts, min_recall: f64, what: &str) {
    let positives = c.tp + c.fn_;
    assert!(
        positives >= MIN_NEW_POSITIVES,
        "{what}: only {positives} labelled titles"
    );
    assert!(
        c.precision() >= 0.9 && c.recall() >= min_recall,
        "{what} (en/fr/de/nl): {}",
        c.line()
    );
}

/// How often the first two labellers agree on each of the three newer groups, over the
/// rows both labelled (en/fr/de/nl): [both, first only, second only, neither] per group.
#[derive(Default)]
struct Agreement {
    cells: BTreeMap<&'static str, [usize; 4]>,
    thirds: usize,
}

impl Agreement {
    fn count(&mut self, r: &Row) {
        let Some(second) = &r.second else { return };
        self.thirds += usize::from(r.third.is_some());
        for (id, _) in NEW_GROUPS {
            let (a, b) = (r.labels.contains(id), second.contains(id));
            let cell = match (a, b) {
                (true, true) => 0,
                (true, false) => 1,
                (false, true) => 2,
                (false, false) => 3,
            };
            self.cells.entry(id).or_default()[cell] += 1;
        }
    }

    /// Raw agreement and Cohen's kappa (agreement beyond what chance would give).
    fn print(&self) {
        println!("labellers: {} titles went to a third labeller", self.thirds);
        for (id, [both, first, second, neither]) in &self.cells {
            let n = (both + first + second + neither) as f64;
            let observed = (both + neither) as f64 / n;
            let yes = ((both + first) as f64 / n) * ((both + second) as f64 / n);
            let no = ((second + neither) as f64 / n) * ((first + neither) as f64 / n);
            let kappa = (observed - yes - no) / (1.0 - yes - no);
            println!(
                "  labellers on {id}: agree {observed:.3}, kappa {kappa:.3} \
                 (both {both}, first only {first}, second only {second}, neither {neither})"
            );
        }
    }
}

/// The first six groups' counts added up, each read by `of`.
fn six_groups<'a>(of: impl Fn(&str) -> Option<&'a Counts>) -> Counts {
    let mut six = Counts::default();
    for id in FIRST_SIX {
        let c = of(id).copied().unwrap_or_default();
        six.titles = c.titles;
        six.tp += c.tp;
        six.fp += c.fp;
        six.fn_ += c.fn_;
    }
    six
}

/// Precision and recall floors of the three newer groups on the held-out news items read
/// with their summaries (`shipped_watchlists_on_labelled_news_items_with_their_summaries`),
/// under the figures first measured on them, unseen (both parts): energy-climate 0.82 /
/// 0.89, cohesion-urban 0.91 / 0.83, equality 0.86 / 0.75; by the title alone, 0.84 / 0.79,
/// 0.92 / 0.67 and 0.87 / 0.66 (held-out, after the reviews since: 0.82 / 0.95, 0.93 /
/// 0.85, 0.84 / 0.76). Their near misses (a town's campaign against violence, a
/// national climate plan, with no EU dossier) are labelled outside the groups, hence a
/// precision below the titles' 0.9.
const SUMMARY_FLOORS: [(&str, f64, f64); 3] = [
    ("energy-climate", 0.80, 0.93),
    ("cohesion-urban", 0.92, 0.82),
    ("equality", 0.80, 0.73),
];

/// The labelled news items of `tests/fixtures/titles/eval-summaries.tsv`, each with the
/// summary a feed carries beside its title (the file's header says where each was read).
fn items_with_summaries() -> Vec<(Row, String)> {
    let text = String::from_utf8(fixtures::own("titles/eval-summaries.tsv")).unwrap_or_default();
    let mut out = Vec::new();
    for l in text.lines() {
        if is_comment(l) || l.trim().is_empty() {
            continue;
        }
        let c: Vec<&str> = l.split('\t').collect();
        assert!(c.len() == 8, "eight columns: {l}");
        assert!(c[5] == "tune" || c[5] == "eval", "split: {l}");
        let row = Row {
            title: c[0].to_string(),
            language: c[2].to_string(),
            labels: groups(c[3]),
            second: Some(groups(c[6])),
            third: Some(c[7]).filter(|g| *g != ".").map(groups),
            split: c[5].to_string(),
            set: "summaries".to_string(),
            origin: origin(c[4]),
            feed: field_feed(c[4]),
        };
        out.push((row, c[1].to_string()));
    }
    out
}

/// The three newer groups on news items as a poll reads them: the title and the summary,
/// each searched on its own (title keywords in the title only), against the title alone.
/// Printed per part; asserted on the held-out part, like the titles above.
#[test]
fn shipped_watchlists_on_labelled_news_items_with_their_summaries() {
    use veille::dossier::item_event;
    use veille::model::{FeedItem, Provenance};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("watchlists");
    let lists: WatchlistSet = load_dir(&dir, &[]).unwrap_or_else(|e| panic!("{e:?}"));
    let items = items_with_summaries();
    assert!(items.len() >= 300, "only {} labelled items", items.len());
    let at = chrono::DateTime::UNIX_EPOCH;
    let provenance = Provenance {
        source: "news".into(),
        url: "https://news.example.org/feed.xml".into(),
        fetched_at: at,
    };
    // (split, watchlist, with the summary?) → counts.
    let mut counts: BTreeMap<(String, String, bool), Counts> = BTreeMap::new();
    let mut misses = Vec::new();
    for (r, summary) in items
        .iter()
        .filter(|(r, _)| READ.contains(&r.language.as_str()))
    {
        let item = FeedItem {
            key: r.title.clone(),
            title: r.title.clone(),
            link: None,
            summary: summary.clone(),
            published: None,
            categories: vec![],
        };
        let event = item_event(&item, &provenance, at, None);
        let with: BTreeSet<String> = lists
            .matches(&event)
            .into_iter()
            .map(|m| m.watchlist)
            .collect();
        let alone: BTreeSet<String> = lists
            .match_text(&r.title, None)
            .into_iter()
            .map(|m| m.watchlist)
            .collect();
        for (id, _) in NEW_GROUPS {
            let want = r.belongs(id);
            for (both, got) in [(true, &with), (false, &alone)] {
                let key = (r.split.clone(), id.to_string(), both);
                add(
                    counts.entry(key).or_default(),
                    &[(id, want, got.contains(id))],
                );
            }
            if want != with.contains(id) && r.split == "tune" {
                let what = if want { "missed" } else { "false" };
                misses.push(format!(
                    "summaries tune {what} {id}: [{}] {} | {summary}",
                    r.language, r.title
                ));
            }
        }
    }
    misses.sort();
    for m in &misses {
        println!("{m}");
    }
    let read = |both: bool| match both {
        true => "title and summary",
        false => "title alone",
    };
    let mut whole: BTreeMap<(String, bool), Counts> = BTreeMap::new();
    for ((split, id, both), c) in &counts {
        let r = read(*both);
        println!("  summaries {split} {id}, {r} (en/fr/de/nl): {}", c.line());
        let w = whole.entry((id.clone(), *both)).or_default();
        (w.tp, w.fp, w.fn_) = (w.tp + c.tp, w.fp + c.fp, w.fn_ + c.fn_);
        w.titles += c.titles;
    }
    for ((id, both), c) in &whole {
        let r = read(*both);
        println!(
            "  summaries, both parts, {id}, {r} (en/fr/de/nl): {}",
            c.line()
        );
    }
    for (id, precision, recall) in SUMMARY_FLOORS {
        let key = ("eval".to_string(), id.to_string(), true);
        let c = counts.get(&key).copied().unwrap_or_default();
        assert!(
            c.tp + c.fn_ >= MIN_NEW_POSITIVES,
            "summaries eval {id}: {}",
            c.line()
        );
        assert!(
            c.precision() >= precision && c.recall() >= recall,
            "summaries eval {id}, title and summary: {}",
            c.line()
        );
    }
}
