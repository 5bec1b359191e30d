//! (stub) have_your_say
