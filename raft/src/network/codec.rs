//! JSON framing of openraft messages inside `RaftPayload`.
//!
//! Snapshot chunk bytes travel in the separate `data` field: as JSON they
//! would be an array of numbers, four times larger and slow to parse.

use mesoraft_proto::raft::RaftPayload;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::TypeConfig;

pub type InstallSnapshotRequest = openraft::raft::InstallSnapshotRequest<TypeConfig>;

pub fn encode<T: Serialize>(value: &T) -> Result<RaftPayload, serde_json::Error> {
    Ok(RaftPayload {
        payload: serde_json::to_vec(value)?,
        data: Vec::new(),
    })
}

pub fn decode<T: DeserializeOwned>(msg: &RaftPayload) -> Result<T, serde_json::Error> {
    serde_json::from_slice(&msg.payload)
}

pub fn encode_snapshot_chunk(
    mut req: InstallSnapshotRequest,
) -> Result<RaftPayload, serde_json::Error> {
    let data = std::mem::take(&mut req.data);
    Ok(RaftPayload {
        payload: serde_json::to_vec(&req)?,
        data,
    })
}

pub fn decode_snapshot_chunk(
    msg: RaftPayload,
) -> Result<InstallSnapshotRequest, serde_json::Error> {
    let mut req: InstallSnapshotRequest = serde_json::from_slice(&msg.payload)?;
    req.data = msg.data;
    Ok(req)
}
