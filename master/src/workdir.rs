//! The work dir's own record (`master.json`): which master id it belongs
//! to and, once learnt, the cluster id. Written durably (temp, fsync,
//! rename, fsync dir) before the master relies on it.

use std::path::Path;

use anyhow::{bail, Context};
use mesoraft_proto::durable;
use mesoraft_raft::NodeId;
use serde::{Deserialize, Serialize};

/// What a work dir says about whose it is.
#[derive(Serialize, Deserialize)]
struct NodeMeta {
    id: NodeId,
    /// The cluster this work dir belongs to, once learnt. Kept here rather
    /// than read from the registry because the registry at start-up holds
    /// only what the snapshot and the locally known commit index cover.
    #[serde(default)]
    cluster_id: Option<String>,
}

pub const META_FILE: &str = "master.json";

/// Records the cluster id in the work dir (once, when first learnt).
pub fn record_cluster_id(dir: &Path, id: NodeId, cluster_id: &str) -> std::io::Result<()> {
    let path = dir.join(META_FILE);
    let bytes = serde_json::to_vec(&NodeMeta {
        id,
        cluster_id: Some(cluster_id.to_string()),
    })
    .map_err(std::io::Error::other)?;
    durable::write_file_durable(&path, &dir.join(format!("{META_FILE}.tmp")), &bytes)
}

/// Refuses a work dir written by a master with another `--id`; returns the
/// cluster id recorded in it, if any.
pub fn check_node_meta(dir: &Path, id: NodeId) -> anyhow::Result<Option<String>> {
    let path = dir.join(META_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let meta: NodeMeta = serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is corrupt; restore it or remove the work dir",
                    path.display()
                )
            })?;
            if meta.id != id {
                bail!(
                    "work dir {} belongs to master {}, not --id {id}; use that id or another work dir",
                    dir.display(),
                    meta.id
                );
            }
            Ok(meta.cluster_id)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let tmp = dir.join(format!("{META_FILE}.tmp"));
            let bytes = serde_json::to_vec(&NodeMeta {
                id,
                cluster_id: None,
            })?;
            durable::write_file_durable(&path, &tmp, &bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}
