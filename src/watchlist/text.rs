//! Text normalisation shared by keywords and the texts they are matched against: lower
//! case, accents removed, German `ß` folded to `ss`, ligatures split, and every run of
//! non-alphanumeric characters (spaces, apostrophes, hyphens, punctuation) turned into one
//! space. A parenthesised union marker between an act-type word and its number
//! ("Directive (EU) 2018/2001", "Richtlinie (EU) 2018/2001", "règlement (UE) n° 1303/2013")
//! is dropped, so that citations written with or without it agree. Must stay pure and
//! total: any input gives a (possibly empty) string.

use std::borrow::Cow;

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Fold one text into words separated by single spaces, with a leading and a trailing space
/// so that a term `" w1 w2 "` found in it is always a run of whole words.
/// `"L'accord sur les Marchés-Publics"` → `" l accord sur les marches publics "`.
pub fn normalise(text: &str) -> String {
    let text = drop_union_markers(text);
    let text = text.as_ref();
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    // An ASCII character is its own NFKD and, of combining class 0, never reorders with its
    // neighbours: only the runs of other characters need `nfkd()`. Same result as
    // decomposing the whole text, without its cost on the mostly-ASCII texts of feeds.
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            // The same as `fold`, without its Unicode case tables.
            if b.is_ascii_alphanumeric() {
                out.push(char::from(b.to_ascii_lowercase()));
            } else if !out.ends_with(' ') {
                out.push(' ');
            }
            i += 1;
            continue;
        }
        let end = bytes[i..]
            .iter()
            .position(u8::is_ascii)
            .map_or(bytes.len(), |p| i + p);
        for c in text[i..end].nfkd() {
            if !is_combining_mark(c) {
                fold(c, &mut out);
            }
        }
        i = end;
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

/// The words that name an act before its number, folded (lower case, no accents).
const ACT_WORDS: &[&str] = &[
    "directive",
    "regulation",
    "decision",
    "reglement",
    "richtlinie",
    "verordnung",
    "beschluss",
    "entscheidung",
    "direttiva",
    "regolamento",
    "decisione",
    "directiva",
    "reglamento",
    "decisao",
    "diretiva",
    "regulamento",
    "richtlijn",
    "verordening",
    "besluit",
];

/// The markers of the Union (and its predecessors) written in brackets in a citation.
const UNION_MARKERS: &[&str] = &[
    "eu",
    "ue",
    "eg",
    "ce",
    "ec",
    "ewg",
    "eec",
    "cee",
    "eu euratom",
    "ue euratom",
    "eg euratom",
    "ce euratom",
    "ec euratom",
];

/// Remove every bracketed union marker that stands between an act-type word and a number
/// (or "No", "Nr", "n°" before it): `Directive (EU) 2018/2001` → `Directive  2018/2001`.
/// One pass: each `(` is looked at once, with a bounded look around it.
fn drop_union_markers(text: &str) -> Cow<'_, str> {
    if !text.contains('(') {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(p) = text[search..].find('(').map(|p| p + search) {
        search = p + 1;
        // A marker is short: look for its `)` within a few characters only.
        let Some(close) = text[p + 1..]
            .char_indices()
            .take(16)
            .find(|(_, c)| *c == ')')
            .map(|(i, _)| i + p + 1)
        else {
            continue;
        };
        if !marker(&text[p + 1..close]) || !after_act_word(&text[..p]) {
            continue;
        }
        if !before_number(&text[close + 1..]) {
            continue;
        }
        out.push_str(&text[copied..p]);
        out.push(' ');
        copied = close + 1;
        search = close + 1;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Fold a short piece of text without dropping markers (no recursion into `normalise`).
fn fold_short(text: &str) -> String {
    let mut out = String::new();
    for c in text.nfkd().filter(|c| !is_combining_mark(*c)) {
        fold(c, &mut out);
    }
    out.trim().to_string()
}

/// Whether a bracket holds a union marker: `EU`, `ue`, `EU, Euratom`. Markers are ASCII:
/// compared without allocating (most brackets are not markers).
fn marker(inside: &str) -> bool {
    if !inside.is_ascii() {
        return false;
    }
    let mut buf = [0u8; 16];
    let mut n = 0;
    for w in inside
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let space = (n > 0).then_some(b' ');
        for b in space.into_iter().chain(w.bytes()) {
            let Some(slot) = buf.get_mut(n) else {
                return false;
            };
            *slot = b.to_ascii_lowercase();
            n += 1;
        }
    }
    UNION_MARKERS.iter().any(|m| m.as_bytes() == &buf[..n])
}

/// Whether the text ends with an act-type word (and spaces).
fn after_act_word(before: &str) -> bool {
    let t = before.trim_end();
    let start = t
        .char_indices()
        .rev()
        .take(41)
        .take_while(|(_, c)| c.is_alphabetic())
        .last()
        .map_or(t.len(), |(i, _)| i);
    let word = &t[start..];
    if word.is_empty() || word.len() > 40 {
        return false;
    }
    if word.is_ascii() {
        return ACT_WORDS.iter().any(|a| a.eq_ignore_ascii_case(word));
    }
    ACT_WORDS.contains(&fold_short(word).as_str())
}

/// Whether the text starts (after spaces) with a digit, or with "No", "Nr", "n°".
fn before_number(after: &str) -> bool {
    let t = after.trim_start();
    if t.starts_with(|c: char| c.is_ascii_digit()) {
        return true;
    }
    let word: String = t
        .chars()
        .take(3)
        .take_while(|c| c.is_alphabetic())
        .collect();
    matches!(word.to_lowercase().as_str(), "no" | "nr" | "n")
        && t[word.len()..].starts_with(['.', ' ', '°', 'º'])
}

/// Append one character of a decomposed text, folded: lower case, the letters NFKD does not
/// split spelled out, anything not alphanumeric as (at most one) space.
fn fold(c: char, out: &mut String) {
    match c {
        'ß' | 'ẞ' => out.push_str("ss"),
        'æ' | 'Æ' => out.push_str("ae"),
        'œ' | 'Œ' => out.push_str("oe"),
        'ø' | 'Ø' => out.push('o'),
        'ł' | 'Ł' => out.push('l'),
        'đ' | 'Đ' => out.push('d'),
        'ı' => out.push('i'),
        c if c.is_alphanumeric() => out.extend(c.to_lowercase()),
        _ if out.ends_with(' ') => {}
        _ => out.push(' '),
    }
}

/// A keyword as the matcher searches for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Term {
    /// The normalised words, separated by single spaces, without surrounding spaces.
    pub words: String,
    /// `*` at the end: the last word is a prefix.
    pub prefix: bool,
    /// The words before the last that end in `*` (any ending), by index, ascending:
    /// `"häuslich* Gewalt"` → `[0]`.
    pub inner: Vec<usize>,
}

impl Term {
    /// The needle searched in a [`normalise`]d text: `" w1 w2 "`, or `" w1 w2"` for a
    /// prefix (the leading space anchors the first word, the trailing one the last). With
    /// a `*` inside, the words up to the first starred one (`" hauslich"`), which the
    /// [`Term::tail`] must then follow.
    pub fn needle(&self) -> String {
        match self.inner.first() {
            Some(&first) => {
                let head: Vec<&str> = self.words.split(' ').take(first + 1).collect();
                format!(" {}", head.join(" "))
            }
            None if self.prefix => format!(" {}", self.words),
            None => format!(" {} ", self.words),
        }
    }

    /// The words after the first starred one, each with whether it takes any ending;
    /// empty when the needle is the whole keyword.
    pub fn tail(&self) -> Vec<(String, bool)> {
        let Some(&first) = self.inner.first() else {
            return Vec::new();
        };
        let words: Vec<&str> = self.words.split(' ').collect();
        let last = words.len() - 1;
        (first + 1..words.len())
            .map(|i| {
                let starred = self.inner.contains(&i) || (i == last && self.prefix);
                (words[i].to_string(), starred)
            })
            .collect()
    }
}

/// Where a keyword with a `*` inside ends in a [`normalise`]d `text` whose needle match
/// ends at byte `at` (inside the first starred word): the rest of that word, then each
/// word of `tail` in turn, whole or (starred) with any ending. None when the text goes on
/// otherwise. The end is that of [`word_end`].
pub fn tail_end(text: &str, at: usize, tail: &[(String, bool)]) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = word_end(text, at);
    for (word, starred) in tail {
        let rest = text.get(i..)?.strip_prefix(word.as_str())?;
        i = text.len() - rest.len();
        if *starred {
            i = word_end(text, i);
        } else if bytes.get(i) == Some(&b' ') {
            i += 1;
        } else {
            return None;
        }
    }
    Some(i)
}

/// The end of a match in a [`normalise`]d `text` that ends at byte `at`, taken to the end
/// of the word it ends in and the space after it, as a whole-word needle ends: so that a
/// keyword and an ignored phrase that hold the same last word end at the same place
/// whether or not either takes any ending.
pub fn word_end(text: &str, at: usize) -> usize {
    let bytes = text.as_bytes();
    if at == 0 || bytes.get(at - 1) == Some(&b' ') {
        return at;
    }
    let mut i = at;
    while i < bytes.len() && bytes[i] != b' ' {
        i += 1;
    }
    (i + 1).min(bytes.len())
}

/// Why a keyword cannot be used (the message and a hint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermError {
    pub message: String,
    pub hint: String,
}

/// Parse a keyword as an officer wrote it.
pub fn parse_term(keyword: &str) -> Result<Term, TermError> {
    let trimmed = keyword.trim();
    if trimmed.is_empty() {
        return Err(TermError {
            message: "empty keyword".into(),
            hint: "remove the empty string, or write the words to look for".into(),
        });
    }
    if trimmed.chars().all(|c| c == '*' || c.is_whitespace()) {
        return Err(TermError {
            message: format!("keyword {keyword:?} is only a wildcard and would match everything"),
            hint: "`*` ends a word, as in \"concession contract*\"".into(),
        });
    }
    let (body, prefix) = match trimmed.strip_suffix('*') {
        Some(b) => (b, true),
        None => (trimmed, false),
    };
    if !stars_end_words(body) {
        return Err(TermError {
            message: format!("keyword {keyword:?} has a `*` that does not end a word"),
            hint: "`*` ends a word, for any ending: \"concession contract*\", \"häuslich* Gewalt\""
                .into(),
        });
    }
    let operators = pattern_operators(body);
    if !operators.is_empty() {
        let listed: Vec<String> = operators.iter().map(|c| format!("\"{c}\"")).collect();
        return Err(TermError {
            message: format!(
                "keyword {keyword:?} is written as a pattern ({} cannot be in a word): keywords are words, not patterns",
                listed.join(", ")
            ),
            hint: PATTERN_HINT.into(),
        });
    }
    if prefix && body.ends_with(|c: char| !c.is_alphanumeric()) {
        return Err(TermError {
            message: format!("keyword {keyword:?} has a `*` that does not end a word"),
            hint: "write the `*` right after the letters it extends, as in \"contract*\"".into(),
        });
    }
    let mut words: Vec<String> = Vec::new();
    let mut inner = Vec::new();
    let segments: Vec<&str> = body.split('*').collect();
    for (i, segment) in segments.iter().enumerate() {
        words.extend(normalise(segment).split_whitespace().map(str::to_string));
        if i + 1 < segments.len() {
            inner.push(words.len().saturating_sub(1));
        }
    }
    if words.is_empty() {
        return Err(TermError {
            message: format!(
                "keyword {keyword:?} has no letter or digit left: keywords are words, not patterns"
            ),
            hint: PATTERN_HINT.into(),
        });
    }
    Ok(Term {
        words: words.join(" "),
        prefix,
        inner,
    })
}

/// Every `*` inside `body` (the keyword without a final `*`) comes right after a letter or
/// digit and before a space: it ends a word.
fn stars_end_words(body: &str) -> bool {
    let chars: Vec<char> = body.chars().collect();
    chars.iter().enumerate().all(|(i, c)| {
        *c != '*'
            || (i > 0
                && chars[i - 1].is_alphanumeric()
                && chars.get(i + 1).is_some_and(|n| n.is_whitespace()))
    })
}

const PATTERN_HINT: &str =
    "write the words themselves; use * at the end of a word for any ending, as in \"contract*\"";

/// The characters of search patterns (regular expressions, shell wildcards) in a keyword,
/// each once: the punctuation that is never part of the words of a title, and that
/// would otherwise be read as a space, leaving words no one meant: `(a+)+$` would match
/// every text with the word "a", `colou?r` the words "colou r". A `+` that ends a word
/// is a word's own (`LGBTIQ+`).
fn pattern_operators(body: &str) -> Vec<char> {
    let mut found = Vec::new();
    let mut chars = body.chars().peekable();
    let mut previous: Option<char> = None;
    while let Some(c) = chars.next() {
        let operator = match c {
            '\\' | '^' | '$' | '|' | '?' | '[' | ']' | '{' | '}' => true,
            '+' => {
                let ends_word = chars.peek().is_none_or(|n| n.is_whitespace());
                !(ends_word && previous.is_some_and(char::is_alphanumeric))
            }
            _ => false,
        };
        if operator && !found.contains(&c) {
            found.push(c);
        }
        previous = Some(c);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_accents_case_and_separators() {
        assert_eq!(
            normalise("L'accord sur les Marchés-Publics"),
            " l accord sur les marches publics "
        );
        assert_eq!(
            normalise("Öffentliche Auftragsvergabe, Straße"),
            " offentliche auftragsvergabe strasse "
        );
        assert_eq!(normalise("l’Union — state-aid"), " l union state aid ");
        assert_eq!(normalise(""), " ");
        assert_eq!(normalise("Œuvre"), " oeuvre ");
    }

    /// The definition `normalise` implements faster: decompose the whole text, drop the
    /// combining marks, fold each character.
    fn normalise_by_definition(text: &str) -> String {
        let mut out = String::from(" ");
        for c in drop_union_markers(text)
            .nfkd()
            .filter(|c| !is_combining_mark(*c))
        {
            fold(c, &mut out);
        }
        if !out.ends_with(' ') {
            out.push(' ');
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn the_fast_paths_give_the_definition(
            text in "[ -~]{0,12}([àéÉçñøßŒıłİ\u{301}\u{308}’—ﬁ①Ⅻ][ -~]{0,6}){0,6}"
        ) {
            proptest::prop_assert_eq!(normalise(&text), normalise_by_definition(&text));
        }
    }

    proptest::proptest! {
        /// Any keyword with a `*` inside, found anywhere in any text: no panic (the tail is
        /// read on character boundaries), and a match ends within the text, after a space.
        #[test]
        fn the_tail_is_read_on_character_boundaries(
            keyword in "(é|ß|a|ab|[0-9]){1,3}\\* (é|ß|b|ba|œ){1,3}\\*?",
            text in "(é|ß|a|b|ab|ba|œ|ﬁ|[0-9]| ){0,16}",
        ) {
            let Ok(term) = parse_term(&keyword) else { return Ok(()) };
            let text = normalise(&text);
            let needle = term.needle();
            for (at, _) in text.match_indices(needle.as_str()) {
                if let Some(end) = tail_end(&text, at + needle.len(), &term.tail()) {
                    proptest::prop_assert!(end <= text.len());
                    proptest::prop_assert!(text[..end].ends_with(' '));
                }
            }
        }
    }

    #[test]
    fn union_markers_in_citations_are_optional() {
        for (text, want) in [
            ("Directive (EU) 2018/2001", " directive 2018 2001 "),
            (
                "Richtlinie (EU) 2018/2001 zur",
                " richtlinie 2018 2001 zur ",
            ),
            ("la directive (UE) 2018/2001", " la directive 2018 2001 "),
            ("Règlement (UE) n° 1303/2013", " reglement n 1303 2013 "),
            (
                "Regulation (EU, Euratom) 2018/1046",
                " regulation 2018 1046 ",
            ),
            ("Verordnung (EG) Nr. 1907/2006", " verordnung nr 1907 2006 "),
            ("Decision (EC) 2020/1", " decision 2020 1 "),
            // Not between an act word and a number: kept.
            ("the Union (EU) 2018", " the union eu 2018 "),
            ("Directive (EU) on energy", " directive eu on energy "),
            ("Directive (ABC) 2018/1", " directive abc 2018 1 "),
            ("(EU) 2018", " eu 2018 "),
            ("Directive (EU", " directive eu "),
        ] {
            assert_eq!(normalise(text), want, "{text}");
        }
    }

    proptest::proptest! {
        /// Any text with brackets, act words and markers: no panic (byte slicing stays on
        /// character boundaries), and a text without a marker is left as it was.
        #[test]
        fn dropping_markers_is_total(
            text in "((Directive|Règlement|Richtlinie|é|ß|\\(|\\)|EU|UE|, Euratom|No|n°|[0-9]| |[a-zé€])){0,24}"
        ) {
            let dropped = drop_union_markers(&text);
            proptest::prop_assert!(dropped.len() <= text.len() + 1);
            let _ = normalise(&text);
            if !text.contains('(') {
                proptest::prop_assert_eq!(dropped.as_ref(), text.as_str());
            }
        }
    }

    #[test]
    fn a_star_inside_a_keyword_ends_its_word() {
        let t = parse_term("häuslich* Gewalt").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            (t.words.as_str(), t.prefix, t.inner.clone()),
            ("hauslich gewalt", false, vec![0])
        );
        assert_eq!(t.needle(), " hauslich");
        assert_eq!(t.tail(), [("gewalt".to_string(), false)]);
        let t = parse_term("EU-Förder* Programm*").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            (t.words.as_str(), t.inner.clone()),
            ("eu forder programm", vec![1])
        );
        assert_eq!(t.needle(), " eu forder");
        assert_eq!(t.tail(), [("programm".to_string(), true)]);
        let t = parse_term("marché* public* de travaux").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(t.inner, [0, 1]);
        assert_eq!(
            t.tail(),
            [
                ("public".to_string(), true),
                ("de".to_string(), false),
                ("travaux".to_string(), false)
            ]
        );
        // Without a `*` inside, the term is as it always was.
        let plain = parse_term("concession contract*").unwrap_or_else(|e| panic!("{e:?}"));
        assert!(plain.inner.is_empty() && plain.tail().is_empty());
    }

    #[test]
    fn the_tail_follows_the_needle_word_by_word() {
        let tail = |t: &str| parse_term(t).unwrap_or_else(|e| panic!("{e:?}")).tail();
        let end = |text: &str, term: &str| {
            let text = normalise(text);
            let needle = parse_term(term)
                .unwrap_or_else(|e| panic!("{e:?}"))
                .needle();
            let at = text.find(&needle).map(|i| i + needle.len())?;
            tail_end(&text, at, &tail(term)).map(|e| text[..e].to_string())
        };
        assert_eq!(
            end("Gegen häuslicher Gewalt vorgehen", "häuslich* Gewalt").as_deref(),
            Some(" gegen hauslicher gewalt ")
        );
        assert_eq!(end("Häusliche Gewalttaten", "häuslich* Gewalt"), None);
        assert_eq!(
            end("häusliche und sexuelle Gewalt", "häuslich* Gewalt"),
            None
        );
        assert_eq!(end("häusliche", "häuslich* Gewalt"), None);
        assert_eq!(
            end(
                "Les marchés publics de travaux",
                "marché* public* de travaux"
            )
            .as_deref(),
            Some(" les marches publics de travaux ")
        );
        assert_eq!(
            end("EU-Förderprogramme", "EU-Förder* Programm*"),
            None,
            "a compound is one word"
        );
        assert_eq!(
            end("EU Fördermittel Programmplanung", "EU-Förder* Programm*").as_deref(),
            Some(" eu fordermittel programmplanung ")
        );
    }

    #[test]
    fn terms() {
        assert_eq!(
            parse_term("concession contract*"),
            Ok(Term {
                words: "concession contract".into(),
                prefix: true,
                inner: vec![]
            })
        );
        assert_eq!(
            parse_term("State-Aid").map(|t| t.needle()),
            Ok(" state aid ".into())
        );
        assert!(parse_term("").is_err());
        assert!(parse_term(" * ").is_err());
        assert!(parse_term("*aid").is_err());
        assert!(parse_term("pro*curement").is_err());
        assert!(parse_term("häuslich* Gewalt").is_ok());
        assert!(parse_term("aid -*").is_err());
        assert_eq!(
            parse_term("LGBTIQ+ rights").map(|t| t.words),
            Ok("lgbtiq rights".into())
        );
        assert_eq!(
            parse_term("Directive (EU) 2019/1024").map(|t| t.words),
            Ok("directive 2019 1024".into())
        );
        for pattern in [
            "(a+)+$",
            "colou?r",
            "^state aid",
            "procurement|purchasing",
            "\\bEU\\b",
            "[Aa]id",
            "a{2}",
            "a+b",
        ] {
            let e = parse_term(pattern).expect_err(pattern);
            assert!(
                e.message.contains("keywords are words, not patterns"),
                "{e:?}"
            );
        }
        for bad in ["a *b", "a* *", "EU-*Fonds", "häuslich*Gewalt", "a** b"] {
            let e = parse_term(bad).expect_err(bad);
            assert!(e.message.contains("does not end a word"), "{bad}: {e:?}");
        }
        let e = parse_term("(+)").expect_err("(+)");
        assert!(e.message.contains("\"+\""), "{e:?}");
        let e = parse_term("!!!").expect_err("!!!");
        assert_eq!(
            e.message,
            "keyword \"!!!\" has no letter or digit left: keywords are words, not patterns"
        );
    }
}
