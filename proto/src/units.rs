//! Flag values written the way Mesos writes them, shared by the master and
//! the agent so both accept the same text.
//!
//! * Durations: a number and a unit, as Mesos's `Duration::parse` takes
//!   them (`10secs`, `5mins`, `500ms`, `2hrs`, `1days`, `1weeks`, `100us`,
//!   `10ns`, `1.5secs`), plus the short forms `10s`, `5m`, `2h`; a bare
//!   number means seconds. [`parse_duration`] is a clap `value_parser`.
//! * Rates: `COUNT/DURATION` as in Mesos's `--agent_removal_rate_limit`
//!   (`1/10mins`, `100/1secs`), into [`Rate`].
//! * Fractions: `100%`, `50%` or `0.5`, as in Mesos's
//!   `--recovery_agent_removal_limit`, into [`Fraction`] in `[0, 1]`.
//!
//! Every error names the text it refused and shows the right form.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Refused text is quoted up to this many characters, so a pasted
/// document does not flood the error.
const MAX_QUOTED_CHARS: usize = 64;

/// The right form of a duration, shown in every duration error.
pub const DURATION_FORM: &str = "write a number and a unit, e.g. 10secs, 5mins, 500ms, 2hrs or \
     1.5secs (units: ns, us, ms, s or secs, m or mins, h or hrs, days, weeks; a bare number \
     means seconds)";

/// The right form of a rate, shown in every rate error.
pub const RATE_FORM: &str = "write COUNT/DURATION, e.g. 1/10mins or 100/1secs";

/// The right form of a fraction, shown in every fraction error.
pub const FRACTION_FORM: &str = "write a percentage or a fraction, e.g. 100%, 50% or 0.5";

/// Why a flag value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("{text:?} is not a duration: {problem}; {DURATION_FORM}")]
    Duration { text: String, problem: String },
    #[error("{text:?} is not a rate: {problem}; {RATE_FORM}")]
    Rate { text: String, problem: String },
    #[error("{text:?} is not a fraction: {problem}; {FRACTION_FORM}")]
    Fraction { text: String, problem: String },
}

fn quoted(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTED_CHARS {
        text.to_string()
    } else {
        let head: String = text.chars().take(MAX_QUOTED_CHARS).collect();
        format!("{head}...")
    }
}

fn duration_error(text: &str, problem: impl Into<String>) -> UnitError {
    UnitError::Duration {
        text: quoted(text),
        problem: problem.into(),
    }
}

/// Nanoseconds in one of each unit, longest spelling first where two
/// spellings share a prefix.
const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("secs", NANOS_PER_SEC),
    ("s", NANOS_PER_SEC),
    ("mins", 60 * NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("hrs", 3_600 * NANOS_PER_SEC),
    ("h", 3_600 * NANOS_PER_SEC),
    ("days", 86_400 * NANOS_PER_SEC),
    ("weeks", 7 * 86_400 * NANOS_PER_SEC),
];

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Parses a duration as Mesos writes it (see the module doc). Usable as a
/// clap `value_parser`.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    if number.is_empty() {
        let problem = if trimmed.is_empty() {
            "it is empty".to_string()
        } else if trimmed.starts_with('-') {
            "durations cannot be negative".to_string()
        } else {
            "it does not start with a number".to_string()
        };
        return Err(duration_error(text, problem));
    }
    let unit = unit.trim();
    let unit_nanos = if unit.is_empty() {
        NANOS_PER_SEC
    } else {
        UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, nanos)| *nanos)
            .ok_or_else(|| duration_error(text, format!("unknown unit {:?}", quoted(unit))))?
    };
    let too_long = || duration_error(text, "it is too long to represent");
    if let Ok(whole) = number.parse::<u64>() {
        // Exact integer arithmetic: `10ns` is 10 ns, not 10.000000000000002.
        let nanos = u128::from(whole) * u128::from(unit_nanos);
        return nanos_to_duration(nanos).ok_or_else(too_long);
    }
    let value: f64 = number
        .parse()
        .map_err(|_| duration_error(text, format!("{:?} is not a number", quoted(number))))?;
    let nanos = (value * unit_nanos as f64).round();
    if !nanos.is_finite() || nanos >= u128::MAX as f64 {
        return Err(too_long());
    }
    nanos_to_duration(nanos as u128).ok_or_else(too_long)
}

fn nanos_to_duration(nanos: u128) -> Option<Duration> {
    let secs = u64::try_from(nanos / u128::from(NANOS_PER_SEC)).ok()?;
    let sub = (nanos % u128::from(NANOS_PER_SEC)) as u32;
    Some(Duration::new(secs, sub))
}

/// A duration in the longest Mesos unit that expresses it exactly
/// (`10mins`, `1500ms`, `0secs`), so [`parse_duration`] reads it back to
/// the same value.
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0secs".to_string();
    }
    const LONGEST_FIRST: &[(&str, u64)] = &[
        ("weeks", 7 * 86_400 * NANOS_PER_SEC),
        ("days", 86_400 * NANOS_PER_SEC),
        ("hrs", 3_600 * NANOS_PER_SEC),
        ("mins", 60 * NANOS_PER_SEC),
        ("secs", NANOS_PER_SEC),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];
    LONGEST_FIRST
        .iter()
        .find(|(_, unit)| nanos.is_multiple_of(u128::from(*unit)))
        .map(|(name, unit)| format!("{}{name}", nanos / u128::from(*unit)))
        .unwrap_or_else(|| format!("{nanos}ns"))
}

/// `count` events per `per`, as in Mesos's `--agent_removal_rate_limit`
/// (`1/10mins`: at most one agent marked unreachable every ten minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// At least 1.
    pub count: u32,
    /// Longer than zero.
    pub per: Duration,
}

impl Rate {
    /// The spacing of events at this rate: `per / count`.
    pub fn interval(&self) -> Duration {
        self.per / self.count
    }
}

impl FromStr for Rate {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |problem: String| UnitError::Rate {
            text: quoted(text),
            problem,
        };
        let (count, per) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| error("it has no '/'".into()))?;
        let count: u32 = count.trim().parse().map_err(|_| {
            error(format!(
                "the count {:?} is not a whole number",
                quoted(count.trim())
            ))
        })?;
        if count == 0 {
            return Err(error("the count must be at least 1".into()));
        }
        let per = parse_duration(per).map_err(|e| match e {
            UnitError::Duration { problem, .. } => error(format!("the duration {problem}")),
            other => other,
        })?;
        if per.is_zero() {
            return Err(error("the duration must be longer than zero".into()));
        }
        Ok(Rate { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, format_duration(self.per))
    }
}

/// A share in `[0, 1]`, written `50%` or `0.5`, as in Mesos's
/// `--recovery_agent_removal_limit`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Fraction(f64);

impl Fraction {
    pub const ZERO: Fraction = Fraction(0.0);
    pub const ALL: Fraction = Fraction(1.0);

    /// `None` unless `value` is a finite number in `[0, 1]`.
    pub fn new(value: f64) -> Option<Self> {
        (value.is_finite() && (0.0..=1.0).contains(&value)).then_some(Fraction(value))
    }

    pub fn value(self) -> f64 {
        self.0
    }
}

impl FromStr for Fraction {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |problem: String| UnitError::Fraction {
            text: quoted(text),
            problem,
        };
        let trimmed = text.trim();
        let (number, percent) = match trimmed.strip_suffix('%') {
            Some(number) => (number.trim(), true),
            None => (trimmed, false),
        };
        let value: f64 = number
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| error(format!("{:?} is not a number", quoted(number))))?;
        if percent {
            return Fraction::new(value / 100.0)
                .ok_or_else(|| error("a percentage must be between 0% and 100%".into()));
        }
        if value > 1.0 && value <= 100.0 {
            return Err(error(format!(
                "a fraction must be between 0 and 1 (for {value} percent write {value}%)"
            )));
        }
        Fraction::new(value).ok_or_else(|| error("a fraction must be between 0 and 1".into()))
    }
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0 * 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn mesos_duration_units_parse() {
        let cases = [
            ("10secs", Duration::from_secs(10)),
            ("5mins", Duration::from_secs(300)),
            ("500ms", ms(500)),
            ("2hrs", Duration::from_secs(7_200)),
            ("1days", Duration::from_secs(86_400)),
            ("1weeks", Duration::from_secs(604_800)),
            ("100us", Duration::from_micros(100)),
            ("10ns", Duration::from_nanos(10)),
            ("1.5secs", ms(1_500)),
            ("0.5ms", Duration::from_micros(500)),
            ("0secs", Duration::ZERO),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn short_forms_and_bare_numbers_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7_200)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("0.25"), Ok(ms(250)));
        assert_eq!(parse_duration(" 3 secs "), Ok(Duration::from_secs(3)));
    }

    #[test]
    fn bad_durations_name_the_text_and_show_the_form() {
        for text in [
            "",
            "secs",
            "-5secs",
            "5parsecs",
            "1.2.3secs",
            "99999999999999weeks",
        ] {
            let err = parse_duration(text).unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, UnitError::Duration { .. }), "{text}");
            assert!(message.contains(&format!("{text:?}")), "{message}");
            assert!(message.contains("e.g. 10secs"), "{message}");
        }
        let message = parse_duration("5parsecs").unwrap_err().to_string();
        assert!(message.contains("unknown unit \"parsecs\""), "{message}");
    }

    #[test]
    fn formatted_durations_read_back_to_the_same_value() {
        for d in [
            Duration::ZERO,
            Duration::from_secs(600),
            ms(1_500),
            Duration::from_nanos(7),
            Duration::from_secs(3 * 86_400),
            Duration::new(1, 1),
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?}");
        }
        assert_eq!(format_duration(Duration::from_secs(600)), "10mins");
        assert_eq!(format_duration(ms(1_500)), "1500ms");
    }

    #[test]
    fn rates_parse_into_count_and_duration() {
        let rate: Rate = "1/10mins".parse().unwrap();
        assert_eq!(
            rate,
            Rate {
                count: 1,
                per: Duration::from_secs(600)
            }
        );
        let rate: Rate = " 100 / 1secs ".parse().unwrap();
        assert_eq!(rate.count, 100);
        assert_eq!(rate.interval(), ms(10));
        assert_eq!(rate.to_string(), "100/1secs");
        assert_eq!(rate.to_string().parse::<Rate>(), Ok(rate));
    }

    #[test]
    fn bad_rates_name_the_text_and_show_the_form() {
        for text in [
            "10mins", "x/10mins", "0/1secs", "1/0secs", "1/soon", "-1/1secs",
        ] {
            let err = text.parse::<Rate>().unwrap_err();
            assert!(matches!(err, UnitError::Rate { .. }), "{text}: {err}");
            let message = err.to_string();
            assert!(message.contains(&format!("{text:?}")), "{message}");
            assert!(message.contains("COUNT/DURATION"), "{message}");
        }
    }

    #[test]
    fn percentages_and_fractions_parse_into_zero_to_one() {
        let cases = [
            ("100%", 1.0),
            ("50%", 0.5),
            ("0%", 0.0),
            ("12.5 %", 0.125),
            ("0.5", 0.5),
            ("1", 1.0),
            ("0", 0.0),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Fraction>().map(Fraction::value), Ok(want));
        }
        assert_eq!(Fraction::ALL.to_string(), "100%");
    }

    #[test]
    fn bad_fractions_name_the_text_and_show_the_form() {
        for text in ["150%", "-1%", "1.5", "half", "NaN", "inf", "", "%"] {
            let err = text.parse::<Fraction>().unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, UnitError::Fraction { .. }), "{text}");
            assert!(message.contains("e.g. 100%"), "{message}");
        }
        let message = "50".parse::<Fraction>().unwrap_err().to_string();
        assert!(message.contains("write 50%"), "{message}");
    }

    #[test]
    fn long_refused_text_is_clipped() {
        let text = "x".repeat(1_000);
        let message = parse_duration(&text).unwrap_err().to_string();
        assert!(message.len() < 400, "{message}");
    }
}
