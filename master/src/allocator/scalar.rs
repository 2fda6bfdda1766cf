//! Scalar amounts in Mesos's fixed-point arithmetic.
//!
//! Mesos keeps scalar resources as doubles but rounds every result to
//! three decimal places, so that `0.1 + 0.2` is `0.3` and adding then
//! subtracting the same amount gives back what one started with. Keeping
//! the amount as an integer count of thousandths gives the same results
//! without any drift: every operation here is exact integer arithmetic.

use std::fmt;

/// How many units of the fixed-point representation make one whole unit.
const SCALE: i64 = 1000;

/// A non-negative scalar amount, exact to a thousandth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Scalar {
    thousandths: i64,
}

/// Why a floating-point value cannot be a [`Scalar`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScalarError {
    #[error("scalar value {0} is not a finite number")]
    NotFinite(f64),
    #[error("scalar value {0} is negative; resource amounts must be zero or more")]
    Negative(f64),
    #[error("scalar value {0} is too large to represent to a thousandth")]
    TooLarge(f64),
}

impl Scalar {
    pub const ZERO: Scalar = Scalar { thousandths: 0 };

    /// Rounds `value` to the nearest thousandth, as Mesos does.
    pub fn from_f64(value: f64) -> Result<Scalar, ScalarError> {
        if !value.is_finite() {
            return Err(ScalarError::NotFinite(value));
        }
        let scaled = (value * SCALE as f64).round();
        if scaled < 0.0 {
            return Err(ScalarError::Negative(value));
        }
        // `i64::MAX as f64` rounds up to 2^63, which itself does not fit.
        if scaled >= i64::MAX as f64 {
            return Err(ScalarError::TooLarge(value));
        }
        Ok(Scalar {
            thousandths: scaled as i64,
        })
    }

    /// An amount given in thousandths (`Scalar::from_thousandths(1500)`
    /// is 1.5).
    pub const fn from_thousandths(thousandths: u32) -> Scalar {
        Scalar {
            thousandths: thousandths as i64,
        }
    }

    pub fn as_f64(self) -> f64 {
        self.thousandths as f64 / SCALE as f64
    }

    pub fn is_zero(self) -> bool {
        self.thousandths == 0
    }

    /// `self + other`, saturating at the largest representable amount
    /// (far beyond any real machine).
    pub fn saturating_add(self, other: Scalar) -> Scalar {
        Scalar {
            thousandths: self.thousandths.saturating_add(other.thousandths),
        }
    }

    /// `self - other`, or `None` when `other` is larger.
    pub fn checked_sub(self, other: Scalar) -> Option<Scalar> {
        (self.thousandths >= other.thousandths).then(|| Scalar {
            thousandths: self.thousandths - other.thousandths,
        })
    }

    /// `self - other`, or zero when `other` is larger.
    pub fn saturating_sub(self, other: Scalar) -> Scalar {
        self.checked_sub(other).unwrap_or(Scalar::ZERO)
    }

    /// `self / other` as a fraction (0 when `other` is zero): the share
    /// of a total that DRF compares.
    pub fn fraction_of(self, other: Scalar) -> f64 {
        if other.thousandths == 0 {
            return 0.0;
        }
        self.thousandths as f64 / other.thousandths as f64
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.thousandths / SCALE;
        let frac = self.thousandths % SCALE;
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let digits = format!("{frac:03}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: f64) -> Scalar {
        Scalar::from_f64(v).unwrap()
    }

    #[test]
    fn point_one_plus_point_two_is_point_three() {
        assert_eq!(s(0.1).saturating_add(s(0.2)), s(0.3));
        assert_eq!(s(0.1).saturating_add(s(0.2)).as_f64(), 0.3);
    }

    #[test]
    fn subtract_then_add_gives_back_the_same_amount() {
        let a = s(1.7);
        let b = s(0.35);
        assert_eq!(a.checked_sub(b).unwrap().saturating_add(b), a);
        let mut x = Scalar::ZERO;
        for _ in 0..1000 {
            x = x.saturating_add(s(0.001));
        }
        assert_eq!(x, s(1.0));
        for _ in 0..1000 {
            x = x.checked_sub(s(0.001)).unwrap();
        }
        assert!(x.is_zero());
    }

    #[test]
    fn rounds_to_three_decimals_like_mesos() {
        assert_eq!(s(0.0004), Scalar::ZERO);
        assert_eq!(s(0.0005), s(0.001));
        assert_eq!(s(1.23456), s(1.235));
        assert_eq!(s(2.5).to_string(), "2.5");
        assert_eq!(s(32.0).to_string(), "32");
        assert_eq!(s(0.05).to_string(), "0.05");
    }

    #[test]
    fn subtraction_below_zero_is_refused() {
        assert_eq!(s(1.0).checked_sub(s(1.001)), None);
        assert_eq!(s(1.0).checked_sub(s(1.0)), Some(Scalar::ZERO));
        assert_eq!(s(1.0).saturating_sub(s(2.0)), Scalar::ZERO);
    }

    #[test]
    fn unrepresentable_values_are_refused() {
        assert_eq!(Scalar::from_f64(-1.0), Err(ScalarError::Negative(-1.0)));
        assert!(matches!(
            Scalar::from_f64(f64::NAN),
            Err(ScalarError::NotFinite(_))
        ));
        assert!(matches!(
            Scalar::from_f64(f64::INFINITY),
            Err(ScalarError::NotFinite(_))
        ));
        assert!(matches!(
            Scalar::from_f64(1e300),
            Err(ScalarError::TooLarge(_))
        ));
        // Rounds to zero, so not negative.
        assert_eq!(s(-0.0001), Scalar::ZERO);
    }
}
