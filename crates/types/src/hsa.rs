use std::fmt;

/// Maximum length of an HSA-ID in characters.
pub const HSA_ID_MAX_LEN: usize = 31;

/// Why a string is not an HSA-ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HsaIdError {
    /// The value is longer than 31 characters.
    #[error("HSA-ID is {0} characters long; at most {HSA_ID_MAX_LEN} are allowed")]
    TooLong(usize),
    /// The value does not start with the country code `SE`.
    #[error("HSA-ID must start with \"SE\"")]
    MissingCountry,
    /// The ten characters after `SE` are not the organisation number digits.
    #[error("HSA-ID must have a 10-digit organisation number after \"SE\"")]
    BadOrganisationNumber,
    /// The organisation number is not followed by `-`.
    #[error("HSA-ID must have \"-\" after the organisation number")]
    MissingDash,
    /// The suffix after `-` is empty or holds characters other than `A-Z`, `a-z`, `0-9`.
    #[error("HSA-ID suffix after \"-\" must be one or more of A-Z, a-z, 0-9")]
    BadSuffix,
}

/// A national HSA identity (person, unit, organisation or system), e.g. `SE2321000016-1003`.
///
/// Form: `SE` + 10-digit organisation number + `-` + `[A-Za-z0-9]+`, at most 31 characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HsaId(String);

impl HsaId {
    /// Parses and validates an HSA-ID.
    pub fn parse(s: &str) -> Result<Self, HsaIdError> {
        Self::validate(s)?;
        Ok(Self(s.to_owned()))
    }

    /// Checks that `s` is an HSA-ID without allocating.
    pub fn validate(s: &str) -> Result<(), HsaIdError> {
        let len = s.chars().count();
        if len > HSA_ID_MAX_LEN {
            return Err(HsaIdError::TooLong(len));
        }
        let rest = s.strip_prefix("SE").ok_or(HsaIdError::MissingCountry)?;
        let org = rest.get(..10).ok_or(HsaIdError::BadOrganisationNumber)?;
        if !org.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HsaIdError::BadOrganisationNumber);
        }
        let suffix = rest[10..]
            .strip_prefix('-')
            .ok_or(HsaIdError::MissingDash)?;
        if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(HsaIdError::BadSuffix);
        }
        Ok(())
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 10-digit organisation number embedded in the identifier.
    pub fn organisation_number(&self) -> &str {
        &self.0[2..12]
    }
}

impl fmt::Debug for HsaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HsaId({})", self.0)
    }
}

impl fmt::Display for HsaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for HsaId {
    type Err = HsaIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

macro_rules! hsa_role {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        pub struct $name(HsaId);

        impl $name {
            /// Parses the HSA-ID of this role.
            pub fn parse(s: &str) -> Result<Self, HsaIdError> {
                HsaId::parse(s).map(Self)
            }
            /// The underlying HSA-ID.
            pub fn hsa_id(&self) -> &HsaId {
                &self.0
            }
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl From<HsaId> for $name {
            fn from(id: HsaId) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

hsa_role!(
    /// A care provider (vårdgivare), identified by its HSA-ID. Owner of a key-encryption key.
    CareProvider
);
hsa_role!(
    /// A care unit (vårdenhet) of a care provider, identified by its HSA-ID.
    CareUnit
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_hsa_ids() {
        for ok in [
            "SE2321000016-1003",
            "SE2321000016-A",
            "SE1234567890-abcXYZ0123456789ab",
        ] {
            let id = HsaId::parse(ok).expect(ok);
            assert_eq!(id.as_str(), ok);
        }
        assert_eq!(
            HsaId::parse("SE2321000016-1003")
                .expect("valid")
                .organisation_number(),
            "2321000016"
        );
    }

    #[test]
    fn rejects_each_malformation_with_its_reason() {
        let cases = [
            ("", HsaIdError::MissingCountry),
            ("DK2321000016-1003", HsaIdError::MissingCountry),
            ("SE232100001-1003", HsaIdError::BadOrganisationNumber),
            ("SE23210000X6-1003", HsaIdError::BadOrganisationNumber),
            ("SE2321000016_1003", HsaIdError::MissingDash),
            ("SE2321000016", HsaIdError::MissingDash),
            ("SE2321000016-", HsaIdError::BadSuffix),
            ("SE2321000016-10 3", HsaIdError::BadSuffix),
            ("SE2321000016-1ö", HsaIdError::BadSuffix),
            ("SE1234567890-abcXYZ0123456789abc", HsaIdError::TooLong(32)),
        ];
        for (input, want) in cases {
            assert_eq!(HsaId::parse(input), Err(want), "{input:?}");
        }
    }
}
