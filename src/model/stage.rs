//! The lifecycle of an EU dossier as one vocabulary for every source. Owns the stable
//! kebab-case names officers write in watchlists (`alert_on`) and tools read in JSON, and
//! the headings in English and French. Must not map any source's labels: that is each
//! source parser's job.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One step of a dossier's life, in the order a procedure usually runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Public consultation or call for evidence opened (Have Your Say).
    ConsultationOpen,
    /// Public consultation closes / feedback deadline.
    ConsultationClosing,
    /// Commission proposal adopted and published (COM document).
    Proposal,
    /// Announcement in plenary of the referral to a committee.
    Referral,
    /// Opinion of an advisory body: Committee of the Regions, EESC, national parliaments.
    Opinion,
    /// End of the 8-week subsidiarity window for national parliaments.
    SubsidiarityDeadline,
    /// Committee vote or report tabled for plenary.
    CommitteeVote,
    /// Council discussion in a configuration or preparatory body.
    CouncilDiscussion,
    /// Mandate for or meeting of interinstitutional negotiations.
    Trilogue,
    /// Provisional agreement from trilogues (approved in committee / Coreper).
    ProvisionalAgreement,
    /// Debate in plenary.
    PlenaryDebate,
    /// Parliament's vote in plenary (position, resolution, consent).
    PlenaryVote,
    /// Council position (first reading, general approach).
    CouncilPosition,
    /// Act adopted (by Council after Parliament, or at second reading).
    Adopted,
    /// Final act signed by the Presidents of Parliament and Council.
    Signed,
    /// Final act published in the Official Journal.
    Published,
    /// Deadline for Member States to transpose a directive.
    TranspositionDeadline,
    /// Proposal withdrawn or procedure lapsed.
    Withdrawn,
    /// Any other recorded step (documents, corrigenda, ...).
    Other,
}

impl Stage {
    pub const ALL: [Stage; 19] = [
        Stage::ConsultationOpen,
        Stage::ConsultationClosing,
        Stage::Proposal,
        Stage::Referral,
        Stage::Opinion,
        Stage::SubsidiarityDeadline,
        Stage::CommitteeVote,
        Stage::CouncilDiscussion,
        Stage::Trilogue,
        Stage::ProvisionalAgreement,
        Stage::PlenaryDebate,
        Stage::PlenaryVote,
        Stage::CouncilPosition,
        Stage::Adopted,
        Stage::Signed,
        Stage::Published,
        Stage::TranspositionDeadline,
        Stage::Withdrawn,
        Stage::Other,
    ];

    /// The stable name used in watchlists and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::ConsultationOpen => "consultation-open",
            Stage::ConsultationClosing => "consultation-closing",
            Stage::Proposal => "proposal",
            Stage::Referral => "referral",
            Stage::Opinion => "opinion",
            Stage::SubsidiarityDeadline => "subsidiarity-deadline",
            Stage::CommitteeVote => "committee-vote",
            Stage::CouncilDiscussion => "council-discussion",
            Stage::Trilogue => "trilogue",
            Stage::ProvisionalAgreement => "provisional-agreement",
            Stage::PlenaryDebate => "plenary-debate",
            Stage::PlenaryVote => "plenary-vote",
            Stage::CouncilPosition => "council-position",
            Stage::Adopted => "adopted",
            Stage::Signed => "signed",
            Stage::Published => "published",
            Stage::TranspositionDeadline => "transposition-deadline",
            Stage::Withdrawn => "withdrawn",
            Stage::Other => "other",
        }
    }

    /// A heading for digests, in the watchlist's language.
    pub fn label(self, lang: Language) -> &'static str {
        use Language::*;
        match (self, lang) {
            (Stage::ConsultationOpen, En) => "Consultation opened",
            (Stage::ConsultationOpen, Fr) => "Consultation ouverte",
            (Stage::ConsultationClosing, En) => "Consultation closing",
            (Stage::ConsultationClosing, Fr) => "Clôture de la consultation",
            (Stage::Proposal, En) => "Commission proposal",
            (Stage::Proposal, Fr) => "Proposition de la Commission",
            (Stage::Referral, En) => "Referral to committee",
            (Stage::Referral, Fr) => "Renvoi en commission",
            (Stage::Opinion, En) => "Opinion",
            (Stage::Opinion, Fr) => "Avis",
            (Stage::SubsidiarityDeadline, En) => "Subsidiarity deadline",
            (Stage::SubsidiarityDeadline, Fr) => "Échéance du contrôle de subsidiarité",
            (Stage::CommitteeVote, En) => "Committee vote",
            (Stage::CommitteeVote, Fr) => "Vote en commission",
            (Stage::CouncilDiscussion, En) => "Council discussion",
            (Stage::CouncilDiscussion, Fr) => "Discussion au Conseil",
            (Stage::Trilogue, En) => "Trilogue",
            (Stage::Trilogue, Fr) => "Trilogue",
            (Stage::ProvisionalAgreement, En) => "Provisional agreement",
            (Stage::ProvisionalAgreement, Fr) => "Accord provisoire",
            (Stage::PlenaryDebate, En) => "Plenary debate",
            (Stage::PlenaryDebate, Fr) => "Débat en plénière",
            (Stage::PlenaryVote, En) => "Plenary vote",
            (Stage::PlenaryVote, Fr) => "Vote en plénière",
            (Stage::CouncilPosition, En) => "Council position",
            (Stage::CouncilPosition, Fr) => "Position du Conseil",
            (Stage::Adopted, En) => "Act adopted",
            (Stage::Adopted, Fr) => "Acte adopté",
            (Stage::Signed, En) => "Act signed",
            (Stage::Signed, Fr) => "Acte signé",
            (Stage::Published, En) => "Published in the Official Journal",
            (Stage::Published, Fr) => "Publié au Journal officiel",
            (Stage::TranspositionDeadline, En) => "Transposition deadline",
            (Stage::TranspositionDeadline, Fr) => "Date limite de transposition",
            (Stage::Withdrawn, En) => "Withdrawn",
            (Stage::Withdrawn, Fr) => "Retiré",
            (Stage::Other, En) => "Other step",
            (Stage::Other, Fr) => "Autre étape",
        }
    }

    /// Steps that change the law or its timetable, and the opening of a consultation
    /// (the moment local government can weigh in); the default `alert_on` set.
    pub fn is_decisive(self) -> bool {
        matches!(
            self,
            Stage::ConsultationOpen
                | Stage::Proposal
                | Stage::ProvisionalAgreement
                | Stage::PlenaryVote
                | Stage::CouncilPosition
                | Stage::Adopted
                | Stage::Published
                | Stage::Withdrawn
        )
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase().replace('_', "-");
        Stage::ALL
            .into_iter()
            .find(|st| st.as_str() == t)
            .ok_or_else(|| {
                let names: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown stage {s:?}; known stages: {}", names.join(", "))
            })
    }
}

/// The language of a watchlist's digest headings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Fr,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Fr => "fr",
        }
    }
}

impl FromStr for Language {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "en" => Ok(Language::En),
            "fr" => Ok(Language::Fr),
            other => Err(format!("unknown language {other:?}; use \"en\" or \"fr\"")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_kebab_case() {
        for s in Stage::ALL {
            assert_eq!(s.as_str().parse::<Stage>(), Ok(s));
            let json = serde_json::to_string(&s).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert!(s
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-'));
            assert!(!s.label(Language::Fr).is_empty());
        }
        assert!("plenary vote".parse::<Stage>().is_err());
        assert_eq!("plenary_vote".parse::<Stage>(), Ok(Stage::PlenaryVote));
    }

    #[test]
    fn documented_stage_names_exist() {
        for n in [
            "proposal",
            "referral",
            "committee-vote",
            "trilogue",
            "provisional-agreement",
            "plenary-vote",
            "council-position",
            "adopted",
            "signed",
            "published",
            "consultation-open",
            "consultation-closing",
            "transposition-deadline",
            "withdrawn",
        ] {
            assert!(n.parse::<Stage>().is_ok(), "{n}");
        }
    }
}
