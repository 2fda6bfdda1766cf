//! Compiles the .proto files with protox (pure Rust), so a fresh machine
//! builds with cargo alone: no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=protos");
    let files = protox::compile(
        [
            "protos/mesos/v1/mesos.proto",
            "protos/mesoraft/raft.proto",
            "protos/mesoraft/agent.proto",
        ],
        ["protos"],
    )?;
    tonic_prost_build::configure()
        // Deterministic encoding: the registry stores these messages and
        // replicas must produce identical bytes for identical state.
        .btree_map(".")
        .compile_fds(files)?;
    Ok(())
}
