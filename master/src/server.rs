//! One listener for everything: gRPC (peers) and HTTP/1.1 (frameworks,
//! operators, tools), told apart by axum's router (gRPC paths are
//! `/mesoraft.raft.Raft/...`).

use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use mesoraft_raft::network::RaftGrpcService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::Master;

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
    let grpc_routes = tonic::service::Routes::new(grpc.into_server()).into_axum_router();
    let app = crate::http::router(master).merge(grpc_routes);
    // Without TCP_NODELAY, small answers (Raft replies, 200s) wait for
    // delayed ACKs: a recurring ~40 ms stall seen in elections and writes.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
        }
    });
    let stop = shutdown.clone();
    let server =
        axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await });
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
