//! Never two masters answering as leader at once.
//!
//! A leader that was stopped (SIGSTOP, a long GC pause, a stalled VM) and
//! resumes after the others elected a new leader still believes it leads
//! until it hears the new term. It must not answer as leader meanwhile: its
//! lease must be shorter than the time in which another leader can be
//! elected, and it must be checked at the moment of the answer, not by a
//! periodic task that the pause also stopped.
//!
//! Leader answers carry their term (a response header), which orders them:
//! an answer of an older term that was asked after an answer of a newer
//! term had arrived means the old leader still acted after the new one
//! was elected. (Overlapping intervals alone would not prove it: a master
//! stopped between its lease check and its reply answers late, correctly.)

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ELECTION: Duration = Duration::from_secs(20);

/// One GET_MASTER answer: which master, when asked, when answered, and
/// the term it led if it answered as leader (200) rather than redirecting.
#[derive(Clone, Debug)]
struct Answer {
    master: u64,
    asked: Instant,
    answered: Instant,
    leader_term: Option<u64>,
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
    // A question every 2 ms at most: the answers show when each master
    // stopped answering as leader, to within a few ms.
    let mut pace = tokio::time::interval(Duration::from_millis(2));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        pace.tick().await;
        let asked = Instant::now();
        let resp = http
            .post(format!("http://{addr}/api/v1"))
            .header("Content-Type", "application/json")
            .body(r#"{"type":"GET_MASTER"}"#)
            .send()
            .await;
        let answered = Instant::now();
        if let Ok(resp) = resp {
            let leader_term = (resp.status().as_u16() == 200).then(|| {
                resp.headers()
                    .get("mesoraft-leader-term")
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .expect("a leader answer names its term")
            });
            answers.lock().unwrap().push(Answer {
                master,
                asked,
                answered,
                leader_term,
            });
        }
    }
}

/// Sends GET_MASTER to a stopped master over a fresh connection: the
/// kernel completes the handshake and queues the request, so it was
/// certainly asked now, and is answered only once the master resumes.
async fn ask_while_stopped(addr: &str) -> (TcpStream, Instant) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let body = r#"{"type":"GET_MASTER"}"#;
    let request = format!(
        "POST /api/v1 HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    (stream, Instant::now())
}

/// The answer to [`ask_while_stopped`], once it comes.
async fn queued_answer(master: u64, mut stream: TcpStream, asked: Instant) -> Option<Answer> {
    let mut raw = Vec::new();
    tokio::time::timeout(ELECTION, stream.read_to_end(&mut raw))
        .await
        .ok()?
        .ok()?;
    let answered = Instant::now();
    let text = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    let leader_term = text.starts_with("http/1.1 200").then(|| {
        text.lines()
            .find_map(|l| l.strip_prefix("mesoraft-leader-term:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("a leader answer names its term")
    });
    Some(Answer {
        master,
        asked,
        answered,
        leader_term,
    })
}

/// Pairs of leader answers that prove two leaders at once: two masters
/// leading the same term, or an answer of an older term asked after an
/// answer of a newer term had arrived.
fn overlaps(answers: &[Answer]) -> Vec<(Answer, Answer)> {
    let leaders: Vec<(&Answer, u64)> = answers
        .iter()
        .filter_map(|a| Some((a, a.leader_term?)))
        .collect();
    // The earliest arrival of each term's answers, and who gave it.
    let mut first_of_term: std::collections::BTreeMap<u64, &Answer> = Default::default();
    for (a, term) in &leaders {
        let first = first_of_term.entry(*term).or_insert(a);
        if a.answered < first.answered {
            *first = a;
        }
    }
    let mut found = Vec::new();
    for (a, term) in &leaders {
        if let Some(same) = first_of_term.get(term).filter(|f| f.master != a.master) {
            found.push(((*same).clone(), (*a).clone()));
        }
        if let Some((_, newer)) = first_of_term
            .range(term + 1..)
            .find(|(_, newer)| newer.answered < a.asked)
        {
            found.push(((*newer).clone(), (*a).clone()));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resumed_leader_never_answers_as_leader_beside_the_new_one() {
    let mut c = Cluster::start(3);
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
                    .find(|a| a.leader_term.is_some() && a.master != old && a.asked > paused_at)
                    .map(|a| a.master)
            }
        })
        .await;
        // Questions asked after the new leader answered, queued in the
        // stopped one: it must not answer them as leader when it resumes,
        // whatever its stale view of the group says.
        let old_addr = c.masters.iter().find(|m| m.id == old).unwrap().addr.clone();
        let mut queued = Vec::new();
        for _ in 0..4 {
            queued.push(ask_while_stopped(&old_addr).await);
        }
        c.resume(old);
        for (stream, asked) in queued {
            if let Some(answer) = queued_answer(old, stream, asked).await {
                answers.lock().unwrap().push(answer);
            }
        }
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
    let leader_answers = answers.iter().filter(|a| a.leader_term.is_some()).count();
    assert!(leader_answers > 100, "only {leader_answers} leader answers");
}
