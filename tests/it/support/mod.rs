//! Shared test helpers: the fixture corpus and golden files, a loopback HTTP server, a
//! real SMTP server (aiosmtpd), and a temporary installation driven through the binary.

#![allow(dead_code)]

pub mod app;
pub mod browser;
pub mod eu;
pub mod fixtures;
pub mod hooks;
pub mod http;
pub mod proxy;
pub mod smtp;
pub mod tls;
