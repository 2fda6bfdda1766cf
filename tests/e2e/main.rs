//! The end-to-end tests: real master groups, agents, frameworks and
//! tools driven from outside as processes, one module per subject. One
//! test binary, not one per file: each binary would compile the support
//! code and link the whole client stack again, minutes of the suite on a
//! two-core machine.

mod support;

mod agent_views;
mod agents;
mod elections;
mod execute;
mod fatal_core;
mod framework_failover;
mod frameworks;
mod http_routes;
mod identity;
mod leader_lease;
mod leader_restart;
mod limits;
mod master_group;
mod membership;
mod port_security;
mod snapshot_install;
mod startup;
mod status_contract;
mod tasks;
mod write_outcome;
