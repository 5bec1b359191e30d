//! `sources::cellar`: CELLAR procedure tree notices (real captures, golden files) and the
//! error cases.

use chrono::{NaiveDate, TimeZone, Utc};
use veille::model::{
    Celex, DossierSnapshot, Observation, ProcedureRef, ProcedureType, Provenance, Stage,
};
use veille::sources::{cellar, cellar_work, Input, ParseError};

use crate::support::fixtures;

fn provenance() -> Provenance {
    Provenance {
        source: "cellar".into(),
        url: "http://publications.europa.eu/resource/procedure/test".into(),
        fetched_at: Utc
            .with_ymd_and_hms(2026, 6, 18, 6, 0, 0)
            .single()
            .unwrap_or_else(|| panic!("fixed time")),
    }
}

fn parse(body: &[u8]) -> Result<Vec<Observation>, ParseError> {
    let prov = provenance();
    cellar::parse(&Input {
        body,
        content_type: Some("application/xml;notice=tree"),
        provenance: &prov,
    })
}

fn snapshot(rel: &str) -> DossierSnapshot {
    let obs = parse(&fixtures::read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(obs.len(), 1, "{rel}");
    match obs.into_iter().next() {
        Some(Observation::Dossier(d)) => *d,
        other => panic!("{rel}: expected a dossier, got {other:?}"),
    }
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn notices_match_their_golden_files() {
    let notices = fixtures::list("eurlex-cellar-notice");
    assert_eq!(notices.len(), 4, "{notices:?}");
    for rel in notices {
        let name = rel
            .trim_start_matches("eurlex-cellar-notice/")
            .trim_end_matches(".xml");
        let text = match parse(&fixtures::read(&rel)) {
            Ok(obs) => serde_json::to_string_pretty(&obs).unwrap_or_else(|e| panic!("{e}")),
            // The branch notice of a proposal is not a procedure: its golden is the error.
            Err(e) => format!("error: {e:?}"),
        };
        fixtures::golden(&format!("cellar/{name}.json"), &format!("{text}\n"));
    }
}

#[test]
fn single_use_plastics_from_proposal_to_publication() {
    let d =
        snapshot("eurlex-cellar-notice/procedure_2018_172_COD_tree-notice_single-use-plastics.xml");
    assert_eq!(d.reference.to_string(), "2018/0172(COD)");
    assert_eq!(d.reference.kind(), Some(ProcedureType::Cod));
    assert!(d
        .titles
        .en
        .as_deref()
        .is_some_and(|t| t.contains("certain plastic products")));
    assert!(d.titles.fr.is_some() && d.titles.de.is_some());
    assert_eq!(
        d.com.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["COM(2018)340"]
    );
    assert_eq!(
        d.final_act.as_ref().map(ToString::to_string).as_deref(),
        Some("32019L0904")
    );
    assert_eq!(
        d.last_modified.as_deref(),
        Some("2020-09-27T18:39:37.602+02:00")
    );

    let step = |stage: Stage, on: &str| {
        d.steps
            .iter()
            .find(|s| s.stage == stage && s.date == date(on))
            .unwrap_or_else(|| panic!("no {stage} on {on}: {:#?}", d.steps))
    };
    let proposal = step(Stage::Proposal, "2018-05-28");
    assert!(proposal
        .documents
        .iter()
        .any(|doc| doc.reference == "COM(2018)0340"));
    let cor = d
        .steps
        .iter()
        .filter(|s| s.stage == Stage::Opinion)
        .find(|s| s.label.contains("Regions"))
        .unwrap_or_else(|| panic!("no CoR opinion"));
    assert_eq!(cor.date, date("2018-10-10"));
    assert_eq!(cor.documents[0].reference, "COR 2018-03652");
    assert!(cor.documents[0]
        .url
        .as_deref()
        .is_some_and(|u| u.ends_with("52018AR3652")));
    let eesc = step(Stage::Opinion, "2018-10-17");
    assert!(eesc.label.contains("Economic and Social"));
    let council = step(Stage::CouncilDiscussion, "2018-05-29");
    assert_eq!(council.documents.len(), 8, "ST 9465 2018 INIT and ADD 1-7");
    assert!(council
        .documents
        .iter()
        .all(|doc| doc.reference.starts_with("ST 9465 2018")));
    assert_eq!(
        d.steps
            .iter()
            .filter(|s| s.stage == Stage::CouncilDiscussion)
            .count(),
        8,
        "eight discussions (SOURCES.md says ten; the notice has eight DIS_byCONSIL events)"
    );
    let ep = step(Stage::PlenaryVote, "2019-03-27");
    assert!(ep
        .documents
        .iter()
        .any(|doc| doc.reference == "T8-0305/2019"));
    assert!(ep
        .documents
        .iter()
        .any(|doc| doc.reference == "A8-0317/2018"));
    step(Stage::Adopted, "2019-05-21");
    step(Stage::Signed, "2019-06-05");
    let published = step(Stage::Published, "2019-06-12");
    assert!(published
        .documents
        .iter()
        .any(|doc| doc.reference == "32019L0904"));

    let keys: Vec<(NaiveDate, Stage)> = d.steps.iter().map(|s| (s.date, s.stage)).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(d.provenance, provenance());
}

#[test]
fn a_notice_without_reference_code_uses_its_identifier() {
    let d = snapshot("eurlex-cellar-notice/procedure_2009_162_tree-notice.xml");
    assert_eq!(d.reference.eurlex_id(), "2009_162");
    assert_eq!(
        d.titles.en.as_deref(),
        Some("Proposal for a COUNCIL DECISION providing macro-financial assistance to Ukraine")
    );
    let stages: Vec<Stage> = d.steps.iter().map(|s| s.stage).collect();
    assert_eq!(
        stages,
        [
            Stage::Proposal,
            Stage::PlenaryVote,
            Stage::Adopted,
            Stage::Signed
        ]
    );
    assert_eq!(
        d.final_act.as_ref().map(ToString::to_string).as_deref(),
        Some("32010D0388")
    );
    assert!(d.last_modified.is_some(), "from the events");
}

#[test]
fn a_branch_notice_is_not_a_procedure() {
    let body = fixtures::read(
        "eurlex-cellar-notice/celex_52018PC0340_branch-notice_COM-2018-340-proposal.xml",
    );
    assert!(matches!(parse(&body), Err(ParseError::Layout(m)) if m.contains("DOSSIER")));
}

#[test]
fn truncated_notices_are_errors_never_panics() {
    let body = fixtures::read("eurlex-cellar-notice/procedure_2013_449_COD_tree-notice.xml");
    assert!(parse(&body).is_ok());
    for cut in [
        0,
        1,
        20,
        100,
        body.len() / 4,
        body.len() / 2,
        body.len() - 20,
        body.len() - 3,
    ] {
        assert!(parse(&body[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn challenges_and_strangers_are_refused() {
    let challenge = br#"<!DOCTYPE html><html><head><title>EUR-Lex</title><script src="/challenge.js"></script></head><body>Please enable JavaScript to continue</body></html>"#;
    assert_eq!(parse(challenge), Err(ParseError::Challenge));
    assert!(matches!(
        parse(b"<html><body>Maintenance</body></html>"),
        Err(ParseError::Layout(_))
    ));
    assert!(matches!(
        parse(b"<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"/>"),
        Err(ParseError::Layout(_))
    ));
    assert!(matches!(
        parse(br#"<NOTICE type="tree"><WORK><URI/></WORK></NOTICE>"#),
        Err(ParseError::Layout(m)) if m.contains("DOSSIER")
    ));
    assert!(matches!(
        parse(br#"<NOTICE type="tree"><DOSSIER><TITLE type="data"><VALUE>x</VALUE><LANG>en</LANG></TITLE></DOSSIER></NOTICE>"#),
        Err(ParseError::Layout(m)) if m.contains("reference")
    ));
    assert!(matches!(
        parse(br#"{"error": "not xml"}"#),
        Err(ParseError::Layout(m)) if m.contains("NOTICE")
    ));
    assert!(matches!(parse(b""), Err(ParseError::Layout(_))));
    assert!(parse(b"<NOTICE><DOSSIER></NOTICE>").is_err());
}

#[test]
fn every_prefix_of_a_notice_is_an_error_not_a_panic() {
    let body = fixtures::read("eurlex-cellar-notice/procedure_2009_162_tree-notice.xml");
    let end = body.len() - b"</NOTICE>".len() - 2;
    for cut in (0..end).step_by(397) {
        assert!(parse(&body[..cut]).is_err(), "cut at {cut}");
    }
}

// Work notices: the dates of one act (`sources::cellar_work`).

fn parse_work(
    body: &[u8],
    r: ProcedureRef,
    role: cellar_work::Role,
    celex: &Celex,
) -> Result<Vec<Observation>, ParseError> {
    let prov = provenance();
    let input = Input {
        body,
        content_type: Some("application/xml;notice=branch"),
        provenance: &prov,
    };
    cellar_work::parse(&input, r, role, celex)
}

#[test]
fn the_proposal_notice_says_when_it_went_to_national_parliaments() {
    let body = fixtures::read(
        "eurlex-cellar-notice/celex_52018PC0340_branch-notice_COM-2018-340-proposal.xml",
    );
    let n = cellar_work::read(&body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n.celex.as_deref(), Some("52018PC0340"));
    assert_eq!(n.resource_type.as_deref(), Some("PROP_DIR"));
    assert_eq!(n.sent_to_parliaments, vec![date("2018-05-28")]);
    assert!(n.transposition.is_empty());

    let r: ProcedureRef = "2018/0172(COD)".parse().unwrap_or_else(|e| panic!("{e}"));
    let celex: Celex = "52018PC0340".parse().unwrap_or_else(|e| panic!("{e}"));
    let obs =
        parse_work(&body, r, cellar_work::Role::Proposal, &celex).unwrap_or_else(|e| panic!("{e}"));
    let [Observation::Dossier(snap)] = obs.as_slice() else {
        panic!("{obs:?}");
    };
    assert_eq!(snap.reference, r);
    assert_eq!(snap.act_dates.sent_to_parliaments, Some(date("2018-05-28")));
    assert!(snap.steps.is_empty() && snap.titles.best().is_none() && snap.final_act.is_none());

    // The notice of another act is never merged into this dossier.
    let other: Celex = "52018PC0341".parse().unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        parse_work(&body, r, cellar_work::Role::Proposal, &other),
        Err(ParseError::Layout(m)) if m.contains("52018PC0340")
    ));
    // A procedure tree notice is not a work notice.
    let tree = fixtures::read("eurlex-cellar-notice/procedure_2013_449_COD_tree-notice.xml");
    assert!(matches!(
        cellar_work::read(&tree),
        Err(ParseError::Layout(_))
    ));
}

#[test]
fn a_directive_notice_gives_its_transposition_deadline() {
    let body = fixtures::own("cellar/celex_32019L0904_branch-notice.xml");
    let n = cellar_work::read(&body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n.resource_type.as_deref(), Some("DIR"));
    // The embedded notice's date (2099) is another work's.
    assert_eq!(n.transposition, vec![date("2021-07-03")]);
    let r: ProcedureRef = "2018/0172(COD)".parse().unwrap_or_else(|e| panic!("{e}"));
    let celex: Celex = "32019L0904".parse().unwrap_or_else(|e| panic!("{e}"));
    let obs =
        parse_work(&body, r, cellar_work::Role::FinalAct, &celex).unwrap_or_else(|e| panic!("{e}"));
    let [Observation::Dossier(snap)] = obs.as_slice() else {
        panic!("{obs:?}");
    };
    assert_eq!(snap.act_dates.transposition, vec![date("2021-07-03")]);
    assert_eq!(snap.act_dates.sent_to_parliaments, None);
    // Truncated anywhere: an error, never a panic nor a partial date list.
    for cut in (0..body.len()).step_by(97) {
        assert!(cellar_work::read(&body[..cut]).is_err(), "cut at {cut}");
    }
}
