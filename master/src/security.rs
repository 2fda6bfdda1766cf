//! The master port's protection: the cluster secret and TLS, as flags of
//! `mesoraft master` and as loaded state. (raftctl has its own client
//! half in `mesoraft-ctl`; the header and token are `mesoraft_proto::auth`.)
//!
//! Without `--cluster-secret-file` peer RPCs and membership changes are
//! accepted from anyone who reaches the port, with a loud warning at start
//! and in `/raft/status` (`raftctl status` shows it): that keeps a plain
//! `mesoraft master ...` working on a trusted network and in test
//! harnesses, while a production group gives every master and raftctl the
//! same secret file (and TLS where the network is not trusted).

use std::path::PathBuf;
use std::time::Duration;

use axum::http::HeaderMap;
use mesoraft_raft::network::security::AUTH_HEADER;
use mesoraft_raft::network::tls::{TlsFiles, TlsSetup};
use mesoraft_raft::network::ClusterSecret;
use serde::{Deserialize, Serialize};

/// Flags of the port's protection.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SecurityArgs {
    /// File holding the cluster secret (at least 16 bytes; surrounding
    /// whitespace ignored). Every master and raftctl of a group must use
    /// the same one. Without it, peer RPCs and membership changes are
    /// unauthenticated.
    #[arg(long, env = "MESORAFT_CLUSTER_SECRET_FILE", value_name = "PATH")]
    pub cluster_secret_file: Option<PathBuf>,

    /// PEM certificate (chain) of this master: the port then speaks TLS
    /// (HTTPS and gRPC over TLS), and peers are reached over TLS. For
    /// raftctl: a client certificate to present.
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

    /// PEM CA certificate(s). A master verifies its peers' certificates
    /// against it and requires a client certificate it signed on every
    /// Raft RPC (mutual TLS); raftctl trusts it for HTTPS. Without it,
    /// server certificates are checked against the system's roots.
    #[arg(long, env = "MESORAFT_TLS_CA", value_name = "PATH")]
    pub tls_ca: Option<PathBuf>,
}

impl SecurityArgs {
    fn files(&self) -> TlsFiles {
        TlsFiles {
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            ca: self.tls_ca.clone(),
        }
    }

    /// Loads a master's secret and TLS material.
    pub fn load_master(&self) -> anyhow::Result<Security> {
        let secret = self.secret()?;
        let tls = match (&self.tls_cert, &self.tls_ca) {
            (Some(_), _) => Some(TlsSetup::for_master(&self.files())?),
            (None, Some(_)) => anyhow::bail!(
                "--tls-ca needs --tls-cert and --tls-key: a master with a CA serves TLS itself"
            ),
            (None, None) => None,
        };
        Ok(Security { secret, tls })
    }

    fn secret(&self) -> anyhow::Result<Option<ClusterSecret>> {
        Ok(self
            .cluster_secret_file
            .as_deref()
            .map(ClusterSecret::from_file)
            .transpose()?)
    }
}

/// The loaded protection of one master (or tool).
#[derive(Clone, Debug, Default)]
pub struct Security {
    pub secret: Option<ClusterSecret>,
    pub tls: Option<TlsSetup>,
}

/// What `/raft/status` says about the port's protection.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SecurityView {
    pub cluster_secret: bool,
    pub tls: bool,
    pub mutual_tls: bool,
}

impl Security {
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    pub fn view(&self) -> SecurityView {
        SecurityView {
            cluster_secret: self.secret.is_some(),
            tls: self.tls.is_some(),
            mutual_tls: self.tls.as_ref().is_some_and(|t| t.mutual),
        }
    }

    /// Whether an HTTP request carries the cluster secret (always true
    /// without one).
    pub fn authorizes(&self, headers: &HeaderMap) -> bool {
        match &self.secret {
            None => true,
            Some(s) => s.verify(headers.get(AUTH_HEADER).map(|v| v.as_bytes())),
        }
    }

    /// Adds the secret to a request to a master.
    pub fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.secret {
            Some(s) => req.header(AUTH_HEADER, s.header_value()),
            None => req,
        }
    }

    /// An HTTP client for masters: TLS as configured, no proxy.
    pub fn http_client(
        &self,
        timeout: Duration,
        connect_timeout: Duration,
    ) -> reqwest::Result<reqwest::Client> {
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            .no_proxy();
        if let Some(tls) = &self.tls {
            b = b.use_preconfigured_tls((*tls.client).clone());
        }
        b.build()
    }
}
