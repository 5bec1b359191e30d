//! (stub) dossier
