//! The quality measure of the shipped watchlists: precision and recall on the labelled real
//! EU titles of `tests/fixtures/titles/eval.tsv` (its header says where each title comes
//! from and how the rows are split into `tune` and the held-out `eval`), through the
//! library's `WatchlistSet` on the shipped `watchlists/`, as a poll matches a title. The
//! numbers are printed (`cargo nextest run eval --no-capture`); the target is asserted on
//! the held-out part in the languages the focus groups read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use veille::watchlist::{load_dir, WatchlistSet};

use crate::support::fixtures;

/// The languages the focus groups read (the shipped keywords are written in them).
const READ: [&str; 4] = ["en", "fr", "de", "nl"];

struct Row {
    title: String,
    language: String,
    labels: BTreeSet<String>,
    split: String,
}

fn rows() -> Vec<Row> {
    let text = String::from_utf8(fixtures::own("titles/eval.tsv")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            assert_eq!(c.len(), 5, "five columns: {l}");
            assert!(!c[3].trim().is_empty(), "no provenance: {l}");
            assert!(c[4] == "tune" || c[4] == "eval", "split: {l}");
            Row {
                title: c[0].to_string(),
                language: c[1].to_string(),
                labels: c[2]
                    .split(',')
                    .filter(|x| *x != "-")
                    .map(str::to_string)
                    .collect(),
                split: c[4].to_string(),
            }
        })
        .collect()
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

#[test]
fn shipped_watchlists_precision_and_recall_on_labelled_titles() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("watchlists");
    let lists: WatchlistSet = load_dir(&dir, &[]).unwrap_or_else(|e| panic!("{e:?}"));
    let rows = rows();
    assert!(rows.len() >= 300, "only {} labelled titles", rows.len());
    // (split, read languages?) → counts; (split, language) → counts; (split, watchlist).
    let mut by_part: BTreeMap<(String, bool), Counts> = BTreeMap::new();
    let mut by_lang: BTreeMap<(String, String), Counts> = BTreeMap::new();
    let mut by_list: BTreeMap<(String, String), Counts> = BTreeMap::new();
    let mut misses: Vec<String> = Vec::new();
    for r in &rows {
        for l in &r.labels {
            assert!(lists.get(l).is_some(), "unknown watchlist {l}: {}", r.title);
        }
        let got: BTreeSet<String> = lists
            .match_text(&r.title, None)
            .into_iter()
            .map(|m| m.watchlist)
            .collect();
        let read = READ.contains(&r.language.as_str());
        let outcomes: Vec<(&str, bool, bool)> = lists
            .lists()
            .iter()
            .map(|l| (l.id.as_str(), r.labels.contains(&l.id), got.contains(&l.id)))
            .collect();
        add(
            by_part.entry((r.split.clone(), read)).or_default(),
            &outcomes,
        );
        add(
            by_lang
                .entry((r.split.clone(), r.language.clone()))
                .or_default(),
            &outcomes,
        );
        for o in &outcomes {
            if read {
                add(
                    by_list
                        .entry((r.split.clone(), o.0.to_string()))
                        .or_default(),
                    std::slice::from_ref(o),
                );
            }
            let (id, want, have) = *o;
            if want != have && (read || r.split == "tune") {
                misses.push(format!(
                    "{} {} {id}: [{}] {}",
                    r.split,
                    if want { "missed" } else { "false" },
                    r.language,
                    r.title
                ));
            }
        }
    }
    misses.sort();
    for m in &misses {
        println!("{m}");
    }
    for ((split, read), c) in &by_part {
        let langs = if *read {
            "en/fr/de/nl"
        } else {
            "other languages"
        };
        println!("{split} {langs}: {}", c.line());
    }
    for ((split, lang), c) in &by_lang {
        println!("  {split} [{lang}]: {}", c.line());
    }
    for ((split, id), c) in &by_list {
        println!("  {split} {id} (en/fr/de/nl): {}", c.line());
    }
    let eval = by_part
        .get(&("eval".to_string(), true))
        .copied()
        .unwrap_or_default();
    assert!(eval.titles >= 100, "eval: only {} titles", eval.titles);
    assert!(
        eval.precision() >= 0.95 && eval.recall() >= 0.95,
        "eval en/fr/de/nl: {}",
        eval.line()
    );
}
