//! Whether the group accepts this master as the member it claims to be.

use serde::{Deserialize, Serialize};

use super::short;
use crate::NodeId;

/// This master's standing, as learnt from its peers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Standing {
    /// Nothing says otherwise: it takes part normally.
    #[default]
    Member,
    /// A peer addressed this master's id to another incarnation: the work
    /// dir this master runs on is not the one of the member the group
    /// knows (lost, replaced). Requests for the old incarnation are refused.
    Superseded {
        /// The incarnation the group holds the slot for.
        known_as: String,
        /// The peer that said so.
        reported_by: NodeId,
    },
    /// The group saw this incarnation in a newer state than its work dir
    /// holds (restored from an older copy): it takes no part at all.
    Forked { reason: String },
}

impl Standing {
    /// What the operator must know and do, when the master cannot take
    /// part as the member it was.
    pub fn needs_readding(&self, id: NodeId, mine: &str) -> Option<String> {
        match self {
            Standing::Member => None,
            Standing::Superseded {
                known_as,
                reported_by,
            } => Some(format!(
                "the group holds master {id} as incarnation {} (said master {reported_by}), but \
                 this master is incarnation {}: its work dir was lost or replaced, so it must not \
                 vote or acknowledge entries as that member. Remove it and add it again: \
                 `raftctl members add --replace {id} ADDRESS`",
                short(known_as),
                short(mine)
            )),
            Standing::Forked { reason } => Some(format!(
                "{reason}. It takes no part in the group. Stop it, empty its work dir, start it \
                 again and run `raftctl members add --replace {id} ADDRESS`"
            )),
        }
    }

    pub fn is_forked(&self) -> bool {
        matches!(self, Standing::Forked { .. })
    }
}
