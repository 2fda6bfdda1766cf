//! The registry state and `apply`.

use serde::{Deserialize, Serialize};

use crate::{Command, CommandResult};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {}

impl Registry {
    pub fn apply(&mut self, _command: &Command) -> CommandResult {
        Ok(crate::Response::Unchanged)
    }
}
