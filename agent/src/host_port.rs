//! `HOST:PORT` as the agent's flags take it (`--masters`,
//! `--advertise-address`): checked for syntax, not reachability.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

/// A `HOST:PORT`. The host is a name, an IPv4 address or an IPv6 address
/// in brackets; names are kept in lower case, as DNS compares them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    host: String,
    port: u16,
}

/// Why a `HOST:PORT` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not HOST:PORT: {problem}")]
pub struct HostPortError {
    pub text: String,
    pub problem: String,
}

impl HostPort {
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host` (checked as by [`check_host`]) and a port other than 0.
    pub fn new(host: &str, port: u16) -> Result<Self, HostPortError> {
        format!("{host}:{port}").parse()
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl FromStr for HostPort {
    type Err = HostPortError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |problem: String| HostPortError {
            text: text.to_string(),
            problem,
        };
        let trimmed = text.trim();
        if trimmed.contains("://") {
            return Err(bad("give the address without a scheme".into()));
        }
        let (host, port) = trimmed
            .rsplit_once(':')
            .ok_or_else(|| bad("no port".into()))?;
        let port = match port.parse::<u16>() {
            Ok(0) | Err(_) => return Err(bad("the port must be a number from 1 to 65535".into())),
            Ok(p) => p,
        };
        if let Some(inner) = host.strip_prefix('[') {
            let ip = inner
                .strip_suffix(']')
                .ok_or_else(|| bad("unclosed '['".into()))?;
            ip.parse::<Ipv6Addr>()
                .map_err(|_| bad("not an IPv6 address between the brackets".into()))?;
        } else if host.contains(':') {
            return Err(bad(
                "write an IPv6 address in brackets, e.g. [fd00::1]:5050".into(),
            ));
        } else {
            check_host(host).map_err(bad)?;
        }
        Ok(HostPort {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// A host name or IPv4 address: not empty, at most 253 characters of
/// letters, digits, `.`, `-` and `_`.
pub fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("no host".into());
    }
    if host.len() > 253 {
        return Err("the host name is longer than 253 characters".into());
    }
    match host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '-' || *c == '_'))
    {
        Some(c) => Err(format!("{c:?} is not allowed in a host name")),
        None => Ok(()),
    }
}

/// A host name as `--hostname` takes it: [`check_host`], or an IPv6
/// address (without brackets, as Mesos's `--hostname` would hold it).
pub fn check_hostname(name: &str) -> Result<(), String> {
    if name.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    check_host(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_parse() {
        let a: HostPort = " Agent-1.Example.com:5051 ".parse().unwrap();
        assert_eq!((a.host(), a.port()), ("agent-1.example.com", 5051));
        assert_eq!(a.to_string(), "agent-1.example.com:5051");
        let b: HostPort = "[fd00::1]:5050".parse().unwrap();
        assert_eq!(b.host(), "[fd00::1]");
        assert_eq!(
            HostPort::new("10.0.0.1", 80).unwrap().to_string(),
            "10.0.0.1:80"
        );
    }

    #[test]
    fn bad_addresses_say_why() {
        let cases = [
            ("m1", "no port"),
            ("m1:0", "from 1 to 65535"),
            ("m1:70000", "from 1 to 65535"),
            (":5050", "no host"),
            ("http://m1:5050", "scheme"),
            ("fd00::1:5050", "brackets"),
            ("[fd00::1:5050", "unclosed"),
            ("[m1]:5050", "IPv6"),
            ("m 1:5050", "not allowed"),
        ];
        for (text, problem) in cases {
            let err = text.parse::<HostPort>().unwrap_err();
            assert_eq!(err.text, text);
            assert!(err.problem.contains(problem), "{text}: {err}");
        }
        assert!(check_hostname("fd00::1").is_ok());
        assert!(check_hostname("").is_err());
        assert!(check_hostname("a/b").is_err());
    }
}
