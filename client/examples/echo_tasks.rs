//! A scheduler that launches `--count` tasks running `echo`, acknowledges
//! their updates (the library does it), and exits when all have ended:
//! 0 if every task finished.
//!
//! ```text
//! cargo run --release -p mesoraft-client --example echo_tasks -- \
//!     --masters 127.0.0.1:5050,127.0.0.1:5051 --count 3 [--cluster-secret-file F]
//! ```

use std::collections::BTreeSet;

use clap::Parser;
use mesoraft_client::calls::{command_task, refuse_for};
use mesoraft_client::resources::{parse_resources, take};
use mesoraft_client::{
    current_user, framework_info, is_terminal, parse_masters, Config, Scheduler, SchedulerEvent,
    SecurityArgs,
};
use mesoraft_proto::mesos::v1::TaskState;

#[derive(Parser)]
struct Args {
    /// Masters, HOST:PORT,...
    #[arg(long)]
    masters: String,
    /// Number of echo tasks.
    #[arg(long, default_value_t = 3)]
    count: usize,
    #[command(flatten)]
    security: SecurityArgs,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut config = Config::new(
        parse_masters(&args.masters)?,
        framework_info("echo-tasks", &current_user()),
    );
    config.security = args.security.load()?;
    let (handle, mut events) = Scheduler::connect(config)?;

    let per_task = parse_resources("cpus:0.1;mem:32")?;
    let mut waiting: Vec<usize> = (0..args.count).rev().collect();
    let mut running = BTreeSet::new();
    let mut failed = 0;
    while let Some(event) = events.recv().await {
        match event {
            SchedulerEvent::Subscribed { framework_id, .. } => {
                println!("subscribed as {}", framework_id.value)
            }
            SchedulerEvent::Offers(offers) => {
                for offer in offers {
                    let mut available = offer.resources.clone();
                    let mut tasks = Vec::new();
                    while let Some(&i) = waiting.last() {
                        let Some(resources) = take(&mut available, &per_task) else {
                            break;
                        };
                        waiting.pop();
                        let id = format!("echo-{i}");
                        let command = format!("echo hello from task {i}");
                        tasks.push(command_task(&id, &offer.agent_id, resources, &command));
                    }
                    if tasks.is_empty() {
                        handle
                            .decline(vec![offer.id], Some(refuse_for(30.0)))
                            .await?;
                        continue;
                    }
                    running.extend(tasks.iter().map(|t| t.task_id.value.clone()));
                    handle
                        .launch(vec![offer.id], tasks, Some(refuse_for(5.0)))
                        .await?;
                }
            }
            SchedulerEvent::Update(status) => {
                println!("{}: {:?}", status.task_id.value, status.state());
                if is_terminal(status.state()) && running.remove(&status.task_id.value) {
                    if status.state() != TaskState::TaskFinished {
                        failed += 1;
                    }
                    if running.is_empty() && waiting.is_empty() {
                        handle.teardown().await?;
                    }
                }
            }
            SchedulerEvent::Stopped(why) => {
                println!("stopped: {why}");
                break;
            }
            _ => {}
        }
    }
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
