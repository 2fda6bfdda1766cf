//! The agent's checkpoint in its work dir: which agent ran here, with
//! what info, under which boot (SPEC section 7).
//!
//! * [`layout`]: the paths (`meta/agents/latest`, `meta/agents/<id>/agent.info`,
//!   `meta/boot_id`) and the agent id rules for them.
//! * [`record`]: how a protobuf message is framed in a file so damage is
//!   detected.
//! * [`store`]: reading (absent is `None`, damage an error with the path
//!   and the remedy) and durable writing.
//! * [`boot_id`]: the running system's boot id.
//! * [`runtime`]: what checkpointing frameworks run here (frameworks,
//!   executors, tasks, status update logs), for recovery.

pub mod boot_id;
pub mod layout;
pub mod record;
pub mod runtime;
pub mod store;

pub use boot_id::{current_boot_id, BootIdError};
pub use layout::WorkDir;
pub use store::{
    load, read_agent_info, read_boot_id, read_latest, save_agent, save_boot_id, Checkpoint,
    CheckpointError, CheckpointedAgent, Corruption,
};
