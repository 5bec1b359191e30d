//! Shared test helpers: the fixture corpus and golden files.

#![allow(dead_code)]

pub mod app;
pub mod fixtures;
pub mod http;
