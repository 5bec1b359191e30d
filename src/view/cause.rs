//! Short causes of a source's failure, for people: "cannot resolve data.europarl.europa.eu",
//! "connection refused by 127.0.0.1:8080", "HTTP 503", "bot challenge", "not a feed: …".
//!
//! A fetch failure says its own ([`crate::fetch::FetchError::cause`]); this module gives
//! the short cause of a body that did not parse (kept as text beside the resource, so read
//! from its text: the parsers' error wording is `sources::ParseError`'s `Display`), and of
//! a failure recorded before short causes were stored (from the full error text).

use crate::sources::SourceKind;

/// At most this many characters of detail in a short cause.
const DETAIL: usize = 60;

/// The short cause of a parse error (its `Display` text, without the URL).
pub fn of_parse_error(kind: SourceKind, text: &str) -> String {
    let text = text.trim();
    if text.starts_with("bot challenge") {
        return "bot challenge".to_string();
    }
    if text.starts_with("not found at the source") {
        return "not found at the source".to_string();
    }
    if let Some(rest) = text.strip_prefix("malformed ") {
        let format = rest.split(':').next().unwrap_or(rest).trim();
        return match kind {
            SourceKind::Feed => format!("not a feed: malformed {format}"),
            _ => format!("malformed {format}"),
        };
    }
    if let Some(detail) = text.strip_prefix("unexpected layout:") {
        return match kind {
            SourceKind::Feed => format!("not a feed: {}", shorten(detail.trim(), DETAIL)),
            SourceKind::Oeil => "page layout not recognised".to_string(),
            SourceKind::EpApi | SourceKind::Cellar | SourceKind::HaveYourSay => {
                "record layout not recognised".to_string()
            }
        };
    }
    shorten(text, DETAIL)
}

/// A failed send in plain words, from the error veille recorded ("message ID to
/// HOST:PORT: Connection error: Connection refused (os error 111)" →
/// "the mail server 127.0.0.1:2525 refused the connection").
pub fn of_mail_error(text: &str) -> String {
    let t = text.trim();
    let (server, detail) = match t
        .strip_prefix("message ")
        .and_then(|r| r.split_once(" to "))
        .and_then(|(_, r)| r.split_once(": "))
    {
        Some((hp, d)) => (format!("the mail server {hp}"), d.trim()),
        None => ("the mail server".to_string(), t),
    };
    // A failure veille recognised carries its own line (naming the server and the key
    // that fixes it) before lettre's words.
    if let Some((cause, _)) = detail.split_once(crate::mail::CAUSE_SEPARATOR) {
        return cause.trim().to_string();
    }
    let lower = detail.to_ascii_lowercase();
    if lower.contains("connection refused") {
        return format!("{server} refused the connection (is it running, is the port right?)");
    }
    if lower.starts_with("no answer within") || lower.contains("timed out") {
        return format!("{server} did not answer in time");
    }
    if lower.contains("failed to lookup") || lower.contains("dns error") {
        return format!(
            "cannot resolve {}",
            server.trim_start_matches("the mail server ")
        );
    }
    if lower.contains("(535)")
        || lower.contains("(534)")
        || lower.contains("authentication")
        || lower.contains("credentials")
    {
        return format!(
            "{server} refused the login (check the username and $VEILLE_SMTP_PASSWORD)"
        );
    }
    if lower.contains("tls") || lower.contains("certificate") {
        return format!("TLS with {server} failed: {}", shorten(detail, DETAIL));
    }
    if lower.contains("connection reset") || lower.contains("broken pipe") {
        return format!("{server} dropped the connection");
    }
    if lower.contains("unreachable") || lower.contains("no route") {
        return format!("{server} cannot be reached");
    }
    if lower.starts_with("permanent error") {
        return format!("{server} refused the message: {}", shorten(detail, DETAIL));
    }
    if lower.starts_with("transient error") {
        return format!("{server} asked to try later: {}", shorten(detail, DETAIL));
    }
    shorten(t, DETAIL)
}

/// The stored short cause, or, for a record written before there was one, a short cause
/// read from the full error text.
pub fn of_record(
    kind: SourceKind,
    last_cause: Option<&str>,
    last_error: Option<&str>,
) -> Option<String> {
    match last_cause {
        Some(c) => Some(c.to_string()),
        None => last_error.map(|e| of_error_text(kind, e)),
    }
}

/// A short cause from a full error text as veille recorded it ("could not connect to URL:
/// error sending request … dns error: failed to lookup address information: …", "HTTP 503
/// from URL", "URL: unexpected layout: …", possibly followed by "(and 2 more errors)").
pub fn of_error_text(kind: SourceKind, text: &str) -> String {
    let text = text
        .rsplit_once(" (and ")
        .filter(|(_, more)| more.ends_with(" more errors)"))
        .map_or(text, |(first, _)| first)
        .trim();
    let lower = text.to_ascii_lowercase();
    let host = || host_in(text).unwrap_or_else(|| "the server".to_string());
    if lower.contains("dns error") || lower.contains("failed to lookup address") {
        return format!("cannot resolve {}", host());
    }
    if lower.contains("connection refused") {
        return format!("connection refused by {}", host());
    }
    if lower.contains("connection reset") {
        return format!("connection reset by {}", host());
    }
    if let Some(rest) = lower.strip_prefix("timed out after ") {
        let after = rest.split(" fetching").next().unwrap_or(rest);
        return format!("timed out after {after}");
    }
    if lower.starts_with("timed out") {
        return "timed out".to_string();
    }
    if let Some(cause) = http_status(text) {
        return cause;
    }
    if lower.starts_with("bot challenge") {
        return "bot challenge".to_string();
    }
    if lower.starts_with("body of ") && lower.contains(" is larger than ") {
        return "response too large".to_string();
    }
    if lower.starts_with("redirect problem") {
        return if lower.contains("too many redirects") {
            "too many redirects".to_string()
        } else {
            "bad redirect".to_string()
        };
    }
    if lower.starts_with("could not connect to") {
        return format!("cannot connect to {}", host());
    }
    // "URL: parse error" as the poll records a body that did not parse.
    if let Some((_, parse)) = text
        .split_once(": ")
        .filter(|(url, _)| url.starts_with("http://") || url.starts_with("https://"))
    {
        return of_parse_error(kind, parse);
    }
    shorten(text, DETAIL)
}

/// "HTTP 503" from "HTTP 503 from URL", with the wait asked for when there was one.
fn http_status(text: &str) -> Option<String> {
    let rest = text.strip_prefix("HTTP ")?;
    let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if code.len() != 3 || !rest[3..].starts_with(" from ") {
        return None;
    }
    let wait = text
        .split_once("(retry after ")
        .and_then(|(_, w)| w.strip_suffix("s)"))
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0);
    Some(match wait {
        Some(s) => format!(
            "HTTP {code}, asked to wait {}",
            super::when::span(std::time::Duration::from_secs(s))
        ),
        None => format!("HTTP {code}"),
    })
}

/// The host (and port, when named) of the first http(s) URL in `text`.
fn host_in(text: &str) -> Option<String> {
    let start = text.find("http://").or_else(|| text.find("https://"))?;
    let url: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ')' && *c != ',')
        .collect();
    let url = url.trim_end_matches(':');
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    Some(match parsed.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

/// At most `max` characters, with "…" when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_errors_in_plain_words() {
        assert_eq!(
            of_mail_error("message abc@example.org to 127.0.0.1:2525: Connection error: Connection refused (os error 111)"),
            "the mail server 127.0.0.1:2525 refused the connection (is it running, is the port right?)"
        );
        assert_eq!(
            of_mail_error("message a@b to smtp.example.org:587: no answer within 30s"),
            "the mail server smtp.example.org:587 did not answer in time"
        );
        assert!(
            of_mail_error("message a@b to h:25: permanent error (535): 5.7.8 bad credentials")
                .contains("refused the login")
        );
        assert_eq!(
            of_mail_error("message a@b to h:587: the mail server h:587 does not offer STARTTLS; fix it — internal client error: STARTTLS is not supported on this server"),
            "the mail server h:587 does not offer STARTTLS; fix it"
        );
    }

    const DNS: &str = "could not connect to https://data.europarl.europa.eu/api/v2/procedures/feed: error sending request for url (https://data.europarl.europa.eu/api/v2/procedures/feed): client error (Connect): dns error: failed to lookup address information: Name or service not known";

    #[test]
    fn old_records_get_a_short_cause_from_their_text() {
        let k = SourceKind::EpApi;
        assert_eq!(
            of_error_text(k, DNS),
            "cannot resolve data.europarl.europa.eu"
        );
        assert_eq!(
            of_error_text(k, &format!("{DNS} (and 6 more errors)")),
            "cannot resolve data.europarl.europa.eu"
        );
        assert_eq!(
            of_error_text(k, "could not connect to http://127.0.0.1:4321/feed.rss: error sending request for url (http://127.0.0.1:4321/feed.rss): client error (Connect): tcp connect error: Connection refused (os error 111)"),
            "connection refused by 127.0.0.1:4321"
        );
        assert_eq!(
            of_error_text(k, "timed out fetching https://x.eu/a"),
            "timed out"
        );
        assert_eq!(
            of_error_text(k, "timed out after 60 s fetching https://x.eu/a"),
            "timed out after 60 s"
        );
        assert_eq!(of_error_text(k, "HTTP 503 from https://x.eu/a"), "HTTP 503");
        assert_eq!(
            of_error_text(k, "HTTP 429 from https://x.eu/a (retry after 3600s)"),
            "HTTP 429, asked to wait 1 h"
        );
        assert_eq!(
            of_error_text(k, "bot challenge instead of content at https://x.eu: x-amzn-waf-action: challenge (HTTP 202)"),
            "bot challenge"
        );
        assert_eq!(
            of_error_text(k, "body of https://x.eu/a is larger than 16777216 bytes"),
            "response too large"
        );
        assert_eq!(
            of_error_text(
                SourceKind::Feed,
                "https://x.eu/feed: unexpected layout: no RSS, Atom or JSON Feed root element"
            ),
            "not a feed: no RSS, Atom or JSON Feed root element"
        );
        assert_eq!(
            of_error_text(
                SourceKind::Oeil,
                "https://x.eu/oeil: unexpected layout: the \"Key events\" section has no table"
            ),
            "page layout not recognised"
        );
    }

    #[test]
    fn parse_errors_in_a_few_words() {
        assert_eq!(
            of_parse_error(
                SourceKind::Feed,
                "malformed XML: unexpected end of input at 1:2"
            ),
            "not a feed: malformed XML"
        );
        assert_eq!(
            of_parse_error(SourceKind::Cellar, "malformed XML: bad"),
            "malformed XML"
        );
        assert_eq!(
            of_parse_error(SourceKind::Oeil, "bot challenge page instead of content"),
            "bot challenge"
        );
        assert_eq!(
            of_parse_error(
                SourceKind::EpApi,
                "unexpected layout: EP API record without a `data` (@graph) member"
            ),
            "record layout not recognised"
        );
        let long = format!("unexpected layout: {}", "x".repeat(200));
        assert!(of_parse_error(SourceKind::Feed, &long).chars().count() <= 72);
    }

    #[test]
    fn a_stored_cause_wins_over_the_text() {
        assert_eq!(
            of_record(SourceKind::Feed, Some("HTTP 503"), Some(DNS)).as_deref(),
            Some("HTTP 503")
        );
        assert_eq!(
            of_record(SourceKind::Feed, None, Some(DNS)).as_deref(),
            Some("cannot resolve data.europarl.europa.eu")
        );
        assert_eq!(of_record(SourceKind::Feed, None, None), None);
    }
}
