use std::fmt;

/// Why a string is not an E.164 caller number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallerNumberError {
    /// The value does not start with `+`.
    #[error("caller number must be in E.164 form starting with \"+\", e.g. +46701234567")]
    MissingPlus,
    /// After `+` there must be 8 to 15 digits, the first not 0.
    #[error("caller number must have 8 to 15 digits after \"+\", the first not 0")]
    BadDigits,
}

/// A caller's telephone number in E.164 form. Patient data: `Debug` redacts, no `Display`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CallerNumber(String);

impl CallerNumber {
    /// Parses an E.164 number (`+` and 8–15 digits). Spaces and dashes are not accepted:
    /// the edge is strict so that equal numbers have equal blind indexes.
    pub fn parse(s: &str) -> Result<Self, CallerNumberError> {
        let digits = s.strip_prefix('+').ok_or(CallerNumberError::MissingPlus)?;
        if !(8..=15).contains(&digits.len())
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(CallerNumberError::BadDigits);
        }
        Ok(Self(s.to_owned()))
    }

    /// The number. Patient data: only for encryption and blind indexing.
    pub fn expose_value(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CallerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallerNumber(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_e164_and_rejects_the_rest() {
        assert!(CallerNumber::parse("+46701234567").is_ok());
        assert_eq!(
            CallerNumber::parse("0701234567"),
            Err(CallerNumberError::MissingPlus)
        );
        for bad in [
            "+",
            "+4670",
            "+046701234567",
            "+46 70 123",
            "+4670123456789012",
        ] {
            assert_eq!(
                CallerNumber::parse(bad),
                Err(CallerNumberError::BadDigits),
                "{bad}"
            );
        }
        let n = CallerNumber::parse("+46701234567").expect("valid");
        assert!(!format!("{n:?}").contains("4670"));
    }
}
