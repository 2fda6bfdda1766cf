//! The simulator's connections: one HTTP/2 connection (a tonic `Channel`)
//! per master and group of `agents_per_connection` agents, shared by the
//! group's streams, so tens of thousands of sessions do not need as many
//! sockets on either side (the simulator and the master each stay under
//! `ulimit -n`, and loopback's ephemeral ports toward one master address
//! are not exhausted). Each agent still has its own gRPC stream, so the
//! master sees one session per agent.
//!
//! With one agent per connection every session opens a connection of its
//! own and closes it when the session ends, exactly as `mesoraft agent`
//! does: the realistic setting for measuring connection costs.
//!
//! The master's HTTP/2 server takes at most [`MAX_STREAMS_PER_CONNECTION`]
//! streams per connection (hyper's default); more agents per connection
//! would wait for a stream slot, so the flag is capped below it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::masters::MasterAddr;

/// hyper's default limit of concurrent streams per HTTP/2 connection,
/// which the master's server keeps.
pub const MAX_STREAMS_PER_CONNECTION: usize = 200;
/// How long a connection attempt may take (as `mesoraft agent`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// HTTP/2 keepalive: finds a dead connection even between pings.
const KEEPALIVE: Duration = Duration::from_secs(5);

pub struct ChannelPool {
    agents_per_connection: usize,
    shared: Mutex<HashMap<(MasterAddr, usize), Channel>>,
}

/// Why no channel could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad master address {addr}: {problem}")]
pub struct BadAddress {
    pub addr: String,
    pub problem: String,
}

impl ChannelPool {
    pub fn new(agents_per_connection: usize) -> Self {
        Self {
            agents_per_connection: agents_per_connection.max(1),
            shared: Mutex::new(HashMap::new()),
        }
    }

    /// The channel agent `index` uses to reach `addr`. Channels connect
    /// lazily and reconnect on the next call after a failure.
    pub fn channel(&self, addr: &MasterAddr, index: usize) -> Result<Channel, BadAddress> {
        if self.agents_per_connection == 1 {
            return endpoint(addr).map(|e| e.connect_lazy());
        }
        let key = (addr.clone(), group_of(index, self.agents_per_connection));
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = shared.get(&key) {
            return Ok(channel.clone());
        }
        let channel = endpoint(addr)?.connect_lazy();
        shared.insert(key, channel.clone());
        Ok(channel)
    }
}

/// The group (and so the connection) agent `index` belongs to.
pub fn group_of(index: usize, agents_per_connection: usize) -> usize {
    index / agents_per_connection.max(1)
}

fn endpoint(addr: &MasterAddr) -> Result<Endpoint, BadAddress> {
    Endpoint::from_shared(format!("http://{addr}"))
        .map(|e| {
            e.connect_timeout(CONNECT_TIMEOUT)
                .http2_keep_alive_interval(KEEPALIVE)
                .keep_alive_timeout(KEEPALIVE)
                .tcp_nodelay(true)
        })
        .map_err(|e| BadAddress {
            addr: addr.to_string(),
            problem: e.to_string(),
        })
}

/// Raises this process's soft limit of open files to its hard limit (one
/// socket per connection); returns the limit now in force.
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_grouped_by_consecutive_index() {
        assert_eq!(group_of(0, 100), 0);
        assert_eq!(group_of(99, 100), 0);
        assert_eq!(group_of(100, 100), 1);
        assert_eq!(group_of(7, 1), 7);
        assert_eq!(group_of(7, 0), 7);
    }
}
