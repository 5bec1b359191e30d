//! Text cleaning, one home for every module that tidies text: whitespace collapsed to one
//! space, control characters and invisible marks dropped or turned into spaces. Used by
//! the source parsers (`feed`, `ep_api`, `oeil`, `cellar`), the digest rendering and
//! `mail`. Pure string functions: no HTML parsing (that stays with the parsers), no IO.

/// Every run of Unicode whitespace (NBSP included) becomes one space; no leading or
/// trailing space.
pub fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// One line fit for a header, a subject or a digest line: control characters, whitespace,
/// line and paragraph separators and bidirectional overrides (which can disguise text)
/// all become one space between words; no leading or trailing space.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_control() || c.is_whitespace() || is_invisible_format(c) {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    out
}

/// Where a file that should be UTF-8 text stops being so: the 1-based line and column (in
/// characters) of its first byte that is not UTF-8, and that byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8 {
    pub line: usize,
    pub column: usize,
    pub byte: u8,
}

impl std::fmt::Display for NotUtf8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the file is not UTF-8 text: byte 0x{:02X} here is not UTF-8 (is the file saved as Latin-1 or Windows-1252?)",
            self.byte
        )
    }
}

/// The bytes of a text file as a string, or where the first byte that is not UTF-8 sits.
pub fn utf8_text(bytes: Vec<u8>) -> Result<String, NotUtf8> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let valid = e.utf8_error().valid_up_to();
        let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        NotUtf8 {
            line,
            column,
            byte: bytes.get(valid).copied().unwrap_or(0),
        }
    })
}

/// Bidirectional overrides and line/paragraph separators.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// Plain text built a character (or a run) at a time: whitespace becomes at most one
/// space, never leading, before the next character kept; control characters and
/// zero-width marks (BOM, zero-width space) go.
#[derive(Debug, Default)]
pub struct PlainText {
    out: String,
    pending_space: bool,
}

impl PlainText {
    pub fn with_capacity(n: usize) -> PlainText {
        PlainText {
            out: String::with_capacity(n),
            pending_space: false,
        }
    }

    /// Append one character.
    pub fn push(&mut self, c: char) {
        if c.is_whitespace() {
            self.pending_space = true;
        } else if !(c.is_control() || c == '\u{feff}' || c == '\u{200b}') {
            self.space_if_pending();
            self.out.push(c);
        }
    }

    /// Append a run the caller knows holds no whitespace, control or zero-width character
    /// (printable ASCII): the same as pushing each character, faster.
    pub fn push_run(&mut self, run: &str) {
        if run.is_empty() {
            return;
        }
        self.space_if_pending();
        self.out.push_str(run);
    }

    fn space_if_pending(&mut self) {
        if self.pending_space && !self.out.is_empty() {
            self.out.push(' ');
        }
        self.pending_space = false;
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// The candidate `word` was most likely meant to be, for a "did you mean" hint: compared
/// ignoring case, `_` for `-` and a trailing `.toml`, within two edits (one for words of
/// up to four letters). `None` when nothing is close, or `word` is one of them.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| {
        let s = s.trim().to_lowercase().replace('_', "-");
        s.strip_suffix(".toml").map(str::to_string).unwrap_or(s)
    };
    let w = norm(word);
    let limit = if w.chars().count() <= 4 { 1 } else { 2 };
    candidates
        .iter()
        .filter(|c| **c != word)
        .map(|c| (edit_distance(&w, &norm(c)), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_byte_that_is_not_utf8_is_located() {
        assert_eq!(utf8_text(b"ab\ncd".to_vec()), Ok("ab\ncd".to_string()));
        let e = utf8_text(b"name = \"x\"\nkeywords = [\"\xc3\xa9t\xe9\"]\n".to_vec());
        assert_eq!(
            e,
            Err(NotUtf8 {
                line: 2,
                column: 16,
                byte: 0xE9
            })
        );
        let e = utf8_text(b"\xff".to_vec()).map_err(|e| (e.line, e.column));
        assert_eq!(e, Err((1, 1)));
    }

    #[test]
    fn whitespace_collapses_to_single_spaces() {
        assert_eq!(collapse_whitespace("  a \u{a0}\n b\t"), "a b");
        assert_eq!(collapse_whitespace(""), "");
    }

    #[test]
    fn one_line_drops_controls_and_overrides() {
        assert_eq!(one_line(" a\r\nb\t\u{0}c  d\u{202E}e "), "a b c d e");
        assert_eq!(one_line("\r\n"), "");
        assert_eq!(one_line("x\u{2028}y"), "x y");
    }

    #[test]
    fn plain_text_drops_invisible_marks() {
        let mut p = PlainText::default();
        for c in " \u{feff}a\u{200b}b \u{7} c ".chars() {
            p.push(c);
        }
        p.push_run("d");
        assert_eq!(p.finish(), "ab c d");
    }
}
