//! Status updates, at least once (SPEC section 5).
//!
//! - [`manager`]: the per-task streams, their retries and acknowledgements
//!   (pure); a checkpointing framework's streams are logged in the work
//!   dir by the checkpoint module (`checkpoint::runtime`), and replayed from there after
//!   a restart.

pub mod manager;
