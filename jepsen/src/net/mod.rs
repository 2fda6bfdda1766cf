//! The network the nodes live on, and partition primitives.
//!
//! Namespace mode (root, `ip` available, `ip netns` works): node `i` lives in
//! namespace `jepKnI` with address 10.77.K.I/24 on a veth whose other end is
//! plugged into bridge `jepKbr` (10.77.K.254, the harness's own address, so
//! clients in the root namespace reach every node and are never partitioned
//! from them). K is the run's slot.
//!
//! A partition is a set of directed *cuts*: `(from, to)` means connections
//! that `from` opens to `to`'s master port are dropped. TCP needs both
//! directions, so dropping packets per pair would break connections either
//! side opens; cutting by who opens the connection keeps one-way shapes
//! one-way: `to` can still open connections to `from` and talk both ways
//! on them. Methods:
//! - iptables (preferred): in `to`'s namespace,
//!   `INPUT -p tcp -s <from> --dport <to's port> -j DROP`, a silent drop
//!   like a real partition; any cut shape.
//! - blackhole routes (no iptables): a route in `to`'s namespace to
//!   `from`'s address drops everything between the two, whoever opened the
//!   connection, so only symmetric shapes can be made this way (the
//!   partition nemeses say so and are skipped otherwise).
//!
//! [`Net::probe`] checks what is really cut by opening a TCP connection
//! from every node to every node; the partition nemeses record its answer.
//!
//! Agents live beside the masters: agent `i` in namespace `jepKaI` with
//! address 10.77.K.(100+I) on the same bridge (so no agent address can be
//! a master's), or on 127.0.0.(100+i) with a free port in loopback mode.
//! Agent partitions are their own rules ([`agent_cuts`]).
//!
//! Loopback mode: node `i` listens on 127.0.0.(10+i) on a free port; only
//! process faults are possible.

pub mod agent_cuts;
pub mod grudge;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::cleanup::{self, Slot};
pub use grudge::Grudge;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum NetWant {
    /// Namespaces when possible, else loopback.
    Auto,
    Namespaces,
    Loopback,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MethodWant {
    /// iptables when it works inside the namespaces, else blackhole routes.
    Auto,
    Iptables,
    Routes,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Iptables,
    Routes,
}

#[derive(Clone, Debug)]
pub struct NetNode {
    pub id: u64,
    pub ip: String,
    pub port: u16,
    pub netns: Option<String>,
}

impl NetNode {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

pub struct Net {
    pub slot: Arc<Slot>,
    pub nodes: BTreeMap<u64, NetNode>,
    /// The agents' places, by agent number (1..=A).
    pub agents: BTreeMap<u64, NetNode>,
    /// None in loopback mode.
    pub method: Option<Method>,
    bridge: Option<String>,
    /// Why we are in loopback mode, when we are.
    pub loopback_reason: Option<String>,
    /// Cuts in force, `(from, to)`, with how many partitions want each.
    cuts: Mutex<BTreeMap<(u64, u64), usize>>,
    /// Agents cut off from the masters, and how.
    agent_cuts: Mutex<BTreeMap<u64, agent_cuts::AgentCut>>,
    teardown_id: Mutex<Option<u64>>,
}

/// Runs `ip ARGS`, failing with its stderr.
pub fn ip(args: &[&str]) -> anyhow::Result<String> {
    run("ip", args)
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn in_ns(ns: &str, program: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut all = vec!["netns", "exec", ns, program];
    all.extend_from_slice(args);
    ip(&all)
}

pub fn bridge_name(slot: u32) -> String {
    format!("jep{slot}br")
}

pub fn ns_name(slot: u32, id: u64) -> String {
    format!("jep{slot}n{id}")
}

fn veth_name(slot: u32, id: u64) -> String {
    format!("jep{slot}v{id}")
}

fn peer_name(slot: u32, id: u64) -> String {
    format!("jep{slot}p{id}")
}

pub fn node_ip(slot: u32, id: u64) -> String {
    format!("10.77.{slot}.{id}")
}

/// The first host byte of agent addresses: agent `i` is `.(AGENT_BASE+i)`.
pub const AGENT_BASE: u64 = 100;
/// The most agents a run can have (addresses up to .250; .254 is the host).
pub const MAX_AGENTS: usize = 150;
/// The port every agent listens on in namespace mode.
pub const AGENT_PORT: u16 = 5051;

pub fn agent_ns_name(slot: u32, agent: u64) -> String {
    format!("jep{slot}a{agent}")
}

pub fn agent_ip(slot: u32, agent: u64) -> String {
    node_ip(slot, AGENT_BASE + agent)
}

pub fn host_ip(slot: u32) -> String {
    format!("10.77.{slot}.254")
}

/// A free port on `ip` that outgoing connections will not take, so a
/// killed master restarts on it (loopback mode).
pub fn free_port(ip: &str) -> anyhow::Result<u16> {
    let addr: std::net::IpAddr = ip.parse().with_context(|| format!("{ip} is not an IP"))?;
    mesoraft_testkit::free_listen_port(addr).with_context(|| format!("no free port on {ip}"))
}

/// Why namespaces cannot be used here, if they cannot.
pub fn namespaces_unusable(slot: u32) -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root".into());
    }
    if let Err(e) = ip(&["-V"]) {
        return Some(format!("`ip` is not usable: {e}"));
    }
    let probe = format!("jep{slot}probe");
    let _ = ip(&["netns", "del", &probe]);
    if let Err(e) = ip(&["netns", "add", &probe]) {
        return Some(format!("`ip netns add` does not work: {e}"));
    }
    let exec = in_ns(&probe, "true", &[]);
    let _ = ip(&["netns", "del", &probe]);
    if let Err(e) = exec {
        return Some(format!("`ip netns exec` does not work: {e}"));
    }
    None
}

/// Removes every namespace and the bridge of a slot, killing processes
/// still inside. Idempotent; errors are ignored (objects may be gone).
pub fn remove_slot_objects(slot: u32) {
    let prefix = format!("jep{slot}");
    if let Ok(list) = ip(&["netns", "list"]) {
        for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
            let Some(rest) = name.strip_prefix(&prefix) else {
                continue;
            };
            // jepKnI, jepKaI or jepKprobe, but not jep1Xn.. when slot is 1.
            if !(rest.starts_with('n') || rest.starts_with('a') || rest.starts_with("probe")) {
                continue;
            }
            if let Ok(pids) = ip(&["netns", "pids", name]) {
                for pid in pids.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
                    // SAFETY: killing processes inside our own namespace.
                    unsafe {
                        libc::kill(pid, libc::SIGCONT);
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
            let _ = ip(&["netns", "del", name]);
        }
    }
    // A deleted namespace lives on in the kernel while orphaned TCP
    // sockets of killed masters still retransmit (up to minutes), and with
    // it the veth pair. Deleting our end frees the names for the next run.
    let veth_prefix = format!("jep{slot}v");
    if let Ok(links) = ip(&["-o", "link", "show"]) {
        for line in links.lines() {
            let Some(name) = line
                .split(':')
                .nth(1)
                .map(|n| n.trim().split('@').next().unwrap_or(""))
            else {
                continue;
            };
            let ours = name
                .strip_prefix(&veth_prefix)
                .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
            if ours {
                let _ = ip(&["link", "del", name]);
            }
        }
    }
    let bridge = bridge_name(slot);
    if ip(&["link", "show", &bridge]).is_ok() {
        let _ = ip(&["link", "del", &bridge]);
    }
}

/// Creates bridge, namespaces and veths of slot `k` (masters `ids`, agents
/// `agents`); returns the partition method to use.
fn create_objects(
    k: u32,
    ids: &[u64],
    agents: &[u64],
    method: MethodWant,
) -> anyhow::Result<Method> {
    let bridge = bridge_name(k);
    let host = format!("{}/24", host_ip(k));
    ip(&["link", "add", &bridge, "type", "bridge"])?;
    ip(&["addr", "add", &host, "dev", &bridge])?;
    ip(&["link", "set", &bridge, "up"])?;
    // Agents' links are numbered by their host byte, after the masters'.
    let places = ids.iter().map(|id| (ns_name(k, *id), *id)).chain(
        agents
            .iter()
            .map(|a| (agent_ns_name(k, *a), AGENT_BASE + *a)),
    );
    for (ns, host_byte) in places {
        let (veth, peer) = (veth_name(k, host_byte), peer_name(k, host_byte));
        let addr = format!("{}/24", node_ip(k, host_byte));
        ip(&["netns", "add", &ns])?;
        ip(&[
            "link", "add", &veth, "type", "veth", "peer", "name", &peer, "netns", &ns,
        ])?;
        ip(&["link", "set", &veth, "master", &bridge])?;
        ip(&["link", "set", &veth, "up"])?;
        ip(&["-n", &ns, "addr", "add", &addr, "dev", &peer])?;
        ip(&["-n", &ns, "link", "set", &peer, "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
    }
    let first = ns_name(k, ids[0]);
    let iptables_ok = in_ns(&first, "iptables", &["-w", "5", "-L", "INPUT", "-n"]).is_ok();
    Ok(match method {
        MethodWant::Iptables if !iptables_ok => {
            bail!("iptables requested but not usable inside the namespaces (apt-get install -y iptables)")
        }
        MethodWant::Iptables => Method::Iptables,
        MethodWant::Routes => Method::Routes,
        MethodWant::Auto if iptables_ok => Method::Iptables,
        MethodWant::Auto => Method::Routes,
    })
}

impl Net {
    /// The network of masters `ids` and agents `agents` (1..=A).
    pub fn setup(
        slot: Arc<Slot>,
        ids: &[u64],
        agents: &[u64],
        want: NetWant,
        method: MethodWant,
    ) -> anyhow::Result<Arc<Net>> {
        if agents.len() > MAX_AGENTS || agents.contains(&0) {
            bail!("agents are numbered 1..={MAX_AGENTS}");
        }
        let unusable = match want {
            NetWant::Loopback => Some("loopback requested (--net loopback)".to_string()),
            _ => namespaces_unusable(slot.index),
        };
        if let Some(reason) = unusable {
            if want == NetWant::Namespaces {
                bail!("network namespaces requested but unusable: {reason}");
            }
            return Self::loopback(slot, ids, agents, reason);
        }
        Self::namespaces(slot, ids, agents, method)
    }

    fn loopback(
        slot: Arc<Slot>,
        ids: &[u64],
        agents: &[u64],
        reason: String,
    ) -> anyhow::Result<Arc<Net>> {
        let mut agent_places = BTreeMap::new();
        for a in agents {
            let ip = format!("127.0.0.{}", AGENT_BASE + a);
            let port = free_port(&ip)?;
            agent_places.insert(
                *a,
                NetNode {
                    id: *a,
                    ip,
                    port,
                    netns: None,
                },
            );
        }
        let mut nodes = BTreeMap::new();
        for id in ids {
            let ip = format!("127.0.0.{}", 10 + id);
            let port = free_port(&ip)?;
            nodes.insert(
                *id,
                NetNode {
                    id: *id,
                    ip,
                    port,
                    netns: None,
                },
            );
        }
        Ok(Arc::new(Net {
            slot,
            nodes,
            agents: agent_places,
            method: None,
            bridge: None,
            loopback_reason: Some(reason),
            cuts: Mutex::new(BTreeMap::new()),
            agent_cuts: Mutex::new(BTreeMap::new()),
            teardown_id: Mutex::new(None),
        }))
    }

    fn namespaces(
        slot: Arc<Slot>,
        ids: &[u64],
        agents: &[u64],
        method: MethodWant,
    ) -> anyhow::Result<Arc<Net>> {
        let k = slot.index;
        remove_slot_objects(k);
        // Registered before anything is created, so that a crash half-way
        // still cleans up; a plain error cleans up right here.
        let teardown_id = cleanup::register_teardown(Arc::new(move || remove_slot_objects(k)));
        let chosen = match create_objects(k, ids, agents, method) {
            Ok(m) => m,
            Err(e) => {
                cleanup::unregister_teardown(teardown_id);
                remove_slot_objects(k);
                return Err(e);
            }
        };
        Ok(Arc::new(Net {
            slot,
            nodes: ids
                .iter()
                .map(|id| {
                    let node = NetNode {
                        id: *id,
                        ip: node_ip(k, *id),
                        port: 5050,
                        netns: Some(ns_name(k, *id)),
                    };
                    (*id, node)
                })
                .collect(),
            agents: agents
                .iter()
                .map(|a| {
                    let place = NetNode {
                        id: *a,
                        ip: agent_ip(k, *a),
                        port: AGENT_PORT,
                        netns: Some(agent_ns_name(k, *a)),
                    };
                    (*a, place)
                })
                .collect(),
            method: Some(chosen),
            bridge: Some(bridge_name(k)),
            loopback_reason: None,
            cuts: Mutex::new(BTreeMap::new()),
            agent_cuts: Mutex::new(BTreeMap::new()),
            teardown_id: Mutex::new(Some(teardown_id)),
        }))
    }

    pub fn is_namespaced(&self) -> bool {
        self.method.is_some()
    }

    pub fn describe(&self) -> String {
        match (&self.method, &self.loopback_reason) {
            (Some(m), _) => format!(
                "network namespaces on bridge {} (10.77.{}.0/24), partitions via {}",
                self.bridge.as_deref().unwrap_or("?"),
                self.slot.index,
                match m {
                    Method::Iptables => "iptables DROP",
                    Method::Routes => "blackhole routes",
                }
            ),
            (None, Some(r)) => format!("loopback (process faults only): {r}"),
            (None, None) => "loopback".into(),
        }
    }

    pub fn node(&self, id: u64) -> &NetNode {
        &self.nodes[&id]
    }

    /// Whether this network can make `g` (blackhole routes cannot cut
    /// one direction only).
    pub fn can_make(&self, g: &Grudge) -> Result<(), String> {
        match self.method {
            None => Err(format!(
                "partitions need network namespaces ({})",
                self.describe()
            )),
            Some(Method::Routes) if !grudge::is_symmetric(g) => {
                Err("this shape cuts one direction only, which needs iptables \
                 (blackhole routes cut both); apt-get install -y iptables"
                    .into())
            }
            Some(_) => Ok(()),
        }
    }

    fn cuts(&self) -> std::sync::MutexGuard<'_, BTreeMap<(u64, u64), usize>> {
        self.cuts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The iptables rule spec (after -A/-D INPUT) of one cut.
    fn rule(&self, from: u64, to: u64) -> Vec<String> {
        [
            "-p",
            "tcp",
            "-s",
            &self.node(from).ip,
            "--dport",
            &self.node(to).port.to_string(),
            "-j",
            "DROP",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn add_cut(&self, method: Method, from: u64, to: u64) -> anyhow::Result<()> {
        let ns = self.ns_of(to)?;
        match method {
            Method::Iptables => {
                let mut args = vec!["-w".to_string(), "5".into(), "-A".into(), "INPUT".into()];
                args.extend(self.rule(from, to));
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                in_ns(&ns, "iptables", &args)?;
            }
            Method::Routes => {
                let dst = format!("{}/32", self.node(from).ip);
                ip(&["-n", &ns, "route", "add", "blackhole", &dst])?;
            }
        }
        Ok(())
    }

    fn remove_cut(&self, method: Method, from: u64, to: u64) -> anyhow::Result<()> {
        let ns = self.ns_of(to)?;
        match method {
            Method::Iptables => {
                let mut args = vec!["-w".to_string(), "5".into(), "-D".into(), "INPUT".into()];
                args.extend(self.rule(from, to));
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                in_ns(&ns, "iptables", &args)?;
            }
            Method::Routes => {
                let dst = format!("{}/32", self.node(from).ip);
                ip(&["-n", &ns, "route", "del", "blackhole", &dst])?;
            }
        }
        Ok(())
    }

    fn ns_of(&self, id: u64) -> anyhow::Result<String> {
        self.node(id)
            .netns
            .clone()
            .with_context(|| format!("node {id} has no network namespace"))
    }

    /// Puts every cut of `g` in place, all or nothing: when one fails, the
    /// ones this call added are removed again before the error returns.
    pub fn apply(&self, g: &Grudge) -> anyhow::Result<()> {
        self.can_make(g).map_err(anyhow::Error::msg)?;
        let method = self.method.context("no partition method")?;
        let mut cuts = self.cuts();
        let pairs = grudge::cut_pairs(g);
        let mut added: Vec<(u64, u64)> = Vec::new();
        for &(from, to) in pairs.iter().filter(|p| !cuts.contains_key(p)) {
            if let Err(e) = self.add_cut(method, from, to) {
                for (f, t) in added.into_iter().rev() {
                    let _ = self.remove_cut(method, f, t);
                }
                return Err(e.context(format!("cutting {from} -> {to}")));
            }
            added.push((from, to));
        }
        for pair in pairs {
            *cuts.entry(pair).or_insert(0) += 1;
        }
        Ok(())
    }

    /// Takes back one `apply` of `g` (cuts other partitions still want stay).
    pub fn remove(&self, g: &Grudge) -> anyhow::Result<()> {
        let Some(method) = self.method else {
            return Ok(());
        };
        let mut cuts = self.cuts();
        let mut errors = Vec::new();
        for pair in grudge::cut_pairs(g) {
            let Some(count) = cuts.get_mut(&pair) else {
                continue;
            };
            *count -= 1;
            if *count == 0 {
                cuts.remove(&pair);
                if let Err(e) = self.remove_cut(method, pair.0, pair.1) {
                    errors.push(format!("{} -> {}: {e:#}", pair.0, pair.1));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            bail!("could not remove cuts: {}", errors.join("; "))
        }
    }

    /// The cuts in force, `(from, to)`.
    pub fn cut_now(&self) -> BTreeSet<(u64, u64)> {
        self.cuts().keys().copied().collect()
    }

    /// Removes every cut. Also flushes whole chains, so nothing can
    /// survive a lost bookkeeping entry.
    pub fn heal(&self) -> anyhow::Result<()> {
        let Some(method) = self.method else {
            return Ok(());
        };
        let cuts = std::mem::take(&mut *self.cuts());
        let mut errors = Vec::new();
        match method {
            Method::Iptables => {
                self.agent_cuts().clear();
                for node in self.nodes.values().chain(self.agents.values()) {
                    let ns = node.netns.as_deref().unwrap_or_default();
                    if let Err(e) = in_ns(ns, "iptables", &["-w", "5", "-F", "INPUT"]) {
                        errors.push(e.to_string());
                    }
                }
            }
            Method::Routes => {
                for (from, to) in cuts.keys() {
                    if let Err(e) = self.remove_cut(method, *from, *to) {
                        errors.push(e.to_string());
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            bail!("heal: {}", errors.join("; "))
        }
    }

    /// Which ordered pairs `(from, to)` cannot open a TCP connection to
    /// `to`'s master port right now, found by trying from inside every
    /// node's namespace in parallel. A refused connection (nothing
    /// listening, e.g. a killed master) counts as reachable: packets flow.
    pub fn probe(&self, timeout: Duration) -> anyhow::Result<BTreeSet<(u64, u64)>> {
        if !self.is_namespaced() {
            bail!("probing needs network namespaces");
        }
        let mut probes = Vec::new();
        for from in self.nodes.values() {
            for to in self.nodes.values().filter(|n| n.id != from.id) {
                let ns = from.netns.clone().unwrap_or_default();
                let addr: SocketAddr = to.addr().parse()?;
                let pair = (from.id, to.id);
                probes.push((pair, in_netns(&ns, move || tcp_reaches(addr, timeout))));
            }
        }
        let mut cut = BTreeSet::new();
        for (pair, probe) in probes {
            let reached = probe
                .join()
                .map_err(|_| anyhow::anyhow!("probe thread panicked"))??;
            if !reached {
                cut.insert(pair);
            }
        }
        Ok(cut)
    }

    /// Deletes namespaces and bridge (killing anything left inside).
    pub fn teardown(&self) {
        let id = self
            .teardown_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(id) = id {
            cleanup::unregister_teardown(id);
            remove_slot_objects(self.slot.index);
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Runs `f` on a new thread that has entered network namespace `ns`.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<anyhow::Result<T>> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).with_context(|| format!("opening {path}"))?;
        // SAFETY: setns affects this thread only, with a valid descriptor.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            bail!(
                "setns into {path} failed: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(f())
    })
}

/// Whether packets flow to `addr`: connected, or actively refused.
pub(crate) fn tcp_reaches(addr: SocketAddr, timeout: Duration) -> bool {
    match TcpStream::connect_timeout(&addr, timeout) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
    }
}

#[cfg(test)]
mod tests;
