//! Never two masters answering as leader at once.
//!
//! A leader that was stopped (SIGSTOP, a long GC pause, a stalled VM) and
//! resumes after the others elected a new leader still believes it leads
//! until it hears the new term. It must not answer as leader meanwhile: its
//! lease must be shorter than the time in which another leader can be
//! elected, and it must be checked at the moment of the answer, not by a
//! periodic task that the pause also stopped.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

const ELECTION: Duration = Duration::from_secs(20);

/// One GET_MASTER answer: which master, when asked, when answered, and
/// whether it answered as leader (200) rather than redirecting.
#[derive(Clone, Debug)]
struct Answer {
    master: u64,
    asked: Instant,
    answered: Instant,
    leader: bool,
}

/// Asks `addr` GET_MASTER back to back until `stop`, without following
/// redirects, recording every answer.
async fn poll(
    master: u64,
    addr: String,
    answers: Arc<Mutex<Vec<Answer>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let asked = Instant::now();
        let resp = http
            .post(format!("http://{addr}/api/v1"))
            .header("Content-Type", "application/json")
            .body(r#"{"type":"GET_MASTER"}"#)
            .send()
            .await;
        let answered = Instant::now();
        if let Ok(resp) = resp {
            answers.lock().unwrap().push(Answer {
                master,
                asked,
                answered,
                leader: resp.status().as_u16() == 200,
            });
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Pairs of leader answers from different masters whose intervals overlap.
fn overlaps(answers: &[Answer]) -> Vec<(Answer, Answer)> {
    let mut leaders: Vec<&Answer> = answers.iter().filter(|a| a.leader).collect();
    leaders.sort_by_key(|a| a.asked);
    let mut found = Vec::new();
    for (i, a) in leaders.iter().enumerate() {
        for b in &leaders[i + 1..] {
            if b.asked > a.answered {
                break;
            }
            if b.master != a.master {
                found.push(((*a).clone(), (*b).clone()));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resumed_leader_never_answers_as_leader_beside_the_new_one() {
    let mut c = Cluster::start(3, &[]);
    let answers = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut pollers = Vec::new();
    for m in &c.masters {
        // Two pollers per master: one request of each may sit in a stopped
        // master and be answered right after it resumes.
        for _ in 0..2 {
            pollers.push(tokio::spawn(poll(
                m.id,
                m.addr.clone(),
                answers.clone(),
                stop.clone(),
            )));
        }
    }
    for trial in 0..8 {
        let old = c.wait_leader(ELECTION).await;
        let paused_at = Instant::now();
        c.pause(old);
        // Resume the moment another master answers as leader.
        let new = wait_for("another master answering as leader", ELECTION, || {
            let answers = answers.clone();
            async move {
                let seen = answers.lock().unwrap();
                seen.iter()
                    .rev()
                    .find(|a| a.leader && a.master != old && a.asked > paused_at)
                    .map(|a| a.master)
            }
        })
        .await;
        c.resume(old);
        eprintln!(
            "trial {trial}: leader {old} paused, {new} took over after {:?}",
            paused_at.elapsed()
        );
        let bad = overlaps(&answers.lock().unwrap());
        assert!(
            bad.is_empty(),
            "two masters answered as leader at overlapping times: {:#?}",
            &bad[..bad.len().min(3)]
        );
    }
    // Whatever was still waiting in the last resumed master is answered:
    // wait until every master answered a request asked after that.
    let resumed = Instant::now();
    wait_for("every master answering again", ELECTION, || {
        let answers = answers.clone();
        let ids: Vec<u64> = c.masters.iter().map(|m| m.id).collect();
        async move {
            let seen = answers.lock().unwrap();
            ids.iter()
                .all(|id| seen.iter().any(|a| a.master == *id && a.asked > resumed))
                .then_some(())
        }
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for p in pollers {
        let _ = p.await;
    }
    let answers = answers.lock().unwrap();
    let bad = overlaps(&answers);
    assert!(
        bad.is_empty(),
        "two masters answered as leader at overlapping times: {:#?}",
        &bad[..bad.len().min(3)]
    );
    let leader_answers = answers.iter().filter(|a| a.leader).count();
    assert!(leader_answers > 100, "only {leader_answers} leader answers");
}
