//! Who may send Raft RPCs: the cluster secret and, with mutual TLS, a
//! client certificate signed by the cluster's CA.
//!
//! The secret file's content never travels: peers send a token derived
//! from it (SHA-256 with a domain tag), compared in constant time. The
//! token is a bearer credential, so without TLS anyone who can watch the
//! network can replay it: use TLS where the network is not trusted.

use std::path::{Path, PathBuf};

use tonic::metadata::MetadataMap;
use tonic::Status;

use mesoraft_proto::auth::{self, SecretFileProblem};
pub use mesoraft_proto::auth::{AUTH_HEADER, MAX_SECRET_BYTES, MIN_SECRET_BYTES};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the cluster secret file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the cluster secret in {path} is {len} bytes; use at least {MIN_SECRET_BYTES} random \
         bytes (e.g. `head -c 32 /dev/urandom | base64 > {path}`)"
    )]
    TooShort { path: PathBuf, len: usize },
    #[error("the cluster secret file {path} is larger than {MAX_SECRET_BYTES} bytes")]
    TooLong { path: PathBuf },
}

/// The token derived from the cluster secret. Debug never shows it.
#[derive(Clone)]
pub struct ClusterSecret {
    token: [u8; 32],
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

impl ClusterSecret {
    /// Reads the secret (surrounding whitespace ignored) from `path`.
    pub fn from_file(path: &Path) -> Result<Self, SecretError> {
        let path_buf = || path.to_path_buf();
        let secret = auth::read_secret_file(path).map_err(|problem| match problem {
            SecretFileProblem::Unreadable(source) => SecretError::Read {
                path: path_buf(),
                source,
            },
            SecretFileProblem::TooLong => SecretError::TooLong { path: path_buf() },
            SecretFileProblem::TooShort { len } => SecretError::TooShort {
                path: path_buf(),
                len,
            },
        })?;
        Ok(Self::from_bytes(&secret))
    }

    pub fn from_bytes(secret: &[u8]) -> Self {
        Self {
            token: auth::token_of(secret),
        }
    }

    /// The value to send.
    pub fn header_value(&self) -> String {
        auth::header_value(&self.token)
    }

    /// Whether `presented` (a header value) is this secret's token, in
    /// time independent of where they differ.
    pub fn verify(&self, presented: Option<&[u8]>) -> bool {
        let Some(presented) = presented else {
            return false;
        };
        let Some(theirs) = decode_token(presented) else {
            return false;
        };
        let mut diff = 0u8;
        for (a, b) in self.token.iter().zip(theirs.iter()) {
            diff |= a ^ b;
        }
        std::hint::black_box(diff) == 0
    }
}

fn decode_token(hex: &[u8]) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// Set by the server on each request: whether the connection presented a
/// client certificate the cluster CA signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerCertificate {
    pub verified: bool,
}

/// The server's admission rule for peer RPCs.
#[derive(Clone, Debug, Default)]
pub struct PeerAuth {
    pub secret: Option<ClusterSecret>,
    /// Mutual TLS: refuse peers without a verified client certificate.
    pub require_client_cert: bool,
}

impl PeerAuth {
    /// Ok, or the status to answer. Never says what the secret is, nor
    /// echoes what was presented.
    pub fn admit(
        &self,
        metadata: &MetadataMap,
        cert: Option<PeerCertificate>,
    ) -> Result<(), Status> {
        if self.require_client_cert && !cert.is_some_and(|c| c.verified) {
            return Err(Status::permission_denied(
                "peer RPCs need a client certificate signed by the cluster CA (--tls-ca)",
            ));
        }
        if let Some(secret) = &self.secret {
            let presented = metadata.get(AUTH_HEADER).map(|v| v.as_bytes());
            if !secret.verify(presented) {
                return Err(Status::unauthenticated(
                    "missing or wrong cluster secret: start every master (and raftctl) with the \
                     same --cluster-secret-file",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_for_the_same_secret() {
        let a = ClusterSecret::from_bytes(b"0123456789abcdef-one");
        let b = ClusterSecret::from_bytes(b"0123456789abcdef-two");
        let token = a.header_value();
        assert!(a.verify(Some(token.as_bytes())));
        assert!(!b.verify(Some(token.as_bytes())));
        assert!(!a.verify(None));
        assert!(!a.verify(Some(b"short")));
        assert!(!a.verify(Some(&[b'z'; 64])));
        assert!(!format!("{a:?}").contains(&token));
    }

    #[test]
    fn secret_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "short\n").unwrap();
        assert!(matches!(
            ClusterSecret::from_file(&p),
            Err(SecretError::TooShort { len: 5, .. })
        ));
        std::fs::write(&p, "  a-long-enough-secret-value \n").unwrap();
        let s = ClusterSecret::from_file(&p).unwrap();
        assert!(s.verify(Some(
            ClusterSecret::from_bytes(b"a-long-enough-secret-value")
                .header_value()
                .as_bytes()
        )));
        assert!(ClusterSecret::from_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn admission() {
        let secret = ClusterSecret::from_bytes(b"0123456789abcdef");
        let auth = PeerAuth {
            secret: Some(secret.clone()),
            require_client_cert: false,
        };
        let mut md = MetadataMap::new();
        assert_eq!(
            auth.admit(&md, None).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        md.insert(AUTH_HEADER, secret.header_value().parse().unwrap());
        assert!(auth.admit(&md, None).is_ok());
        let mtls = PeerAuth {
            secret: None,
            require_client_cert: true,
        };
        assert_eq!(
            mtls.admit(&md, Some(PeerCertificate { verified: false }))
                .unwrap_err()
                .code(),
            tonic::Code::PermissionDenied
        );
        assert!(mtls
            .admit(&md, Some(PeerCertificate { verified: true }))
            .is_ok());
        assert!(PeerAuth::default().admit(&MetadataMap::new(), None).is_ok());
    }
}
