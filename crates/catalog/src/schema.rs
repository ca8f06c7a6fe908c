//! Embedded migrations. Each entry moves the schema from version i to i+1; never edit one
//! that has shipped, append a new one. (Migration 1 is frozen from the first release; no
//! catalog outside tests and demos exists before it.)

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: recordings, placements, repair tasks, audit log, checkpoints, care providers.
    r#"
CREATE TABLE care_providers (
    hsa_id          TEXT PRIMARY KEY,
    retention_years INTEGER NOT NULL CHECK (retention_years >= 10),
    added_at_us     INTEGER NOT NULL
) STRICT;

CREATE TABLE recordings (
    id                TEXT PRIMARY KEY,
    care_provider     TEXT NOT NULL,
    care_unit         TEXT NOT NULL,
    call_id           TEXT NOT NULL,
    started_at_us     INTEGER NOT NULL,
    ended_at_us       INTEGER NOT NULL,
    duration_ms       INTEGER NOT NULL,
    codec             TEXT NOT NULL,
    sample_rate       INTEGER NOT NULL,
    channels          INTEGER NOT NULL,
    plaintext_size    INTEGER NOT NULL,
    plaintext_sha256  BLOB NOT NULL,
    ciphertext_size   INTEGER NOT NULL,
    ciphertext_sha256 BLOB NOT NULL,
    dek_id            BLOB NOT NULL,
    wrapped_dek       BLOB NOT NULL,
    kek_version       INTEGER NOT NULL,
    patient_sealed    BLOB,
    patient_bidx      BLOB,
    caller_sealed     BLOB,
    caller_bidx       BLOB,
    nurse_hsa_id      TEXT,
    retention_until_us INTEGER NOT NULL,
    legal_hold        INTEGER NOT NULL DEFAULT 0,
    state             TEXT NOT NULL DEFAULT 'active',
    source            TEXT NOT NULL,
    created_at_us     INTEGER NOT NULL,
    UNIQUE (care_provider, call_id)
) STRICT;
CREATE INDEX recordings_patient ON recordings (care_provider, patient_bidx);
CREATE INDEX recordings_caller ON recordings (care_provider, caller_bidx);
CREATE INDEX recordings_kek ON recordings (care_provider, kek_version);

CREATE TABLE placements (
    recording_id  TEXT NOT NULL REFERENCES recordings (id),
    site          TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('ok', 'missing', 'damaged')),
    updated_at_us INTEGER NOT NULL,
    PRIMARY KEY (recording_id, site)
) STRICT;

CREATE TABLE repair_tasks (
    id            INTEGER PRIMARY KEY,
    recording_id  TEXT NOT NULL REFERENCES recordings (id),
    site          TEXT NOT NULL,
    reason        TEXT NOT NULL,
    created_at_us INTEGER NOT NULL,
    done_at_us    INTEGER
) STRICT;
CREATE INDEX repair_tasks_open ON repair_tasks (done_at_us);

CREATE TABLE audit_log (
    idx          INTEGER PRIMARY KEY,
    leaf_hash    BLOB NOT NULL,
    event        BLOB NOT NULL,
    time_us      INTEGER NOT NULL,
    action       TEXT NOT NULL,
    recording_id TEXT,
    patient_bidx BLOB
) STRICT;
CREATE INDEX audit_patient ON audit_log (patient_bidx);
CREATE INDEX audit_recording ON audit_log (recording_id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
-- Leaves are appended at the next index only: no gaps, no INSERT OR REPLACE of old leaves.
CREATE TRIGGER audit_log_append_next BEFORE INSERT ON audit_log
    WHEN NEW.idx IS NOT (SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_log)
    BEGIN SELECT RAISE(ABORT, 'audit log leaves must be appended at the next index'); END;

CREATE TABLE checkpoints (
    size          INTEGER PRIMARY KEY,
    root_hash     BLOB NOT NULL,
    note          TEXT NOT NULL,
    created_at_us INTEGER NOT NULL
) STRICT;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
"#,
    // 2: governance — registered users and assignments with their four-eyes history; the
    // assignment each audit event was made under (for "last use" in access reviews).
    r#"
CREATE TABLE users (
    hsa_id           TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    title            TEXT NOT NULL,
    care_provider    TEXT NOT NULL,
    registered_at_us INTEGER NOT NULL,
    registered_by    TEXT NOT NULL
) STRICT;

CREATE TABLE assignments (
    id               TEXT PRIMARY KEY,
    holder           TEXT NOT NULL REFERENCES users (hsa_id),
    care_provider    TEXT NOT NULL,
    care_units       TEXT NOT NULL,
    purpose          TEXT NOT NULL,
    rights           TEXT NOT NULL,
    valid_from_us    INTEGER NOT NULL,
    valid_until_us   INTEGER NOT NULL CHECK (valid_until_us > valid_from_us),
    justification    TEXT NOT NULL,
    origin           TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('requested', 'approved', 'rejected', 'revoked')),
    requested_by     TEXT NOT NULL,
    requested_at_us  INTEGER NOT NULL,
    decided_by       TEXT,
    decided_at_us    INTEGER,
    decision_comment TEXT,
    revoked_by       TEXT,
    revoked_at_us    INTEGER,
    revoke_reason    TEXT,
    -- Four eyes: whoever decides a request is neither its requester nor its holder. Only
    -- the explicit, audited bootstrap of a care provider's first administrators is exempt.
    CHECK (origin = 'bootstrap' OR decided_by IS NULL
           OR (decided_by <> requested_by AND decided_by <> 'person:' || holder)),
    CHECK ((state = 'requested') = (decided_by IS NULL)),
    CHECK ((state = 'revoked') = (revoked_by IS NOT NULL))
) STRICT;
CREATE INDEX assignments_holder ON assignments (holder);
CREATE INDEX assignments_care_provider ON assignments (care_provider, state);

ALTER TABLE audit_log ADD COLUMN assignment TEXT;
CREATE INDEX audit_assignment ON audit_log (assignment, time_us) WHERE assignment IS NOT NULL;
"#,
];
