//! Optional TLS for the master port (rustls, ring): the server side, and
//! the client side for peers and tools.
//!
//! With a CA (`--tls-ca`), peers verify each other's server certificates
//! against it and present their own certificate as client certificate
//! (mutual TLS); the server asks every connection for a client certificate
//! but requires one only for Raft RPCs, so HTTP clients without one (a
//! framework, curl) still work. Without a CA, server certificates are
//! verified against the system's roots and nobody presents one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {detail}")]
    Read {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("{path} holds no {what} in PEM form")]
    Empty { what: &'static str, path: PathBuf },
    #[error("invalid TLS setup: {0}")]
    Config(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read_err = |e: rustls::pki_types::pem::Error| TlsError::Read {
        what,
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_err)?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Read {
        what: "private key",
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

fn roots(ca: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(ca) => {
            for c in certs(ca, "CA certificate")? {
                roots.add(c).map_err(|e| {
                    TlsError::Config(format!("CA certificate {}: {e}", ca.display()))
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
        }
    }
    Ok(roots)
}

/// The files of one side (a master, or raftctl).
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub ca: Option<PathBuf>,
}

/// Everything TLS a master needs, loaded once at start.
#[derive(Clone)]
pub struct TlsSetup {
    /// For the listener; None when the master has no certificate.
    pub server: Option<Arc<rustls::ServerConfig>>,
    /// For connecting to masters (peers, probes, raftctl).
    pub client: Arc<rustls::ClientConfig>,
    /// The same client side for the gRPC channels to peers.
    pub peer_channel: Option<tonic::transport::ClientTlsConfig>,
    /// Raft RPCs need a client certificate signed by the CA.
    pub mutual: bool,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("server", &self.server.is_some())
            .field("mutual", &self.mutual)
            .finish()
    }
}

impl TlsSetup {
    /// Loads a master's files: certificate and key are required; the CA
    /// turns on mutual TLS.
    pub fn for_master(files: &TlsFiles) -> Result<Self, TlsError> {
        let (Some(cert), Some(key_path)) = (&files.cert, &files.key) else {
            return Err(TlsError::Config(
                "--tls-cert and --tls-key go together".into(),
            ));
        };
        let chain = certs(cert, "certificate")?;
        let key = key(key_path)?;
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match &files.ca {
            Some(ca) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots(Some(ca))?),
                    provider(),
                )
                // Asked of everyone, required only for Raft RPCs.
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::Config(format!("client verifier: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut server = builder
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| TlsError::Config(format!("{}: {e}", cert.display())))?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let client = client_config(files.ca.as_deref(), Some((chain, key)))?;
        let read = |what, p: &Path| {
            std::fs::read(p).map_err(|e| TlsError::Read {
                what,
                path: p.to_path_buf(),
                detail: e.to_string(),
            })
        };
        let identity = tonic::transport::Identity::from_pem(
            read("certificate", cert)?,
            read("private key", key_path)?,
        );
        let channel = tonic::transport::ClientTlsConfig::new().identity(identity);
        let channel = match &files.ca {
            Some(ca) => channel.ca_certificate(tonic::transport::Certificate::from_pem(read(
                "CA certificate",
                ca,
            )?)),
            None => channel.with_native_roots(),
        };
        Ok(Self {
            server: Some(Arc::new(server)),
            client: Arc::new(client),
            peer_channel: Some(channel),
            mutual: files.ca.is_some(),
        })
    }

    /// A tool's client side: trust the CA (or the system roots) and present
    /// a client certificate when given one.
    pub fn for_client(files: &TlsFiles) -> Result<Self, TlsError> {
        let identity = match (&files.cert, &files.key) {
            (Some(c), Some(k)) => Some((certs(c, "certificate")?, key(k)?)),
            (None, None) => None,
            _ => {
                return Err(TlsError::Config(
                    "--tls-cert and --tls-key go together".into(),
                ))
            }
        };
        Ok(Self {
            server: None,
            client: Arc::new(client_config(files.ca.as_deref(), identity)?),
            peer_channel: None,
            mutual: false,
        })
    }
}

fn client_config(
    ca: Option<&Path>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<rustls::ClientConfig, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots(ca)?);
    let mut config = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| TlsError::Config(format!("client certificate: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
