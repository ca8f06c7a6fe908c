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
];
