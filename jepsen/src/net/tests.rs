//! Real namespaces (skipped unless root with working `ip netns`): every
//! partition shape is applied and probed with TCP connects from every node
//! to every node; the connections that fail must be exactly the recorded
//! cuts, connections the other way must carry data both ways, the harness
//! is never cut off, heal restores everything, teardown leaves nothing.

use super::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};

use grudge::{cut_pairs, Grudge};

const PROBE: Duration = Duration::from_millis(400);

/// Echo servers on every node's master address, inside its namespace.
struct Echo {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Echo {
    /// On every master's and every agent's address.
    fn start(net: &Net) -> Echo {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let places: Vec<&NetNode> = net.nodes.values().chain(net.agents.values()).collect();
        for node in &places {
            let addr: SocketAddr = node.addr().parse().unwrap();
            let (stop, ready) = (stop.clone(), ready_tx.clone());
            let ns = node.netns.clone().unwrap();
            threads.push(in_netns(&ns, move || {
                let l = TcpListener::bind(addr).unwrap();
                l.set_nonblocking(true).unwrap();
                ready.send(()).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    match l.accept() {
                        Ok((mut s, _)) => {
                            s.set_nonblocking(false).unwrap();
                            s.set_read_timeout(Some(PROBE)).unwrap();
                            let mut buf = [0u8; 16];
                            if let Ok(n) = s.read(&mut buf) {
                                let _ = s.write_all(&buf[..n]);
                            }
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            }));
        }
        for _ in &places {
            ready_rx.recv().unwrap();
        }
        Echo { stop, threads }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Probes until the cut pairs are `expected` or `limit` passes; returns the
/// last probe. A probe can only over-report cuts (a connect that times out
/// on a loaded machine looks cut; a cut pair never connects), so retrying
/// until the expected set shows up cannot hide a missing cut: it persists
/// and the caller's assertion fails with it.
fn probe_settled(net: &Net, expected: &BTreeSet<(u64, u64)>) -> BTreeSet<(u64, u64)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let probed = net.probe(PROBE).unwrap();
        if probed == *expected || std::time::Instant::now() >= deadline {
            return probed;
        }
    }
}

/// Whether bytes sent from `from`'s namespace to `to` come back.
fn echoes(net: &Net, from: u64, to: u64) -> bool {
    let addr: SocketAddr = net.node(to).addr().parse().unwrap();
    in_netns(&net.node(from).netns.clone().unwrap(), move || {
        let Ok(mut s) = TcpStream::connect_timeout(&addr, PROBE) else {
            return false;
        };
        s.set_read_timeout(Some(PROBE)).unwrap();
        let mut back = [0u8; 4];
        s.write_all(b"ping").is_ok() && s.read_exact(&mut back).is_ok() && &back == b"ping"
    })
    .join()
    .unwrap()
    .unwrap()
}

fn shapes(ids: &[u64]) -> Vec<(&'static str, Grudge)> {
    vec![
        ("halves", grudge::halves(ids)),
        ("isolate", grudge::isolate(ids[0], ids)),
        ("ring", grudge::majorities_ring(ids)),
        ("bridge", grudge::bridge(ids)),
        ("one-way", grudge::one_way(ids[0], ids[1])),
    ]
}

fn exercise(method: MethodWant, n: u64) {
    let slot = Slot::acquire().unwrap();
    let k = slot.index;
    if let Some(reason) = namespaces_unusable(k) {
        eprintln!("skipping: {reason}");
        return;
    }
    let ids: Vec<u64> = (1..=n).collect();
    let net = match Net::setup(slot, &ids, &[], NetWant::Namespaces, method) {
        Ok(n) => n,
        Err(e) if method == MethodWant::Iptables => {
            eprintln!("skipping iptables: {e}");
            return;
        }
        Err(e) => panic!("{e:#}"),
    };
    assert!(net.is_namespaced());
    let echo = Echo::start(&net);
    assert!(
        probe_settled(&net, &BTreeSet::new()).is_empty(),
        "nothing cut at first"
    );

    for (name, g) in shapes(&ids) {
        if let Err(why) = net.can_make(&g) {
            assert_eq!(method, MethodWant::Routes, "{name}: {why}");
            assert!(
                !grudge::is_symmetric(&g),
                "{name}: symmetric shapes always work"
            );
            assert!(net.apply(&g).is_err(), "{name}: refused, not half-made");
            assert!(net.cut_now().is_empty());
            continue;
        }
        net.apply(&g).unwrap();
        let recorded: BTreeSet<(u64, u64)> = cut_pairs(&g).into_iter().collect();
        assert_eq!(net.cut_now(), recorded, "{name}: bookkeeping");
        let probed = probe_settled(&net, &recorded);
        assert_eq!(probed, recorded, "{name} ({n} nodes): probed cuts differ");
        // A pair cut one way only still talks both ways on connections the
        // other side opens.
        for &(from, to) in &recorded {
            if !recorded.contains(&(to, from)) {
                assert!(
                    echoes(&net, to, from),
                    "{name}: {to} -> {from} carries data"
                );
            }
        }
        for node in &ids {
            let addr: SocketAddr = net.node(*node).addr().parse().unwrap();
            assert!(
                tcp_reaches(addr, PROBE),
                "{name}: the harness is never partitioned"
            );
        }
        net.remove(&g).unwrap();
        assert!(net.cut_now().is_empty(), "{name}");
        assert!(
            probe_settled(&net, &BTreeSet::new()).is_empty(),
            "{name}: healed"
        );
    }

    // Overlapping partitions: removing one keeps the other's cuts.
    let a = grudge::isolate(1, &ids);
    let b = grudge::halves(&ids);
    net.apply(&a).unwrap();
    net.apply(&b).unwrap();
    net.remove(&a).unwrap();
    let left: BTreeSet<(u64, u64)> = cut_pairs(&b).into_iter().collect();
    assert_eq!(probe_settled(&net, &left), left);
    net.heal().unwrap();
    assert!(
        probe_settled(&net, &BTreeSet::new()).is_empty(),
        "heal removes everything"
    );

    drop(echo);
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
fn every_shape_matches_its_probe_with_iptables_3_and_5_nodes() {
    exercise(MethodWant::Iptables, 3);
    exercise(MethodWant::Iptables, 5);
}

#[test]
fn symmetric_shapes_match_their_probe_with_routes() {
    exercise(MethodWant::Routes, 3);
    exercise(MethodWant::Routes, 5);
}

#[test]
fn loopback_addresses_are_distinct() {
    let slot = Slot::acquire().unwrap();
    let net = Net::setup(slot, &[1, 2, 3], &[], NetWant::Loopback, MethodWant::Auto).unwrap();
    assert!(!net.is_namespaced());
    let addrs: std::collections::BTreeSet<String> = net.nodes.values().map(|n| n.addr()).collect();
    assert_eq!(addrs.len(), 3);
    assert!(
        net.apply(&grudge::one_way(1, 2)).is_err(),
        "no partitions on loopback"
    );
    net.heal().unwrap();
}

/// Probes an agent's cut until it shows `want` (None: not cut) or 10 s
/// pass; returns the last probe (a probe can only over-report cuts).
fn probe_agent_settled(net: &Net, want: Option<agent_cuts::AgentCut>) -> agent_cuts::AgentProbe {
    let masters: Vec<u64> = net.nodes.keys().copied().collect();
    let all: BTreeSet<u64> = masters.iter().copied().collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let p = net.probe_agent(1, PROBE).unwrap();
        let settled = match want {
            Some(cut) => p.shows(cut, &masters),
            None => p.agent_reaches == all && p.reach_agent == all,
        };
        if settled || std::time::Instant::now() >= deadline {
            return p;
        }
    }
}

#[test]
fn agent_cuts_match_their_probes_and_leave_nothing() {
    use agent_cuts::AgentCut;
    let slot = Slot::acquire().unwrap();
    let k = slot.index;
    if let Some(reason) = namespaces_unusable(k) {
        eprintln!("skipping: {reason}");
        return;
    }
    let net = match Net::setup(
        slot,
        &[1, 2, 3],
        &[1],
        NetWant::Namespaces,
        MethodWant::Iptables,
    ) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("skipping (needs iptables): {e:#}");
            return;
        }
    };
    assert_eq!(net.agents[&1].ip, agent_ip(k, 1));
    assert!(net.can_cut_agents().is_ok());
    let echo = Echo::start(&net);
    let masters = [1, 2, 3];
    let p = probe_agent_settled(&net, None);
    assert_eq!(p.agent_reaches.len(), 3, "nothing cut at first: {p:?}");

    for cut in [AgentCut::Both, AgentCut::AnswersLost] {
        net.cut_agent(1, cut).unwrap();
        assert!(net.cut_agent(1, cut).is_err(), "one cut per agent");
        let p = probe_agent_settled(&net, Some(cut));
        assert!(p.shows(cut, &masters), "{cut:?}: {p:?}");
        // The masters' partitions are untouched, and the harness always
        // reaches the agent.
        assert!(net.cut_now().is_empty());
        let agent: SocketAddr = net.agents[&1].addr().parse().unwrap();
        assert!(
            tcp_reaches(agent, PROBE),
            "{cut:?}: the harness reaches the agent"
        );
        net.heal_agent(1).unwrap();
        let p = probe_agent_settled(&net, None);
        assert_eq!(p.agent_reaches.len(), 3, "{cut:?} healed: {p:?}");
        assert_eq!(p.reach_agent.len(), 3, "{cut:?} healed: {p:?}");
    }
    // The final heal flushes agent cuts too.
    net.cut_agent(1, AgentCut::Both).unwrap();
    net.heal().unwrap();
    let p = probe_agent_settled(&net, None);
    assert_eq!(p.agent_reaches.len(), 3, "heal removes agent cuts: {p:?}");
    net.cut_agent(1, AgentCut::AnswersLost).unwrap();

    drop(echo);
    drop(net);
    let left = ip(&["netns", "list"]).unwrap();
    assert!(
        !left.lines().any(|l| l.starts_with(&format!("jep{k}a"))),
        "agent namespaces left: {left}"
    );
}
