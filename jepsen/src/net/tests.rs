//! Real namespaces (skipped unless root with working `ip netns`): nodes
//! reach each other and the harness; partitions cut node-to-node traffic
//! but never the harness; heal restores it; teardown leaves nothing.

use super::*;
use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Runs `f` on a thread that has entered network namespace `ns`.
fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).expect("namespace file");
        // SAFETY: setns on this thread only, with a valid descriptor.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns failed");
        f()
    })
}

fn connects(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(700)).is_ok()
}

fn connects_from(ns: &str, addr: SocketAddr) -> bool {
    in_netns(ns, move || connects(addr)).join().unwrap()
}

fn exercise(method: MethodWant) {
    let slot = Slot::acquire().unwrap();
    let k = slot.index;
    if let Some(reason) = namespaces_unusable(k) {
        eprintln!("skipping: {reason}");
        return;
    }
    let net = match Net::setup(slot, &[1, 2, 3], NetWant::Namespaces, method) {
        Ok(n) => n,
        Err(e) if method == MethodWant::Iptables => {
            eprintln!("skipping iptables: {e}");
            return;
        }
        Err(e) => panic!("{e:#}"),
    };
    assert!(net.is_namespaced());
    let target: SocketAddr = format!("{}:7000", node_ip(k, 1)).parse().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = in_netns(&ns_name(k, 1), move || {
        let l = TcpListener::bind(target).unwrap();
        l.set_nonblocking(true).unwrap();
        ready_tx.send(()).unwrap();
        let mut held = Vec::new();
        while !stop2.load(Ordering::Relaxed) {
            if let Ok((s, _)) = l.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    ready_rx.recv().unwrap();

    let n2 = ns_name(k, 2);
    let n3 = ns_name(k, 3);
    assert!(connects(target), "harness reaches node 1");
    assert!(connects_from(&n2, target), "node 2 reaches node 1");

    net.apply(&grudge::isolate(1, &[1, 2, 3])).unwrap();
    assert!(!connects_from(&n2, target), "node 2 cut from node 1");
    assert!(!connects_from(&n3, target), "node 3 cut from node 1");
    assert!(connects(target), "the harness is never partitioned");

    net.heal().unwrap();
    assert!(connects_from(&n2, target), "healed");

    // One way: node 1 drops node 2's packets; node 3 unaffected.
    net.apply(&grudge::one_way(2, 1)).unwrap();
    assert!(!connects_from(&n2, target));
    assert!(connects_from(&n3, target));
    net.heal().unwrap();

    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    drop(net);
    let left = ip(&["netns", "list"]).unwrap();
    assert!(
        !left.lines().any(|l| l.starts_with(&format!("jep{k}n"))),
        "namespaces left: {left}"
    );
    assert!(
        ip(&["link", "show", &bridge_name(k)]).is_err(),
        "bridge left"
    );
}

#[test]
fn namespaces_partition_and_heal_with_routes() {
    exercise(MethodWant::Routes);
}

#[test]
fn namespaces_partition_and_heal_with_iptables() {
    exercise(MethodWant::Iptables);
}

#[test]
fn loopback_addresses_are_distinct() {
    let slot = Slot::acquire().unwrap();
    let net = Net::setup(slot, &[1, 2, 3], NetWant::Loopback, MethodWant::Auto).unwrap();
    assert!(!net.is_namespaced());
    let addrs: std::collections::BTreeSet<String> = net.nodes.values().map(|n| n.addr()).collect();
    assert_eq!(addrs.len(), 3);
    assert!(net.drop_from(1, 2).is_err(), "no partitions on loopback");
    net.heal().unwrap();
}
