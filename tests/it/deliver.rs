//! The delivery step in-process, against a real SMTP server: alerts within the poll cycle,
//! digests once per period, failed sends stay pending and go out once when the server is
//! back, and digests missed while veille was down go out at the next start.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use veille::config::Config;
use veille::deliver::{send_due, DeliverContext, Mode, Outcome};
use veille::mail::{Mailer, Security, SmtpSettings, Transport};
use veille::model::{DossierEvent, EventId, EventKind, Provenance, Stage};
use veille::store::{Enqueue, ObservedEvent, PollBatch, SourceRecord, Store};
use veille::watchlist::{load_str, WatchlistSet};

use crate::support::smtp::{self, SmtpServer};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn config() -> Config {
    config_with("")
}

/// The test configuration with `digest` (TOML lines) as its `[digest]` table.
fn config_with(digest: &str) -> Config {
    let c = format!(
        "timezone = \"Europe/Brussels\"\nwatchlists_dir = \"watchlists\"\n[storage]\npath = \"s.sled\"\n\
         [http]\nuser_agent = \"t\"\ntimeout = \"5s\"\nmax_body = \"1MiB\"\nper_host_interval = \"0s\"\n\
         [mail]\nfrom = \"Veille <veille@example.org>\"\ntransport = \"file\"\noutbox_dir = \"outbox\"\n\
         [digest]\n{digest}\n\
         [[sources]]\nid = \"ep-api\"\nkind = \"ep-api\"\nurl = \"https://data.europarl.europa.eu/api/v2\"\nevery = \"6h\"\n"
    );
    Config::from_str(Path::new("/tmp/x/config.toml"), &c, None).unwrap_or_else(|e| panic!("{e}"))
}

/// A fresh store in `dir`, opened on 24 November 2026.
fn open_store(dir: &Path) -> Store {
    Store::open(&dir.join("s.sled"), 8 << 20, t("2026-11-24T09:00:00Z"))
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

fn watchlists() -> WatchlistSet {
    let w = load_str(
        "air-quality",
        Path::new("air-quality.toml"),
        "name = \"Air quality\"\nrecipients = [\"fg-air@example.org\"]\ndigest = \"weekly\"\n\
         alert_on = [\"plenary-vote\"]\ndossiers = [\"2022/0347(COD)\"]\n",
        &[],
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    WatchlistSet::new(vec![w])
}

fn step(stage: Stage, date: &str, title: &str) -> DossierEvent {
    let dossier = "2022/0347(COD)".parse().ok();
    let day: NaiveDate = date.parse().unwrap_or_default();
    DossierEvent {
        id: EventId::derive(&["2022-0347", stage.as_str(), date]),
        kind: EventKind::Step,
        stage: Some(stage),
        dossier,
        dossier_title: Some("Ambient air quality and cleaner air for Europe (recast)".into()),
        date: day,
        title: title.into(),
        summary: String::new(),
        url: Some("https://oeil.secure.europarl.europa.eu/oeil/en/procedure-file?reference=2022/0347(COD)".into()),
        documents: vec![],
        mentions: vec![],
        provenance: vec![Provenance {
            source: "ep-api".into(),
            url: "https://data.europarl.europa.eu/api/v2/procedures/2022-0347".into(),
            fetched_at: t("2026-11-24T09:00:00Z"),
        }],
    }
}

fn record(store: &Store, events: Vec<(DossierEvent, bool)>, now: DateTime<Utc>) {
    store
        .record_poll(&PollBatch {
            source: "ep-api".into(),
            state: SourceRecord {
                v: 1,
                last_success: Some(now),
                ..SourceRecord::default()
            },
            resources: vec![],
            dossiers: vec![],
            events: events
                .into_iter()
                .map(|(event, alert_due)| ObservedEvent {
                    event,
                    matches: vec![Enqueue {
                        watchlist: "air-quality".into(),
                        reasons: vec!["dossier 2022/0347(COD)".into()],
                        alert_due,
                    }],
                    listed_before: false,
                    joined: Vec::new(),
                })
                .collect(),
            track: vec![],
            deadlines: vec![],
            discovery: Default::default(),
            now,
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

fn mailer(port: u16) -> Mailer {
    Mailer::new(Transport::Smtp(SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        security: Security::None,
        username: None,
        password: None,
        timeout: Duration::from_secs(5),
        trust: Default::default(),
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn kinds(outcomes: &veille::deliver::DeliveryReport) -> Vec<String> {
    outcomes
        .deliveries
        .iter()
        .map(|d| {
            let o = match &d.outcome {
                Outcome::Sent { events, .. } => format!("sent {events}"),
                Outcome::NothingToSend { .. } => "nothing".into(),
                Outcome::AlreadySent { .. } => "already".into(),
                Outcome::NotDue => "not-due".into(),
                Outcome::Deferred { .. } => "deferred".into(),
                Outcome::Failed { .. } => "failed".into(),
            };
            format!("{} {o}", d.kind)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_then_digests_once_and_an_smtp_outage_loses_nothing() {
    let mut server = tokio::task::spawn_blocking(SmtpServer::start)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = config();
    let store = open_store(dir.path());
    let wl = watchlists();
    let mailer = mailer(server.port());
    let ctx = DeliverContext {
        config: &config,
        store: &store,
        mailer: &mailer,
        watchlists: &wl,
    };

    // Tuesday: a committee vote (digest only) and the plenary vote (alert).
    let poll_time = t("2026-11-24T09:00:00Z");
    record(
        &store,
        vec![
            (
                step(
                    Stage::CommitteeVote,
                    "2026-11-20",
                    "Vote in committee, 1st reading",
                ),
                false,
            ),
            (
                step(
                    Stage::PlenaryVote,
                    "2026-11-24",
                    "Decision by Parliament, 1st reading",
                ),
                true,
            ),
        ],
        poll_time,
    );
    let r = send_due(ctx, poll_time, None, Mode::AlertsOnly)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kinds(&r), ["alert sent 1"]);
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1);
    let alert = smtp::parse(&msgs[0]);
    assert!(
        alert.header("Subject").contains("Alert"),
        "{}",
        alert.header("Subject")
    );
    // Again: nothing new to alert.
    let r = send_due(ctx, poll_time, None, Mode::AlertsOnly)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(kinds(&r).is_empty(), "{:?}", kinds(&r));

    // The SMTP server goes down before Monday's digest: it stays pending.
    server.stop();
    let monday = t("2026-11-30T07:00:30Z"); // 08:00:30 in Brussels
    let r = send_due(ctx, monday, None, Mode::Due)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kinds(&r), ["digest failed"]);
    assert_eq!(
        store.pending("air-quality").map(|p| p.len()).unwrap_or(0),
        2
    );
    let state = store
        .delivery("air-quality")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(state.failures, 1);
    // Within the backoff nothing is attempted.
    let r = send_due(ctx, monday + chrono::Duration::seconds(30), None, Mode::Due)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kinds(&r), ["digest deferred"]);

    // Hours later the server is back: the digest goes out once, with both steps.
    server.restart();
    let later = monday + chrono::Duration::hours(3);
    let r = send_due(ctx, later, None, Mode::Due)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        kinds(&r),
        ["digest sent 2", "digest not-due"],
        "the failed digest goes again as it was"
    );
    let msgs: Vec<_> = server.messages().iter().map(|m| smtp::parse(m)).collect();
    assert_eq!(msgs.len(), 2, "the alert, then the digest once");
    let digest = msgs
        .iter()
        .find(|m| !m.header("Subject").contains("Alert"))
        .unwrap_or_else(|| panic!("no digest"));
    let text = &digest.parts[0].body;
    assert!(text.contains("Vote in committee"), "{text}");
    assert!(text.contains("Decision by Parliament"), "{text}");
    assert!(store
        .pending("air-quality")
        .map(|p| p.is_empty())
        .unwrap_or(false));

    // A repeated send in the same period, or after a restart of veille, sends nothing.
    store.flush().await.unwrap_or_else(|e| panic!("{e}"));
    drop(store);
    let (store, _) =
        Store::open(&dir.path().join("s.sled"), 8 << 20, later).unwrap_or_else(|e| panic!("{e}"));
    let ctx = DeliverContext {
        config: &config,
        store: &store,
        mailer: &mailer,
        watchlists: &wl,
    };
    let r = send_due(ctx, later + chrono::Duration::hours(1), None, Mode::Due)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kinds(&r), ["digest not-due"]);
    assert_eq!(server.messages().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_missed_while_veille_was_down_goes_out_at_start_and_empty_ones_do_not() {
    let server = tokio::task::spawn_blocking(SmtpServer::start)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = config();
    let store = open_store(dir.path());
    let wl = watchlists();
    let mailer = mailer(server.port());
    let ctx = DeliverContext {
        config: &config,
        store: &store,
        mailer: &mailer,
        watchlists: &wl,
    };
    // Nothing pending on Monday 23 November: nothing is sent, the period is done.
    let r = send_due(ctx, t("2026-11-23T07:01:00Z"), None, Mode::Due)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kinds(&r), ["digest nothing"]);
    record(
        &store,
        vec![(
            step(
                Stage::CommitteeVote,
                "2026-11-26",
                "Vote in committee, 1st reading",
            ),
            false,
        )],
        t("2026-11-26T09:00:00Z"),
    );
    // veille was down over Monday 30 November 08:00 and starts on Wednesday: the missed
    // digest goes out now.
    let r = send_due(ctx, t("2026-12-02T15:00:00Z"), None, Mode::Due)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kinds(&r), ["digest sent 1"]);
    assert_eq!(server.messages().len(), 1);
    let key = store
        .delivery("air-quality")
        .ok()
        .and_then(|d| d.last_period);
    assert_eq!(key.as_deref(), Some("2026-11-30T08:00+01:00"));
}

/// Regression (crash harness finding): veille killed after the SMTP server accepted a
/// digest and before it recorded it, restarted in a later period, must resend that digest
/// under the same key — so the same Message-ID, which mail clients fold — with the same
/// events, not a new digest under a new key.
#[tokio::test]
async fn a_message_in_flight_at_a_crash_is_resent_under_its_own_key() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = config();
    let store = open_store(dir.path());
    let wl = watchlists();
    let outbox = dir.path().join("outbox");
    let mailer = Mailer::new(Transport::File {
        dir: outbox.clone(),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let ctx = DeliverContext {
        config: &config,
        store: &store,
        mailer: &mailer,
        watchlists: &wl,
    };
    let first = step(
        Stage::CommitteeVote,
        "2026-11-20",
        "Vote in committee, 1st reading",
    );
    record(
        &store,
        vec![(first.clone(), false)],
        t("2026-11-24T09:00:00Z"),
    );
    // The state a crash leaves behind: the digest of 30 November was handed to the
    // transport (in flight), and nothing was recorded as sent.
    let key = "air-quality/2026-11-30T08:00+01:00".to_string();
    let mut st = store
        .delivery("air-quality")
        .unwrap_or_else(|e| panic!("{e}"));
    st.in_flight = Some(veille::store::InFlight {
        key: key.clone(),
        kind: veille::store::SentKind::Digest,
        period: Some("2026-11-30T08:00+01:00".into()),
        event_ids: vec![first.id],
        part: None,
    });
    store
        .save_delivery("air-quality", &st)
        .unwrap_or_else(|e| panic!("{e}"));
    // Meanwhile a new step arrived; veille restarts a week later.
    record(
        &store,
        vec![(
            step(
                Stage::Trilogue,
                "2026-12-03",
                "Interinstitutional negotiations",
            ),
            false,
        )],
        t("2026-12-03T09:00:00Z"),
    );
    let r = send_due(ctx, t("2026-12-07T07:30:00Z"), None, Mode::Due)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        kinds(&r),
        ["digest sent 1", "digest sent 1"],
        "the resend, then this week's digest"
    );
    let resent = veille::mail::message_id_for(&key, "example.org");
    let files: Vec<String> = std::fs::read_dir(&outbox)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.iter().any(|f| f.starts_with(&resent)),
        "{resent} not in {files:?}"
    );
    assert_eq!(files.len(), 2);
    assert!(store
        .sent(&key)
        .ok()
        .flatten()
        .is_some_and(|s| s.event_ids == vec![first.id]));
    assert!(store
        .pending("air-quality")
        .map(|p| p.is_empty())
        .unwrap_or(false));
}

/// A digest too large for one message goes in parts of at most `digest.max_events`
/// events, each its own message and its own delivery. A part the relay refuses (552, too
/// large) stays pending and goes again as any message in flight, then the parts after
/// it; every event arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_too_large_for_one_message_goes_in_parts_each_once() {
    let mut server = tokio::task::spawn_blocking(|| SmtpServer::start_with_size_limit(40_000))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = config_with("max_events = 2");
    assert_eq!(config.digest.max_events, 2);
    let store = open_store(dir.path());
    let wl = watchlists();
    let mailer = mailer(server.port());
    let ctx = DeliverContext {
        config: &config,
        store: &store,
        mailer: &mailer,
        watchlists: &wl,
    };
    // Five steps of one dossier; the third (by date) too large for the relay.
    let long = format!("Step 3 {}", "in a very long title ".repeat(3_000));
    let titles: Vec<String> = (1..=5)
        .map(|i| {
            if i == 3 {
                long.clone()
            } else {
                format!("Step {i}")
            }
        })
        .collect();
    let events: Vec<(DossierEvent, bool)> = titles
        .iter()
        .enumerate()
        .map(|(i, title)| {
            let date = format!("2026-11-{:02}", 16 + i);
            (step(Stage::CommitteeVote, &date, title), false)
        })
        .collect();
    record(&store, events, t("2026-11-24T09:00:00Z"));

    // Monday: part 1 goes, part 2 is refused, part 3 is not attempted.
    let monday = t("2026-11-30T07:00:30Z");
    let r = send_due(ctx, monday, None, Mode::Due)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kinds(&r), ["digest sent 2", "digest failed"]);
    let first = smtp::parse(&server.messages()[0]);
    assert!(
        first.header("Subject").ends_with("(part 1 of 3)"),
        "{}",
        first.header("Subject")
    );
    assert!(first.parts[0]
        .body
        .contains("it comes in 3 parts, and this is part 1"));
    let key = "air-quality/2026-11-30T08:00+01:00";
    assert_eq!(
        store.sent(key).ok().flatten().map(|s| s.event_ids.len()),
        Some(2)
    );
    assert_eq!(store.pending("air-quality").map(|p| p.len()).ok(), Some(3));
    let state = store
        .delivery("air-quality")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        state.in_flight.map(|f| f.key),
        Some(format!("{key}/part-2"))
    );

    // The relay takes large messages again: the refused part goes (its own key, still
    // "part 2 of 3"), then the rest, numbered on; the period's digest is done.
    server.set_size_limit(None);
    let later = monday + chrono::Duration::hours(3);
    let r = send_due(ctx, later, None, Mode::Due)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        kinds(&r),
        ["digest sent 2", "digest sent 1", "digest not-due"]
    );
    for k in [2, 3] {
        assert!(store
            .sent(&format!("{key}/part-{k}"))
            .ok()
            .flatten()
            .is_some());
    }
    let all: Vec<_> = server.messages().iter().map(|m| smtp::parse(m)).collect();
    let mut subjects: Vec<&str> = all.iter().map(|m| m.header("Subject")).collect();
    subjects.sort_by_key(|s| s.rsplit("(part ").next().map(str::to_string));
    assert_eq!(subjects.len(), 3);
    for (k, s) in subjects.iter().enumerate() {
        assert!(s.ends_with(&format!("(part {} of 3)", k + 1)), "{s}");
    }
    assert!(store
        .pending("air-quality")
        .map(|p| p.is_empty())
        .unwrap_or(false));
    // Nothing more for this week, forced or not.
    let r = send_due(ctx, later, None, Mode::Due)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kinds(&r), ["digest not-due"]);
    let bodies: Vec<String> = server
        .messages()
        .iter()
        .map(|m| smtp::parse(m).parts[0].body.clone())
        .collect();
    assert_eq!(bodies.len(), 3);
    for title in [
        "Step 1",
        "Step 2",
        "Step 3 in a very long title",
        "Step 4",
        "Step 5",
    ] {
        let n: usize = bodies.iter().map(|b| b.matches(title).count()).sum();
        assert_eq!(n, 1, "{title} in {n} messages");
    }

    // A week later, five more steps and a relay that takes them: three parts at once,
    // three Message-IDs, the sources' health told once.
    let events: Vec<(DossierEvent, bool)> = (1..=5)
        .map(|i| {
            let date = format!("2026-12-{:02}", i);
            (step(Stage::Trilogue, &date, &format!("Round {i}")), false)
        })
        .collect();
    record(&store, events, t("2026-12-06T09:00:00Z"));
    let r = send_due(ctx, t("2026-12-07T07:00:30Z"), None, Mode::Due)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        kinds(&r),
        ["digest sent 2", "digest sent 2", "digest sent 1"]
    );
    // (Maildir names do not keep the order of arrival: the week's parts are told by subject.)
    let all: Vec<_> = server.messages().iter().map(|m| smtp::parse(m)).collect();
    let mut parts: Vec<_> = all
        .iter()
        .filter(|m| m.parts[0].body.contains("Round "))
        .collect();
    parts.sort_by_key(|m| {
        m.header("Subject")
            .rsplit("(part ")
            .next()
            .map(str::to_string)
    });
    let subjects: Vec<&str> = parts.iter().map(|m| m.header("Subject")).collect();
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    for (k, s) in subjects.iter().enumerate() {
        assert!(s.ends_with(&format!("(part {} of 3)", k + 1)), "{s}");
    }
    let ids: std::collections::BTreeSet<&str> =
        parts.iter().map(|m| m.header("Message-ID")).collect();
    assert_eq!(ids.len(), 3);
    let with_sources: Vec<&str> = parts
        .iter()
        .filter(|m| m.parts[0].body.contains("All sources OK"))
        .map(|m| m.header("Subject"))
        .collect();
    assert_eq!(with_sources, [subjects[0]]);
    assert!(store
        .pending("air-quality")
        .map(|p| p.is_empty())
        .unwrap_or(false));
}
