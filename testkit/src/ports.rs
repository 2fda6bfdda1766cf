//! Free ports for masters and agents that are restarted on the same
//! address (`mesoraft local`, the end-to-end tests).
//!
//! `bind(:0)` hands out a port from the kernel's ephemeral range, the same
//! range outgoing connections take their local port from. While a master
//! is down, any client or peer connection may take its port, and the
//! restart fails with "address in use". Ports below that range are never
//! taken that way, so they are chosen from there.

use std::io;
use std::net::{IpAddr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};

/// Below this, ports belong to well-known services more often.
const LOWEST: u16 = 10_000;
/// Linux's default when the range cannot be read.
const DEFAULT_EPHEMERAL_LOW: u16 = 32_768;

/// Successive calls in one process walk on from a random start, so two
/// calls never return one port before the first is bound.
static CALLS: AtomicU32 = AtomicU32::new(0);

/// A port on `ip` that nothing listens on now and that outgoing
/// connections will not take.
pub fn free_listen_port(ip: IpAddr) -> io::Result<u16> {
    let low = ephemeral_range_start();
    let Some(span) = low.checked_sub(LOWEST).filter(|s| *s > 0) else {
        // No room below the ephemeral range: fall back to the kernel's pick.
        return TcpListener::bind((ip, 0))?.local_addr().map(|a| a.port());
    };
    let start = random_start().wrapping_add(CALLS.fetch_add(1, Ordering::Relaxed));
    (0..u32::from(span))
        .map(|i| candidate(start, i, span))
        .find(|port| TcpListener::bind((ip, *port)).is_ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("every port from {LOWEST} to {low} on {ip} is taken"),
            )
        })
}

/// The first port outgoing connections may take on this machine.
fn ephemeral_range_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| ephemeral_low(&text))
        .unwrap_or(DEFAULT_EPHEMERAL_LOW)
}

/// The first port of the ephemeral range, from the text of
/// `ip_local_port_range` ("32768\t60999").
fn ephemeral_low(text: &str) -> Option<u16> {
    text.split_whitespace().next()?.parse().ok()
}

/// The `i`-th port tried, walking up from `start` and wrapping within
/// `[LOWEST, LOWEST + span)`.
fn candidate(start: u32, i: u32, span: u16) -> u16 {
    let span = u32::from(span);
    // Both remainders are below span, a u16: no overflow, no truncation.
    LOWEST + ((start % span + i % span) % span) as u16
}

/// Different in every process: concurrent test binaries start their walks
/// far apart.
fn random_start() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_low_end_of_the_range() {
        assert_eq!(ephemeral_low("32768\t60999\n"), Some(32768));
        assert_eq!(ephemeral_low("1024 65535"), Some(1024));
        assert_eq!(ephemeral_low(""), None);
        assert_eq!(ephemeral_low("x 1"), None);
    }

    #[test]
    fn candidates_stay_below_the_ephemeral_range_and_visit_each_port_once() {
        let span = 50;
        let ports: std::collections::BTreeSet<u16> =
            (0..50).map(|i| candidate(u32::MAX - 7, i, span)).collect();
        assert_eq!(ports.len(), 50);
        assert_eq!(ports.first(), Some(&LOWEST));
        assert_eq!(ports.last(), Some(&(LOWEST + span - 1)));
    }

    #[test]
    fn successive_ports_differ_and_are_free() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = free_listen_port(ip).unwrap();
        let b = free_listen_port(ip).unwrap();
        assert_ne!(a, b);
        let low = ephemeral_range_start();
        if low > LOWEST {
            assert!((LOWEST..low).contains(&a), "{a} is not below {low}");
        }
        TcpListener::bind((ip, b)).unwrap();
    }
}
