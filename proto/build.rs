//! Compiles the .proto files with protox (pure Rust), so a fresh machine
//! builds with cargo alone: no system `protoc`. The compiled descriptors
//! are also written to `OUT_DIR/file_descriptor_set.bin`: the JSON codec
//! (`json.rs`) walks messages by them.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=protos");
    let files = protox::compile(
        [
            "protos/mesos/v1/mesos.proto",
            "protos/mesos/v1/master/master.proto",
            "protos/mesos/v1/executor/executor.proto",
            "protos/mesos/v1/scheduler/scheduler.proto",
            "protos/mesoraft/raft.proto",
            "protos/mesoraft/agent.proto",
        ],
        ["protos"],
    )?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("file_descriptor_set.bin"),
        files.encode_to_vec(),
    )?;
    let mut config = tonic_prost_build::Config::new();
    // `prost::Name` on every message: the JSON codec finds a message's
    // descriptor by its full name.
    config.enable_type_names();
    tonic_prost_build::configure()
        // Deterministic encoding: the registry stores these messages and
        // replicas must produce identical bytes for identical state.
        .btree_map(".")
        // Small initial buffers per call (see `codec.rs`).
        .codec_path("crate::codec::LeanCodec")
        .compile_fds_with_config(files, config)?;
    Ok(())
}
