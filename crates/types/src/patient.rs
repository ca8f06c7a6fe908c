use std::fmt;

use time::{Date, Month};

/// Maximum length of an opaque reserve number.
pub const RESERVE_NUMBER_MAX_LEN: usize = 32;

/// Why a string is not a patient id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatientIdError {
    /// The value has none of the accepted shapes.
    #[error(
        "patient id must be YYYYMMDD-NNNN, YYYYMMDDNNNN, YYMMDD-NNNN or YYMMDD+NNNN (a personnummer or samordningsnummer)"
    )]
    BadShape,
    /// The date part is not a calendar date (after removing 60 from a samordningsnummer day).
    // The message never repeats the date: it is part of the patient's identity.
    #[error(
        "patient id has no valid birth date (month 1-12, day valid for the month; +60 for samordningsnummer)"
    )]
    BadDate,
    /// The birth date lies in the future.
    #[error("patient id has a birth date in the future")]
    FutureDate,
    /// The Luhn check digit does not match.
    #[error("patient id check digit is wrong (Luhn check failed)")]
    BadCheckDigit,
    /// A reserve number is empty, too long, or has characters outside `A-Z a-z 0-9 -`.
    #[error(
        "reserve number must be 1 to {RESERVE_NUMBER_MAX_LEN} characters of A-Z, a-z, 0-9 and -"
    )]
    BadReserveNumber,
}

/// Which national scheme a patient id belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatientIdKind {
    /// Personnummer (Skatteverket), 12 digits `YYYYMMDDNNNC`.
    Personnummer,
    /// Samordningsnummer: like a personnummer with 60 added to the day.
    Samordningsnummer,
    /// A care provider's local reserve number, opaque to callvault.
    ReserveNumber,
}

/// A patient identifier. Patient data: `Debug` is redacted, there is no `Display`.
///
/// Personnummer and samordningsnummer are normalised to 12 digits; the canonical form
/// (see [`PatientId::canonical`]) is what gets encrypted and blind-indexed, so every accepted
/// spelling of the same person finds the same records.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PatientId {
    kind: PatientIdKind,
    value: String,
}

impl PatientId {
    /// Parses a personnummer or samordningsnummer, resolving two-digit years against today.
    pub fn parse(s: &str) -> Result<Self, PatientIdError> {
        Self::parse_at(s, time::OffsetDateTime::now_utc().date())
    }

    /// Parses with an explicit "today", which decides the century of `YYMMDD` forms.
    pub fn parse_at(s: &str, today: Date) -> Result<Self, PatientIdError> {
        let b = s.as_bytes();
        let all_digits = |x: &[u8]| x.iter().all(u8::is_ascii_digit);
        let digits12 = match b.len() {
            13 if b[8] == b'-' && all_digits(&b[..8]) && all_digits(&b[9..]) => {
                format!("{}{}", &s[..8], &s[9..])
            }
            12 if all_digits(b) => s.to_owned(),
            11 if (b[6] == b'-' || b[6] == b'+') && all_digits(&b[..6]) && all_digits(&b[7..]) => {
                let yy: i32 = num(&s[..2]);
                let centenarian = b[6] == b'+';
                // Compare the real birthday with today: a samordningsnummer's day is +60.
                let day: u8 = num(&s[4..6]);
                let real_mmdd = format!("{}{:02}", &s[2..4], if day > 60 { day - 60 } else { day });
                let year = resolve_century(yy, &real_mmdd, today, centenarian);
                format!("{year:04}{}{}", &s[2..6], &s[7..])
            }
            _ => return Err(PatientIdError::BadShape),
        };
        let year: i32 = num(&digits12[..4]);
        let month: u8 = num(&digits12[4..6]);
        let day_written: u8 = num(&digits12[6..8]);
        let (kind, day) = if day_written > 60 {
            (PatientIdKind::Samordningsnummer, day_written - 60)
        } else {
            (PatientIdKind::Personnummer, day_written)
        };
        let date = Month::try_from(month)
            .ok()
            .and_then(|m| Date::from_calendar_date(year, m, day).ok())
            .ok_or(PatientIdError::BadDate)?;
        if date > today {
            return Err(PatientIdError::FutureDate);
        }
        if !luhn_ok(&digits12.as_bytes()[2..]) {
            return Err(PatientIdError::BadCheckDigit);
        }
        Ok(Self {
            kind,
            value: digits12,
        })
    }

    /// Wraps a care provider's reserve number (reservnummer), opaque to callvault.
    pub fn reserve_number(s: &str) -> Result<Self, PatientIdError> {
        if s.is_empty()
            || s.len() > RESERVE_NUMBER_MAX_LEN
            || !s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        {
            return Err(PatientIdError::BadReserveNumber);
        }
        Ok(Self {
            kind: PatientIdKind::ReserveNumber,
            value: s.to_owned(),
        })
    }

    /// Parses a personnummer/samordningsnummer, or a reserve number written `R:<value>`.
    pub fn parse_any(s: &str) -> Result<Self, PatientIdError> {
        match s.strip_prefix("R:") {
            Some(r) => Self::reserve_number(r),
            None => Self::parse(s),
        }
    }

    /// The scheme of this id.
    pub fn kind(&self) -> PatientIdKind {
        self.kind
    }

    /// The canonical, scheme-tagged form (`pnr:YYYYMMDDNNNN`, `snr:…`, `res:…`).
    ///
    /// Patient data: only for encryption and blind indexing, never for output.
    pub fn canonical(&self) -> String {
        let tag = match self.kind {
            PatientIdKind::Personnummer => "pnr",
            PatientIdKind::Samordningsnummer => "snr",
            PatientIdKind::ReserveNumber => "res",
        };
        format!("{tag}:{}", self.value)
    }

    /// Rebuilds an id from its canonical form (as decrypted from the catalog).
    pub fn from_canonical(s: &str) -> Result<Self, PatientIdError> {
        let today = time::OffsetDateTime::now_utc().date();
        match s.split_once(':') {
            Some(("pnr" | "snr", v)) => Self::parse_at(v, today),
            Some(("res", v)) => Self::reserve_number(v),
            _ => Err(PatientIdError::BadShape),
        }
    }

    /// The normalised value (12 digits, or the reserve number). Patient data.
    pub fn expose_value(&self) -> &str {
        &self.value
    }

    /// The form people read: `YYYYMMDD-NNNN` for personnummer and samordningsnummer, the
    /// reserve number as registered. Patient data: only for an authorized person's page or
    /// document.
    pub fn expose_display(&self) -> String {
        let v = &self.value;
        match self.kind {
            PatientIdKind::ReserveNumber => v.clone(),
            _ if v.len() == 12 && v.is_ascii() => format!("{}-{}", &v[..8], &v[8..]),
            _ => v.clone(),
        }
    }
}

impl fmt::Debug for PatientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PatientId({:?}, <redacted>)", self.kind)
    }
}

fn num<T: std::str::FromStr + Default>(s: &str) -> T {
    // Callers pass only ASCII digit slices of at most 4 characters.
    s.parse().unwrap_or_default()
}

/// Picks the century for `YYMMDD`: the latest year not after today (`-`), or at least
/// 100 years before today (`+`).
fn resolve_century(yy: i32, mmdd: &str, today: Date, centenarian: bool) -> i32 {
    let this_year = today.year();
    let mut year = this_year - (this_year - yy).rem_euclid(100);
    // If the birthday is later this year than today, the person was born a century earlier
    // only when the whole date would be in the future.
    let mmdd_today = format!("{:02}{:02}", u8::from(today.month()), today.day());
    if year == this_year && mmdd > mmdd_today.as_str() {
        year -= 100;
    }
    if centenarian {
        year -= 100;
    }
    year
}

/// Luhn weighted digit sum of ASCII digits, weights 2,1,2,1,… from the left.
fn luhn_sum(digits: &[u8]) -> u32 {
    digits
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let v = u32::from(d.wrapping_sub(b'0')) * if i % 2 == 0 { 2 } else { 1 };
            if v > 9 { v - 9 } else { v }
        })
        .sum()
}

/// Luhn check over the 10 digits `YYMMDDNNNC`.
fn luhn_ok(ten: &[u8]) -> bool {
    luhn_sum(ten).is_multiple_of(10)
}

/// The check digit of the nine digits `YYMMDDNNN` of a personnummer or samordningsnummer
/// (for generating test and demo data; `None` unless given exactly nine ASCII digits).
pub fn check_digit(nine: &str) -> Option<u8> {
    (nine.len() == 9 && nine.bytes().all(|b| b.is_ascii_digit()))
        .then(|| ((10 - luhn_sum(nine.as_bytes()) % 10) % 10) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 27);

    #[test]
    fn all_spellings_normalise_to_twelve_digits() {
        // Skatteverket's test personnummer 19121212-1212.
        for s in ["19121212-1212", "191212121212", "121212+1212"] {
            let p = PatientId::parse_at(s, TODAY).expect(s);
            assert_eq!(p.expose_value(), "191212121212", "{s}");
            assert_eq!(p.kind(), PatientIdKind::Personnummer);
        }
        let p = PatientId::parse_at("121212-1212", TODAY).expect("short");
        assert_eq!(p.expose_value(), "201212121212");
        assert_eq!(p.canonical(), "pnr:201212121212");
    }

    #[test]
    fn short_form_never_lands_in_the_future() {
        // 2026-12-24 is after TODAY, so "261224-..." is 1926.
        let ten = "2612242384";
        assert!(luhn_ok(ten.as_bytes()), "fixture check digit");
        let p = PatientId::parse_at("261224-2384", TODAY).expect("valid");
        assert_eq!(&p.expose_value()[..4], "1926");
        let p = PatientId::parse_at("261224+2384", TODAY).expect("valid");
        assert_eq!(&p.expose_value()[..4], "1826");
    }

    #[test]
    fn short_samordningsnummer_of_this_year_resolves_to_this_century() {
        // Born 2026-11-05, written with day 65: not in the future, so 2026, not 1926.
        let nine = "261165238";
        let check = check_digit(nine).expect("digit");
        let p = PatientId::parse_at(&format!("261165-238{check}"), TODAY).expect("valid");
        assert_eq!(&p.expose_value()[..4], "2026");
        assert_eq!(p.kind(), PatientIdKind::Samordningsnummer);
    }

    #[test]
    fn samordningsnummer_adds_sixty_to_the_day() {
        // 1970-10-03 written with day 63.
        let p = PatientId::parse_at("19701063-2391", TODAY).expect("samordningsnummer");
        assert_eq!(p.kind(), PatientIdKind::Samordningsnummer);
        assert_eq!(p.canonical(), "snr:197010632391");
    }

    #[test]
    fn rejects_with_reason() {
        assert_eq!(
            PatientId::parse_at("19121212-1213", TODAY),
            Err(PatientIdError::BadCheckDigit)
        );
        assert_eq!(
            PatientId::parse_at("1912121-21212", TODAY),
            Err(PatientIdError::BadShape)
        );
        assert_eq!(
            PatientId::parse_at("1212121212", TODAY),
            Err(PatientIdError::BadShape)
        );
        assert!(matches!(
            PatientId::parse_at("19121312-1212", TODAY),
            Err(PatientIdError::BadDate)
        ));
        assert!(matches!(
            PatientId::parse_at("19990230-1234", TODAY),
            Err(PatientIdError::BadDate)
        ));
        assert_eq!(
            PatientId::parse_at("20301212-1212", TODAY),
            Err(PatientIdError::FutureDate)
        );
        assert_eq!(
            PatientId::parse_at("", TODAY),
            Err(PatientIdError::BadShape)
        );
    }

    #[test]
    fn check_digit_completes_a_valid_number() {
        assert_eq!(check_digit("121212121"), Some(2));
        assert_eq!(check_digit("12121212"), None);
        assert_eq!(check_digit("12121212x"), None);
    }

    #[test]
    fn reserve_numbers_are_opaque_but_checked() {
        let r = PatientId::parse_any("R:RES-0042").expect("reserve");
        assert_eq!(r.kind(), PatientIdKind::ReserveNumber);
        assert_eq!(r.canonical(), "res:RES-0042");
        assert_eq!(
            PatientId::reserve_number("a b"),
            Err(PatientIdError::BadReserveNumber)
        );
        assert_eq!(
            PatientId::reserve_number(""),
            Err(PatientIdError::BadReserveNumber)
        );
    }

    #[test]
    fn canonical_round_trips_and_debug_is_redacted() {
        let p = PatientId::parse_at("19121212-1212", TODAY).expect("valid");
        assert_eq!(PatientId::from_canonical(&p.canonical()), Ok(p.clone()));
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("1212"), "{dbg}");
    }
}
