//! raftctl's side of the masters' port protection: the cluster secret it
//! sends and the TLS it speaks. Only the client half: raftctl never serves.
//!
//! The header and the token's derivation are `mesoraft_proto::auth`, the
//! same definitions the masters check against.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mesoraft_proto::auth::{
    self, SecretFileProblem, AUTH_HEADER, MAX_SECRET_BYTES, MIN_SECRET_BYTES,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Flags of the masters' port protection, as raftctl uses them.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SecurityArgs {
    /// File holding the cluster secret (at least 16 bytes; surrounding
    /// whitespace ignored), the same one the masters of the group use.
    /// Sent on every request; masters that require it refuse changes
    /// (membership, frameworks' calls) without it.
    #[arg(long, env = "MESORAFT_CLUSTER_SECRET_FILE", value_name = "PATH")]
    pub cluster_secret_file: Option<PathBuf>,

    /// PEM client certificate (chain) to present to masters over TLS.
    #[arg(
        long,
        env = "MESORAFT_TLS_CERT",
        value_name = "PATH",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(
        long,
        env = "MESORAFT_TLS_KEY",
        value_name = "PATH",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// PEM CA certificate(s) the masters' certificates are checked
    /// against. With it (or --tls-cert), requests go over HTTPS; without
    /// it, server certificates are checked against the system's roots.
    #[arg(long, env = "MESORAFT_TLS_CA", value_name = "PATH")]
    pub tls_ca: Option<PathBuf>,
}

/// Why the secret or the TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("cannot read the cluster secret file {path}: {detail}")]
    ReadSecret { path: PathBuf, detail: String },
    #[error(
        "the cluster secret in {path} is {len} bytes; use at least {MIN_SECRET_BYTES} random \
         bytes (e.g. `head -c 32 /dev/urandom | base64 > {path}`)"
    )]
    SecretTooShort { path: PathBuf, len: usize },
    #[error("the cluster secret file {path} is larger than {MAX_SECRET_BYTES} bytes")]
    SecretTooLong { path: PathBuf },
    #[error("cannot read {what} {path}: {detail}")]
    ReadPem {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("{path} holds no {what} in PEM form")]
    EmptyPem { what: &'static str, path: PathBuf },
    #[error("invalid TLS setup: {0}")]
    Tls(String),
}

/// The token derived from the cluster secret. Debug never shows it.
#[derive(Clone)]
pub struct SecretToken([u8; 32]);

impl std::fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretToken(..)")
    }
}

impl SecretToken {
    /// Reads the secret (surrounding whitespace ignored) from `path`, with
    /// the masters' bounds on its length.
    pub fn from_file(path: &Path) -> Result<Self, SecurityError> {
        let path_buf = || path.to_path_buf();
        let secret = auth::read_secret_file(path).map_err(|problem| match problem {
            SecretFileProblem::Unreadable(e) => SecurityError::ReadSecret {
                path: path_buf(),
                detail: e.to_string(),
            },
            SecretFileProblem::TooLong => SecurityError::SecretTooLong { path: path_buf() },
            SecretFileProblem::TooShort { len } => SecurityError::SecretTooShort {
                path: path_buf(),
                len,
            },
        })?;
        Ok(Self::from_bytes(&secret))
    }

    pub fn from_bytes(secret: &[u8]) -> Self {
        Self(auth::token_of(secret))
    }

    /// The value of the [`AUTH_HEADER`] header.
    pub fn header_value(&self) -> String {
        auth::header_value(&self.0)
    }
}

/// What raftctl presents to the masters.
#[derive(Clone, Debug, Default)]
pub struct ClientSecurity {
    pub secret: Option<SecretToken>,
    /// HTTPS with this configuration; plain HTTP without.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl SecurityArgs {
    /// Loads the secret, and TLS when a CA or a client certificate is
    /// given (`https://` then).
    pub fn load(&self) -> Result<ClientSecurity, SecurityError> {
        let secret = self
            .cluster_secret_file
            .as_deref()
            .map(SecretToken::from_file)
            .transpose()?;
        let tls = if self.tls_ca.is_some() || self.tls_cert.is_some() {
            Some(Arc::new(self.tls_config()?))
        } else {
            None
        };
        Ok(ClientSecurity { secret, tls })
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig, SecurityError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SecurityError::Tls(e.to_string()))?
            .with_root_certificates(trusted_roots(self.tls_ca.as_deref())?);
        let mut config = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(pem_certs(cert, "certificate")?, pem_key(key)?)
                .map_err(|e| SecurityError::Tls(format!("client certificate: {e}")))?,
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(SecurityError::Tls(
                    "--tls-cert and --tls-key go together".into(),
                ))
            }
        };
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl ClientSecurity {
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// A client builder for the masters' port, shared by raftctl and the
    /// scheduler library: this TLS (if any); redirects not followed (the
    /// masters' `Location` is scheme-relative, and a POST must be sent
    /// again with its body to the leader); no proxy from the environment
    /// (masters are on the operator's network, and a proxy would see the
    /// secret).
    pub fn http_builder(&self, connect_timeout: std::time::Duration) -> reqwest::ClientBuilder {
        let mut builder = reqwest::Client::builder();
        if let Some(tls) = &self.tls {
            builder = builder.use_preconfigured_tls((**tls).clone());
        }
        builder
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(connect_timeout)
    }

    /// Adds the secret to a request to a master.
    pub fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.secret {
            Some(s) => req.header(AUTH_HEADER, s.header_value()),
            None => req,
        }
    }
}

/// The CA's certificates, or the system's roots without one.
fn trusted_roots(ca: Option<&Path>) -> Result<rustls::RootCertStore, SecurityError> {
    let mut roots = rustls::RootCertStore::empty();
    let Some(ca) = ca else {
        for c in rustls_native_certs::load_native_certs().certs {
            // An unusable system root is skipped, as a browser would.
            let _ = roots.add(c);
        }
        return Ok(roots);
    };
    for c in pem_certs(ca, "CA certificate")? {
        roots
            .add(c)
            .map_err(|e| SecurityError::Tls(format!("CA certificate {}: {e}", ca.display())))?;
    }
    Ok(roots)
}

fn pem_certs(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, SecurityError> {
    let unreadable = |e: rustls::pki_types::pem::Error| SecurityError::ReadPem {
        what,
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(unreadable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable)?;
    if certs.is_empty() {
        return Err(SecurityError::EmptyPem {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn pem_key(path: &Path) -> Result<PrivateKeyDer<'static>, SecurityError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| SecurityError::ReadPem {
        what: "private key",
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, content).unwrap();
        f
    }

    #[test]
    fn secret_is_trimmed_and_hashed() {
        let a = SecretToken::from_file(file(b"  0123456789abcdef\n").path()).unwrap();
        let b = SecretToken::from_bytes(b"0123456789abcdef");
        assert_eq!(a.header_value(), b.header_value());
        assert_eq!(a.header_value().len(), 64);
        assert_eq!(format!("{a:?}"), "SecretToken(..)");
    }

    #[test]
    fn bad_secret_files_say_why() {
        let short = file(b"too short");
        let e = SecretToken::from_file(short.path()).unwrap_err();
        assert!(e.to_string().contains("is 9 bytes"), "{e}");
        let long = file(&vec![b'x'; MAX_SECRET_BYTES + 1]);
        assert!(matches!(
            SecretToken::from_file(long.path()),
            Err(SecurityError::SecretTooLong { .. })
        ));
        let e = SecretToken::from_file(Path::new("/nonexistent/secret")).unwrap_err();
        assert!(e
            .to_string()
            .contains("cannot read the cluster secret file"));
    }

    #[test]
    fn plain_without_tls_flags_https_with_them() {
        let none = SecurityArgs::default().load().unwrap();
        assert_eq!(none.scheme(), "http");
        assert!(none.secret.is_none());
        let missing_ca = SecurityArgs {
            tls_ca: Some("/nonexistent/ca.pem".into()),
            ..SecurityArgs::default()
        };
        let e = missing_ca.load().unwrap_err();
        assert!(e.to_string().contains("CA certificate"), "{e}");
    }
}
