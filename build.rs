//! Link the `veille` binary with packed relative relocations (`-z pack-relative-relocs`,
//! DT_RELR) when building natively against glibc 2.36 or newer.
//!
//! The binary is position-independent: its 1.5 MB table of relative relocations is read
//! at every start and its pages stayed resident for the life of the daemon (1.4 MB of the
//! idle daemon's RSS). Packed, the table is 25 KB. glibc refuses to load such a binary
//! before 2.36 (it needs the `GLIBC_ABI_DT_RELR` version), hence the check; a binary built
//! here and copied to a machine with an older glibc would not start: build it there.

use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let gnu_linux = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    if gnu_linux && var("HOST") == var("TARGET") && glibc_at_least(2, 36) {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// The build machine's glibc, from `getconf GNU_LIBC_VERSION` ("glibc 2.36").
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text
        .trim()
        .trim_start_matches("glibc ")
        .split('.')
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(ma), Some(mi)) => (ma, mi) >= (major, minor),
        _ => false,
    }
}
