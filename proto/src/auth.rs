//! The cluster secret as it travels: the header that carries it and how
//! its token is derived. Masters check it (`mesoraft-raft`); raftctl and
//! other tools send it (`mesoraft-ctl`). One definition, so the two sides
//! cannot drift apart.

/// gRPC metadata / HTTP header carrying the token.
pub const AUTH_HEADER: &str = "x-mesoraft-auth";

/// Prefixed to the secret before hashing (SHA-256), so the token is of use
/// for this purpose only. The secret file's content never travels.
pub const TOKEN_DOMAIN: &[u8] = b"mesoraft cluster secret v1\0";

/// Shorter secrets are refused: a guessable secret protects nothing.
pub const MIN_SECRET_BYTES: usize = 16;

/// Longer files are refused: a secret file is a line, not a document.
pub const MAX_SECRET_BYTES: usize = 4096;

/// What is wrong with a secret file.
#[derive(Debug)]
pub enum SecretFileProblem {
    Unreadable(std::io::Error),
    /// Over [`MAX_SECRET_BYTES`].
    TooLong,
    /// Under [`MIN_SECRET_BYTES`] once surrounding whitespace is trimmed.
    TooShort {
        len: usize,
    },
}

impl std::fmt::Display for SecretFileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretFileProblem::Unreadable(e) => e.fmt(f),
            SecretFileProblem::TooLong => {
                write!(
                    f,
                    "it is larger than {MAX_SECRET_BYTES} bytes; a secret is one line"
                )
            }
            SecretFileProblem::TooShort { len } => write!(
                f,
                "it holds {len} bytes; use at least {MIN_SECRET_BYTES} random bytes"
            ),
        }
    }
}

/// The secret in `path`, surrounding whitespace trimmed, within the bounds
/// above. Masters and tools read the same file the same way.
pub fn read_secret_file(path: &std::path::Path) -> Result<Vec<u8>, SecretFileProblem> {
    let raw = std::fs::read(path).map_err(SecretFileProblem::Unreadable)?;
    if raw.len() > MAX_SECRET_BYTES {
        return Err(SecretFileProblem::TooLong);
    }
    let secret = raw.trim_ascii();
    if secret.len() < MIN_SECRET_BYTES {
        return Err(SecretFileProblem::TooShort { len: secret.len() });
    }
    Ok(secret.to_vec())
}

/// The token a secret stands for: SHA-256 of [`TOKEN_DOMAIN`], then the
/// secret.
pub fn token_of(secret: &[u8]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(TOKEN_DOMAIN);
    ctx.update(secret);
    let mut token = [0u8; 32];
    token.copy_from_slice(ctx.finish().as_ref());
    token
}

/// A token as the [`AUTH_HEADER`] value carries it (lower-case hex).
pub fn header_value(token: &[u8; 32]) -> String {
    token.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_file_is_trimmed_and_bounded() {
        let dir = std::env::temp_dir().join(format!("auth-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, b"  0123456789abcdef\n").unwrap();
        assert_eq!(read_secret_file(&file).unwrap(), b"0123456789abcdef");
        std::fs::write(&file, b"short\n").unwrap();
        assert!(matches!(
            read_secret_file(&file),
            Err(SecretFileProblem::TooShort { len: 5 })
        ));
        std::fs::write(&file, vec![b'x'; MAX_SECRET_BYTES + 1]).unwrap();
        assert!(matches!(
            read_secret_file(&file),
            Err(SecretFileProblem::TooLong)
        ));
        assert!(matches!(
            read_secret_file(&dir.join("missing")),
            Err(SecretFileProblem::Unreadable(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_token_is_the_domain_tagged_hash_in_hex() {
        let value = header_value(&token_of(b"0123456789abcdef"));
        assert_eq!(value.len(), 64);
        assert!(value
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(token_of(b"a"), token_of(b"b"));
    }
}
