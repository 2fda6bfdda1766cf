//! The incarnation checks on a Raft RPC, as pure decisions: is a request
//! addressed to this very incarnation, and is its sender the member this
//! master's membership says it is? The transport turns a [`Refusal`] into
//! a gRPC status (and back, on the sending side).

use std::fmt;

use serde::{de::DeserializeOwned, Serialize};
use tonic::metadata::{MetadataMap, MetadataValue};

use crate::identity::{short, Claim};
use crate::NodeId;

/// Sender's id.
pub const FROM_HEADER: &str = "x-mesoraft-from";
/// The member the request is meant for.
pub const TO_HEADER: &str = "x-mesoraft-to";
/// The incarnation the sender's membership binds that member to (empty:
/// unbound).
pub const TO_INCARNATION_HEADER: &str = "x-mesoraft-to-incarnation";
/// The sender's (or, on an answer, the answering master's) [`Claim`].
pub const CLAIM_HEADER: &str = "x-mesoraft-claim";
/// The sender's witness ledger.
pub const GOSSIP_HEADER: &str = "x-mesoraft-gossip";
/// On a refusal: its kind (see [`RefusalKind`]).
pub const REFUSAL_HEADER: &str = "x-mesoraft-refusal";

/// Why a master refuses a request on identity grounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// The identity headers are missing or malformed.
    Anonymous,
    /// Meant for another member id.
    Misaddressed,
    /// Meant for an unbound slot and this master is pristine: it offers its
    /// incarnation (in the answer's claim) for the leader to bind.
    Unbound,
    /// Meant for an unbound slot, but this master has Raft state already.
    NotPristine,
    /// Meant for another incarnation of this member id.
    Superseded,
    /// This master takes no part: the group showed it is a stale copy.
    SelfForked,
    /// The sender is a stale copy, by this master's ledger.
    SenderForked,
    /// The sender is not the incarnation this master's membership holds
    /// for its id.
    SenderNotMember,
}

impl RefusalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalKind::Anonymous => "anonymous",
            RefusalKind::Misaddressed => "misaddressed",
            RefusalKind::Unbound => "unbound",
            RefusalKind::NotPristine => "not-pristine",
            RefusalKind::Superseded => "superseded",
            RefusalKind::SelfForked => "self-forked",
            RefusalKind::SenderForked => "sender-forked",
            RefusalKind::SenderNotMember => "sender-not-member",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RefusalKind::Anonymous,
            RefusalKind::Misaddressed,
            RefusalKind::Unbound,
            RefusalKind::NotPristine,
            RefusalKind::Superseded,
            RefusalKind::SelfForked,
            RefusalKind::SenderForked,
            RefusalKind::SenderNotMember,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A refusal with its explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Refusal {
    fn new(kind: RefusalKind, message: String) -> Self {
        Self { kind, message }
    }

    /// The gRPC status carrying it, with this master's claim attached.
    pub fn into_status(self, claim: &Claim) -> tonic::Status {
        let mut status = tonic::Status::failed_precondition(self.message);
        let md = status.metadata_mut();
        md.insert(
            REFUSAL_HEADER,
            MetadataValue::from_static(self.kind.as_str()),
        );
        put_json(md, CLAIM_HEADER, claim);
        status
    }
}

/// The identity part of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addressing {
    pub from: NodeId,
    pub to: NodeId,
    /// None: the sender's membership has the slot unbound.
    pub to_incarnation: Option<String>,
    pub claim: Claim,
}

impl Addressing {
    pub fn write(&self, md: &mut MetadataMap) {
        put_text(md, FROM_HEADER, &self.from.to_string());
        put_text(md, TO_HEADER, &self.to.to_string());
        put_text(
            md,
            TO_INCARNATION_HEADER,
            self.to_incarnation.as_deref().unwrap_or(""),
        );
        put_json(md, CLAIM_HEADER, &self.claim);
    }

    pub fn read(md: &MetadataMap) -> Result<Self, Refusal> {
        let anon = |what: &str| {
            Refusal::new(
                RefusalKind::Anonymous,
                format!("Raft RPC without a valid {what}; only mesoraft masters may send these"),
            )
        };
        let text = |k: &str| md.get(k).and_then(|v| v.to_str().ok());
        let from = text(FROM_HEADER)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anon("sender id"))?;
        let to = text(TO_HEADER)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anon("target id"))?;
        let to_incarnation = text(TO_INCARNATION_HEADER)
            .ok_or_else(|| anon("target incarnation"))?
            .to_string();
        let claim: Claim = get_json(md, CLAIM_HEADER, 4096)
            .ok()
            .flatten()
            .ok_or_else(|| anon("identity claim"))?;
        claim
            .validate()
            .map_err(|e| anon(&format!("identity claim ({e})")))?;
        if claim.node != from {
            return Err(anon("identity claim (its id differs from the sender id)"));
        }
        Ok(Self {
            from,
            to,
            to_incarnation: (!to_incarnation.is_empty()).then_some(to_incarnation),
            claim,
        })
    }
}

/// What the receiving master knows when it judges a request.
#[derive(Clone, Copy, Debug)]
pub struct Receiver<'a> {
    pub id: NodeId,
    pub incarnation: &'a str,
    /// No vote, no log, no snapshot: it never promised anything.
    pub pristine: bool,
    /// Why it takes no part, if it was shown to be a stale copy.
    pub forked: Option<&'a str>,
    /// The incarnation its membership binds the sender's id to.
    pub sender_bound_to: Option<&'a str>,
    /// Why its ledger refuses the sender, if it does.
    pub sender_forked: Option<&'a str>,
}

/// Which Raft RPC is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RpcKind {
    /// A candidate asks for this master's vote.
    Vote,
    /// A leader replicates (AppendEntries, InstallSnapshot).
    Replication,
}

/// Accept (the request is for this very incarnation, from a sender this
/// master has no reason to doubt) or refuse.
///
/// A sender whose incarnation differs from the one this master's
/// membership binds its id to is refused a vote only. This master's
/// membership may be older than the sender's: a follower catching up holds
/// early entries in which the leader's slot still belongs to the
/// incarnation the leader replaced, and refusing its AppendEntries would
/// keep it from ever reaching the entry that rebound the slot. A leader is
/// judged by Raft's term rule (and a stale copy by the ledger); only a vote
/// is a promise, and a stale view refusing one costs liveness, not safety.
pub fn admit(req: &Addressing, me: &Receiver<'_>, rpc: RpcKind) -> Result<(), Refusal> {
    use RefusalKind::*;
    if let Some(why) = me.forked {
        return Err(Refusal::new(
            SelfForked,
            format!("master {} takes no part in the group: {why}", me.id),
        ));
    }
    if req.to != me.id {
        return Err(Refusal::new(
            Misaddressed,
            format!(
                "this is master {}, not master {}; check the address of master {} in the \
                 membership",
                me.id, req.to, req.to
            ),
        ));
    }
    match req.to_incarnation.as_deref() {
        None if me.pristine => {
            return Err(Refusal::new(
                Unbound,
                format!(
                "master {} is pristine incarnation {} and waits for the leader to bind its slot",
                me.id,
                short(me.incarnation)
            ),
            ))
        }
        None => {
            return Err(Refusal::new(
                NotPristine,
                format!(
                    "master {} has Raft state from an earlier membership and cannot take an \
                     unbound slot; stop it, empty its work dir and start it again",
                    me.id
                ),
            ))
        }
        Some(theirs) if theirs != me.incarnation => {
            return Err(Refusal::new(
                Superseded,
                format!(
                    "master {} is incarnation {}, not incarnation {} the sender's membership \
                     holds; it lost or replaced its work dir and must be removed and added again",
                    me.id,
                    short(me.incarnation),
                    short(theirs)
                ),
            ))
        }
        Some(_) => {}
    }
    if let Some(why) = me.sender_forked {
        return Err(Refusal::new(SenderForked, why.to_string()));
    }
    if let Some(bound) = me.sender_bound_to.filter(|_| rpc == RpcKind::Vote) {
        if bound != req.claim.incarnation {
            return Err(Refusal::new(
                SenderNotMember,
                format!(
                    "master {} is incarnation {} but this master's membership holds its slot \
                     for incarnation {}",
                    req.from,
                    short(&req.claim.incarnation),
                    short(bound)
                ),
            ));
        }
    }
    Ok(())
}

pub fn put_text(md: &mut MetadataMap, key: &'static str, value: &str) {
    if let Ok(v) = value.parse() {
        md.insert(key, v);
    }
}

/// JSON of our own types is ASCII (ids are hex), so it fits a header.
pub fn put_json<T: Serialize>(md: &mut MetadataMap, key: &'static str, value: &T) {
    if let Ok(text) = serde_json::to_string(value) {
        put_text(md, key, &text);
    }
}

/// Ok(None) when absent; Err when present but malformed or over `max`.
pub fn get_json<T: DeserializeOwned>(
    md: &MetadataMap,
    key: &str,
    max: usize,
) -> Result<Option<T>, String> {
    let Some(v) = md.get(key) else {
        return Ok(None);
    };
    let bytes = v.as_bytes();
    if bytes.len() > max {
        return Err(format!("{key} larger than {max} bytes"));
    }
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|e| format!("malformed {key}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Promise;

    fn claim(node: NodeId, inc: &str) -> Claim {
        Claim {
            incarnation: inc.into(),
            node,
            run: 1,
            runs: vec!["01".into()],
            start: Promise::default(),
            durable: None,
        }
    }

    fn req(to_inc: Option<&str>) -> Addressing {
        Addressing {
            from: 2,
            to: 1,
            to_incarnation: to_inc.map(str::to_string),
            claim: claim(2, "bb"),
        }
    }

    fn me<'a>() -> Receiver<'a> {
        Receiver {
            id: 1,
            incarnation: "aa",
            pristine: false,
            forked: None,
            sender_bound_to: Some("bb"),
            sender_forked: None,
        }
    }

    fn kind(r: Result<(), Refusal>) -> Option<RefusalKind> {
        r.err().map(|r| r.kind)
    }

    #[test]
    fn only_requests_for_this_incarnation_pass() {
        assert_eq!(kind(admit(&req(Some("aa")), &me(), RpcKind::Vote)), None);
        // A wiped master is a new incarnation: the old one's requests bounce.
        assert_eq!(
            kind(admit(&req(Some("a0")), &me(), RpcKind::Vote)),
            Some(RefusalKind::Superseded)
        );
        assert_eq!(
            kind(admit(&req(None), &me(), RpcKind::Vote)),
            Some(RefusalKind::NotPristine)
        );
        let pristine = Receiver {
            pristine: true,
            ..me()
        };
        assert_eq!(
            kind(admit(&req(None), &pristine, RpcKind::Vote)),
            Some(RefusalKind::Unbound)
        );
        let mut other = req(Some("aa"));
        other.to = 3;
        assert_eq!(
            kind(admit(&other, &me(), RpcKind::Vote)),
            Some(RefusalKind::Misaddressed)
        );
    }

    #[test]
    fn senders_are_checked_against_membership_and_ledger() {
        let stranger = Receiver {
            sender_bound_to: Some("b0"),
            ..me()
        };
        assert_eq!(
            kind(admit(&req(Some("aa")), &stranger, RpcKind::Vote)),
            Some(RefusalKind::SenderNotMember)
        );
        // A leader's replication is judged by its term, not by a
        // membership this master may not have caught up to.
        assert_eq!(
            kind(admit(&req(Some("aa")), &stranger, RpcKind::Replication)),
            None
        );
        // Unknown to this master's membership (it is catching up): allowed.
        let unknown = Receiver {
            sender_bound_to: None,
            ..me()
        };
        assert_eq!(kind(admit(&req(Some("aa")), &unknown, RpcKind::Vote)), None);
        let forked = Receiver {
            sender_forked: Some("copy"),
            ..me()
        };
        assert_eq!(
            kind(admit(&req(Some("aa")), &forked, RpcKind::Vote)),
            Some(RefusalKind::SenderForked)
        );
        let self_forked = Receiver {
            forked: Some("copy"),
            ..me()
        };
        assert_eq!(
            kind(admit(&req(Some("aa")), &self_forked, RpcKind::Vote)),
            Some(RefusalKind::SelfForked)
        );
    }

    #[test]
    fn addressing_round_trips_through_metadata() {
        let r = req(None);
        let mut md = MetadataMap::new();
        r.write(&mut md);
        assert_eq!(Addressing::read(&md).unwrap(), r);
        let mut bad = MetadataMap::new();
        assert_eq!(
            Addressing::read(&bad).unwrap_err().kind,
            RefusalKind::Anonymous
        );
        r.write(&mut bad);
        put_text(&mut bad, FROM_HEADER, "7");
        assert_eq!(
            Addressing::read(&bad).unwrap_err().kind,
            RefusalKind::Anonymous,
            "claim of another id"
        );
        for k in [
            RefusalKind::Unbound,
            RefusalKind::SenderNotMember,
            RefusalKind::SelfForked,
        ] {
            assert_eq!(RefusalKind::parse(k.as_str()), Some(k));
        }
    }
}
