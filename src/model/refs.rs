//! Identifiers of EU dossiers and documents: procedure references, COM numbers, CELEX
//! numbers. Owns parsing every spelling the sources use and one canonical display each.
//! Must not do IO or know which source a spelling came from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not a reference of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a {what}: {reason}")]
pub struct RefError {
    pub input: String,
    pub what: &'static str,
    pub reason: String,
}

impl RefError {
    fn new(input: &str, what: &'static str, reason: impl Into<String>) -> Self {
        RefError {
            input: input.to_string(),
            what,
            reason: reason.into(),
        }
    }
}

/// The type of an interinstitutional procedure (the letters in `2012/0011(COD)`).
/// The list is the EP Open Data API `process-type` enumeration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProcedureType {
    Aci,
    App,
    Avc,
    Bud,
    Bui,
    Cns,
    Cod,
    Cos,
    Dce,
    Dea,
    Dec,
    Gbd,
    Imm,
    Ini,
    Inl,
    Ins,
    Nle,
    Reg,
    Rps,
    Rso,
    Rsp,
    Syn,
}

impl ProcedureType {
    pub const ALL: [ProcedureType; 22] = [
        Self::Aci,
        Self::App,
        Self::Avc,
        Self::Bud,
        Self::Bui,
        Self::Cns,
        Self::Cod,
        Self::Cos,
        Self::Dce,
        Self::Dea,
        Self::Dec,
        Self::Gbd,
        Self::Imm,
        Self::Ini,
        Self::Inl,
        Self::Ins,
        Self::Nle,
        Self::Reg,
        Self::Rps,
        Self::Rso,
        Self::Rsp,
        Self::Syn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aci => "ACI",
            Self::App => "APP",
            Self::Avc => "AVC",
            Self::Bud => "BUD",
            Self::Bui => "BUI",
            Self::Cns => "CNS",
            Self::Cod => "COD",
            Self::Cos => "COS",
            Self::Dce => "DCE",
            Self::Dea => "DEA",
            Self::Dec => "DEC",
            Self::Gbd => "GBD",
            Self::Imm => "IMM",
            Self::Ini => "INI",
            Self::Inl => "INL",
            Self::Ins => "INS",
            Self::Nle => "NLE",
            Self::Reg => "REG",
            Self::Rps => "RPS",
            Self::Rso => "RSO",
            Self::Rsp => "RSP",
            Self::Syn => "SYN",
        }
    }

    /// Legislative procedures end in an act published in the Official Journal.
    pub fn is_legislative(self) -> bool {
        matches!(
            self,
            Self::Cod | Self::Cns | Self::App | Self::Nle | Self::Syn | Self::Avc
        )
    }
}

impl FromStr for ProcedureType {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let up = s.trim().to_ascii_uppercase();
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == up)
            .ok_or_else(|| {
                RefError::new(
                    s,
                    "procedure type",
                    "unknown type (COD, CNS, NLE, INI, ...)",
                )
            })
    }
}

impl fmt::Display for ProcedureType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One interinstitutional procedure, whatever the spelling:
/// `2012/0011(COD)` (OEIL, EP), `2012-0011` (EP API process id), `2012_11` (EUR-Lex,
/// CELLAR), `2012/0011/COD` (CELLAR notices), split procedures `2016/0062A(NLE)`.
///
/// Identity is (year, number, split letter): the type is known to some sources only, so
/// two refs that differ only in a missing type are equal and hash alike.
#[derive(Debug, Clone, Copy)]
pub struct ProcedureRef {
    year: u16,
    number: u16,
    split: Option<char>,
    kind: Option<ProcedureType>,
}

/// The identity of a procedure, usable as a map or database key.
pub type ProcedureKey = (u16, u16, Option<char>);

impl ProcedureRef {
    pub fn new(year: u16, number: u16, split: Option<char>, kind: Option<ProcedureType>) -> Self {
        ProcedureRef {
            year,
            number,
            split,
            kind,
        }
    }
    pub fn year(&self) -> u16 {
        self.year
    }
    pub fn number(&self) -> u16 {
        self.number
    }
    pub fn split(&self) -> Option<char> {
        self.split
    }
    pub fn kind(&self) -> Option<ProcedureType> {
        self.kind
    }
    pub fn key(&self) -> ProcedureKey {
        (self.year, self.number, self.split)
    }
    /// The same procedure with its type now known.
    pub fn with_kind(self, kind: ProcedureType) -> Self {
        ProcedureRef {
            kind: Some(kind),
            ..self
        }
    }
    /// Keep the type of whichever has one.
    pub fn merge(self, other: ProcedureRef) -> Self {
        ProcedureRef {
            kind: self.kind.or(other.kind),
            ..self
        }
    }
    /// A fixed-width key for storage that sorts by year then number: `2012-0011` or `2016-0062A`.
    pub fn storage_key(&self) -> String {
        self.ep_process_id()
    }
    /// The EP Open Data API process id: `2012-0011`, `2016-0062A`.
    pub fn ep_process_id(&self) -> String {
        match self.split {
            Some(c) => format!("{}-{:04}{}", self.year, self.number, c),
            None => format!("{}-{:04}", self.year, self.number),
        }
    }
    /// The EUR-Lex / CELLAR spelling: `2012_11` (CELLAR drops the split letter).
    pub fn eurlex_id(&self) -> String {
        format!("{}_{}", self.year, self.number)
    }
    /// The OEIL display spelling `2012/0011(COD)`; without a known type `2012/0011`.
    pub fn oeil_reference(&self) -> String {
        self.to_string()
    }

    /// Find every procedure reference written in free text, in the spellings that are
    /// unambiguous in prose: `2012/0011(COD)` and `2012/0011/COD`.
    pub fn find_all(text: &str) -> Vec<ProcedureRef> {
        let re = procedure_in_text();
        let mut out: Vec<ProcedureRef> = Vec::new();
        for cap in re.captures_iter(text) {
            if let Ok(r) = cap[0].parse::<ProcedureRef>() {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        out
    }
}

/// The reference regexes here and elsewhere use ASCII word boundaries (`(?-u:\b)`): a
/// Unicode `\b` stops the regex crate's fast DFA at the first non-ASCII byte of a French or
/// German title, and `Celex::find_all` alone was 7 % of a first poll's CPU; references are
/// ASCII tokens. They spell digits `[0-9]`, not `\d`: `\d` is every
/// script's digits, which makes each compiled regex (kept for the life of the process) up
/// to 60 times bigger — 223 KB instead of 24 KB for this one, about 1 MB for veille's
/// regexes in all — and the numbers are parsed as ASCII anyway.
fn procedure_in_text() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"(?-u:\b)(?:19|20)[0-9]{2}/[0-9]{4}[A-Z]?(?:\s?\([A-Za-z]{3}\)|/[A-Z]{3}(?-u:\b))",
        )
        .expect("static regex")
    })
}

impl PartialEq for ProcedureRef {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for ProcedureRef {}
impl std::hash::Hash for ProcedureRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state)
    }
}
impl PartialOrd for ProcedureRef {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ProcedureRef {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Display for ProcedureRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{:04}", self.year, self.number)?;
        if let Some(c) = self.split {
            write!(f, "{c}")?;
        }
        if let Some(k) = self.kind {
            write!(f, "({k})")?;
        }
        Ok(())
    }
}

const PROC: &str = "procedure reference";

fn parse_year(s: &str, input: &str) -> Result<u16, RefError> {
    if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RefError::new(input, PROC, "the year must have four digits"));
    }
    let y: u16 = s
        .parse()
        .map_err(|_| RefError::new(input, PROC, "bad year"))?;
    if !(1950..=2100).contains(&y) {
        return Err(RefError::new(
            input,
            PROC,
            format!("year {y} is out of range"),
        ));
    }
    Ok(y)
}

/// `0011`, `11`, `0062A` → (11, None), (62, Some('A')).
fn parse_number(s: &str, input: &str, padded: bool) -> Result<(u16, Option<char>), RefError> {
    let (digits, split) = match s.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => (&s[..s.len() - 1], Some(c.to_ascii_uppercase())),
        _ => (s, None),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RefError::new(
            input,
            PROC,
            "the number must be digits, optionally followed by a split letter",
        ));
    }
    if padded && digits.len() != 4 {
        return Err(RefError::new(
            input,
            PROC,
            "the number must have four digits, as in 2012/0011(COD)",
        ));
    }
    if digits.len() > 4 {
        return Err(RefError::new(
            input,
            PROC,
            "the number has more than four digits",
        ));
    }
    let n: u16 = digits
        .parse()
        .map_err(|_| RefError::new(input, PROC, "bad number"))?;
    if n == 0 {
        return Err(RefError::new(input, PROC, "the number cannot be zero"));
    }
    Ok((n, split))
}

impl FromStr for ProcedureRef {
    type Err = RefError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim().trim_end_matches('*').trim();
        // The CELLAR URI form: http://publications.europa.eu/resource/procedure/2018_172
        let s = s.rsplit_once("/procedure/").map(|(_, r)| r).unwrap_or(s);
        // The EP API URI form: eli/dl/proc/2016-0132
        let s = s.rsplit_once("/proc/").map(|(_, r)| r).unwrap_or(s);
        if s.is_empty() {
            return Err(RefError::new(input, PROC, "empty"));
        }
        if let Some((year, rest)) = s.split_once('/') {
            let year = parse_year(year, input)?;
            // 2012/0011(COD), 2012/0011 (COD), 2012/0011/COD, 2012/0011
            let (number, kind) = if let Some((n, k)) = rest.split_once('(') {
                let k = k
                    .strip_suffix(')')
                    .ok_or_else(|| RefError::new(input, PROC, "missing closing parenthesis"))?;
                (n.trim(), Some(k))
            } else if let Some((n, k)) = rest.split_once('/') {
                (n.trim(), Some(k))
            } else {
                (rest.trim(), None)
            };
            let (number, split) = parse_number(number, input, true)?;
            let kind = kind
                .map(|k| k.parse::<ProcedureType>())
                .transpose()
                .map_err(|e| {
                    RefError::new(
                        input,
                        PROC,
                        format!(
                            "{:?} is not a procedure type (COD, CNS, NLE, INI, ...)",
                            e.input
                        ),
                    )
                })?;
            return Ok(ProcedureRef::new(year, number, split, kind));
        }
        if let Some((year, rest)) = s.split_once('-') {
            // EP API process id 2012-0011 / 2016-0062A
            let year = parse_year(year, input)?;
            let (number, split) = parse_number(rest, input, true)?;
            return Ok(ProcedureRef::new(year, number, split, None));
        }
        if let Some((year, rest)) = s.split_once('_') {
            // EUR-Lex / CELLAR 2012_11
            let year = parse_year(year, input)?;
            let (number, split) = parse_number(rest, input, false)?;
            return Ok(ProcedureRef::new(year, number, split, None));
        }
        Err(RefError::new(
            input,
            PROC,
            "expected a form such as 2012/0011(COD), 2012-0011, 2012_11 or 2012/0011/COD",
        ))
    }
}

impl Serialize for ProcedureRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for ProcedureRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A Commission document number, `COM(2011)896`. Also accepts `COM(2011) 896 final`,
/// `COM/2011/0896 final`, `COM(2024)0469`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComRef {
    pub year: u16,
    pub number: u32,
}

const COM: &str = "COM reference";

impl ComRef {
    pub fn to_celex(self) -> Celex {
        Celex {
            sector: '5',
            year: self.year,
            doc_type: "PC".to_string(),
            number: format!("{:04}", self.number),
        }
    }

    /// Every COM number written in free text.
    pub fn find_all(text: &str) -> Vec<ComRef> {
        static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let re = RE.get_or_init(|| {
            regex::Regex::new(
                r"(?-u:\b)COM\s?(?:\(\s?[0-9]{4}\s?\)|/\s?[0-9]{4}\s?/)\s?[0-9]{1,4}(?-u:\b)",
            )
            .expect("static regex")
        });
        let mut out = Vec::new();
        for m in re.find_iter(text) {
            if let Ok(c) = m.as_str().parse::<ComRef>() {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        out
    }
}

impl ComRef {
    /// Every COM number written as links write it: `uri=COM:2011:0896:FIN`, `COM_2011_896`
    /// (decode `%3A` first: [`Celex::decode_link`]).
    pub fn find_in_link(url: &str) -> Vec<ComRef> {
        static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let re = RE.get_or_init(|| {
            regex::Regex::new(r"(?i)(?-u:\b)COM[:_]([0-9]{4})[:_]([0-9]{1,4})(?-u:\b)")
                .expect("static regex")
        });
        let mut out = Vec::new();
        for c in re.captures_iter(url) {
            let year: Option<u16> = c.get(1).and_then(|m| m.as_str().parse().ok());
            let number: Option<u32> = c.get(2).and_then(|m| m.as_str().parse().ok());
            if let (Some(year), Some(number)) = (year, number) {
                let r = ComRef { year, number };
                if number > 0 && !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        out
    }
}

impl fmt::Display for ComRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "COM({}){}", self.year, self.number)
    }
}

impl FromStr for ComRef {
    type Err = RefError;
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        let up = s.to_ascii_uppercase();
        let rest = up
            .strip_prefix("COM")
            .ok_or_else(|| RefError::new(input, COM, "must start with COM"))?
            .trim_start();
        let rest = rest.trim_end();
        let rest = rest.strip_suffix("FINAL").unwrap_or(rest).trim_end();
        let (year, number) = if let Some(r) = rest.strip_prefix('(') {
            r.split_once(')')
                .ok_or_else(|| RefError::new(input, COM, "missing closing parenthesis"))?
        } else if let Some(r) = rest.strip_prefix('/') {
            r.split_once('/')
                .ok_or_else(|| RefError::new(input, COM, "expected COM/YYYY/NNNN"))?
        } else {
            return Err(RefError::new(
                input,
                COM,
                "expected COM(YYYY)NNN or COM/YYYY/NNNN",
            ));
        };
        let year = year.trim();
        if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RefError::new(input, COM, "the year must have four digits"));
        }
        let number = number.trim();
        if number.is_empty() || number.len() > 4 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RefError::new(
                input,
                COM,
                "the number must have one to four digits",
            ));
        }
        let year: u16 = year
            .parse()
            .map_err(|_| RefError::new(input, COM, "bad year"))?;
        let number: u32 = number
            .parse()
            .map_err(|_| RefError::new(input, COM, "bad number"))?;
        if number == 0 {
            return Err(RefError::new(input, COM, "the number cannot be zero"));
        }
        Ok(ComRef { year, number })
    }
}

impl Serialize for ComRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for ComRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A CELEX number: sector, year, document type, number: `32014L0024`, `52011PC0896`,
/// `52021AR2682`. Corrigenda and consolidated suffixes (`R(01)`) are kept in `number`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Celex {
    pub sector: char,
    pub year: u16,
    pub doc_type: String,
    pub number: String,
}

const CELEX: &str = "CELEX number";

impl Celex {
    /// `52011PC0896` → `COM(2011)896`; other documents have no COM number.
    pub fn to_com(&self) -> Option<ComRef> {
        if self.sector == '5' && self.doc_type == "PC" {
            let digits: String = self
                .number
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            let number = digits.parse().ok()?;
            Some(ComRef {
                year: self.year,
                number,
            })
        } else {
            None
        }
    }
    /// A directive (sector 3, type L) is the act whose transposition is tracked.
    pub fn is_directive(&self) -> bool {
        self.sector == '3' && self.doc_type == "L"
    }
    /// How the Official Journal names the act: `Directive (EU) 2019/904`, `Directive
    /// 2014/24/EU`, `Council Directive`s of old `89/665/EEC`, `Regulation (EU) No
    /// 1315/2013`, `Regulation (EEC) No 1408/71`. `None` for other documents, and where
    /// the number alone does not say the name: decisions before 2015 (`2011/833/EU` or
    /// `No 1313/2013/EU`), and acts of 1993 and 2009, the years the union's name changed.
    pub fn oj_name(&self) -> Option<String> {
        let kind = match (self.sector, self.doc_type.as_str()) {
            ('3', "L") => "Directive",
            ('3', "R") => "Regulation",
            ('3', "D") => "Decision",
            _ => return None,
        };
        let number = self.number.trim_start_matches('0');
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year = self.year;
        if year >= 2015 {
            return Some(format!("{kind} (EU) {year}/{number}"));
        }
        let union = match year {
            2010.. => "EU",
            1994..=2008 => "EC",
            ..=1992 => "EEC",
            _ => return None,
        };
        // Two-digit years until 1998 for directives, 1999 for regulations.
        let written = |four_from: u16| {
            if year >= four_from {
                year.to_string()
            } else {
                format!("{:02}", year % 100)
            }
        };
        match kind {
            "Directive" => Some(format!("Directive {}/{number}/{union}", written(1999))),
            "Regulation" => Some(format!(
                "Regulation ({union}) No {number}/{}",
                written(2000)
            )),
            _ => None,
        }
    }
    /// The act's name ([`Celex::oj_name`]), else its kind and CELEX number.
    pub fn act_name(&self) -> String {
        if let Some(name) = self.oj_name() {
            return name;
        }
        match (self.sector, self.doc_type.as_str()) {
            ('3', "L") => format!("Directive {self}"),
            ('3', "R") => format!("Regulation {self}"),
            ('3', "D") => format!("Decision {self}"),
            _ => self.to_string(),
        }
    }
    pub fn eurlex_url(&self) -> String {
        format!("https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=CELEX:{self}")
    }
    /// Every act named in free text as the Official Journal names it, with the name as
    /// written: "Directive 2014/24/EU", "Council Directive 89/665/EEC", "Regulation (EU)
    /// No 1315/2013", "Regulation (EEC) No 1408/71", "Decision No 1313/2013/EU",
    /// "Commission Implementing Regulation (EU) 2023/1234", "règlement (UE) 2016/679",
    /// "Richtlinie 2014/24/EU", "Verordnung (EU) 2016/679", "verordening (EU) 2016/679"…
    /// Conservative: a kind of act must stand before the number, and a name the rules do
    /// not read without doubt is left out. One memchr pass decides whether the regex runs.
    pub fn find_act_names(text: &str) -> Vec<(Celex, &str)> {
        let mut out: Vec<(Celex, &str)> = Vec::new();
        if !may_name_an_act(text) {
            return out;
        }
        for cap in act_name_in_text().captures_iter(text) {
            let (Some(kind), Some(all)) = (cap.name("kind"), cap.get(0)) else {
                continue;
            };
            if !union_markers_only(&cap) {
                continue;
            }
            if let Some(c) = act_of(kind.as_str(), &cap) {
                if !out.iter().any(|(o, _)| *o == c) {
                    out.push((c, all.as_str()));
                }
            }
            if is_plural_kind(kind.as_str()) {
                Celex::more_of_a_list(text, kind.as_str(), all.start(), all.end(), &mut out);
            }
        }
        out
    }

    /// The one act a text is nothing but the name of ("Directive (EU) 2024/1275",
    /// "règlement (UE) 2016/679", "Richtlinie 2014/24/EU."), as an officer types it where a
    /// reference is asked for; a name within a longer text, or two names, are not one.
    pub fn named_alone(text: &str) -> Option<Celex> {
        let t = text.trim().trim_end_matches(['.', ',', ';', ':']);
        match Celex::find_act_names(t).as_slice() {
            [(c, name)] if name.trim() == t => Some(c.clone()),
            _ => None,
        }
    }

    /// The other acts of a plural name ("Directives 98/70/EC and 2009/28/EC",
    /// "Richtlinien 2009/28/EG und 98/70/EG", "Regulations (EU) No 1303/2013 and (EU) No
    /// 1301/2013"), each numbered as its kind is; each is named by the whole list up to it.
    fn more_of_a_list<'t>(
        text: &'t str,
        kind: &str,
        start: usize,
        mut end: usize,
        out: &mut Vec<(Celex, &'t str)>,
    ) {
        while let Some(cap) = act_list_item().captures(&text[end..]) {
            let Some(all) = cap.get(0) else {
                return;
            };
            if !union_markers_only(&cap) {
                return;
            }
            let item_end = end + all.end();
            if let Some(c) = act_of(kind, &cap) {
                if !out.iter().any(|(o, _)| *o == c) {
                    out.push((c, &text[start..item_end]));
                }
            }
            end = item_end;
        }
    }

    /// Every act a text names, by CELEX number or by name ([`Celex::find_all`], then
    /// [`Celex::find_act_names`]), once each: how prose is read for references.
    pub fn find_in_prose(text: &str) -> Vec<Celex> {
        let mut out = Celex::find_all(text);
        for (c, _) in Celex::find_act_names(text) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }

    /// A link as references are read from it: the percent-encoded colons of EUR-Lex
    /// links (`uri=CELEX%3A32025R1234`, `uri=COM%3A2017%3A663%3AFIN`) decoded, so that
    /// the number stands as a word; other links are returned as they are.
    pub fn decode_link(url: &str) -> std::borrow::Cow<'_, str> {
        if memchr::memchr(b'%', url.as_bytes()).is_none() {
            return std::borrow::Cow::Borrowed(url);
        }
        std::borrow::Cow::Owned(url.replace("%3A", ":").replace("%3a", ":"))
    }

    /// Every CELEX number written in free text (`32014L0024`, `CELEX:52011PC0896`).
    pub fn find_all(text: &str) -> Vec<Celex> {
        static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let re = RE.get_or_init(|| {
            regex::Regex::new(r"(?-u:\b)[0-9CE][12][0-9]{3}[A-Z]{1,2}[0-9]{4}(?-u:\b)")
                .expect("static regex")
        });
        let mut out = Vec::new();
        for m in re.find_iter(text) {
            if let Ok(c) = m.as_str().parse::<Celex>() {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        out
    }
}

/// Acts named as the Official Journal names them: the kind of act (directive,
/// regulation, decision, in English, French, German, Italian, Spanish, Portuguese and
/// Dutch), an optional union marker in brackets, an optional "No" and the number.
/// Captures: `kind`, `marker`, `no`, `a` and `b` (the two numbers), `suffix`.
fn act_name_in_text() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(concat!(
            r"(?i)(?-u:\b)(?:durchf(?:ü|u)hrungs|uitvoerings)?(?P<kind>",
            // Directives.
            r"directives?|richtlinien?|direttiv[ae]|directivas?|diretivas?|richtlijn(?:en)?",
            // Regulations.
            r"|regulations?|r(?:è|e)glements?|verordnung(?:en)?|regolament[oi]|reglamentos?",
            r"|regulamentos?|verordening(?:en)?",
            // Decisions.
            r"|decisions?|d(?:é|e)cisions?|beschluss|entscheidung|decision[ei]|decisi(?:ó|o)n",
            r"|decis(?:ã|a)o|besluit)",
            // "d'exécution", "délégué", "di esecuzione", "delegado"…
            r"(?:\s+(?:d[’']ex(?:é|e)cution|d(?:é|e)l(?:é|e)gu(?:é|e)e?|di\s+esecuzione",
            r"|delegat[oa]|de\s+ejecuci(?:ó|o)n|delegad[oa]|de\s+execu(?:ç|c)(?:ã|a)o))?",
            r"\s*(?:\((?P<marker>[A-Za-z]{2,7}(?:\s*,\s*[A-Za-z]{2,7})?)\)\s*)?",
            r"(?:(?P<no>no\.?|nr\.?|n\.?\s?[°º]|n\.)\s*)?",
            r"(?P<a>[1-9][0-9]{0,3})/(?P<b>[1-9][0-9]{0,3})(?:/(?P<suffix>[A-Za-z]{2,7}))?",
            r"(?-u:\b)",
        ))
        .expect("static regex")
    })
}

/// The next act of a list after a plural name: a comma or "and" in the languages read here,
/// then the number as in [`act_name_in_text`].
fn act_list_item() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(concat!(
            r"(?i)^(?:\s*,\s*(?:(?:and|et|und|en|e|y|ed)\s+)?|\s+(?:and|et|und|en|e|y|ed)\s+)",
            r"(?:\((?P<marker>[A-Za-z]{2,7}(?:\s*,\s*[A-Za-z]{2,7})?)\)\s*)?",
            r"(?:(?P<no>no\.?|nr\.?|n\.?\s?[°º]|n\.)\s*)?",
            r"(?P<a>[1-9][0-9]{0,3})/(?P<b>[1-9][0-9]{0,3})(?:/(?P<suffix>[A-Za-z]{2,7}))?",
            r"(?-u:\b)",
        ))
        .expect("static regex")
    })
}

/// Whether the markers of a name (in brackets, or after its number) are the Union's.
fn union_markers_only(cap: &regex::Captures<'_>) -> bool {
    [cap.name("marker"), cap.name("suffix")]
        .into_iter()
        .flatten()
        .all(|m| is_union_marker(m.as_str()))
}

/// The act a name's numbers give, for its kind ([`act_celex`]).
fn act_of(kind: &str, cap: &regex::Captures<'_>) -> Option<Celex> {
    act_celex(
        kind,
        cap.name("no").is_some(),
        cap.name("a")?.as_str(),
        cap.name("b")?.as_str(),
        cap.name("suffix").is_some(),
    )
}

/// Whether a kind of act, as written, is plural ("Directives", "Richtlinien",
/// "règlements", "regolamenti"…): only then does a list of numbers follow it.
fn is_plural_kind(kind: &str) -> bool {
    let k = kind.to_lowercase();
    k.ends_with('s')
        || k.ends_with("en")
        || matches!(k.as_str(), "direttive" | "regolamenti" | "decisioni")
}

/// The union markers of act names, in brackets or after the number, in the official
/// languages read here.
const UNION_MARKERS: [&str; 17] = [
    "EU", "UE", "EC", "CE", "EG", "EEC", "CEE", "EWG", "EEG", "EURATOM", "CFSP", "PESC", "GASP",
    "JHA", "JAI", "ECSC", "CECA",
];

fn is_union_marker(m: &str) -> bool {
    m.split(',')
        .map(str::trim)
        .all(|p| UNION_MARKERS.iter().any(|u| u.eq_ignore_ascii_case(p)))
}

/// Whether `text` may name an act: a `/` between two digits. Cheap, so that the regex
/// runs only on the few titles that may hold an act's number.
fn may_name_an_act(text: &str) -> bool {
    let b = text.as_bytes();
    memchr::memchr_iter(b'/', b)
        .any(|i| i > 0 && b[i - 1].is_ascii_digit() && b.get(i + 1).is_some_and(u8::is_ascii_digit))
}

/// A year as act names write it: four digits, or two before 2000 (`89/665/EEC`).
fn act_year(s: &str) -> Option<u16> {
    let n: u16 = s.parse().ok()?;
    match s.len() {
        2 if n >= 58 => Some(1900 + n),
        4 if (1958..=2100).contains(&n) => Some(n),
        _ => None,
    }
}

/// The CELEX number of an act from its kind and the two numbers of its name, following
/// the Official Journal's order: a directive is year/number; a regulation or decision
/// written with "No" is number/year (before 2015); since 2015 every act is year/number.
/// `None` when the name is not one the rules read without doubt.
fn act_celex(kind: &str, no: bool, a: &str, b: &str, suffix: bool) -> Option<Celex> {
    let kind = kind.to_lowercase();
    let doc_type = if kind.starts_with("di") || kind.starts_with("richt") {
        "L"
    } else if kind.starts_with('r') || kind.starts_with('v') {
        "R"
    } else {
        "D"
    };
    let (year, number) = match (doc_type, no) {
        // Directives are never numbered "No".
        ("L", true) => return None,
        ("L", false) => (act_year(a)?, b),
        // "Decision No 1313/2013/EU"; a "No 1/2020" of an association council has no
        // union suffix and is not an EU act of this series.
        ("D", true) if !suffix => return None,
        (_, true) => (act_year(b).filter(|y| *y < 2015)?, a),
        // "Regulation (EU) 2016/679", "Decision (EU) 2022/2481", "Decision 2011/833/EU".
        (_, false) => match (act_year(a), act_year(b)) {
            (Some(y), _) if y >= 2015 || doc_type == "D" => (y, b),
            // "Regulation (EC) 1907/2006", written without its "No".
            (_, Some(y)) if doc_type == "R" && y < 2015 && b.len() == 4 => (y, a),
            _ => return None,
        },
    };
    if number.len() > 4 {
        return None;
    }
    Some(Celex {
        sector: '3',
        year,
        doc_type: doc_type.to_string(),
        number: format!("{:0>4}", number),
    })
}

impl fmt::Display for Celex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}{}",
            self.sector, self.year, self.doc_type, self.number
        )
    }
}

impl FromStr for Celex {
    type Err = RefError;
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        let s = s
            .strip_prefix("CELEX:")
            .or_else(|| s.strip_prefix("celex:"))
            .unwrap_or(s)
            .trim();
        let mut chars = s.chars();
        let sector = chars
            .next()
            .filter(|c| c.is_ascii_digit() || *c == 'C' || *c == 'E')
            .ok_or_else(|| {
                RefError::new(
                    input,
                    CELEX,
                    "must start with a sector digit (1-9, 0, C or E)",
                )
            })?;
        let rest = &s[1..];
        let year = rest
            .get(..4)
            .filter(|y| rest.len() >= 6 && y.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                RefError::new(input, CELEX, "expected a four-digit year after the sector")
            })?;
        let year: u16 = year
            .parse()
            .map_err(|_| RefError::new(input, CELEX, "bad year"))?;
        let tail = &rest[4..];
        let type_len = tail.bytes().take_while(|b| b.is_ascii_uppercase()).count();
        if !(1..=2).contains(&type_len) {
            return Err(RefError::new(
                input,
                CELEX,
                "expected a one- or two-letter document type (L, R, PC, AR, ...)",
            ));
        }
        let doc_type = tail[..type_len].to_string();
        let number = tail[type_len..].to_string();
        if number.is_empty() || !number.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
            return Err(RefError::new(
                input,
                CELEX,
                "expected a document number after the type",
            ));
        }
        if !number
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'(' || b == b')' || b == b'_')
        {
            return Err(RefError::new(
                input,
                CELEX,
                "unexpected characters in the document number",
            ));
        }
        Ok(Celex {
            sector,
            year,
            doc_type,
            number,
        })
    }
}

impl Serialize for Celex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for Celex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Any reference an officer may list under `dossiers` in a watchlist.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DossierRef {
    Procedure(ProcedureRef),
    Com(ComRef),
    Celex(Celex),
}

impl FromStr for DossierRef {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.to_ascii_uppercase().starts_with("COM") {
            return t.parse().map(DossierRef::Com);
        }
        if let Ok(p) = t.parse::<ProcedureRef>() {
            return Ok(DossierRef::Procedure(p));
        }
        if let Ok(c) = t.parse::<Celex>() {
            // A COM proposal's CELEX is the COM number itself.
            return Ok(match c.to_com() {
                Some(com) => DossierRef::Com(com),
                None => DossierRef::Celex(c),
            });
        }
        if let Some(c) = Celex::named_alone(t) {
            return Ok(DossierRef::Celex(c));
        }
        Err(RefError::new(
            s,
            "dossier reference",
            "expected a procedure (2011/0438(COD)), a COM number (COM(2011)896), a CELEX number (32014L0024) or an act's name (Directive 2014/24/EU)",
        ))
    }
}

impl fmt::Display for DossierRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DossierRef::Procedure(p) => p.fmt(f),
            DossierRef::Com(c) => c.fmt(f),
            DossierRef::Celex(c) => c.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> ProcedureRef {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_spelling_is_one_procedure() {
        let canonical = p("2012/0011(COD)");
        for s in [
            "2012-0011",
            "2012_11",
            "2012/0011/COD",
            "2012/0011 (COD)",
            "2012/0011(cod)",
            " 2012/0011(COD)* ",
            "http://publications.europa.eu/resource/procedure/2012_11",
            "https://data.europarl.europa.eu/eli/dl/proc/2012-0011",
        ] {
            assert_eq!(p(s), canonical, "{s}");
        }
        assert_eq!(canonical.to_string(), "2012/0011(COD)");
        assert_eq!(canonical.ep_process_id(), "2012-0011");
        assert_eq!(canonical.eurlex_id(), "2012_11");
        assert_eq!(p("2012_11").to_string(), "2012/0011");
        assert_eq!(
            p("2012-0011").merge(canonical).to_string(),
            "2012/0011(COD)"
        );
    }

    #[test]
    fn split_procedures_keep_their_letter() {
        let r = p("2016/0062A(NLE)");
        assert_eq!(r.split(), Some('A'));
        assert_eq!(r.kind(), Some(ProcedureType::Nle));
        assert_eq!(r.to_string(), "2016/0062A(NLE)");
        assert_eq!(r.ep_process_id(), "2016-0062A");
        assert_eq!(p("2016-0062A"), r);
        assert_ne!(p("2016/0062(NLE)"), r);
    }

    #[test]
    fn junk_is_rejected_with_a_reason() {
        for (s, why) in [
            ("", "empty"),
            ("2012/11(COD)", "four digits"),
            ("12/0011(COD)", "four digits"),
            ("2012/0011(XYZ)", "not a procedure type"),
            ("2012/0011(COD", "closing parenthesis"),
            ("2012/0000(COD)", "zero"),
            ("hello", "expected a form"),
            ("2012_abc", "digits"),
            ("3012/0011(COD)", "out of range"),
        ] {
            let e = s.parse::<ProcedureRef>().expect_err(s);
            assert!(e.reason.contains(why), "{s}: {}", e.reason);
        }
    }

    #[test]
    fn procedure_refs_are_found_in_prose() {
        let t = "Report A9-0234/2022 on 2021/0223(COD) and 2021/0210 (COD); CELLAR 2018/0172/COD. Not 2022/2023.";
        let found: Vec<String> = ProcedureRef::find_all(t)
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            found,
            ["2021/0223(COD)", "2021/0210(COD)", "2018/0172(COD)"]
        );
    }

    #[test]
    fn com_refs_in_all_spellings() {
        let c = ComRef {
            year: 2011,
            number: 896,
        };
        for s in [
            "COM(2011)896",
            "COM(2011) 896 final",
            "COM/2011/0896 final",
            "com(2011)0896",
            "COM (2011) 896",
        ] {
            assert_eq!(
                s.parse::<ComRef>().unwrap_or_else(|e| panic!("{e}")),
                c,
                "{s}"
            );
        }
        assert_eq!(c.to_string(), "COM(2011)896");
        assert_eq!(c.to_celex().to_string(), "52011PC0896");
        assert!("COM(11)896".parse::<ComRef>().is_err());
        assert!("COM(2011)".parse::<ComRef>().is_err());
        assert_eq!(
            ComRef::find_all("Proposal COM(2024)0469 and COM/2018/340 final"),
            vec![
                ComRef {
                    year: 2024,
                    number: 469
                },
                ComRef {
                    year: 2018,
                    number: 340
                }
            ]
        );
    }

    #[test]
    fn celex_numbers() {
        let d: Celex = "32014L0024".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (d.sector, d.year, d.doc_type.as_str(), d.number.as_str()),
            ('3', 2014, "L", "0024")
        );
        assert!(d.is_directive());
        assert_eq!(d.act_name(), "Directive 2014/24/EU");
        for celex in [
            "32014L0024",
            "31989L0665",
            "32013R1315",
            "32006R1907",
            "31971R1408",
            "32016R0679",
            "32022D2481",
            "32000R1346",
        ] {
            let c: Celex = celex.parse().unwrap_or_else(|e| panic!("{e}"));
            let name = c.oj_name().unwrap_or_else(|| panic!("{celex}"));
            let read: Vec<Celex> = Celex::find_act_names(&name)
                .into_iter()
                .map(|(c, _)| c)
                .collect();
            assert_eq!(read, std::slice::from_ref(&c), "{celex}: {name}");
        }
        for ambiguous in ["32013D1313", "31993L0104", "32009L0162", "52011PC0896"] {
            let c: Celex = ambiguous.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.oj_name(), None, "{ambiguous}");
        }
        let sup: Celex = "32019L0904".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sup.act_name(), "Directive (EU) 2019/904");
        let pc: Celex = "CELEX:52011PC0896"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            pc.to_com(),
            Some(ComRef {
                year: 2011,
                number: 896
            })
        );
        assert_eq!(
            "52021AR2682".parse::<Celex>().map(|c| c.doc_type),
            Ok("AR".to_string())
        );
        assert!("2014L0024".parse::<Celex>().is_err());
        assert!("3201L0024".parse::<Celex>().is_err());
        assert!("32014LX".parse::<Celex>().is_err());
        let found: Vec<String> = Celex::find_all("OJ, CELEX 32019L0904 and 52018PC0340.")
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(found, ["32019L0904", "52018PC0340"]);
    }

    #[test]
    fn dossier_refs_of_every_kind() {
        assert!(matches!(
            "2011/0438(COD)".parse(),
            Ok(DossierRef::Procedure(_))
        ));
        assert!(matches!("COM(2011)896".parse(), Ok(DossierRef::Com(_))));
        assert!(matches!("52011PC0896".parse(), Ok(DossierRef::Com(_))));
        assert!(matches!("32014L0024".parse(), Ok(DossierRef::Celex(_))));
        assert!("directive on procurement".parse::<DossierRef>().is_err());
        // An act's name, alone, is its CELEX number.
        for (name, celex) in [
            ("Directive (EU) 2024/1275", "32024L1275"),
            (" règlement (UE) 2016/679 ", "32016R0679"),
            ("Richtlinie 2014/24/EU.", "32014L0024"),
            ("Regulation (EU) No 1303/2013", "32013R1303"),
        ] {
            match name.parse::<DossierRef>() {
                Ok(DossierRef::Celex(c)) => assert_eq!(c.to_string(), celex, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        // Not a name alone: within a title, or two acts.
        for text in [
            "Amending Directive 2014/24/EU on public procurement",
            "Directives 98/70/EC and 2009/28/EC",
        ] {
            assert!(text.parse::<DossierRef>().is_err(), "{text}");
        }
    }

    fn act_names(text: &str) -> Vec<String> {
        Celex::find_act_names(text)
            .iter()
            .map(|(c, _)| c.to_string())
            .collect()
    }

    #[test]
    fn acts_named_as_the_official_journal_names_them() {
        for (text, celex) in [
            ("Directive 2014/55/EU", "32014L0055"),
            ("Council Directive 89/665/EEC", "31989L0665"),
            ("Regulation (EU) No 1315/2013", "32013R1315"),
            ("Directive (EU) 2019/904", "32019L0904"),
            ("Regulation (EU) 2016/679", "32016R0679"),
            ("Decision (EU) 2022/2481", "32022D2481"),
            (
                "Commission Implementing Regulation (EU) 2023/1234",
                "32023R1234",
            ),
            (
                "Commission Delegated Regulation (EU) 2023/2772",
                "32023R2772",
            ),
            ("Regulation (EC) No 1907/2006", "32006R1907"),
            ("Regulation (EEC) No 1408/71", "31971R1408"),
            ("Council Regulation (EC) No 1/2003", "32003R0001"),
            ("Decision No 1313/2013/EU", "32013D1313"),
            ("Commission Decision 2011/833/EU", "32011D0833"),
            ("Council Decision (CFSP) 2022/266", "32022D0266"),
            ("Regulation (EU, Euratom) 2018/1046", "32018R1046"),
            ("Directive 2008/98/EC", "32008L0098"),
            // French, German, Italian, Spanish, Portuguese, Dutch.
            ("directive 2014/24/UE", "32014L0024"),
            ("règlement (UE) 2016/679", "32016R0679"),
            (
                "Règlement d'exécution (UE) 2019/1780 de la Commission",
                "32019R1780",
            ),
            ("règlement (UE) n° 1303/2013", "32013R1303"),
            ("décision (UE) 2022/2481", "32022D2481"),
            ("Richtlinie 2014/24/EU", "32014L0024"),
            ("Verordnung (EU) 2016/679", "32016R0679"),
            ("Verordnung (EG) Nr. 1907/2006", "32006R1907"),
            ("Durchführungsverordnung (EU) 2019/1780", "32019R1780"),
            ("Beschluss (EU) 2022/2481", "32022D2481"),
            ("direttiva 2014/24/UE", "32014L0024"),
            ("regolamento (UE) n. 1315/2013", "32013R1315"),
            ("directiva 2014/24/UE", "32014L0024"),
            ("Reglamento (UE) 2016/679", "32016R0679"),
            ("Reglamento (UE) n.º 1315/2013", "32013R1315"),
            ("Diretiva 2014/24/UE", "32014L0024"),
            ("richtlijn 2014/24/EU", "32014L0024"),
            ("Verordening (EU) 2016/679", "32016R0679"),
            ("Uitvoeringsverordening (EU) 2019/1780", "32019R1780"),
            ("verordening (EU) nr. 1315/2013", "32013R1315"),
            (
                "Verordening (EG) nr. 45/2001 van het Europees Parlement",
                "32001R0045",
            ),
            ("Besluit 89/382/EEG, Euratom van de Raad", "31989D0382"),
        ] {
            assert_eq!(act_names(text), [celex], "{text}");
        }
        let t = "Directive 2014/24/EU on public procurement and repealing Directive 2004/18/EC";
        assert_eq!(act_names(t), ["32014L0024", "32004L0018"]);
        // A plural name lists several acts, each numbered as its kind is.
        for (text, celex) in [
            (
                "sustainability criteria under Directives 98/70/EC and 2009/28/EC of the",
                &["31998L0070", "32009L0028"][..],
            ),
            (
                "Regulations (EU) No 1303/2013 and (EU) No 1301/2013",
                &["32013R1303", "32013R1301"],
            ),
            (
                "amending Directives (EU) 2018/2001, (EU) 2019/944 and (EU) 2023/1791",
                &["32018L2001", "32019L0944", "32023L1791"],
            ),
            (
                "zur Änderung der Richtlinien 2009/28/EG und 98/70/EG",
                &["32009L0028", "31998L0070"],
            ),
            (
                "modifiant les directives 2009/28/CE et 98/70/CE",
                &["32009L0028", "31998L0070"],
            ),
            // A singular name takes one number; what follows "and" is another matter.
            ("Directive 2009/28/EC and 2015 targets", &["32009L0028"]),
            ("Directive 2009/28/EC and 12/2020", &["32009L0028"]),
        ] {
            assert_eq!(act_names(text), celex, "{text}");
        }
        assert_eq!(
            Celex::find_act_names("under Directives 98/70/EC and 2009/28/EC of")[1].1,
            "Directives 98/70/EC and 2009/28/EC"
        );
        assert_eq!(
            Celex::find_act_names("amending Regulation (EU) No 1315/2013 as regards")[0].1,
            "Regulation (EU) No 1315/2013"
        );
    }

    #[test]
    fn numbers_without_a_kind_of_act_are_not_acts() {
        for text in [
            "2014/24",
            "2014/24/EU",
            "the 2019/20 season",
            "No 12/2020",
            "Decision No 1/2020 of the EU-Japan Joint Committee",
            "Directive No 12/2020",
            "Regulation 12/2020",
            "Regulation 2021/0223(COD)",
            "Directive (see 2014/24)",
            "Directive (FOO) 2019/904",
            "Kaderbesluit 2008/977/JBZ van de Raad",
            "Aanbeveling 2003/361/EG van de Commissie",
            "Directive 2019/904/XYZ",
            "Meeting of 12/05/2020 on the regulation",
            "decision 12/05/2020",
            "Regulation 1234/2016",
            "",
        ] {
            assert!(act_names(text).is_empty(), "{text}: {:?}", act_names(text));
        }
    }

    proptest! {
        #[test]
        fn every_spelling_round_trips_to_the_same_key(year in 1950u16..2100, number in 1u16..10000, split in proptest::option::of(proptest::char::range('A', 'Z')), t in 0usize..22) {
            let kind = ProcedureType::ALL[t];
            let r = ProcedureRef::new(year, number, split, Some(kind));
            let letter = split.map(String::from).unwrap_or_default();
            let spellings = [
                r.to_string(),
                r.ep_process_id(),
                format!("{year}/{number:04}{letter}/{kind}"),
                format!("{year}_{number}{letter}"),
                format!("{year}/{number:04}{letter} ({})", kind.as_str().to_lowercase()),
            ];
            for s in spellings {
                let parsed: ProcedureRef = s.parse().map_err(|e: RefError| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(parsed.key(), r.key(), "{}", s);
            }
            let back: ProcedureRef = r.to_string().parse().map_err(|e: RefError| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back.kind(), Some(kind));
            prop_assert_eq!(back.to_string(), r.to_string());
        }

        #[test]
        fn com_and_celex_round_trip(year in 1958u16..2100, number in 1u32..10000) {
            let c = ComRef { year, number };
            let celex = c.to_celex();
            let back: Celex = celex.to_string().parse().map_err(|e: RefError| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back.to_com(), Some(c));
            for s in [c.to_string(), format!("COM({year}) {number} final"), format!("COM/{year}/{number:04} final")] {
                prop_assert_eq!(s.parse::<ComRef>().ok(), Some(c));
            }
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,30}") {
            let _ = s.parse::<ProcedureRef>();
            let _ = s.parse::<ComRef>();
            let _ = s.parse::<Celex>();
            let _ = s.parse::<DossierRef>();
            let _ = Celex::find_act_names(&s);
        }
    }
}
