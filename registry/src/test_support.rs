//! Builders shared by the unit tests.

use mesoraft_proto::mesos::v1::{AgentId, AgentInfo, FrameworkId, FrameworkInfo, WeightInfo};

use crate::{Command, PruneEntry, Registry, Response, TimeNs};

pub fn init(cluster_id: &str) -> Command {
    Command::InitCluster {
        cluster_id: cluster_id.to_string(),
    }
}

/// A registry whose cluster id is set.
pub fn cluster(cluster_id: &str) -> Registry {
    let mut registry = Registry::default();
    apply_ok(&mut registry, init(cluster_id));
    registry
}

/// Applies a command that must succeed.
pub fn apply_ok(registry: &mut Registry, command: Command) -> Response {
    match registry.apply(&command) {
        Ok(response) => response,
        Err(error) => panic!("{} failed: {error}", command.name()),
    }
}

pub fn agent_id(id: &str) -> AgentId {
    AgentId {
        value: id.to_string(),
    }
}

pub fn agent_info(id: Option<&str>) -> AgentInfo {
    AgentInfo {
        hostname: "host".to_string(),
        port: Some(5051),
        id: id.map(agent_id),
        ..Default::default()
    }
}

pub fn admit(id: Option<&str>) -> Command {
    Command::AdmitAgent {
        info: agent_info(id),
    }
}

pub fn update_agent(info: AgentInfo) -> Command {
    Command::UpdateAgent { info }
}

pub fn mark_unreachable(id: &str, time_ns: TimeNs) -> Command {
    Command::MarkUnreachable {
        agent_id: agent_id(id),
        time_ns,
    }
}

pub fn mark_reachable(id: &str) -> Command {
    Command::MarkReachable {
        info: agent_info(Some(id)),
    }
}

pub fn mark_gone(id: &str, time_ns: TimeNs) -> Command {
    Command::MarkGone {
        agent_id: agent_id(id),
        time_ns,
    }
}

pub fn remove_agent(id: &str) -> Command {
    Command::RemoveAgent {
        agent_id: agent_id(id),
    }
}

pub fn entry(id: &str, time_ns: TimeNs) -> PruneEntry {
    PruneEntry {
        agent_id: agent_id(id),
        time_ns,
    }
}

pub fn framework_info(id: Option<&str>) -> FrameworkInfo {
    FrameworkInfo {
        user: "user".to_string(),
        name: "framework".to_string(),
        id: id.map(|value| FrameworkId {
            value: value.to_string(),
        }),
        ..Default::default()
    }
}

pub fn add_framework(id: Option<&str>, time_ns: TimeNs) -> Command {
    Command::AddFramework {
        info: framework_info(id),
        time_ns,
    }
}

pub fn complete_framework(id: &str, time_ns: TimeNs) -> Command {
    Command::CompleteFramework {
        framework_id: FrameworkId {
            value: id.to_string(),
        },
        time_ns,
    }
}

pub fn weight(role: &str, weight: f64) -> WeightInfo {
    WeightInfo {
        weight,
        role: Some(role.to_string()),
    }
}

pub fn update_weights(weights: Vec<WeightInfo>) -> Command {
    Command::UpdateWeights { weights }
}

/// Applies a command that must be refused with `expected`, and checks that
/// it changed nothing.
pub fn assert_refused(registry: &mut Registry, command: Command, expected: crate::RegistryError) {
    let before = registry.clone();
    assert_eq!(
        registry.apply(&command),
        Err(expected),
        "{}",
        command.name()
    );
    assert_eq!(
        *registry,
        before,
        "a refused {} changed the registry",
        command.name()
    );
}
