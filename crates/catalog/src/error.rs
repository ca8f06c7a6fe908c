/// Errors of the catalog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The writer's queue is full (async submit only); the change was not queued.
    #[error("the catalog writer is saturated; retry shortly")]
    Busy,
    /// The database reported an error.
    #[error("catalog database: {0}")]
    Database(#[from] rusqlite::Error),
    /// The PostgreSQL server reported an error (or could not be reached).
    #[error("catalog database (PostgreSQL): {message}")]
    Postgres {
        /// SQLSTATE, empty when the error is not the server's.
        code: String,
        /// The server's message (with its detail), or the client's.
        message: String,
    },
    /// A recording with this care provider and call id exists already.
    #[error("care provider {care_provider} already has a recording with call id {call_id}")]
    DuplicateCall {
        /// Care provider.
        care_provider: String,
        /// Call id.
        call_id: String,
    },
    /// A governance change is not possible in the current state (already registered, not
    /// awaiting a decision, decided by its requester or holder, …). Nothing was changed.
    #[error("{0}")]
    Conflict(String),
    /// A mutation names a recording that does not exist.
    #[error("recording {0} is not in the catalog")]
    UnknownRecording(String),
    /// A stored value does not parse (the database was edited or is corrupt).
    #[error("catalog row is corrupt: {0}")]
    Corrupt(String),
    /// The audit event could not be encoded.
    #[error("audit event: {0}")]
    Event(#[from] callvault_audit::event::EventError),
    /// The database schema is newer than this build understands.
    #[error("catalog schema version {found} is newer than this build's {supported}")]
    SchemaTooNew {
        /// Version in the file.
        found: i64,
        /// Newest this build knows.
        supported: i64,
    },
    /// The transaction holding a change did not commit (the database refused or could not
    /// be reached); nothing of the change is durable.
    #[error("catalog commit failed: {0}")]
    CommitFailed(String),
    /// The writer thread is gone (the process is shutting down or it panicked).
    #[error("catalog writer stopped")]
    WriterStopped,
}

impl CatalogError {
    /// The message of a schema trigger or constraint that refused a statement (e.g. "a
    /// legal hold covers this recording"), if that is what this error is.
    pub(crate) fn refusal(&self) -> Option<String> {
        match self {
            Self::Database(rusqlite::Error::SqliteFailure(_, Some(m))) => Some(m.clone()),
            // check_violation: a schema guard's RAISE (pg_schema.rs).
            Self::Postgres { code, message } if code == "23514" => Some(message.clone()),
            _ => None,
        }
    }

    /// Whether a constraint (unique key, check, trigger) refused the statement.
    pub(crate) fn is_constraint_violation(&self) -> bool {
        match self {
            Self::Database(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::ConstraintViolation
            }
            // Class 23: integrity constraint violation.
            Self::Postgres { code, .. } => code.starts_with("23"),
            _ => false,
        }
    }
}

/// A stored value that does not parse (the database was edited or is corrupt).
pub(crate) fn corrupt(what: &str) -> CatalogError {
    CatalogError::Corrupt(what.to_owned())
}
