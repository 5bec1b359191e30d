//! Rendering a built [`Digest`] to a subject, plain text and HTML. Every untrusted string
//! is cleaned here (control characters out, whitespace collapsed) before it reaches a
//! template; the HTML template is autoescaped and only `http(s)` URLs become links.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use super::{Digest, DigestEntry, DigestError, DigestKind, SourceHealth, Upcoming};
use crate::model::{EventKind, Language, Stage};

const TEXT_TEMPLATE: &str = include_str!("templates/digest.txt");
const HTML_TEMPLATE: &str = include_str!("templates/digest.html");

/// The longest URL shown as plain text when it cannot be a link (`data:` URLs are long).
const MAX_UNLINKED_URL: usize = 120;

/// A rendered digest, ready for `mail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Where the web window is (`[server] public_url`), for the links a message carries:
/// "View in a browser" (the message's own page, once sent) and each dossier's page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebLinks {
    /// The message's page in the web window.
    pub view: String,
    /// The page of a dossier, by its canonical path (`/dossiers/2016-0132-COD`).
    pub base: String,
}

/// Render a digest or an alert in its watchlist's language.
pub fn render(d: &Digest) -> Result<Rendered, DigestError> {
    render_with_links(d, None)
}

/// [`render`], with the links back to the web window when it has a public address.
pub fn render_with_links(d: &Digest, links: Option<&WebLinks>) -> Result<Rendered, DigestError> {
    let mut view = View::new(d);
    if let Some(l) = links {
        view.view_url = safe_link(&l.view);
        view.view_label = match d.language {
            Language::En => "View in a browser",
            Language::Fr => "Voir dans un navigateur",
        };
        for (v, b) in view.dossiers.iter_mut().zip(&d.dossiers) {
            v.page = safe_link(&format!(
                "{}{}",
                l.base,
                crate::web::dossier_path(&b.reference)
            ));
        }
    }
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.set_formatter(html_formatter);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    let render_one = |name: &'static str, source: &'static str| {
        env.template_from_named_str(name, source)
            .and_then(|t| t.render(&view))
            .map_err(|source| DigestError::Template {
                template: name,
                source,
            })
    };
    let text = render_one("digest.txt", TEXT_TEMPLATE)?;
    let html = render_one("digest.html", HTML_TEMPLATE)?;
    Ok(Rendered {
        subject: view.subject.clone(),
        text,
        html,
    })
}

/// The line that says whom to write to in order to stop receiving a focus group's
/// messages (the watchlist's `contact`), added under the footer of the text and HTML.
pub fn with_stop_line(mut r: Rendered, lang: Language, contact: &str) -> Rendered {
    let contact = clean(contact);
    let (text, before, after) = match lang {
        Language::En => (
            format!("To stop receiving these messages, write to {contact}."),
            "To stop receiving these messages, write to ",
            ".",
        ),
        Language::Fr => (
            format!("Pour ne plus recevoir ces messages, écrivez à {contact}."),
            "Pour ne plus recevoir ces messages, écrivez à ",
            ".",
        ),
    };
    if !r.text.ends_with('\n') {
        r.text.push('\n');
    }
    r.text.push_str(&text);
    r.text.push('\n');
    let escaped = html_escape::encode_double_quoted_attribute(&contact);
    let line = format!(
        "<p style=\"margin:12px 20px; font-size:12px; color:#6b7280;\">{before}<a href=\"mailto:{escaped}\">{escaped}</a>{after}</p>\n"
    );
    match r.html.rfind("</body>") {
        Some(at) => r.html.insert_str(at, &line),
        None => r.html.push_str(&line),
    }
    r
}

/// Autoescape like minijinja's default, but escape only `& < > " '` in strings so that
/// URLs stay readable in `href` (minijinja also escapes `/`, which some mail clients'
/// link checkers show as is). The web window's pages use it too.
pub(crate) fn html_formatter(
    out: &mut minijinja::Output,
    state: &minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(s) if state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
            let mut escaped = String::with_capacity(s.len() + 16);
            for c in s.chars() {
                match c {
                    '&' => escaped.push_str("&amp;"),
                    '<' => escaped.push_str("&lt;"),
                    '>' => escaped.push_str("&gt;"),
                    '"' => escaped.push_str("&quot;"),
                    '\'' => escaped.push_str("&#39;"),
                    c => escaped.push(c),
                }
            }
            out.write_str(&escaped).map_err(minijinja::Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// One safe line: the one text cleaner (`text::one_line`).
pub(crate) use crate::text::one_line as clean;

/// A URL that may become a link: absolute `http` or `https` with a host.
pub(crate) fn safe_link(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    match parsed.scheme() {
        "http" | "https" if parsed.host_str().is_some_and(|h| !h.is_empty()) => {
            Some(parsed.to_string())
        }
        _ => None,
    }
}

fn shorten(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const MONTHS_FR: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// `23 Nov 2026` / `23 novembre 2026` (`1er décembre 2026`).
pub(crate) fn fmt_date(d: NaiveDate, lang: Language) -> String {
    let m = d.month0() as usize;
    match lang {
        Language::En => format!("{} {} {}", d.day(), MONTHS_EN[m], d.year()),
        Language::Fr => {
            let day = if d.day() == 1 {
                "1er".to_string()
            } else {
                d.day().to_string()
            };
            format!("{day} {} {}", MONTHS_FR[m], d.year())
        }
    }
}

/// `20 Nov 2026, 14:00 CET` / `20 novembre 2026 à 14:00 CET`, in the digest's zone.
fn fmt_date_time(t: DateTime<Utc>, tz: crate::tz::Tz, lang: Language) -> String {
    let local = t.with_timezone(&tz);
    let date = fmt_date(local.date_naive(), lang);
    let time = local.format("%H:%M %Z");
    match lang {
        Language::En => format!("{date}, {time}"),
        Language::Fr => format!("{date} à {time}"),
    }
}

fn countdown(days: i64, lang: Language) -> String {
    match (lang, days) {
        (Language::En, 0) => "today".into(),
        (Language::En, 1) => "tomorrow".into(),
        (Language::En, n) => format!("in {n} days"),
        (Language::Fr, 0) => "aujourd’hui".into(),
        (Language::Fr, 1) => "demain".into(),
        (Language::Fr, n) => format!("dans {n} jours"),
    }
}

/// `week of 23 Nov 2026`, `24 Nov 2026` (a day), `1 Nov 2026 – 30 Nov 2026`, or
/// `until 30 Nov 2026` for a first digest.
fn period_label(d: &Digest) -> String {
    let lang = d.language;
    let end = d.period_end.with_timezone(&d.tz).date_naive();
    let Some(start_utc) = d.period_start else {
        return match lang {
            Language::En => format!("until {}", fmt_date(end, lang)),
            Language::Fr => format!("jusqu’au {}", fmt_date(end, lang)),
        };
    };
    let start = start_utc.with_timezone(&d.tz).date_naive();
    let hours = (d.period_end - start_utc).num_hours();
    if hours <= 36 {
        return fmt_date(end, lang);
    }
    if (5 * 24..=8 * 24).contains(&hours) {
        return match lang {
            Language::En => format!("week of {}", fmt_date(start, lang)),
            Language::Fr => format!("semaine du {}", fmt_date(start, lang)),
        };
    }
    match lang {
        Language::En => format!("{} – {}", fmt_date(start, lang), fmt_date(end, lang)),
        Language::Fr => format!("du {} au {}", fmt_date(start, lang), fmt_date(end, lang)),
    }
}

/// `: ` in English, ` : ` in French typography.
fn colon(lang: Language) -> &'static str {
    match lang {
        Language::En => ": ",
        Language::Fr => " : ",
    }
}

#[derive(Debug, Serialize)]
struct Headings {
    discovered: &'static str,
    earlier: &'static str,
    earlier_intro: &'static str,
    dossiers: &'static str,
    items: &'static str,
    upcoming: &'static str,
    sources: &'static str,
    why: &'static str,
    alert_sent: &'static str,
    source: &'static str,
    no_link: &'static str,
    /// `: ` or the French ` : `.
    colon: &'static str,
}

impl Headings {
    fn new(lang: Language) -> Self {
        match lang {
            Language::En => Headings {
                discovered: "New dossiers in your field",
                earlier: "Earlier, now matched",
                earlier_intro: "Your watchlist is new or changed: what it now matches among what veille saw before, never sent to you.",
                dossiers: "Dossiers",
                items: "Other matched items",
                upcoming: "Coming up",
                sources: "Sources",
                why: "Why",
                alert_sent: "alert sent",
                source: "source",
                no_link: "not a web link",
                colon: ": ",
            },
            Language::Fr => Headings {
                discovered: "Nouveaux dossiers dans votre domaine",
                earlier: "Plus tôt, désormais retenus",
                earlier_intro: "Votre liste de veille est nouvelle ou modifiée : ce qu'elle retient désormais parmi ce que veille a vu auparavant, jamais envoyé.",
                dossiers: "Dossiers",
                items: "Autres éléments retenus",
                upcoming: "À venir",
                sources: "Sources",
                why: "Pourquoi",
                alert_sent: "alerte envoyée",
                source: "source",
                no_link: "pas un lien web",
                colon: " : ",
            },
        }
    }
}

#[derive(Debug, Serialize)]
struct VEntry {
    date: String,
    what: String,
    /// An `http(s)` URL, safe as `href`.
    link: Option<String>,
    /// A URL of another scheme, shown as text only.
    unlinked: Option<String>,
    source: String,
    why: String,
    alerted: bool,
}

#[derive(Debug, Serialize)]
struct VDossier {
    title: String,
    /// The dossier's page in the web window, when it has a public address.
    page: Option<String>,
    reference: String,
    path: String,
    entries: Vec<VEntry>,
}

#[derive(Debug, Serialize)]
struct VUpcoming {
    date: String,
    countdown: String,
    what: String,
    dossier: Option<String>,
    link: Option<String>,
}

#[derive(Debug, Serialize)]
struct VSource {
    id: String,
    line: String,
}

#[derive(Debug, Serialize)]
struct View {
    lang: &'static str,
    alert: bool,
    subject: String,
    heading: String,
    intro: String,
    h: Headings,
    discovered: Vec<VEntry>,
    dossiers: Vec<VDossier>,
    items: Vec<VEntry>,
    earlier: Vec<VEntry>,
    upcoming: Vec<VUpcoming>,
    show_sources: bool,
    sources: Vec<VSource>,
    sources_summary: String,
    footer: String,
    /// "View in a browser": the message's page in the web window.
    view_url: Option<String>,
    view_label: &'static str,
}

impl View {
    fn new(d: &Digest) -> View {
        let lang = d.language;
        let name = clean(&d.watchlist_name);
        let n = d.entry_count();
        let period = period_label(d);
        let dossiers = d
            .dossiers
            .iter()
            .map(|b| VDossier {
                title: clean(&b.title),
                page: None,
                reference: b.reference.to_string(),
                path: path_line(&b.path, b.path_elided, lang),
                entries: b.entries.iter().map(|e| entry_view(e, lang)).collect(),
            })
            .collect();
        let items = d.items.iter().map(|e| entry_view(e, lang)).collect();
        let discovered = d.discovered.iter().map(|e| entry_view(e, lang)).collect();
        let earlier = d.earlier.iter().map(|e| entry_view(e, lang)).collect();
        let today = d.now.with_timezone(&d.tz).date_naive();
        let upcoming = d
            .upcoming
            .iter()
            .map(|u| upcoming_view(u, today, lang))
            .collect();
        let troubled: Vec<&SourceHealth> = d.troubled_sources().collect();
        let sources = troubled
            .iter()
            .map(|s| VSource {
                id: clean(&s.id),
                line: source_line(s, d),
            })
            .collect();
        View {
            lang: lang.as_str(),
            alert: d.kind == DigestKind::Alert,
            subject: clean(&subject(d, &name, n, &period)),
            heading: heading(d, &name),
            intro: intro_of_part(d, n, &period),
            h: Headings::new(lang),
            discovered,
            dossiers,
            items,
            earlier,
            upcoming,
            // The sources' health is told once, in the first part of a digest in parts.
            show_sources: (d.kind == DigestKind::Digest && d.part.is_none_or(|(k, _)| k == 1))
                || !troubled.is_empty(),
            sources,
            sources_summary: sources_summary(lang, troubled.len(), d.sources.len()),
            footer: footer(d),
            view_url: None,
            view_label: "",
        }
    }
}

/// The subject line: "[veille] NAME: N new (PERIOD)", an alert's, "(part K of N)".
fn subject(d: &Digest, name: &str, n: usize, period: &str) -> String {
    let lang = d.language;
    let subject = match d.kind {
        DigestKind::Digest => match lang {
            Language::En => format!("[veille] {name}: {n} new ({period})"),
            Language::Fr => format!(
                "[veille] {name} : {n} {} ({period})",
                if n > 1 { "nouveautés" } else { "nouveauté" }
            ),
        },
        DigestKind::Alert => alert_subject(d, name),
    };
    match (d.part, lang) {
        (Some((k, n)), Language::En) => format!("{subject} (part {k} of {n})"),
        (Some((k, n)), Language::Fr) => format!("{subject} (partie {k} sur {n})"),
        (None, _) => subject,
    }
}

fn heading(d: &Digest, name: &str) -> String {
    match (d.kind, d.language) {
        (DigestKind::Digest, Language::En) => format!("Watch digest: {name}"),
        (DigestKind::Digest, Language::Fr) => format!("Veille : {name}"),
        (DigestKind::Alert, Language::En) if is_reminder(d) => format!("Reminder: {name}"),
        (DigestKind::Alert, Language::Fr) if is_reminder(d) => format!("Rappel : {name}"),
        (DigestKind::Alert, Language::En) => format!("Alert: {name}"),
        (DigestKind::Alert, Language::Fr) => format!("Alerte : {name}"),
    }
}

/// The introduction, saying which part this is of a digest in parts.
fn intro_of_part(d: &Digest, n: usize, period: &str) -> String {
    match (d.part, d.language) {
        (Some((k, parts)), Language::En) => format!(
            "{} This digest is too large for one message: it comes in {parts} parts, and this is part {k}.",
            intro(d, n, period)
        ),
        (Some((k, parts)), Language::Fr) => format!(
            "{} Cette veille est trop longue pour un seul message : elle arrive en {parts} parties, et voici la partie {k}.",
            intro(d, n, period)
        ),
        (None, _) => intro(d, n, period),
    }
}

/// The sentence above the failing sources (or saying that all are well).
fn sources_summary(lang: Language, troubled: usize, total: usize) -> String {
    match (lang, troubled == 0, total == 0) {
        (Language::En, _, true) => "No source status is known yet.".to_string(),
        (Language::Fr, _, true) => "L’état des sources n’est pas encore connu.".to_string(),
        (Language::En, true, false) => format!("All sources OK ({total})."),
        (Language::Fr, true, false) => format!("Toutes les sources fonctionnent ({total})."),
        (Language::En, false, false) => format!(
            "{troubled} of {total} sources failed during the period; news from them may be missing:"
        ),
        (Language::Fr, false, false) => format!(
            "{troubled} {} sur {total} en échec pendant la période ; des nouvelles peuvent manquer :",
            if troubled > 1 { "sources" } else { "source" },
        ),
    }
}

fn footer(d: &Digest) -> String {
    match d.language {
        Language::En => format!(
            "Sent automatically by veille for the watchlist \u{201c}{}\u{201d}. The links lead to the sources, which are authoritative.",
            clean(&d.watchlist_id)
        ),
        Language::Fr => format!(
            "Envoyé automatiquement par veille pour la liste de veille « {} ». Les liens mènent aux sources, qui font foi.",
            clean(&d.watchlist_id)
        ),
    }
}

/// An alert made only of deadline reminders.
fn is_reminder(d: &Digest) -> bool {
    let mut events = d
        .dossiers
        .iter()
        .flat_map(|b| b.entries.iter())
        .chain(d.items.iter())
        .map(|e| e.event.kind)
        .peekable();
    events.peek().is_some() && events.all(|k| k == EventKind::Reminder)
}

fn alert_subject(d: &Digest, name: &str) -> String {
    let lang = d.language;
    let c = colon(lang);
    let prefix = match (lang, is_reminder(d)) {
        (Language::En, false) => "[veille] Alert",
        (Language::Fr, false) => "[veille] Alerte",
        (Language::En, true) => "[veille] Reminder",
        (Language::Fr, true) => "[veille] Rappel",
    };
    let n = d.entry_count();
    let what = match (d.dossiers.as_slice(), d.items.as_slice()) {
        ([b], []) if b.entries.len() == 1 => {
            let e = &b.entries[0].event;
            let step = e
                .stage
                .map(|s| s.label(lang).to_string())
                .unwrap_or_else(|| shorten(clean(&e.title), 60));
            format!("{step} – {}", b.reference)
        }
        ([], [e]) => shorten(clean(&e.event.title), 80),
        _ => match lang {
            Language::En => format!("{n} decisive steps"),
            Language::Fr => format!("{n} étapes décisives"),
        },
    };
    format!("{prefix}{c}{name}{c}{what}")
}

fn intro(d: &Digest, n: usize, period: &str) -> String {
    let lang = d.language;
    let end = fmt_date_time(d.period_end, d.tz, lang);
    let since = d.period_start.map(|s| fmt_date_time(s, d.tz, lang));
    match (d.kind, lang) {
        (DigestKind::Alert, Language::En) if is_reminder(d) => {
            format!("Deadline reminder, {}.", fmt_date_time(d.now, d.tz, lang))
        }
        (DigestKind::Alert, Language::Fr) if is_reminder(d) => {
            format!("Rappel d'échéance, {}.", fmt_date_time(d.now, d.tz, lang))
        }
        (DigestKind::Alert, Language::En) => {
            format!(
                "Decisive steps seen on {}.",
                fmt_date_time(d.now, d.tz, lang)
            )
        }
        (DigestKind::Alert, Language::Fr) => {
            format!(
                "Étapes décisives relevées le {}.",
                fmt_date_time(d.now, d.tz, lang)
            )
        }
        (DigestKind::Digest, Language::En) => {
            let news = match n {
                0 => "Nothing new matched".to_string(),
                1 => "1 new item".to_string(),
                n => format!("{n} new items"),
            };
            match since {
                Some(s) => format!("{news}, {period} (from {s} to {end})."),
                None => format!("{news}, {period} ({end})."),
            }
        }
        (DigestKind::Digest, Language::Fr) => {
            let news = match n {
                0 => "Aucune nouveauté retenue".to_string(),
                1 => "1 nouveauté".to_string(),
                n => format!("{n} nouveautés"),
            };
            match since {
                Some(s) => format!("{news}, {period} (du {s} au {end})."),
                None => format!("{news}, {period} ({end})."),
            }
        }
    }
}

/// `Commission proposal → Committee vote → now: Plenary vote`.
fn path_line(path: &[Stage], elided: bool, lang: Language) -> String {
    let Some((current, before)) = path.split_last() else {
        return String::new();
    };
    let mut parts: Vec<String> = Vec::with_capacity(path.len() + 1);
    if elided {
        parts.push("…".to_string());
    }
    parts.extend(before.iter().map(|s| s.label(lang).to_string()));
    let now = match lang {
        Language::En => "now",
        Language::Fr => "actuellement",
    };
    parts.push(format!("{now}{}{}", colon(lang), current.label(lang)));
    parts.join(" → ")
}

/// `Stage label: text`, unless the text is empty, is the label, or already starts with it.
fn labelled(label: &str, text: &str, lang: Language) -> String {
    let starts = text
        .get(..label.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(label));
    if text.is_empty() {
        label.to_string()
    } else if starts {
        text.to_string()
    } else {
        format!("{label}{}{text}", colon(lang))
    }
}

fn entry_view(e: &DigestEntry, lang: Language) -> VEntry {
    let ev = &e.event;
    let title = clean(&ev.title);
    let c = colon(lang);
    let what = match (ev.kind, ev.stage) {
        (EventKind::Step, Some(stage)) => labelled(stage.label(lang), &title, lang),
        (EventKind::Forecast, stage) => {
            let scheduled = match lang {
                Language::En => "Scheduled",
                Language::Fr => "Programmé",
            };
            match stage {
                Some(s) => format!("{scheduled}{c}{}, {title}", s.label(lang)),
                None => format!("{scheduled}{c}{title}"),
            }
        }
        (EventKind::Rapporteur, _) => format!("Rapporteur{c}{title}"),
        (EventKind::Discovered, stage) => {
            let reference = ev.dossier.map(|r| format!(" ({r})")).unwrap_or_default();
            let (now, unknown) = match lang {
                Language::En => ("now", "stage not known yet"),
                Language::Fr => ("actuellement", "étape pas encore connue"),
            };
            match stage {
                Some(s) => format!("{title}{reference} — {now}{c}{}", s.label(lang)),
                None => format!("{title}{reference} — {unknown}"),
            }
        }
        (EventKind::Reminder, _) => {
            let deadline = match lang {
                Language::En => "Deadline",
                Language::Fr => "Échéance",
            };
            format!("{deadline}{c}{title}")
        }
        _ => title,
    };
    let raw_url = ev
        .url
        .as_deref()
        .or(ev.provenance.first().map(|p| p.url.as_str()))
        .unwrap_or("");
    let link = safe_link(raw_url);
    let unlinked = match (&link, clean(raw_url)) {
        (None, u) if !u.is_empty() => Some(shorten(u, MAX_UNLINKED_URL)),
        _ => None,
    };
    let why = e
        .reasons
        .iter()
        .map(|r| clean(r))
        .filter(|r| !r.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    VEntry {
        date: fmt_date(ev.date, lang),
        what,
        link,
        unlinked,
        source: clean(ev.source()),
        why,
        alerted: e.alerted,
    }
}

fn upcoming_view(u: &Upcoming, today: NaiveDate, lang: Language) -> VUpcoming {
    let label = clean(&u.label);
    let what = labelled(u.stage.label(lang), &label, lang);
    let dossier = match (u.dossier, u.dossier_title.as_deref().map(clean)) {
        (Some(r), Some(t)) if !t.is_empty() => Some(format!("{r} – {t}")),
        (Some(r), _) => Some(r.to_string()),
        (None, Some(t)) if !t.is_empty() => Some(t),
        _ => None,
    };
    VUpcoming {
        date: fmt_date(u.date, lang),
        countdown: countdown((u.date - today).num_days(), lang),
        what,
        dossier,
        link: u.url.as_deref().and_then(safe_link),
    }
}

fn source_line(s: &SourceHealth, d: &Digest) -> String {
    let lang = d.language;
    let when = |t: DateTime<Utc>| fmt_date_time(t, d.tz, lang);
    let mut parts: Vec<String> = Vec::new();
    match (lang, s.ok, s.failing_since) {
        (Language::En, false, Some(t)) => parts.push(format!("failing since {}", when(t))),
        (Language::En, false, None) => parts.push("failing".to_string()),
        (Language::En, true, _) => parts.push("working again".to_string()),
        (Language::Fr, false, Some(t)) => parts.push(format!("en échec depuis le {}", when(t))),
        (Language::Fr, false, None) => parts.push("en échec".to_string()),
        (Language::Fr, true, _) => parts.push("fonctionne de nouveau".to_string()),
    }
    if s.failures > 0 {
        parts.push(match lang {
            Language::En if s.failures == 1 => "1 failed attempt".to_string(),
            Language::En => format!("{} failed attempts", s.failures),
            Language::Fr if s.failures == 1 => "1 tentative échouée".to_string(),
            Language::Fr => format!("{} tentatives échouées", s.failures),
        });
    }
    parts.push(match (lang, s.last_success) {
        (Language::En, Some(t)) => format!("last success {}", when(t)),
        (Language::En, None) => "never succeeded".to_string(),
        (Language::Fr, Some(t)) => format!("dernier succès le {}", when(t)),
        (Language::Fr, None) => "jamais réussi".to_string(),
    });
    // The short cause; the whole error chain is for the log and `status --format json`.
    let cause = s.cause.as_deref().or(s.last_error.as_deref());
    if let Some(err) = cause.map(clean).filter(|e| !e.is_empty()) {
        let err = shorten(err, 300);
        parts.push(match lang {
            Language::En => format!("last error: {err}"),
            Language::Fr => format!("dernière erreur : {}", cause_fr(&err)),
        });
    }
    let sep = match lang {
        Language::En => "; ",
        Language::Fr => " ; ",
    };
    parts.join(sep)
}

/// A short cause (`FetchError::cause`, `view::cause`) in French, for French digests;
/// what no rule knows stays as it is.
fn cause_fr(cause: &str) -> String {
    const WHOLE: &[(&str, &str)] = &[
        ("bot challenge", "page anti-robot au lieu du contenu"),
        ("too many redirects", "trop de redirections"),
        ("bad redirect", "redirection invalide"),
        (
            "redirect to a link-local address refused",
            "redirection vers une adresse lien-local refusée",
        ),
        ("invalid URL", "adresse invalide"),
        ("timed out", "délai dépassé"),
        ("response too large", "réponse trop volumineuse"),
        ("not found at the source", "introuvable à la source"),
        ("page layout not recognised", "mise en page non reconnue"),
        (
            "record layout not recognised",
            "structure de la fiche non reconnue",
        ),
        ("cannot set up HTTP", "HTTP impossible à configurer"),
    ];
    const PREFIX: &[(&str, &str)] = &[
        ("cannot resolve ", "nom introuvable : "),
        ("connection refused by ", "connexion refusée par "),
        ("connection reset by ", "connexion interrompue par "),
        ("cannot connect to ", "connexion impossible à "),
        ("timed out after ", "délai dépassé après "),
        ("response larger than ", "réponse de plus de "),
        ("not a feed: ", "pas un flux : "),
        ("request to ", "échec de la requête à "),
        ("malformed ", "mal formé : "),
    ];
    const SUFFIX: &[(&str, &str)] = &[
        (" is unreachable", " est injoignable"),
        (" broke off the response", " a interrompu la réponse"),
    ];
    if let Some((_, fr)) = WHOLE.iter().find(|(en, _)| *en == cause) {
        return (*fr).to_string();
    }
    if let Some(rest) = cause.strip_prefix("secure connection to ") {
        if let Some(host) = rest.strip_suffix(" failed") {
            return format!("échec de la connexion sécurisée à {host}");
        }
    }
    if let Some((status, wait)) = cause.split_once(", asked to wait ") {
        return format!("{status}, attente demandée : {wait}");
    }
    if let Some((en, fr)) = PREFIX.iter().find(|(en, _)| cause.starts_with(en)) {
        let rest = &cause[en.len()..];
        return match *en {
            "request to " => format!("{fr}{}", rest.trim_end_matches(" failed")),
            _ => format!("{fr}{rest}"),
        };
    }
    if let Some((en, fr)) = SUFFIX.iter().find(|(en, _)| cause.ends_with(en)) {
        return format!("{}{fr}", &cause[..cause.len() - en.len()]);
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_causes_read_in_french() {
        for (en, fr) in [
            ("bot challenge", "page anti-robot au lieu du contenu"),
            (
                "cannot resolve data.europarl.europa.eu",
                "nom introuvable : data.europarl.europa.eu",
            ),
            (
                "connection refused by 127.0.0.1:9",
                "connexion refusée par 127.0.0.1:9",
            ),
            ("timed out after 60 s", "délai dépassé après 60 s"),
            ("HTTP 503", "HTTP 503"),
            (
                "HTTP 429, asked to wait 1 h",
                "HTTP 429, attente demandée : 1 h",
            ),
            (
                "eur-lex.europa.eu is unreachable",
                "eur-lex.europa.eu est injoignable",
            ),
            (
                "secure connection to ec.europa.eu failed",
                "échec de la connexion sécurisée à ec.europa.eu",
            ),
            (
                "request to example.org failed",
                "échec de la requête à example.org",
            ),
            ("not a feed: no RSS root", "pas un flux : no RSS root"),
            ("something new", "something new"),
        ] {
            assert_eq!(cause_fr(en), fr, "{en}");
        }
    }

    #[test]
    fn clean_makes_one_line() {
        assert_eq!(clean(" a\r\nb\t\u{0}c  d\u{202E}e "), "a b c d e");
        assert_eq!(clean("\r\n"), "");
    }

    #[test]
    fn only_http_links() {
        assert!(safe_link("https://oeil.secure.europarl.europa.eu/x?a=1&b=2").is_some());
        assert!(safe_link("http://example.org").is_some());
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html;base64,PHNjcmlwdD4=",
            "ftp://example.org/x",
            "/relative",
            "",
            "https://",
        ] {
            assert_eq!(safe_link(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_in_both_languages() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
        assert_eq!(fmt_date(d, Language::En), "1 Dec 2026");
        assert_eq!(fmt_date(d, Language::Fr), "1er décembre 2026");
        assert_eq!(countdown(12, Language::Fr), "dans 12 jours");
        assert_eq!(countdown(12, Language::En), "in 12 days");
    }

    #[test]
    fn path_skips_nothing_it_is_given_and_marks_now() {
        let p = path_line(
            &[Stage::Proposal, Stage::CommitteeVote, Stage::PlenaryVote],
            false,
            Language::En,
        );
        assert_eq!(
            p,
            "Commission proposal → Committee vote → now: Plenary vote"
        );
        assert_eq!(path_line(&[], false, Language::En), "");
    }
}
