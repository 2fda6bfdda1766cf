//! openraft's own storage test suite against a fresh directory per test.

use openraft::testing::{StoreBuilder, Suite};
use tempfile::TempDir;

use crate::storage::{open, LogStore, StateMachineStore};
use crate::{StorageError, TypeConfig};

struct TempDirBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for TempDirBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, sm) = open(dir.path()).await?;
        // The suite checks the log alone and purges without snapshots.
        Ok((dir, log.without_purge_guard(), sm))
    }
}

/// `test_all` runs each case on its own tokio runtime, so this is a plain
/// (non-async) test.
#[test]
fn openraft_storage_suite() -> Result<(), StorageError> {
    Suite::test_all(TempDirBuilder)
}
