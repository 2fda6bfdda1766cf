//! The masters a scheduler knows and the order it tries them in. Pure.
//!
//! The list starts as the operator's `--masters`; every leader address a
//! redirect names is added, because a group can gain members the operator
//! never listed. The last leader is tried first: after a broken stream it
//! is usually still (or again) the leader, and otherwise it answers fast
//! with a redirect or a refused connection.

/// Parses `host:port,host:port,...` (an `http://` prefix and a trailing
/// `/` tolerated on each, duplicates dropped).
pub fn parse_masters(raw: &str) -> Result<Vec<String>, String> {
    let mut masters: Vec<String> = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let addr = mesoraft_ctl::parse::parse_addr(item)?;
        if !masters.contains(&addr) {
            masters.push(addr);
        }
    }
    if masters.is_empty() {
        return Err(format!(
            "no master address in {raw:?}; expected HOST:PORT[,HOST:PORT...], e.g. 10.0.0.1:5050"
        ));
    }
    Ok(masters)
}

/// Known masters, with the last leader remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterList {
    addrs: Vec<String>,
    leader: Option<usize>,
}

/// A list grows at most this much: redirects are the masters' word, and a
/// confused group must not make the list grow without bound.
const MAX_MASTERS: usize = 64;

impl MasterList {
    pub fn new(addrs: Vec<String>) -> Self {
        MasterList {
            addrs,
            leader: None,
        }
    }

    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    /// The masters to try in one round: the last leader first, then the
    /// others in list order.
    pub fn round(&self) -> Vec<String> {
        let first = self.leader.and_then(|i| self.addrs.get(i));
        first
            .into_iter()
            .chain(self.addrs.iter().filter(|a| Some(*a) != first))
            .cloned()
            .collect()
    }

    /// `addr` leads (a redirect named it, or it answered SUBSCRIBE): it is
    /// added if new and tried first from now on.
    pub fn leader_is(&mut self, addr: &str) {
        let index = match self.addrs.iter().position(|a| a == addr) {
            Some(i) => i,
            None if self.addrs.len() < MAX_MASTERS => {
                self.addrs.push(addr.to_string());
                self.addrs.len() - 1
            }
            None => return,
        };
        self.leader = Some(index);
    }

    pub fn leader(&self) -> Option<&str> {
        self.leader
            .and_then(|i| self.addrs.get(i))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masters_parse_and_bad_ones_are_named() {
        assert_eq!(
            parse_masters(" a:1, http://b:2/ ,a:1,").unwrap(),
            ["a:1", "b:2"]
        );
        let e = parse_masters("a:1,b").unwrap_err();
        assert!(e.contains("\"b\" has no port"), "{e}");
        assert!(parse_masters(" , ")
            .unwrap_err()
            .contains("no master address"));
    }

    #[test]
    fn the_leader_goes_first_and_learned_leaders_are_added() {
        let mut list = MasterList::new(vec!["a:1".into(), "b:2".into(), "c:3".into()]);
        assert_eq!(list.round(), ["a:1", "b:2", "c:3"]);
        list.leader_is("b:2");
        assert_eq!(list.round(), ["b:2", "a:1", "c:3"]);
        list.leader_is("d:4");
        assert_eq!(list.round(), ["d:4", "a:1", "b:2", "c:3"]);
        assert_eq!(list.leader(), Some("d:4"));
        assert_eq!(list.addrs().len(), 4);
    }

    #[test]
    fn the_list_is_bounded() {
        let mut list = MasterList::new(vec!["a:1".into()]);
        for i in 0..200 {
            list.leader_is(&format!("h{i}:1"));
        }
        assert_eq!(list.addrs().len(), MAX_MASTERS);
    }
}
