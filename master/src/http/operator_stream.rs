//! The operator API's event stream: `SUBSCRIBE` on `POST /api/v1` answers
//! 200 with a RecordIO stream of `mesos.v1.master.Event` in JSON:
//! SUBSCRIBED with the whole state, then TASK_ADDED, TASK_UPDATED,
//! AGENT_ADDED, AGENT_REMOVED, FRAMEWORK_ADDED, FRAMEWORK_UPDATED,
//! FRAMEWORK_REMOVED as the leader's driver makes the changes, and a
//! HEARTBEAT every 15 s. The stream ends when this master stops leading
//! (subscribe again: 307 to the new leader) or when the reader falls too
//! far behind (subscribe again for a fresh state).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use tokio::sync::mpsc;

use super::routing::ApiError;
use crate::driver::WATCHER_QUEUE;
use crate::framework_views::events::{heartbeat, HEARTBEAT_INTERVAL_SECS};
use crate::scheduler::call::Format;
use crate::scheduler::events::record;
use crate::Master;

pub async fn subscribe(master: &Master) -> Result<Response, ApiError> {
    master.require_leader()?;
    master.confirm_leadership().await?;
    let (events, receiver) = mpsc::channel(WATCHER_QUEUE);
    master
        .hub
        .operator_subscribe(events)
        .await
        .map_err(|_| crate::agent_views::read::ViewUnavailable::SessionsNotOpen)?;
    let period = Duration::from_secs_f64(HEARTBEAT_INTERVAL_SECS);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let body = futures::stream::unfold((receiver, ticks), |(mut events, mut ticks)| async move {
        let event = tokio::select! {
            event = events.recv() => event?,
            _ = ticks.tick() => heartbeat(),
        };
        let bytes = Bytes::from(record(&event, Format::Json));
        Some((Ok::<_, Infallible>(bytes), (events, ticks)))
    });
    let mut response = Response::new(Body::from_stream(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
