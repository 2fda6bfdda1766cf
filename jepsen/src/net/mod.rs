//! The network the nodes live on, and partition primitives.
//!
//! Namespace mode (root, `ip` available, `ip netns` works): node `i` lives in
//! namespace `jepKnI` with address 10.77.K.I/24 on a veth whose other end is
//! plugged into bridge `jepKbr` (10.77.K.254, the harness's own address, so
//! clients in the root namespace reach every node and are never partitioned
//! from them). K is the run's slot.
//!
//! Partitions are per-pair packet drops on the receiving node:
//! - iptables (preferred): `INPUT -s <peer> -j DROP` inside the receiver's
//!   namespace, a silent drop like a real partition;
//! - otherwise a blackhole route to the peer inside the receiver's
//!   namespace: the receiver's answers (and its own sends) to the peer
//!   vanish, so the peer sees time-outs, the receiver local errors.
//!
//! Loopback mode: node `i` listens on 127.0.0.(10+i) on a free port; only
//! process faults are possible.

pub mod grudge;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};

use crate::cleanup::{self, Slot};
pub use grudge::Grudge;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NetWant {
    /// Namespaces when possible, else loopback.
    Auto,
    Namespaces,
    Loopback,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
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
    /// None in loopback mode.
    pub method: Option<Method>,
    bridge: Option<String>,
    /// Why we are in loopback mode, when we are.
    pub loopback_reason: Option<String>,
    applied: Mutex<Vec<(u64, u64)>>,
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

fn in_ns(ns: &str, program: &str, args: &[&str]) -> anyhow::Result<String> {
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

pub fn host_ip(slot: u32) -> String {
    format!("10.77.{slot}.254")
}

/// A port the kernel says is free on `ip` right now (loopback mode).
pub fn free_port(ip: &str) -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind((ip, 0))
        .with_context(|| format!("binding {ip}:0"))?
        .local_addr()?
        .port())
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
            // jepKnI or jepKprobe, but not jep1Xn.. when slot is 1.
            if !(rest.starts_with('n') || rest.starts_with("probe")) {
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

/// Creates bridge, namespaces and veths of slot `k`; returns the partition
/// method to use.
fn create_objects(k: u32, ids: &[u64], method: MethodWant) -> anyhow::Result<Method> {
    let bridge = bridge_name(k);
    let host = format!("{}/24", host_ip(k));
    ip(&["link", "add", &bridge, "type", "bridge"])?;
    ip(&["addr", "add", &host, "dev", &bridge])?;
    ip(&["link", "set", &bridge, "up"])?;
    for id in ids {
        let (ns, veth, peer) = (ns_name(k, *id), veth_name(k, *id), peer_name(k, *id));
        let addr = format!("{}/24", node_ip(k, *id));
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
    pub fn setup(
        slot: Arc<Slot>,
        ids: &[u64],
        want: NetWant,
        method: MethodWant,
    ) -> anyhow::Result<Arc<Net>> {
        let unusable = match want {
            NetWant::Loopback => Some("loopback requested (--net loopback)".to_string()),
            _ => namespaces_unusable(slot.index),
        };
        if let Some(reason) = unusable {
            if want == NetWant::Namespaces {
                bail!("network namespaces requested but unusable: {reason}");
            }
            return Self::loopback(slot, ids, reason);
        }
        Self::namespaces(slot, ids, method)
    }

    fn loopback(slot: Arc<Slot>, ids: &[u64], reason: String) -> anyhow::Result<Arc<Net>> {
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
            method: None,
            bridge: None,
            loopback_reason: Some(reason),
            applied: Mutex::new(Vec::new()),
            teardown_id: Mutex::new(None),
        }))
    }

    fn namespaces(slot: Arc<Slot>, ids: &[u64], method: MethodWant) -> anyhow::Result<Arc<Net>> {
        let k = slot.index;
        remove_slot_objects(k);
        // Registered before anything is created, so that a crash half-way
        // still cleans up; a plain error cleans up right here.
        let teardown_id = cleanup::register_teardown(Arc::new(move || remove_slot_objects(k)));
        let chosen = match create_objects(k, ids, method) {
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
            method: Some(chosen),
            bridge: Some(bridge_name(k)),
            loopback_reason: None,
            applied: Mutex::new(Vec::new()),
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

    /// Makes `to` drop every packet from `from`.
    pub fn drop_from(&self, to: u64, from: u64) -> anyhow::Result<()> {
        let Some(method) = self.method else {
            bail!("partitions need network namespaces ({})", self.describe());
        };
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        if applied.contains(&(to, from)) {
            return Ok(());
        }
        let ns = self.node(to).netns.clone().expect("namespaced node");
        let src = self.node(from).ip.clone();
        match method {
            Method::Iptables => {
                in_ns(
                    &ns,
                    "iptables",
                    &["-w", "5", "-A", "INPUT", "-s", &src, "-j", "DROP"],
                )?;
            }
            Method::Routes => {
                ip(&["-n", &ns, "route", "add", "blackhole", &format!("{src}/32")])?;
            }
        }
        applied.push((to, from));
        Ok(())
    }

    pub fn apply(&self, g: &Grudge) -> anyhow::Result<()> {
        for (to, froms) in g {
            for from in froms {
                self.drop_from(*to, *from)?;
            }
        }
        Ok(())
    }

    /// Removes every drop rule. Also flushes whole chains, so nothing can
    /// survive a lost bookkeeping entry.
    pub fn heal(&self) -> anyhow::Result<()> {
        let Some(method) = self.method else {
            return Ok(());
        };
        let applied = std::mem::take(&mut *self.applied.lock().unwrap_or_else(|e| e.into_inner()));
        let mut errors = Vec::new();
        match method {
            Method::Iptables => {
                for node in self.nodes.values() {
                    let ns = node.netns.as_deref().expect("namespaced");
                    if let Err(e) = in_ns(ns, "iptables", &["-w", "5", "-F", "INPUT"]) {
                        errors.push(e.to_string());
                    }
                }
            }
            Method::Routes => {
                for (to, from) in applied {
                    let ns = self.node(to).netns.clone().expect("namespaced");
                    let dst = format!("{}/32", self.node(from).ip);
                    if let Err(e) = ip(&["-n", &ns, "route", "del", "blackhole", &dst]) {
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

#[cfg(test)]
mod tests;
