//! Who may look at the web window: HTTP Basic users with Argon2 password hashes (or the
//! bcrypt hashes of an Apache `htpasswd -B` file), the server secret and the per-watchlist
//! tokens of the feed and calendar URLs.
//!
//! Owns: hashing a password (`veille hash-password`), checking a hash's format at
//! configuration load, verifying `Authorization: Basic` against the configured users (a
//! verified pair is remembered in memory, so that a feed reader polling every minute does
//! not cost an Argon2 run each time), the secret file (`web.secret` beside the store,
//! created once with mode 0600; replacing it revokes every token) and the tokens derived
//! from it (BLAKE3 keyed hash of purpose and watchlist id), compared in constant time.
//!
//! Must not: read the store, render, or know routes.

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use subtle::ConstantTimeEq;

/// The file name of the server secret, in the store's folder.
pub const SECRET_FILE: &str = "web.secret";

/// What a token opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Feed,
    Calendar,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Feed => "feed",
            Purpose::Calendar => "calendar",
        }
    }
}

/// An Argon2id hash of `password` in the PHC string format, for `[server.users]`.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing the password: {e}"))
}

/// Whether `hash` reads as an Argon2 PHC string (`$argon2id$v=19$m=…`) or a bcrypt hash
/// (`$2y$10$…`, as `htpasswd -B` writes it).
pub fn check_password_hash(hash: &str) -> Result<(), String> {
    if is_bcrypt(hash) {
        return hash
            .parse::<bcrypt::HashParts>()
            .map(|_| ())
            .map_err(|e| format!("not a bcrypt hash ({e})"));
    }
    // The other formats of an htpasswd file, named.
    for (prefix, name) in [("$apr1$", "MD5 (apr1)"), ("$1$", "MD5"), ("{SHA}", "SHA-1")] {
        if hash.starts_with(prefix) {
            return Err(format!(
                "the hash is {name}, too weak: use Argon2 or bcrypt (htpasswd -B)"
            ));
        }
    }
    let parsed = PasswordHash::new(hash)
        .map_err(|e| format!("not an Argon2 or bcrypt password hash ({e})"))?;
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return Err(format!(
            "the hash is {}, not Argon2 or bcrypt (MD5, SHA-1 and crypt hashes are too weak)",
            parsed.algorithm.as_str()
        ));
    }
    Ok(())
}

/// Whether `hash` is written as bcrypt writes it: `$2a$`, `$2b$`, `$2x$` or `$2y$`.
fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .any(|p| hash.starts_with(p))
}

/// Whether `password` is the one `hash` was made of (Argon2 or bcrypt).
fn verify(password: &str, hash: &str) -> bool {
    if is_bcrypt(hash) {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The server secret and the configured users: everything a request is checked against.
#[derive(Debug)]
pub struct Access {
    secret: [u8; 32],
    users: BTreeMap<String, String>,
    /// Keyed hashes of (user, password) pairs verified since start.
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl Access {
    pub fn new(secret: [u8; 32], users: BTreeMap<String, String>) -> Access {
        Access {
            secret,
            users,
            verified: Mutex::new(HashSet::new()),
        }
    }

    /// Whether pages need a user (any is configured).
    pub fn needs_user(&self) -> bool {
        !self.users.is_empty()
    }

    /// The token of a watchlist's feed or calendar: 32 hex digits.
    pub fn token(&self, purpose: Purpose, watchlist: &str) -> String {
        token_of(&self.secret, purpose, watchlist)
    }

    /// Whether `given` is the token of that watchlist's feed or calendar (constant time).
    pub fn token_ok(&self, purpose: Purpose, watchlist: &str, given: &str) -> bool {
        let want = self.token(purpose, watchlist);
        want.len() == given.len() && bool::from(want.as_bytes().ct_eq(given.as_bytes()))
    }

    /// Whether an `Authorization` header value names a configured user with the right
    /// password. Every unknown name still costs one verification, as a known one does.
    pub fn basic_ok(&self, header: Option<&str>) -> bool {
        let Some((user, password)) = header.and_then(parse_basic) else {
            return false;
        };
        let pair = blake3::keyed_hash(
            &self.secret,
            format!("basic\0{user}\0{password}").as_bytes(),
        );
        let pair = *pair.as_bytes();
        if self
            .verified
            .lock()
            .map(|v| v.contains(&pair))
            .unwrap_or(false)
        {
            return true;
        }
        let hash = self
            .users
            .iter()
            .find(|(name, _)| {
                name.len() == user.len() && bool::from(name.as_bytes().ct_eq(user.as_bytes()))
            })
            .map(|(_, h)| h.as_str());
        let ok = match hash {
            Some(hash) => verify(&password, hash),
            None => {
                // The same work as for a known user, so that timing tells no names.
                let _ = hash_password(&password);
                false
            }
        };
        if ok {
            if let Ok(mut v) = self.verified.lock() {
                v.insert(pair);
            }
        }
        ok
    }
}

fn token_of(secret: &[u8; 32], purpose: Purpose, watchlist: &str) -> String {
    let h = blake3::keyed_hash(
        secret,
        format!("veille web token v1\0{}\0{watchlist}", purpose.as_str()).as_bytes(),
    );
    h.to_hex()[..32].to_string()
}

/// `Basic base64(user:password)` → (user, password).
fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Where the server secret of a store lives: `web.secret` in the store's folder.
pub fn secret_path(store_path: &Path) -> PathBuf {
    store_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(SECRET_FILE)
}

/// The server secret, created (32 random bytes, hex, mode 0600) the first time.
pub fn load_or_create_secret(path: &Path) -> Result<[u8; 32], String> {
    match std::fs::read_to_string(path) {
        Ok(text) => return parse_secret(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("reading the web secret {}: {e}", path.display())),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("creating the folder {}: {e}", dir.display()))?;
    }
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut f) => {
            let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            f.write_all(format!("{hex}\n").as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| format!("writing the web secret {}: {e}", path.display()))?;
            Ok(secret)
        }
        // Another process made it in between: read that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("reading the web secret {}: {e}", path.display()))?;
            parse_secret(path, &text)
        }
        Err(e) => Err(format!("creating the web secret {}: {e}", path.display())),
    }
}

fn parse_secret(path: &Path, text: &str) -> Result<[u8; 32], String> {
    let hex = text.trim();
    let bad = || {
        format!(
            "the web secret {} is not 64 hex digits; remove it and a new one is made (every feed and calendar link changes)",
            path.display()
        )
    };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, chunk) in hex.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).map_err(|_| bad())?;
        out[i] = u8::from_str_radix(s, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_by_purpose_watchlist_and_secret_and_check_in_constant_time() {
        let a = Access::new([1; 32], BTreeMap::new());
        let b = Access::new([2; 32], BTreeMap::new());
        let t = a.token(Purpose::Feed, "w");
        assert_eq!(t.len(), 32);
        assert!(a.token_ok(Purpose::Feed, "w", &t));
        assert!(!a.token_ok(Purpose::Calendar, "w", &t));
        assert!(!a.token_ok(Purpose::Feed, "x", &t));
        assert!(!b.token_ok(Purpose::Feed, "w", &t));
        assert!(!a.token_ok(Purpose::Feed, "w", ""));
    }

    /// Access with one user, "ana", of this password hash.
    fn with_ana(hash: String) -> Access {
        Access::new([7; 32], BTreeMap::from([("ana".to_string(), hash)]))
    }

    /// An `Authorization` header for "user:password".
    fn header(pair: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    #[test]
    fn basic_auth_checks_the_password_hash() {
        let hash = hash_password("s3cret").unwrap();
        check_password_hash(&hash).unwrap();
        assert!(check_password_hash("plain").is_err());
        let a = with_ana(hash);
        assert!(a.basic_ok(Some(&header("ana:s3cret"))));
        assert!(a.basic_ok(Some(&header("ana:s3cret"))), "remembered");
        assert!(!a.basic_ok(Some(&header("ana:wrong"))));
        assert!(!a.basic_ok(Some(&header("bob:s3cret"))));
        assert!(!a.basic_ok(None));
    }

    #[test]
    fn a_bcrypt_hash_from_htpasswd_is_accepted() {
        let hash = bcrypt::hash_with_result("s3cret", 4)
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        assert!(hash.starts_with("$2y$04$"), "{hash}");
        check_password_hash(&hash).unwrap();
        assert!(check_password_hash("$2y$04$short").is_err());
        // An htpasswd MD5 line is refused by name.
        let md5 = check_password_hash("$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/").unwrap_err();
        assert!(
            md5.contains("MD5 (apr1)") && md5.contains("too weak"),
            "{md5}"
        );
        let a = with_ana(hash);
        assert!(a.basic_ok(Some(&header("ana:s3cret"))));
        assert!(!a.basic_ok(Some(&header("ana:s3cret "))));
    }
}
