//! Whom veille trusts when it speaks TLS (to the EU sources and proxies through `fetch`, to
//! the mail relay through `mail`), and what a failed certificate check means in words.
//!
//! Owns: the choice of root certificates ([`Roots`]: the bundled Mozilla roots or the
//! operating system's store), reading and checking an operator's CA file (PEM, one or more
//! certificates, each checked as a trust anchor), and naming a certificate failure found in
//! an error's sources ([`CertProblem`]). rustls-pki-types, rustls-webpki and rustls are
//! used here only for that; connecting is `fetch`'s (reqwest) and `mail`'s (lettre).
//!
//! Must not: connect, read the configuration (the caller names the key in its errors), or
//! know reqwest or lettre types.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// Which root certificates are trusted besides the operator's CA file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Roots {
    /// The Mozilla roots compiled into veille (webpki-roots): the same on every host.
    #[default]
    Bundled,
    /// The operating system's store (on Linux the OpenSSL locations, `/etc/ssl/certs`,
    /// and `$SSL_CERT_FILE` / `$SSL_CERT_DIR`), where a host's own CAs are installed.
    System,
}

impl Roots {
    /// The configuration's spelling: `"bundled"` or `"system"`.
    pub fn parse(s: &str) -> Result<Roots, String> {
        match s.trim() {
            "bundled" => Ok(Roots::Bundled),
            "system" => Ok(Roots::System),
            other => Err(format!(
                "{other:?} is not one of \"bundled\" (the roots built into veille) or \"system\" (the operating system's store)"
            )),
        }
    }
}

/// An operator's CA file, read and checked: its path and its certificates (DER).
#[derive(Clone, PartialEq, Eq)]
pub struct CaFile {
    pub path: PathBuf,
    pub certs: Vec<Vec<u8>>,
}

impl fmt::Debug for CaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaFile")
            .field("path", &self.path)
            .field("certificates", &self.certs.len())
            .finish()
    }
}

/// What one TLS client trusts: its roots plus the operator's CA file, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    pub roots: Roots,
    pub ca_file: Option<CaFile>,
}

impl Trust {
    /// The certificates of the CA file (none without one).
    pub fn extra_certs(&self) -> &[Vec<u8>] {
        self.ca_file.as_ref().map_or(&[], |c| c.certs.as_slice())
    }

    /// "the bundled roots and 2 certificates of /etc/veille/ca.pem", for `veille check`.
    pub fn describe(&self) -> String {
        let roots = match self.roots {
            Roots::Bundled => "the bundled roots",
            Roots::System => "the system's roots",
        };
        match &self.ca_file {
            None => roots.to_string(),
            Some(f) => format!(
                "{roots} and {} certificate{} of {}",
                f.certs.len(),
                if f.certs.len() == 1 { "" } else { "s" },
                f.path.display()
            ),
        }
    }
}

/// Read `path` as PEM and check every certificate in it as a trust anchor. The error says
/// what is wrong with the file and names it; the caller adds the key.
pub fn read_ca_file(path: &Path) -> Result<CaFile, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut certs = Vec::new();
    for (i, item) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let der =
            item.map_err(|e| format!("{shown}: certificate {} is not valid PEM: {e}", i + 1))?;
        webpki::anchor_from_trusted_cert(&der).map_err(|e| {
            format!(
                "{shown}: certificate {} is not an X.509 certificate veille can trust ({e})",
                i + 1
            )
        })?;
        certs.push(der.as_ref().to_vec());
    }
    if certs.is_empty() {
        return Err(format!(
            "{shown} holds no PEM certificate (a \"-----BEGIN CERTIFICATE-----\" block); give the CA's certificate in PEM form"
        ));
    }
    Ok(CaFile {
        path: path.to_path_buf(),
        certs,
    })
}

/// rustls' error, if `err` is one or wraps one where `source()` does not show it: an
/// `io::Error` gives the wrapped error's own source, not the wrapped error (and reqwest's
/// TLS failure is an `io::Error` inside an `io::Error`).
fn unwrap_rustls<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur = err;
    for _ in 0..4 {
        if let Some(r) = cur.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(inner) = cur
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            cur = inner;
        } else {
            return None;
        }
    }
    None
}

/// Why a server's certificate was refused, read from an error's sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertProblem {
    /// Not signed by a trusted authority (a private CA, a re-signing proxy, self-signed).
    UnknownIssuer,
    /// Valid, but for other names than the one veille connected to.
    WrongName,
    /// Past its end date.
    Expired,
    /// Before its start date (often: this host's clock is wrong).
    NotYetValid,
    Revoked,
    /// Any other refusal of the certificate (bad signature, wrong purpose, …).
    Other,
}

impl CertProblem {
    /// The first certificate failure among `e` and its sources.
    pub fn find(e: &(dyn std::error::Error + 'static)) -> Option<CertProblem> {
        use rustls::CertificateError as C;
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            let found = unwrap_rustls(err);
            if let Some(rustls::Error::InvalidCertificate(c)) = found {
                return Some(match c {
                    C::UnknownIssuer => CertProblem::UnknownIssuer,
                    C::NotValidForName | C::NotValidForNameContext { .. } => CertProblem::WrongName,
                    C::Expired | C::ExpiredContext { .. } => CertProblem::Expired,
                    C::NotValidYet | C::NotValidYetContext { .. } => CertProblem::NotYetValid,
                    C::Revoked => CertProblem::Revoked,
                    _ => CertProblem::Other,
                });
            }
            cur = err.source();
        }
        None
    }

    /// "the certificate of HOST is not signed by a trusted authority; set KEY …": one
    /// line with the host, the cause and what fixes it. `ca_key` names the CA file's key
    /// (`mail.smtp.ca_file`, `http.ca_file`), `host_key` the key that names the host.
    pub fn explain(self, host: &str, ca_key: &str, host_key: &str) -> String {
        match self {
            CertProblem::UnknownIssuer => format!(
                "the certificate of {host} is not signed by a trusted authority; set {ca_key} to the PEM file of the CA that signed it"
            ),
            CertProblem::WrongName => format!(
                "the certificate of {host} is not valid for that name; use in {host_key} a name the certificate carries"
            ),
            CertProblem::Expired => format!(
                "the certificate of {host} has expired; it must be renewed on that server"
            ),
            CertProblem::NotYetValid => format!(
                "the certificate of {host} is not valid yet; check this host's clock"
            ),
            CertProblem::Revoked => format!("the certificate of {host} has been revoked"),
            CertProblem::Other => format!(
                "the certificate of {host} was refused; if a private CA signed it, set {ca_key} to its PEM file"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_spelled_as_documented() {
        assert_eq!(Roots::parse("bundled"), Ok(Roots::Bundled));
        assert_eq!(Roots::parse("system"), Ok(Roots::System));
        assert!(Roots::parse("native").is_err());
        assert_eq!(Roots::default(), Roots::Bundled);
    }

    #[test]
    fn ca_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("missing.pem");
        let e = read_ca_file(&missing).unwrap_err();
        assert!(
            e.contains("missing.pem") && e.contains("cannot read"),
            "{e}"
        );
        let text = dir.path().join("text.pem");
        std::fs::write(&text, "not a certificate\n").unwrap_or_else(|e| panic!("{e}"));
        let e = read_ca_file(&text).unwrap_err();
        assert!(
            e.contains("text.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(
            &junk,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let e = read_ca_file(&junk).unwrap_err();
        assert!(e.contains("junk.pem") && e.contains("certificate 1"), "{e}");
    }
}
