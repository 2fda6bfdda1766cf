//! The cluster secret as it travels: the header that carries it and how
//! its token is derived. Masters check it (`mesoraft-raft`); raftctl and
//! other tools send it (`mesoraft-ctl`). One definition, so the two sides
//! cannot drift apart.

/// gRPC metadata / HTTP header carrying the token.
pub const AUTH_HEADER: &str = "x-mesoraft-auth";

/// Prefixed to the secret before hashing (SHA-256), so the token is of use
/// for this purpose only. The secret file's content never travels.
pub const TOKEN_DOMAIN: &[u8] = b"mesoraft cluster secret v1\0";

/// Shorter secrets are refused: a guessable secret protects nothing.
pub const MIN_SECRET_BYTES: usize = 16;

/// Longer files are refused: a secret file is a line, not a document.
pub const MAX_SECRET_BYTES: usize = 4096;
