//! The checks a command must pass before it is proposed: each is a rule
//! of its own module (sizes in `limits`, weights in `weights`), gathered
//! here so the proposer has one call and no rule module depends on
//! another's.

use crate::limits::{check_agent_info, check_framework_info, check_prune_lists};
use crate::weights::validate_weights;
use crate::{Command, RegistryError};

/// Every check of `command` that does not depend on the registry's state:
/// sizes, counts, and the form of role names and weights. `apply` runs
/// the same functions (and the state-dependent rules after them), so a
/// command that passes here can still be refused, never the reverse.
/// Meant for the proposer: a command refused here never enters the log.
pub fn check_command(command: &Command) -> Result<(), RegistryError> {
    match command {
        Command::AdmitAgent { info }
        | Command::UpdateAgent { info }
        | Command::MarkReachable { info } => check_agent_info(info),
        Command::AddFramework { info, .. } | Command::UpdateFramework { info, .. } => {
            check_framework_info(info)
        }
        Command::Prune { unreachable, gone } => check_prune_lists(unreachable, gone),
        Command::UpdateWeights { weights } => validate_weights(weights).map(drop),
        Command::InitCluster { .. }
        | Command::MarkUnreachable { .. }
        | Command::MarkGone { .. }
        | Command::RemoveAgent { .. }
        | Command::CompleteFramework { .. } => Ok(()),
    }
}
