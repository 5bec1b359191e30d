//! Shared test helpers: the fixture corpus and golden files.

#![allow(dead_code)]

pub mod fixtures;
pub mod smtp;
