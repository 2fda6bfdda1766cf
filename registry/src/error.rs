//! Why a registry command was refused.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, thiserror::Error, Serialize, Deserialize)]
pub enum RegistryError {
    #[error("placeholder")]
    Placeholder,
}
