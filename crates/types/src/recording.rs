use std::fmt;

/// Why a string is not a recording id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordingIdError {
    /// Not a hyphenated UUID.
    #[error("recording id must be a UUID like 0192f5e4-1c2a-4d3b-9e8f-0123456789ab")]
    NotUuid,
}

/// A recording's identity: a random UUID (v4) assigned at ingest. Never reused.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordingId(uuid::Uuid);

impl RecordingId {
    /// A fresh random id.
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    /// Parses the hyphenated form.
    pub fn parse(s: &str) -> Result<Self, RecordingIdError> {
        uuid::Uuid::try_parse(s)
            .map(Self)
            .map_err(|_| RecordingIdError::NotUuid)
    }

    /// The 16 bytes of the id, as bound into associated data.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// Rebuilds from 16 bytes.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self(uuid::Uuid::from_bytes(b))
    }
}

impl fmt::Debug for RecordingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordingId({})", self.0)
    }
}

impl fmt::Display for RecordingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

/// Why a string is not a call id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallIdError {
    /// Empty, longer than 128 bytes, or outside printable ASCII without spaces.
    #[error("call id must be 1 to 128 printable ASCII characters without spaces")]
    Bad,
}

/// The telephony system's identifier of a call (e.g. a SIP Call-ID or recorder session id).
/// Unique per care provider; not patient data.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CallId(String);

impl CallId {
    /// Validates a call id.
    pub fn parse(s: &str) -> Result<Self, CallIdError> {
        if s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CallIdError::Bad);
        }
        Ok(Self(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_id_round_trips() {
        let id = RecordingId::new_random();
        assert_eq!(RecordingId::parse(&id.to_string()), Ok(id));
        assert_eq!(RecordingId::from_bytes(*id.as_bytes()), id);
        assert_eq!(RecordingId::parse("nope"), Err(RecordingIdError::NotUuid));
    }

    #[test]
    fn call_id_rules() {
        assert!(CallId::parse("a84b4c76e66710@pc33.example.se").is_ok());
        assert_eq!(CallId::parse(""), Err(CallIdError::Bad));
        assert_eq!(CallId::parse("has space"), Err(CallIdError::Bad));
        assert_eq!(CallId::parse(&"x".repeat(129)), Err(CallIdError::Bad));
    }
}
