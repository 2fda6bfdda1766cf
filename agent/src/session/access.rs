//! What a master needs from the agent to let it in: the cluster secret's
//! header and, for masters that speak TLS, the trust roots and the
//! agent's client certificate. Loaded once at start, so a missing or bad
//! file stops the agent with its path instead of failing every session.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::flags::MasterTls;
use crate::masters::MasterAddr;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("cannot read the cluster secret file {path}: {problem}")]
    Secret { path: PathBuf, problem: String },
    #[error("cannot read {what} {path}: {problem}")]
    TlsFile {
        what: &'static str,
        path: PathBuf,
        problem: String,
    },
}

#[derive(Clone, Debug, Default)]
pub struct MasterAccess {
    /// The value of the cluster secret header, if the masters need one.
    pub auth_header: Option<String>,
    tls: Option<ClientTlsConfig>,
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, AccessError> {
    std::fs::read(path).map_err(|e| AccessError::TlsFile {
        what,
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

impl MasterAccess {
    pub fn load(secret_file: Option<&Path>, tls: Option<&MasterTls>) -> Result<Self, AccessError> {
        let auth_header = match secret_file {
            None => None,
            Some(path) => {
                let secret = mesoraft_proto::auth::read_secret_file(path).map_err(|problem| {
                    AccessError::Secret {
                        path: path.to_path_buf(),
                        problem: problem.to_string(),
                    }
                })?;
                Some(mesoraft_proto::auth::header_value(
                    &mesoraft_proto::auth::token_of(&secret),
                ))
            }
        };
        let tls = match tls {
            None => None,
            Some(tls) => {
                let mut config = match &tls.ca {
                    Some(ca) => ClientTlsConfig::new()
                        .ca_certificate(Certificate::from_pem(read("the TLS CA file", ca)?)),
                    None => ClientTlsConfig::new().with_native_roots(),
                };
                if let Some((cert, key)) = &tls.identity {
                    config = config.identity(Identity::from_pem(
                        read("the TLS certificate file", cert)?,
                        read("the TLS key file", key)?,
                    ));
                }
                Some(config)
            }
        };
        Ok(MasterAccess { auth_header, tls })
    }

    /// The endpoint of the master at `addr`, over TLS when configured.
    pub fn endpoint(&self, addr: &MasterAddr) -> Result<Endpoint, String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
            .map_err(|e| format!("bad master address {addr}: {e}"))?;
        match &self.tls {
            Some(tls) => endpoint
                .tls_config(tls.clone())
                .map_err(|e| format!("cannot use TLS towards {addr}: {e}")),
            None => Ok(endpoint),
        }
    }
}
