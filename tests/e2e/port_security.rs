//! The master port against forged Raft RPCs: without the cluster secret
//! nothing reaches Raft, and with it the bounds still hold. Whatever is
//! sent, the group keeps its leader and term. Also: TLS for the port, with
//! mutual TLS for peers.

use crate::support;

use std::path::Path;
use std::time::Duration;

use mesoraft_proto::raft::raft_client::RaftClient;
use mesoraft_proto::raft::RaftPayload;
use mesoraft_raft::network::ClusterSecret;
use support::*;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const LIMIT: Duration = Duration::from_secs(30);

/// A term far beyond anything the group reached: a vote with it would
/// depose any leader if it got through.
const HUGE_TERM: u64 = 1 << 40;

fn vote(term: u64) -> RaftPayload {
    let json = format!(
        r#"{{"vote":{{"leader_id":{{"term":{term},"node_id":9}},"committed":false}},"last_log_id":null}}"#
    );
    RaftPayload {
        payload: json.into_bytes(),
        data: Vec::new(),
    }
}

fn append(term: u64) -> RaftPayload {
    let json = format!(
        r#"{{"vote":{{"leader_id":{{"term":{term},"node_id":9}},"committed":true}},"prev_log_id":null,"entries":[],"leader_commit":null}}"#
    );
    RaftPayload {
        payload: json.into_bytes(),
        data: Vec::new(),
    }
}

fn snapshot_chunk(offset: u64) -> RaftPayload {
    let json = format!(
        r#"{{"vote":{{"leader_id":{{"term":{HUGE_TERM},"node_id":9}},"committed":true}},
        "meta":{{"last_log_id":null,"last_membership":{{"log_id":null,"membership":{{"configs":[],"nodes":{{}}}}}},"snapshot_id":"forged"}},
        "offset":{offset},"data":[],"done":false}}"#
    );
    RaftPayload {
        payload: json.into_bytes(),
        data: vec![1],
    }
}

fn request(payload: RaftPayload, token: Option<&str>) -> tonic::Request<RaftPayload> {
    let mut r = tonic::Request::new(payload);
    if let Some(t) = token {
        r.metadata_mut()
            .insert("x-mesoraft-auth", t.parse().unwrap());
    }
    r
}

async fn connect(addr: &str) -> RaftClient<Channel> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect to the master port");
    RaftClient::new(channel)
}

/// Every running master's (leader, term).
async fn views(c: &Cluster) -> Vec<(Option<u64>, u64)> {
    let mut out = Vec::new();
    for m in c.masters.iter().filter(|m| m.is_running()) {
        let s = c.status(m.id).await.expect("status");
        out.push((s["leader_id"].as_u64(), s["term"].as_u64().unwrap()));
    }
    out
}

/// Watches for a while that no master's leader or term moves from
/// `before`.
async fn assert_unchanged(c: &Cluster, before: &[(Option<u64>, u64)]) {
    let moved = poll_until(Duration::from_millis(1500), || async {
        let now = views(c).await;
        (now != before).then_some(now)
    })
    .await;
    assert!(
        moved.is_none(),
        "leader/term moved from {before:?} to {moved:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_rpcs_are_refused_and_the_leader_stays() {
    let c = Cluster::start(3);
    let leader = c.wait_leader(LIMIT).await;
    c.write_weight("before", 1.0, LIMIT).await;
    let before = views(&c).await;
    let token = ClusterSecret::from_file(&c.secret_file)
        .unwrap()
        .header_value();
    let wrong = ClusterSecret::from_bytes(b"not-the-cluster-secret").header_value();

    for m in &c.masters {
        let mut raft = connect(&m.addr).await;
        for auth in [None, Some(wrong.as_str())] {
            let e = raft.vote(request(vote(HUGE_TERM), auth)).await.unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated, "vote: {e:?}");
            assert!(!e.message().contains(&token), "the token must not leak");
            let e = raft
                .append_entries(request(append(HUGE_TERM), auth))
                .await
                .unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated, "append: {e:?}");
            let e = raft
                .install_snapshot(request(snapshot_chunk(1 << 40), auth))
                .await
                .unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated, "snapshot: {e:?}");
        }
        // With the secret, a chunk far beyond any snapshot is still bounded.
        let e = raft
            .install_snapshot(request(snapshot_chunk(1 << 40), Some(&token)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
        assert!(e.message().contains("snapshot"), "{e:?}");
        // With the secret but without a member's identity: refused too.
        let e = raft
            .vote(request(vote(HUGE_TERM), Some(&token)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    }
    assert_unchanged(&c, &before).await;
    assert_eq!(before[0].0, Some(leader));
    c.write_weight("after", 2.0, LIMIT).await;

    // Membership changes need the secret too.
    let resp = c
        .http
        .post(c.url(&c.addr(leader), "/raft/members/remove"))
        .body(r#"{"id":2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let (code, out, _) = c.raftctl(&["members", "list"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&c.addr(2)), "nothing was removed: {out}");
}

/// A CA and one certificate (for 127.0.0.1) that every master uses as
/// server and as client certificate; plus a certificate from another CA.
struct TestPki {
    ca: std::path::PathBuf,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    stranger_cert: String,
    stranger_key: String,
}

fn make_pki(dir: &Path) -> TestPki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "mesoraft test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let leaf = |signer: Option<&rcgen::Issuer<'_, KeyPair>>| {
        let key = KeyPair::generate().unwrap();
        let mut p =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = match signer {
            Some(issuer) => p.signed_by(&key, issuer).unwrap(),
            None => p.self_signed(&key).unwrap(),
        };
        (cert.pem(), key.serialize_pem())
    };
    let (cert_pem, key_pem) = leaf(Some(&issuer));
    let (stranger_cert, stranger_key) = leaf(None);
    let pki = TestPki {
        ca: dir.join("ca.pem"),
        cert: dir.join("master.pem"),
        key: dir.join("master-key.pem"),
        stranger_cert,
        stranger_key,
    };
    std::fs::write(&pki.ca, ca.pem()).unwrap();
    std::fs::write(&pki.cert, cert_pem).unwrap();
    std::fs::write(&pki.key, key_pem).unwrap();
    pki
}

async fn tls_client(
    addr: &str,
    ca: &Path,
    identity: Option<(String, String)>,
) -> Result<RaftClient<Channel>, String> {
    let mut tls =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()));
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(RaftClient::new(channel))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_group_forms_serves_writes_and_refuses_peers_without_a_client_certificate() {
    let scratch = tempfile::tempdir().unwrap();
    let pki = make_pki(scratch.path());
    let tls = TlsFiles {
        cert: pki.cert.clone(),
        key: pki.key.clone(),
        ca: pki.ca.clone(),
    };
    let mut c = Cluster::create_with(3, |m| m.tls(tls.clone()));
    c.use_tls(&pki.ca);
    for id in 1..=3 {
        c.spawn(id);
    }
    let leader = c.wait_leader(LIMIT).await;
    c.write_weight("over-tls", 4.0, LIMIT).await;
    let w = c
        .weights_via(&c.addr(leader))
        .await
        .expect("GET_WEIGHTS over HTTPS");
    assert_eq!(w.get("over-tls"), Some(&4.0));
    let s = c.status(leader).await.unwrap();
    assert_eq!(s["security"]["mutual_tls"], true, "{s}");
    let (code, out, err) = c.raftctl(&["status"]);
    assert_eq!(code, 0, "raftctl over HTTPS: {out}{err}");

    let before = views(&c).await;
    let token = ClusterSecret::from_file(&c.secret_file)
        .unwrap()
        .header_value();
    // A peer with the secret but no client certificate: refused.
    let mut anonymous = tls_client(&c.addr(leader), &pki.ca, None).await.unwrap();
    let e = anonymous
        .vote(request(vote(HUGE_TERM), Some(&token)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    // A certificate from another CA does not get through the handshake.
    let stranger = (pki.stranger_cert.clone(), pki.stranger_key.clone());
    match tls_client(&c.addr(leader), &pki.ca, Some(stranger)).await {
        Err(_) => {}
        Ok(mut client) => {
            let e = client
                .vote(request(vote(HUGE_TERM), Some(&token)))
                .await
                .unwrap_err();
            assert_ne!(e.code(), tonic::Code::Ok);
        }
    }
    // Plain text to a TLS port gets nowhere.
    let plain = Endpoint::from_shared(format!("http://{}", c.addr(leader)))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plain {
        let mut raft = RaftClient::new(channel);
        assert!(raft
            .vote(request(vote(HUGE_TERM), Some(&token)))
            .await
            .is_err());
    }
    assert_unchanged(&c, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_registers_with_a_tls_group_and_one_speaking_plain_text_does_not() {
    let scratch = tempfile::tempdir().unwrap();
    let pki = make_pki(scratch.path());
    let tls = TlsFiles {
        cert: pki.cert.clone(),
        key: pki.key.clone(),
        ca: pki.ca.clone(),
    };
    let mut c = Cluster::create_with(3, |m| {
        m.tls(tls.clone())
            .agent_health(support::agents::fast_health())
    });
    c.use_tls(&pki.ca);
    for id in 1..=3 {
        c.spawn(id);
    }
    c.wait_leader(LIMIT).await;

    let mut agent = support::agents::AgentProc::new(&c, "tls");
    agent.cmd = agent
        .cmd
        .clone()
        .tls_ca(&pki.ca)
        .tls_identity(&pki.cert, &pki.key);
    agent.spawn();
    let (id, _) = agent.wait_registered(1, LIMIT).await;
    c.wait_agents("the TLS agent active on the leader", LIMIT, |s| {
        s.active.contains(&id)
    })
    .await;

    let mut plain = support::agents::AgentProc::new(&c, "plain");
    plain.spawn();
    wait_for("the plain-text agent to fail a session", LIMIT, || async {
        plain
            .log_text()
            .contains("session with the master lost")
            .then_some(())
    })
    .await;
    let state = plain.state().await.expect("the plain agent serves /state");
    assert_eq!(state["registered"], false, "{state}");
}
