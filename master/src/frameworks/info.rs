//! Pure rules about a `FrameworkInfo`: what a re-subscription or
//! UPDATE_FRAMEWORK may change, the failover timeout it asks for, and the
//! framework ids this leader hands out.

use std::time::Duration;

use mesoraft_proto::mesos::v1::FrameworkInfo;

/// Why a framework's info is not accepted; the text goes to the scheduler.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum InfoError {
    #[error(
        "Updating 'FrameworkInfo.{field}' is unsupported; attempted to update from \
         '{old}' to '{new}': subscribe with the original value, or register a new framework"
    )]
    Immutable {
        field: &'static str,
        old: String,
        new: String,
    },
    #[error(
        "Invalid 'FrameworkInfo.failover_timeout' {value}: expected a number of seconds \
         that fits in a duration"
    )]
    FailoverTimeout { value: f64 },
    #[error("'FrameworkInfo.id' {given:?} does not match the framework id '{expected}'")]
    IdMismatch {
        given: Option<String>,
        expected: String,
    },
}

/// Checks what may change between the stored info and a new one, as Mesos
/// allows: name, roles, failover_timeout, hostname, webui_url,
/// capabilities, labels and offer filters may; user, principal and
/// checkpoint may not (tasks, checkpoints and authorization depend on
/// them).
pub fn validate_update(old: &FrameworkInfo, new: &FrameworkInfo) -> Result<(), InfoError> {
    let immutable = |field, old: String, new: String| {
        if old == new {
            Ok(())
        } else {
            Err(InfoError::Immutable { field, old, new })
        }
    };
    immutable("user", old.user.clone(), new.user.clone())?;
    immutable(
        "principal",
        old.principal.clone().unwrap_or_default(),
        new.principal.clone().unwrap_or_default(),
    )?;
    immutable(
        "checkpoint",
        old.checkpoint().to_string(),
        new.checkpoint().to_string(),
    )?;
    failover_timeout(new).map(drop)
}

/// The failover timeout a framework asks for. Negative counts as 0 (as a
/// negative stout `Duration` expires at once); NaN, infinite, or too large
/// for a duration in nanoseconds is refused, as Mesos refuses it.
pub fn failover_timeout(info: &FrameworkInfo) -> Result<Duration, InfoError> {
    let value = info.failover_timeout();
    if !value.is_finite() || value * 1e9 > i64::MAX as f64 {
        return Err(InfoError::FailoverTimeout { value });
    }
    Ok(Duration::try_from_secs_f64(value.max(0.0)).unwrap_or(Duration::ZERO))
}

/// `n` if `id` is `<cluster_id>-<n>` with `n` all ASCII digits: the form of
/// the ids the registry generates (`registry::ids`).
pub(super) fn sequence_of(id: &str, cluster_id: &str) -> Option<u64> {
    let digits = id.strip_prefix(cluster_id)?.strip_prefix('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The id with sequence number `n`, as the registry formats it.
pub(super) fn generated_id(cluster_id: &str, n: u64) -> String {
    format!("{cluster_id}-{n:04}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> FrameworkInfo {
        FrameworkInfo {
            user: "alice".into(),
            name: "f".into(),
            principal: Some("p".into()),
            checkpoint: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn mutable_fields_may_change() {
        let mut new = info();
        new.name = "g".into();
        new.roles = vec!["r".into()];
        new.failover_timeout = Some(60.0);
        new.webui_url = Some("http://x".into());
        assert_eq!(validate_update(&info(), &new), Ok(()));
    }

    #[test]
    fn user_principal_and_checkpoint_may_not() {
        let mut user = info();
        user.user = "bob".into();
        let mut principal = info();
        principal.principal = None;
        let mut checkpoint = info();
        checkpoint.checkpoint = Some(false);
        for (new, field) in [
            (user, "user"),
            (principal, "principal"),
            (checkpoint, "checkpoint"),
        ] {
            let error = validate_update(&info(), &new).unwrap_err();
            assert!(
                matches!(error, InfoError::Immutable { field: f, .. } if f == field),
                "{error}"
            );
            assert!(error.to_string().contains(field));
        }
    }

    #[test]
    fn failover_timeouts_are_checked() {
        let with = |t| FrameworkInfo {
            failover_timeout: Some(t),
            ..info()
        };
        assert_eq!(failover_timeout(&info()), Ok(Duration::ZERO));
        assert_eq!(
            failover_timeout(&with(1.5)),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(failover_timeout(&with(-3.0)), Ok(Duration::ZERO));
        for bad in [f64::NAN, f64::INFINITY, 1e300] {
            assert!(failover_timeout(&with(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn generated_ids_round_trip() {
        assert_eq!(generated_id("c", 7), "c-0007");
        assert_eq!(sequence_of("c-0007", "c"), Some(7));
        assert_eq!(sequence_of("c-12345", "c"), Some(12345));
        assert_eq!(sequence_of("c-S1", "c"), None);
        assert_eq!(sequence_of("d-0001", "c"), None);
        assert_eq!(sequence_of("c-", "c"), None);
    }
}
