//! The tasks checker on hand-built histories: a clean run through an agent
//! partition passes, and each rule's violation is caught.

use serde_json::Value;

use super::*;
use crate::checker::testing::Builder;
use crate::tasks_record::{Marker, TASK_KILL};

const RULES: TaskRules = TaskRules { ack_slack_ms: 1000 };

fn task(framework: &str, id: &str) -> TaskRef {
    TaskRef {
        framework: framework.into(),
        task_id: id.into(),
    }
}

/// The history of a run, one process per operation.
#[derive(Default)]
struct Run {
    b: Builder,
    next_process: u64,
}

impl Run {
    fn process(&mut self) -> u64 {
        self.next_process += 1;
        self.next_process
    }

    fn launch(&mut self, fw: &str, id: &str, pa: bool, t: u64, kind: OpType) -> &mut Self {
        let ask = LaunchAsk {
            task: task(fw, id),
            partition_aware: pa,
            agent_id: "S1".into(),
        };
        let p = self.process();
        let done = (kind != OpType::Info).then_some(t + 5);
        self.b.op(
            p,
            TASK_LAUNCH,
            None,
            ask.to_value(),
            t,
            kind,
            Value::Null,
            done,
        );
        self
    }

    fn status(&mut self, fw: &str, id: &str, state: &str, uuid: Option<&str>, t: u64) -> &mut Self {
        let status = Delivered {
            task: task(fw, id),
            state: state.into(),
            uuid: uuid.map(Into::into),
            agent_id: Some("S1".into()),
            reason: None,
            source: if uuid.is_some() {
                StatusSource::Update
            } else {
                StatusSource::Reconcile
            },
        };
        self.delivered(status, t)
    }

    /// A reconciliation answer with a reason.
    fn answer(&mut self, fw: &str, id: &str, state: &str, reason: &str, t: u64) -> &mut Self {
        let status = Delivered {
            task: task(fw, id),
            state: state.into(),
            uuid: None,
            agent_id: Some("S1".into()),
            reason: Some(reason.into()),
            source: StatusSource::Reconcile,
        };
        self.delivered(status, t)
    }

    fn delivered(&mut self, status: Delivered, t: u64) -> &mut Self {
        let p = self.process();
        self.b.op(
            p,
            TASK_STATUS,
            None,
            Value::Null,
            t,
            OpType::Ok,
            status.to_value(),
            Some(t),
        );
        self
    }

    fn ack(&mut self, fw: &str, id: &str, uuid: &str, t: u64) -> &mut Self {
        let ask = AckAsk {
            task: task(fw, id),
            uuid: uuid.into(),
        };
        let p = self.process();
        self.b.op(
            p,
            TASK_ACK,
            None,
            ask.to_value(),
            t,
            OpType::Ok,
            Value::Null,
            Some(t + 5),
        );
        self
    }

    fn kill(&mut self, fw: &str, id: &str, t: u64) -> &mut Self {
        let p = self.process();
        self.b.op(
            p,
            TASK_KILL,
            None,
            task(fw, id).to_value(),
            t,
            OpType::Ok,
            Value::Null,
            Some(t + 5),
        );
        self
    }

    fn markers(&mut self, runs: &[(&str, &str, u64, &str)], t: u64) -> &mut Self {
        let markers = Markers {
            markers: runs
                .iter()
                .map(|(fw, id, agent, sandbox)| Marker {
                    task: task(fw, id),
                    agent: *agent,
                    sandbox: sandbox.to_string(),
                })
                .collect(),
        };
        let p = self.process();
        self.b.op(
            p,
            TASK_MARKERS,
            None,
            Value::Null,
            t,
            OpType::Ok,
            markers.to_value(),
            Some(t + 5),
        );
        self
    }

    fn final_reconcile(&mut self, t: u64) -> &mut Self {
        let p = self.process();
        self.b.op(
            p,
            TASK_FINAL_RECONCILE,
            None,
            Value::Null,
            t,
            OpType::Ok,
            Value::Null,
            Some(t + 5),
        );
        self
    }

    fn judge(&self) -> Judgement {
        check(&self.b.build(), RULES)
    }
}

/// A partition-aware framework "pa" and another "lost", each with one
/// task on an agent that is cut off and comes back; a launch refused for
/// certain and dropped; an update redelivered before its ack was answered.
fn clean_run() -> Run {
    let mut r = Run::default();
    r.launch("pa", "t1", true, 100, OpType::Ok)
        .launch("lost", "t2", false, 110, OpType::Ok)
        .launch("pa", "t3", true, 120, OpType::Fail)
        .status("pa", "t3", "TASK_DROPPED", None, 126)
        .status("pa", "t1", "TASK_RUNNING", Some("u1"), 200)
        // Redelivered while the ack was on its way.
        .status("pa", "t1", "TASK_RUNNING", Some("u1"), 210)
        .ack("pa", "t1", "u1", 205)
        .status("lost", "t2", "TASK_RUNNING", Some("u2"), 220)
        .ack("lost", "t2", "u2", 225)
        // The agent is cut off.
        .status("pa", "t1", "TASK_UNREACHABLE", None, 5_000)
        .status("lost", "t2", "TASK_LOST", None, 5_000)
        // It comes back.
        .status("pa", "t1", "TASK_RUNNING", None, 9_000)
        .status("lost", "t2", "TASK_RUNNING", None, 9_000)
        .status("pa", "t1", "TASK_FINISHED", Some("u3"), 9_500)
        .status("pa", "t1", "TASK_FINISHED", Some("u3"), 9_600)
        .ack("pa", "t1", "u3", 9_700)
        .kill("lost", "t2", 10_000)
        .status("lost", "t2", "TASK_KILLED", Some("u4"), 10_100)
        .ack("lost", "t2", "u4", 10_200)
        .markers(
            &[("pa", "t1", 1, "/a1/t1/r1"), ("lost", "t2", 1, "/a1/t2/r1")],
            11_000,
        )
        .final_reconcile(11_100)
        // Answers to reconciliation after the end are the end again.
        .status("pa", "t1", "TASK_FINISHED", None, 11_110);
    r
}

fn rules_broken(j: &Judgement) -> Vec<String> {
    j.problems
        .iter()
        .map(|v| {
            serde_json::to_value(v).unwrap()["rule"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn a_clean_run_through_a_partition_passes() {
    let j = clean_run().judge();
    assert!(j.problems.is_empty(), "{:?}", j.problems);
    assert_eq!(j.valid, Validity::True, "{}", j.summary);
    assert_eq!(j.counts.tasks_ended, 3);
}

#[test]
fn without_the_final_reconciliation_the_verdict_is_unknown() {
    let mut r = Run::default();
    r.launch("pa", "t1", true, 100, OpType::Ok)
        .status("pa", "t1", "TASK_RUNNING", Some("u1"), 200);
    let j = r.judge();
    assert_eq!(j.valid, Validity::Unknown, "{}", j.summary);
}

#[test]
fn a_task_run_in_two_sandboxes_is_caught() {
    let mut r = clean_run();
    r.markers(&[("pa", "t1", 2, "/a2/t1/r1")], 11_050);
    assert_eq!(rules_broken(&r.judge()), ["ran-twice"]);
}

#[test]
fn a_refused_launch_that_runs_is_caught() {
    let mut r = clean_run();
    r.status("pa", "t3", "TASK_RUNNING", Some("u9"), 300);
    assert_eq!(
        rules_broken(&r.judge()),
        ["refused-but-ran", "back-after-end"]
    );
    let mut r = clean_run();
    r.markers(&[("pa", "t3", 1, "/a1/t3/r1")], 11_050);
    assert_eq!(rules_broken(&r.judge()), ["refused-but-ran"]);
}

#[test]
fn a_second_different_ending_is_caught() {
    let mut r = clean_run();
    r.status("lost", "t2", "TASK_FAILED", Some("u5"), 10_300);
    assert_eq!(rules_broken(&r.judge()), ["two-endings"]);
}

#[test]
fn a_task_that_runs_again_after_its_end_is_caught() {
    let mut r = clean_run();
    r.status("pa", "t1", "TASK_RUNNING", None, 11_200);
    assert_eq!(rules_broken(&r.judge()), ["back-after-end"]);
}

#[test]
fn a_taken_launch_without_an_end_is_caught() {
    let mut r = clean_run();
    r.launch("pa", "t4", true, 300, OpType::Ok)
        .status("pa", "t4", "TASK_RUNNING", Some("u6"), 400);
    let j = r.judge();
    assert_eq!(rules_broken(&j), ["unended"]);
    assert_eq!(j.valid, Validity::False);
    // An unknown launch never seen again may never have happened.
    let mut r = clean_run();
    r.launch("pa", "t5", true, 300, OpType::Info);
    assert!(r.judge().problems.is_empty());
    // Seen once, it must end like any other.
    r.status("pa", "t5", "TASK_STAGING", Some("u7"), 400);
    assert_eq!(rules_broken(&r.judge()), ["unended"]);
}

#[test]
fn an_update_delivered_again_well_after_its_ack_is_caught() {
    let mut r = clean_run();
    r.status("lost", "t2", "TASK_RUNNING", Some("u2"), 3_000);
    assert_eq!(rules_broken(&r.judge()), ["redelivered-after-ack"]);
}

#[test]
fn losses_of_the_wrong_kind_are_caught() {
    let mut r = clean_run();
    r.status("pa", "t1", "TASK_LOST", None, 6_000);
    assert_eq!(rules_broken(&r.judge()), ["wrong-loss"]);
    let mut r = clean_run();
    r.status("lost", "t2", "TASK_UNREACHABLE", None, 6_000);
    assert_eq!(rules_broken(&r.judge()), ["wrong-loss"]);
}

#[test]
fn statuses_and_markers_of_tasks_nobody_launched_are_caught() {
    let mut r = clean_run();
    r.status("pa", "ghost", "TASK_RUNNING", Some("u8"), 500);
    assert_eq!(rules_broken(&r.judge()), ["unlaunched"]);
    let mut r = clean_run();
    r.markers(&[("pa", "ghost", 1, "/a1/ghost/r1")], 11_050);
    assert_eq!(rules_broken(&r.judge()), ["unlaunched"]);
}

#[test]
fn a_redelivery_after_an_ack_is_excused_by_a_fault_in_between() {
    use crate::nemesis_record::NemesisRecord;
    let mut r = clean_run();
    r.b.nemesis(1_000, "start", &NemesisRecord::new("agent-kill"));
    r.b.nemesis(2_000, "stop", &NemesisRecord::new("agent-kill"));
    r.status("lost", "t2", "TASK_RUNNING", Some("u2"), 3_000);
    assert!(r.judge().problems.is_empty());
    // A fault after the redelivery excuses nothing.
    let mut r = clean_run();
    r.b.nemesis(4_000, "start", &NemesisRecord::new("agent-kill"));
    r.b.nemesis(4_500, "stop", &NemesisRecord::new("agent-kill"));
    r.status("lost", "t2", "TASK_RUNNING", Some("u2"), 3_000);
    assert_eq!(rules_broken(&r.judge()), ["redelivered-after-ack"]);
}

#[test]
fn a_taken_launch_the_master_lost_before_it_ran_may_end_unknown() {
    let mut r = clean_run();
    r.launch("pa", "t6", true, 300, OpType::Ok)
        .status("pa", "t6", "TASK_UNKNOWN", None, 11_150);
    let j = r.judge();
    assert!(j.problems.is_empty(), "{:?}", j.problems);
    assert_eq!(j.valid, Validity::True);
    // Unknown to the master while its sandbox shows it ran: unended.
    r.markers(&[("pa", "t6", 1, "/a1/t6/r1")], 11_050);
    assert_eq!(rules_broken(&r.judge()), ["unended"]);
}

#[test]
fn an_answer_for_an_unknown_task_after_the_end_is_neither_a_return_nor_an_ending() {
    // The master forgot the task once its end was acknowledged, and tells a
    // framework that is not partition-aware so with TASK_LOST.
    let mut r = clean_run();
    r.answer("lost", "t2", "TASK_LOST", "REASON_RECONCILIATION", 10_300);
    assert!(r.judge().problems.is_empty());
    // TASK_LOST for any other reason after the end is one.
    let mut r = clean_run();
    r.answer("lost", "t2", "TASK_LOST", "REASON_AGENT_REMOVED", 10_300);
    assert_eq!(rules_broken(&r.judge()), ["back-after-end"]);
    // A partition-aware framework's KILL that crossed the acknowledgement
    // of its task's end is answered TASK_GONE: not a second ending.
    let mut r = clean_run();
    r.answer("pa", "t1", "TASK_GONE", "REASON_RECONCILIATION", 10_300);
    assert!(r.judge().problems.is_empty());
    // Before any end, the same answer is the task's end.
    let mut r = clean_run();
    r.launch("pa", "t7", true, 300, OpType::Ok)
        .answer("pa", "t7", "TASK_GONE", "REASON_RECONCILIATION", 400)
        .status("pa", "t7", "TASK_RUNNING", Some("u9"), 500);
    assert_eq!(rules_broken(&r.judge()), ["back-after-end"]);
}
