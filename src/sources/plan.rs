//! Request plans, one per source kind: what to fetch, with which `Accept` header and why,
//! and what to fetch next from what came back (the EP API change feeds name the
//! procedures that moved, tracked ones and new ones; a CELLAR procedure notice names the
//! act work notices due; a Have Your Say listing names the initiatives whose detail is
//! due). A new procedure (not tracked, no dossier, not a remembered
//! candidate) is read once from the EP API, and its CELLAR notice once.
//!
//! Pure: what the store knew comes in as a [`Known`] value, read once at the start of the
//! poll step, and the time as `now`. No HTTP, no clock, no store: `poll` runs the plans.

use chrono::{DateTime, Utc};

use super::{cellar, cellar_work, ep_api, have_your_say, oeil, Input, ParseError, SourceKind};
use crate::deadlines;
use crate::model::{Celex, ComRef, Dossier, DossierSnapshot, Observation, ProcedureRef, Stage};

/// Why a URL is fetched: it decides how its body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// The source's own listing: a feed, the Have Your Say searches.
    Listing,
    /// An EP API change feed (procedures that moved).
    ChangeFeed,
    /// The record of one procedure at this service.
    Procedure(ProcedureRef),
    /// The EP API record of a procedure a change feed named that veille did not know:
    /// read once, to see whether a watchlist wants it.
    NewProcedure(ProcedureRef),
    /// An act's CELLAR work notice, read for one of the procedure's roles.
    WorkNotice(ProcedureRef, cellar_work::Role, Celex),
    /// The detail of one Have Your Say initiative, read for the COM numbers of the
    /// adopted proposal its open feedback period is about.
    Initiative(u64),
}

/// One request a plan asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub url: String,
    pub accept: Option<&'static str>,
    pub why: Why,
}

impl Request {
    /// Whether this URL is the record of one thing (a procedure, an act, an initiative),
    /// not a listing: when its service is down, the source's remaining requests wait for
    /// its next poll; when its service does not hold it, that is an answer, not a failure.
    pub fn one_record(&self) -> bool {
        !matches!(self.why, Why::Listing | Why::ChangeFeed)
    }

    /// The procedure this URL is the record of, if any.
    pub fn dossier(&self) -> Option<ProcedureRef> {
        match &self.why {
            Why::Procedure(r) | Why::NewProcedure(r) | Why::WorkNotice(r, ..) => Some(*r),
            Why::Listing | Why::ChangeFeed | Why::Initiative(_) => None,
        }
    }

    /// The Have Your Say initiative this URL is the detail of, if any.
    pub fn initiative(&self) -> Option<u64> {
        match self.why {
            Why::Initiative(id) => Some(id),
            _ => None,
        }
    }

    /// Read a body this request brought, by the parser its reason calls for.
    pub fn parse(
        &self,
        kind: SourceKind,
        input: &Input<'_>,
    ) -> Result<Vec<Observation>, ParseError> {
        match &self.why {
            Why::WorkNotice(dossier, role, celex) => {
                cellar_work::parse(input, *dossier, *role, celex)
            }
            _ => match kind {
                SourceKind::Feed => super::feed::parse(input),
                SourceKind::EpApi => ep_api::parse(input),
                SourceKind::Oeil => oeil::parse(input),
                SourceKind::Cellar => cellar::parse(input),
                SourceKind::HaveYourSay => have_your_say::parse(input),
            },
        }
    }
}

/// What the store knew of one URL of this source at the start of the step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlKnown {
    /// A body of it was read once (its content hash is known).
    pub read: bool,
    /// When the service last said it does not hold it.
    pub not_found_at: Option<DateTime<Utc>>,
    /// Since when it has said so at every ask.
    pub missing_since: Option<DateTime<Utc>>,
}

/// What a plan may know of the store: a value read once per poll step.
pub trait Known {
    fn url(&self, url: &str) -> UrlKnown;
    /// Whether a dossier of this procedure is stored (cheap: nothing decoded).
    fn has_dossier(&self, r: &ProcedureRef) -> bool;
    fn dossier(&self, r: &ProcedureRef) -> Option<&Dossier>;
}

/// One source's poll, as its plan sees it.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    pub kind: SourceKind,
    /// The configured URL, without its trailing `/`.
    pub base: &'a str,
    /// The procedures followed (watchlists' and those matched items named), sorted.
    pub tracked: &'a [ProcedureRef],
    /// The procedures a change feed named that no watchlist wanted (the candidates'
    /// keys, nothing decoded), sorted.
    pub candidates: &'a [ProcedureRef],
    /// The source's first poll: the EP API change feeds are asked for their longest window.
    pub first_poll: bool,
    /// Whether the slow full refresh of every tracked dossier is due (EP API).
    pub refresh_due: bool,
    pub now: DateTime<Utc>,
}

/// A procedure a service said it does not hold is asked for again after this long, not at
/// every poll: about once a day (a source polled daily asks at each poll). A procedure
/// reaches OEIL and CELLAR within days of the proposal, so a day's delay costs little, and
/// the EU services are spared a request per untracked-there dossier and poll.
pub const NOT_FOUND_RECHECK: chrono::Duration = chrono::Duration::hours(20);

/// A candidate's CELLAR notice is asked for about once a day while CELLAR says it has
/// none, for this long: a new proposal reaches CELLAR within days, and most procedures
/// the EP API names that CELLAR never holds (own-initiative reports, resolutions) would
/// otherwise cost it a request each, every day, for as long as they are remembered.
pub const CANDIDATE_NOTICE_WAIT: chrono::Duration = chrono::Duration::days(30);

/// The most Have Your Say details one poll asks for. A detail is read once per initiative,
/// and only for an open feedback period on an adopted proposal: a few a week on the
/// portal, so this bounds a first poll, not the usual one.
pub const INITIATIVE_DETAILS_PER_POLL: usize = 20;

/// The portal's stage of feedback on a proposal the Commission adopted: its detail names
/// the proposal's COM number.
const ADOPTED_PROPOSAL_STAGE: &str = "ADOPTION_WORKFLOW";

/// Whether the slow refresh is due: never done, or done `refresh` ago.
pub fn refresh_due(
    last: Option<DateTime<Utc>>,
    refresh: std::time::Duration,
    now: DateTime<Utc>,
) -> bool {
    let refresh = chrono::Duration::from_std(refresh).unwrap_or(chrono::Duration::days(7));
    last.is_none_or(|t| now - t >= refresh)
}

impl Plan<'_> {
    /// The requests to make first, in order.
    pub fn first(&self, known: &dyn Known) -> Vec<Request> {
        let base = self.base;
        match self.kind {
            SourceKind::Feed => vec![listing(base.to_string(), None)],
            SourceKind::EpApi => ep_api::feed_urls(base, self.first_poll)
                .into_iter()
                .map(|url| Request {
                    url,
                    accept: Some(ep_api::FEED_ACCEPT),
                    why: Why::ChangeFeed,
                })
                .collect(),
            SourceKind::Oeil => self.procedures(known, oeil::procedure_url, oeil::ACCEPT),
            SourceKind::Cellar => {
                let mut out = self.procedures(known, cellar::procedure_url, cellar::ACCEPT);
                out.extend(self.unread_candidates(known));
                out
            }
            SourceKind::HaveYourSay => have_your_say::urls(base)
                .into_iter()
                .map(|url| listing(url, Some(have_your_say::ACCEPT)))
                .collect(),
        }
    }

    /// The requests to make once the first ones are done, from everything they brought
    /// (new bodies only): the EP API procedures that moved, that are not known yet, or
    /// all of them when the refresh is due — never trusting an empty change feed; then
    /// each procedure the feeds named that veille does not know at all, once.
    /// For Have Your Say: the details of the initiatives listed with feedback open on an
    /// adopted proposal ([`Plan::initiative_details`]).
    pub fn then(&self, known: &dyn Known, observed: &[&Observation]) -> Vec<Request> {
        match self.kind {
            SourceKind::EpApi => {}
            SourceKind::HaveYourSay => return self.initiative_details(known, observed),
            _ => return Vec::new(),
        }
        let changed: Vec<ProcedureRef> = observed
            .iter()
            .filter_map(|o| match o {
                Observation::Changed(r) => Some(*r),
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        for r in self.tracked {
            let moved = changed.contains(r);
            let url = ep_api::procedure_url(self.base, r);
            // A dossier another source brought (one found by its CELLAR subjects) has
            // its record here read at once, not at the next weekly refresh; one this
            // service said it lacks waits for the refresh.
            let u = known.url(&url);
            let never_asked = !u.read && u.not_found_at.is_none();
            if !(self.refresh_due || moved || never_asked || !known.has_dossier(r)) {
                continue;
            }
            if moved || !self.recently_missing(known, &url) {
                out.push(procedure(url, ep_api::ACCEPT, *r));
            }
        }
        let mut new: Vec<ProcedureRef> = changed
            .into_iter()
            .filter(|r| self.is_new(known, r))
            .collect();
        new.sort();
        new.dedup();
        for r in new {
            let url = ep_api::procedure_url(self.base, &r);
            if !self.recently_missing(known, &url) {
                out.push(Request {
                    url,
                    accept: Some(ep_api::ACCEPT),
                    why: Why::NewProcedure(r),
                });
            }
        }
        out
    }

    /// The detail of each initiative listed with its feedback period open on a proposal
    /// the Commission adopted and no COM number: the listing does not name the proposal,
    /// its detail does, and the poll joins the consultation to that proposal's dossier.
    /// Each is read once (never again once read, nor while recently missing), at most
    /// [`INITIATIVE_DETAILS_PER_POLL`] per poll, newest first, the rest at the next poll
    /// whose listing changed.
    fn initiative_details(&self, known: &dyn Known, observed: &[&Observation]) -> Vec<Request> {
        let mut ids: Vec<u64> = observed
            .iter()
            .filter_map(|o| match o {
                Observation::Consultation(_, c)
                    if c.feedback_open
                        && c.com.is_empty()
                        && c.stage
                            .as_deref()
                            .is_some_and(|s| s.eq_ignore_ascii_case(ADOPTED_PROPOSAL_STAGE)) =>
                {
                    Some(c.initiative_id)
                }
                _ => None,
            })
            .collect();
        // The newest first (the portal numbers initiatives in order).
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        ids.into_iter()
            .map(|id| (have_your_say::detail_url(self.base, id), id))
            .filter(|(url, _)| !known.url(url).read && !self.recently_missing(known, url))
            .take(INITIATIVE_DETAILS_PER_POLL)
            .map(|(url, id)| Request {
                url,
                accept: Some(have_your_say::ACCEPT),
                why: Why::Initiative(id),
            })
            .collect()
    }

    /// A procedure veille knows nothing of: not tracked, no stored dossier, not a
    /// remembered candidate.
    fn is_new(&self, known: &dyn Known, r: &ProcedureRef) -> bool {
        self.tracked.binary_search(r).is_err()
            && self.candidates.binary_search(r).is_err()
            && !known.has_dossier(r)
    }

    /// The CELLAR notices of the remembered candidates never read (and not said missing
    /// recently, nor for [`CANDIDATE_NOTICE_WAIT`]), for their EuroVoc subjects: each is
    /// read once.
    fn unread_candidates(&self, known: &dyn Known) -> Vec<Request> {
        self.candidates
            .iter()
            .filter(|r| self.tracked.binary_search(r).is_err())
            .map(|r| (cellar::procedure_url(self.base, r), *r))
            .filter(|(url, _)| {
                let u = known.url(url);
                let given_up = u
                    .missing_since
                    .is_some_and(|t| self.now - t >= CANDIDATE_NOTICE_WAIT);
                !u.read && !given_up && !self.recently_missing(known, url)
            })
            .map(|(url, r)| procedure(url, cellar::ACCEPT, r))
            .collect()
    }

    /// The requests to make right after `done`, from what it brought: `parsed` holds its
    /// observations when its body was new and parsed. For a CELLAR procedure notice:
    /// - the Commission proposal's work notice, for the day it was sent to national
    ///   parliaments, while that is unknown and the subsidiarity window may still be open
    ///   (proposal less than 16 weeks old, or its date unknown), for procedures with a
    ///   subsidiarity check;
    /// - the final act's, for its transposition deadlines, when it is a directive.
    ///
    /// Each is read when it never was, and again only when the procedure's notice changed
    /// (new bytes): act metadata changes with the procedure, and one unchanged procedure
    /// costs one conditional request, not three.
    pub fn after(
        &self,
        known: &dyn Known,
        done: &Request,
        parsed: Option<&[Observation]>,
    ) -> Vec<Request> {
        let (SourceKind::Cellar, Why::Procedure(r)) = (self.kind, &done.why) else {
            return Vec::new();
        };
        // A candidate's notice is read for its subjects only.
        if self.tracked.binary_search(r).is_err() {
            return Vec::new();
        }
        let fresh = parsed.and_then(|obs| {
            obs.iter().find_map(|o| match o {
                Observation::Dossier(d) => Some(d.as_ref()),
                _ => None,
            })
        });
        let acts = ActsKnown::of(fresh, known.dossier(r));
        let changed = parsed.is_some();
        let mut out = Vec::new();
        for (role, celex) in acts.due(r, self.now) {
            let url = cellar_work::url(self.base, &celex);
            if (changed || !known.url(&url).read) && !self.recently_missing(known, &url) {
                out.push(Request {
                    url,
                    accept: Some(cellar_work::ACCEPT),
                    why: Why::WorkNotice(*r, role, celex),
                });
            }
        }
        out
    }

    fn procedures(
        &self,
        known: &dyn Known,
        url_of: fn(&str, &ProcedureRef) -> String,
        accept: &'static str,
    ) -> Vec<Request> {
        self.tracked
            .iter()
            .map(|r| (url_of(self.base, r), *r))
            .filter(|(url, _)| !self.recently_missing(known, url))
            .map(|(url, r)| procedure(url, accept, r))
            .collect()
    }

    /// Whether the service said recently that it does not hold `url`.
    fn recently_missing(&self, known: &dyn Known, url: &str) -> bool {
        let now = self.now;
        known
            .url(url)
            .not_found_at
            .is_some_and(|t| t <= now && now - t < NOT_FOUND_RECHECK)
    }
}

fn listing(url: String, accept: Option<&'static str>) -> Request {
    Request {
        url,
        accept,
        why: Why::Listing,
    }
}

fn procedure(url: String, accept: &'static str, r: ProcedureRef) -> Request {
    Request {
        url,
        accept: Some(accept),
        why: Why::Procedure(r),
    }
}

/// What a fresh notice and the stored dossier together say of a procedure's acts.
struct ActsKnown {
    com: Vec<ComRef>,
    final_act: Option<Celex>,
    proposed: Option<chrono::NaiveDate>,
    sent: Option<chrono::NaiveDate>,
}

impl ActsKnown {
    fn of(fresh: Option<&DossierSnapshot>, stored: Option<&Dossier>) -> ActsKnown {
        let mut acts = ActsKnown {
            com: fresh.map(|d| d.com.clone()).unwrap_or_default(),
            final_act: fresh.and_then(|d| d.final_act.clone()),
            proposed: fresh.and_then(|d| d.first_date(Stage::Proposal)),
            sent: None,
        };
        if let Some(d) = stored {
            acts.com.extend(d.com.iter().copied());
            acts.final_act = acts.final_act.or_else(|| d.final_act.clone());
            acts.proposed = match (acts.proposed, d.first_date(Stage::Proposal)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            acts.sent = d.act_dates.sent_to_parliaments;
        }
        acts
    }

    /// The work notices worth reading, whatever was read before.
    fn due(self, r: &ProcedureRef, now: DateTime<Utc>) -> Vec<(cellar_work::Role, Celex)> {
        let mut out = Vec::new();
        let window_may_be_open = self
            .proposed
            .is_none_or(|p| p >= now.date_naive() - chrono::Duration::weeks(16));
        if self.sent.is_none() && window_may_be_open && deadlines::has_subsidiarity_check(r.kind())
        {
            if let Some(first) = self.com.iter().min() {
                out.push((cellar_work::Role::Proposal, first.to_celex()));
            }
        }
        if let Some(act) = self.final_act.filter(Celex::is_directive) {
            out.push((cellar_work::Role::FinalAct, act));
        }
        out
    }
}

#[cfg(test)]
mod tests;
