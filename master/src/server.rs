//! One listener for everything: gRPC (peers) and HTTP (frameworks,
//! operators, tools), told apart by protocol ([`is_grpc`]: HTTP/2 with a
//! gRPC content type), not by path; plain TCP, or TLS when the master has
//! a certificate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener, ListenerExt};
use axum::Router;
use mesoraft_raft::network::{PeerCertificate, RaftGrpcService};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::Master;

/// A TLS handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until `shutdown`, then closes every connection.
///
/// Graceful shutdown matters for Raft: an aborted server task would leave
/// open HTTP/2 connections still feeding an old `Raft`, and peers holding
/// them would never reach a restarted node. hyper's graceful shutdown sends
/// GOAWAY on each HTTP/2 connection, so peers reconnect to whatever listens
/// next. Connections that do not finish within a grace period are dropped.
pub async fn serve(
    listener: TcpListener,
    master: Arc<Master>,
    grpc: RaftGrpcService,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let grpc_routes = tonic::service::Routes::new(grpc.into_server())
        .add_service(crate::driver::agent_service::AgentService::new(master.clone()).into_server())
        .into_axum_router();
    let app = by_protocol(crate::http::router(master.clone()), grpc_routes);
    let tls = master.security.tls.as_ref().and_then(|t| t.server.clone());
    let stop = shutdown.clone();
    let graceful = async move { stop.cancelled().await };
    let server = async move {
        match tls {
            None => {
                // Without TCP_NODELAY, small answers (Raft replies, 200s)
                // wait for delayed ACKs: a recurring ~40 ms stall seen in
                // elections and writes.
                let listener = listener.tap_io(|tcp| {
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::warn!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
                    }
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(graceful)
                    .await
            }
            Some(config) => {
                let app: Router = app.layer(axum::middleware::from_fn(mark_client_certificate));
                let listener = TlsListener::new(listener, TlsAcceptor::from(config));
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<TlsPeer>(),
                )
                .with_graceful_shutdown(graceful)
                .await
            }
        }
    };
    tokio::select! {
        result = server => result,
        _ = async {
            shutdown.cancelled().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        } => {
            tracing::warn!("connections still open 5s after shutdown began; dropping them");
            Ok(())
        }
    }
}

/// Whether a request is a gRPC call: HTTP/2 with a `application/grpc`
/// content type (gRPC's `+proto` and similar suffixes included).
fn is_grpc(version: http::Version, content_type: Option<&[u8]>) -> bool {
    version == http::Version::HTTP_2
        && content_type.is_some_and(|c| {
            c == b"application/grpc"
                || c.starts_with(b"application/grpc+")
                || c.starts_with(b"application/grpc;")
        })
}

/// Sends gRPC calls to tonic and everything else to the HTTP router.
/// Merging the two routers instead would let every unknown HTTP path fall
/// through to tonic's fallback: a `200` with a gRPC content type and an
/// empty body, where a browser or a Mesos client needs a 404.
fn by_protocol(http_routes: Router, grpc_routes: Router) -> Router {
    Router::new().fallback_service(tower::service_fn(move |req: Request| {
        let grpc = is_grpc(
            req.version(),
            req.headers()
                .get(http::header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
        );
        let routes = if grpc {
            grpc_routes.clone()
        } else {
            http_routes.clone()
        };
        tower::ServiceExt::oneshot(routes, req)
    }))
}

/// What a TLS connection proved about its client.
#[derive(Clone, Copy, Debug)]
struct TlsPeer {
    /// The client presented a certificate the CA signed (the verifier
    /// rejects any other during the handshake).
    certified: bool,
}

impl axum::extract::connect_info::Connected<IncomingStream<'_, TlsListener>> for TlsPeer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        let (_, conn) = stream.io().get_ref();
        TlsPeer {
            certified: conn.peer_certificates().is_some_and(|c| !c.is_empty()),
        }
    }
}

/// Hands the connection's certificate status to the Raft service.
async fn mark_client_certificate(
    ConnectInfo(peer): ConnectInfo<TlsPeer>,
    mut req: Request,
    next: Next,
) -> Response {
    req.extensions_mut().insert(PeerCertificate {
        verified: peer.certified,
    });
    next.run(req).await
}

/// Accepts TCP connections and completes TLS handshakes in the background,
/// each in its own task, so a slow or silent client never holds up the
/// others.
struct TlsListener {
    local: std::io::Result<SocketAddr>,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        let local = tcp.local_addr();
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, addr) = tokio::select! {
                    _ = tx.closed() => return,
                    accepted = tcp.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::warn!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
                }
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %addr, error = %e, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(peer = %addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        Self { local, ready }
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The acceptor task only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        match &self.local {
            Ok(a) => Ok(*a),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http2_with_a_grpc_content_type_is_grpc() {
        let v2 = http::Version::HTTP_2;
        assert!(is_grpc(v2, Some(b"application/grpc")));
        assert!(is_grpc(v2, Some(b"application/grpc+proto")));
        assert!(!is_grpc(http::Version::HTTP_11, Some(b"application/grpc")));
        assert!(!is_grpc(v2, Some(b"application/json")));
        assert!(!is_grpc(v2, Some(b"application/grpc-web")));
        assert!(!is_grpc(v2, None));
    }
}
