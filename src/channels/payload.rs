//! Each channel's request body from a built digest or alert: what the service can show,
//! within its limits. Teams: a Workflows webhook message carrying one Adaptive Card
//! (1.2), at most 28 KB. Slack: an incoming-webhook message, `text` and at most 50 Block
//! Kit blocks, each section's text at most 3,000 characters. Matrix: an `m.notice` with a
//! plain `body` and an `org.matrix.custom.html` `formatted_body` (a small, escaped HTML
//! subset), well under the 64 KB event limit. Webhook: the JSON of `digest preview
//! --format json` with `kind` and `key`, never cut.
//!
//! A digest too large for a service is cut at a whole line and says so, with how many
//! lines were left out and where the full digest went (the mail to the watchlist's
//! recipients); nothing is cut silently.

use serde_json::{json, Value};

use super::ChannelKind;
use crate::digest::{safe_link, Digest, DigestKind};
use crate::model::Language;

/// What a body says besides the digest itself.
#[derive(Debug, Clone, Copy)]
pub struct PayloadContext<'a> {
    /// The delivery's key (the mail's digest key).
    pub key: &'a str,
    /// The mail's subject: the message's title everywhere.
    pub subject: &'a str,
    /// Where the full digest went by mail (empty: not by mail).
    pub mail_to: &'a [String],
}

/// The most bytes of a Teams message (Teams refuses more than 28 KB), with room to spare.
pub const TEAMS_MAX_BYTES: usize = 27 * 1024;
/// Slack: blocks per message and characters per section text.
pub const SLACK_MAX_BLOCKS: usize = 50;
pub const SLACK_MAX_SECTION: usize = 3000;
/// Matrix: an event is at most 65,536 bytes with its envelope.
pub const MATRIX_MAX_BYTES: usize = 60 * 1024;

/// One line of a section: a dated entry, with its link when it has a safe one.
#[derive(Debug, Clone)]
struct Line {
    text: String,
    url: Option<String>,
}

#[derive(Debug, Clone)]
struct Section {
    heading: String,
    lines: Vec<Line>,
}

/// The request body for `kind`.
pub fn body_for(kind: ChannelKind, d: &Digest, cx: &PayloadContext<'_>) -> String {
    if kind == ChannelKind::Webhook {
        return webhook(d, cx).to_string();
    }
    let sections = sections(d);
    let total: usize = sections.iter().map(|s| s.lines.len()).sum();
    let render = |shown: usize| -> String {
        let cut = cut(&sections, shown);
        let notice = (shown < total).then(|| too_large(kind, d.language, shown, total, cx));
        match kind {
            ChannelKind::Teams => teams(cx.subject, &cut, notice.as_deref()).to_string(),
            ChannelKind::Slack => slack(cx.subject, &cut, notice.as_deref()).to_string(),
            ChannelKind::Matrix => matrix(cx.subject, &cut, notice.as_deref()).to_string(),
            ChannelKind::Webhook => unreachable!("answered above"),
        }
    };
    let fits = |body: &str| match kind {
        ChannelKind::Teams => body.len() <= TEAMS_MAX_BYTES,
        ChannelKind::Matrix => body.len() <= MATRIX_MAX_BYTES,
        ChannelKind::Slack => serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v["blocks"].as_array().map(|b| b.len() <= SLACK_MAX_BLOCKS))
            .unwrap_or(false),
        ChannelKind::Webhook => true,
    };
    let whole = render(total);
    if fits(&whole) {
        return whole;
    }
    // The most lines that fit, found by bisection (the size grows with the lines shown).
    let (mut lo, mut hi) = (0usize, total);
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if fits(&render(mid)) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    render(lo)
}

/// The first `shown` lines, in section order; sections left empty are dropped.
fn cut(sections: &[Section], shown: usize) -> Vec<Section> {
    let mut left = shown;
    let mut out = Vec::new();
    for s in sections {
        if left == 0 {
            break;
        }
        let lines: Vec<Line> = s.lines.iter().take(left).cloned().collect();
        left -= lines.len();
        out.push(Section {
            heading: s.heading.clone(),
            lines,
        });
    }
    out
}

fn words(lang: Language) -> [&'static str; 4] {
    match lang {
        Language::En => [
            "New dossiers in your field",
            "Other news",
            "Coming up",
            "Sources not answering",
        ],
        Language::Fr => [
            "Nouveaux dossiers dans votre domaine",
            "Autres actualités",
            "À venir",
            "Sources qui ne répondent pas",
        ],
    }
}

/// The digest as headed sections of lines, in the mail's order.
fn sections(d: &Digest) -> Vec<Section> {
    use crate::text::one_line as clean;
    let [discovered, others, upcoming, sources] = words(d.language);
    let entry = |e: &crate::digest::DigestEntry| Line {
        text: format!("{} — {}", e.event.date, clean(&e.event.title)),
        url: e
            .event
            .url
            .as_deref()
            .or_else(|| e.event.provenance.first().map(|p| p.url.as_str()))
            .and_then(safe_link),
    };
    let mut out = Vec::new();
    if !d.discovered.is_empty() {
        out.push(Section {
            heading: discovered.to_string(),
            lines: d.discovered.iter().map(entry).collect(),
        });
    }
    for b in &d.dossiers {
        out.push(Section {
            heading: format!("{} — {}", b.reference, clean(&b.title)),
            lines: b.entries.iter().map(entry).collect(),
        });
    }
    if !d.items.is_empty() {
        out.push(Section {
            heading: others.to_string(),
            lines: d.items.iter().map(entry).collect(),
        });
    }
    if !d.upcoming.is_empty() {
        out.push(Section {
            heading: upcoming.to_string(),
            lines: d
                .upcoming
                .iter()
                .map(|u| Line {
                    text: format!("{} — {}", u.date, clean(&u.label)),
                    url: u.url.as_deref().and_then(safe_link),
                })
                .collect(),
        });
    }
    let troubled: Vec<Line> = d
        .troubled_sources()
        .map(|s| Line {
            text: format!(
                "{}: {}",
                s.id,
                clean(s.cause.as_deref().unwrap_or("failing"))
            ),
            url: None,
        })
        .collect();
    if !troubled.is_empty() {
        out.push(Section {
            heading: sources.to_string(),
            lines: troubled,
        });
    }
    out
}

/// What a cut message says: how much is missing and where the whole digest is.
fn too_large(
    kind: ChannelKind,
    lang: Language,
    shown: usize,
    total: usize,
    cx: &PayloadContext<'_>,
) -> String {
    let to = cx.mail_to.join(", ");
    match (lang, to.is_empty()) {
        (Language::En, false) => format!(
            "Too large for {}: {shown} of {total} lines shown. The full digest is in the mail sent to {to}.",
            kind.label()
        ),
        (Language::En, true) => format!(
            "Too large for {}: {shown} of {total} lines shown. The full digest: `veille digest preview` on the veille server ({}).",
            kind.label(),
            cx.key
        ),
        (Language::Fr, false) => format!(
            "Trop long pour {} : {shown} lignes sur {total}. Le digest complet est dans le courriel envoyé à {to}.",
            kind.label()
        ),
        (Language::Fr, true) => format!(
            "Trop long pour {} : {shown} lignes sur {total}. Le digest complet : `veille digest preview` sur le serveur veille ({}).",
            kind.label(),
            cx.key
        ),
    }
}

/// A Teams Workflows webhook message: one Adaptive Card.
fn teams(title: &str, sections: &[Section], notice: Option<&str>) -> Value {
    let md = |s: &str| s.replace('[', "(").replace(']', ")");
    let mut body = vec![json!({
        "type": "TextBlock", "text": md(title), "size": "Large", "weight": "Bolder", "wrap": true
    })];
    for s in sections {
        body.push(json!({
            "type": "TextBlock", "text": md(&s.heading), "weight": "Bolder", "wrap": true,
            "spacing": "Medium"
        }));
        for l in &s.lines {
            let text = match &l.url {
                Some(u) => format!("- [{}]({})", md(&l.text), u.replace(')', "%29")),
                None => format!("- {}", md(&l.text)),
            };
            body.push(json!({"type": "TextBlock", "text": text, "wrap": true, "spacing": "None"}));
        }
    }
    if let Some(n) = notice {
        body.push(json!({
            "type": "TextBlock", "text": md(n), "wrap": true, "isSubtle": true, "color": "Attention"
        }));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.2",
                "body": body,
            }
        }]
    })
}

/// Slack's mrkdwn escaping (`&`, `<`, `>`), and `|` out of a link's label.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A Slack incoming-webhook message: a header, then each section as section blocks of
/// at most 3,000 characters.
fn slack(title: &str, sections: &[Section], notice: Option<&str>) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": shorten(title, 150), "emoji": false}
    })];
    for s in sections {
        let mut text = format!("*{}*", slack_escape(&s.heading));
        for l in &s.lines {
            let line = match &l.url {
                Some(u) => format!(
                    "\n• <{}|{}>",
                    slack_escape(u),
                    slack_escape(&l.text).replace('|', "¦")
                ),
                None => format!("\n• {}", slack_escape(&l.text)),
            };
            let line = shorten(&line, SLACK_MAX_SECTION - 10);
            if text.chars().count() + line.chars().count() > SLACK_MAX_SECTION {
                blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
                text = String::new();
            }
            text.push_str(&line);
        }
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
    }
    if let Some(n) = notice {
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": slack_escape(n)}]
        }));
    }
    json!({"text": shorten(title, 3000), "blocks": blocks})
}

fn html_escape(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

/// A Matrix `m.notice`: plain text and the HTML subset Matrix clients render (`h4`,
/// `ul`, `li`, `a`, `p`, `em`), every text escaped.
fn matrix(title: &str, sections: &[Section], notice: Option<&str>) -> Value {
    let mut body = format!("{title}\n");
    let mut html = format!("<h4>{}</h4>", html_escape(title));
    for s in sections {
        body.push_str(&format!("\n{}\n", s.heading));
        html.push_str(&format!(
            "<p><strong>{}</strong></p><ul>",
            html_escape(&s.heading)
        ));
        for l in &s.lines {
            match &l.url {
                Some(u) => {
                    body.push_str(&format!("- {} <{u}>\n", l.text));
                    html.push_str(&format!(
                        "<li><a href=\"{}\">{}</a></li>",
                        html_escape(u),
                        html_escape(&l.text)
                    ));
                }
                None => {
                    body.push_str(&format!("- {}\n", l.text));
                    html.push_str(&format!("<li>{}</li>", html_escape(&l.text)));
                }
            }
        }
        html.push_str("</ul>");
    }
    if let Some(n) = notice {
        body.push_str(&format!("\n{n}\n"));
        html.push_str(&format!("<p><em>{}</em></p>", html_escape(n)));
    }
    json!({
        "msgtype": "m.notice",
        "body": body,
        "format": "org.matrix.custom.html",
        "formatted_body": html,
    })
}

/// The webhook's JSON: `digest preview --format json`, with `kind` and `key`.
fn webhook(d: &Digest, cx: &PayloadContext<'_>) -> Value {
    let mut v = crate::digest::to_json(d);
    if let Some(o) = v.as_object_mut() {
        let kind = match d.kind {
            DigestKind::Digest => "digest",
            DigestKind::Alert => "alert",
        };
        o.insert("kind".into(), json!(kind));
        o.insert("key".into(), json!(cx.key));
        o.insert("subject".into(), json!(cx.subject));
        if let Some((k, n)) = d.part {
            o.insert("part".into(), json!({"number": k, "of": n}));
        }
    }
    v
}
