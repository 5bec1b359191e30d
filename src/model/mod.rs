//! The domain vocabulary: procedure references, COM and CELEX numbers, lifecycle stages,
//! dossiers, events and their provenance. Depends on no other module of veille and does
//! no IO.

mod event;
mod refs;
mod stage;

pub use event::{
    ActDates, Candidate, Committee, CommitteeRole, Consultation, Document, Dossier, DossierEvent,
    DossierSnapshot, EuroVoc, EventId, EventKind, FeedItem, Forecast, ItemEvent, Observation,
    Provenance, Step, TimelineStep, Titles,
};
pub use refs::{Celex, ComRef, DossierRef, ProcedureKey, ProcedureRef, ProcedureType, RefError};
pub use stage::{Language, Stage};
