//! Parsing of the operator's command-line values: master addresses, master
//! ids and durations. Used as clap value parsers, so a bad value is a usage
//! error (exit 2) with a message that says what a good one looks like.

use std::time::Duration;

/// Checks and normalizes `HOST:PORT`. Operators paste URLs, so a leading
/// `http://` and a trailing `/` are tolerated; anything with a path, another
/// scheme or no port is refused, because it would silently point elsewhere.
pub fn parse_addr(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let s = s.strip_prefix("http://").unwrap_or(s);
    let s = s.strip_suffix('/').unwrap_or(s);
    if s.is_empty() {
        return Err("empty master address; expected HOST:PORT, e.g. 10.0.0.1:5050".into());
    }
    if s.contains("://") {
        return Err(format!(
            "{raw:?}: only plain HTTP is supported; give HOST:PORT, e.g. 10.0.0.1:5050"
        ));
    }
    if s.chars()
        .any(|c| c.is_whitespace() || c == '/' || c == '?' || c == '#' || c == '@')
    {
        return Err(format!("{raw:?} is not HOST:PORT (e.g. 10.0.0.1:5050)"));
    }
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{raw:?} has no port; expected HOST:PORT, e.g. {s}:5050"))?;
    if host.is_empty() {
        return Err(format!("{raw:?} has no host; expected HOST:PORT"));
    }
    // An IPv6 literal must be bracketed, or its colons are ambiguous with
    // the port separator.
    if host.contains(':') {
        let inner = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .ok_or_else(|| format!("{raw:?}: write IPv6 addresses in brackets, e.g. [::1]:5050"))?;
        inner
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("{raw:?}: {inner:?} is not an IPv6 address"))?;
    } else if host.contains('[') || host.contains(']') {
        return Err(format!("{raw:?} is not HOST:PORT"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(s.to_string()),
        _ => Err(format!(
            "{raw:?}: port {port:?} is not a number from 1 to 65535"
        )),
    }
}

/// A master id: a positive integer (0 is reserved by the masters).
pub fn parse_id(raw: &str) -> Result<u64, String> {
    match raw.trim().parse::<u64>() {
        Ok(0) => Err("master id 0 is reserved; masters are numbered from 1".into()),
        Ok(id) => Ok(id),
        Err(_) => Err(format!(
            "{raw:?} is not a master id (a positive integer, e.g. 4)"
        )),
    }
}

/// A duration: plain seconds (`1`, `0.5`) or with a unit (`500ms`, `2s`,
/// `1m`). Zero and absurd values are refused.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let s = raw.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration (e.g. 1, 0.5, 500ms, 2s, 1m)"))?;
    let secs = value * scale;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("{raw:?}: the duration must be positive"));
    }
    if secs > 86_400.0 {
        return Err(format!(
            "{raw:?}: durations longer than a day are not useful here"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_addr("127.0.0.1:5050").unwrap(), "127.0.0.1:5050");
        assert_eq!(parse_addr(" master-a:5050 ").unwrap(), "master-a:5050");
        assert_eq!(parse_addr("http://a:5050/").unwrap(), "a:5050");
        assert_eq!(parse_addr("[::1]:5050").unwrap(), "[::1]:5050");
        for bad in [
            "",
            "a",
            "a:",
            ":5050",
            "a:0",
            "a:65536",
            "a:50x",
            "a:5050/path",
            "https://a:5050",
            "::1:5050",
            "[zz]:5050",
            "a b:5050",
            "user@a:5050",
            "a]:5050",
            "not-an-address",
        ] {
            assert!(parse_addr(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_addr("a").unwrap_err().contains("no port"));
    }

    #[test]
    fn ids() {
        assert_eq!(parse_id("4"), Ok(4));
        assert!(parse_id("0").unwrap_err().contains("reserved"));
        assert!(parse_id("-1").is_err());
        assert!(parse_id("x").is_err());
        assert!(parse_id("18446744073709551616").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        for bad in ["", "0", "-1", "x", "NaN", "inf", "2h", "100000"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }
}
