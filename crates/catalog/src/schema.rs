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
    // 3: records management — legal holds, deletion orders (IVO decisions and retention
    // purges) with four-eyes approval, tombstones; deletion guarded by triggers.
    r#"
CREATE TABLE legal_holds (
    id              TEXT PRIMARY KEY,
    care_provider   TEXT NOT NULL,
    reason_sealed   BLOB NOT NULL,
    case_reference  TEXT NOT NULL,
    set_by          TEXT NOT NULL,
    set_at_us       INTEGER NOT NULL,
    released_by     TEXT,
    released_at_us  INTEGER,
    release_sealed  BLOB,
    CHECK ((released_by IS NULL) = (released_at_us IS NULL))
) STRICT;
CREATE TABLE legal_hold_items (
    hold_id      TEXT NOT NULL REFERENCES legal_holds (id),
    recording_id TEXT NOT NULL,
    PRIMARY KEY (hold_id, recording_id)
) STRICT;
CREATE INDEX legal_hold_items_recording ON legal_hold_items (recording_id);

CREATE TABLE deletion_orders (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('ivo', 'retention')),
    care_provider     TEXT NOT NULL,
    reference         TEXT NOT NULL,
    decision_date     TEXT,
    scope             TEXT NOT NULL,
    document_sealed   BLOB,
    document_sha256   BLOB,
    state             TEXT NOT NULL CHECK (state IN ('registered', 'approved', 'rejected', 'executing', 'executed')),
    registered_by     TEXT NOT NULL,
    registered_at_us  INTEGER NOT NULL,
    decided_by        TEXT,
    decided_at_us     INTEGER,
    decision_comment  TEXT,
    executed_by       TEXT,
    executed_at_us    INTEGER,
    certificate       TEXT,
    -- Four eyes: the person who registers an order never approves or rejects it.
    CHECK (decided_by IS NULL OR decided_by <> registered_by),
    CHECK ((state = 'registered') = (decided_by IS NULL)),
    CHECK (kind <> 'ivo' OR (document_sha256 IS NOT NULL AND decision_date IS NOT NULL))
) STRICT;
CREATE INDEX deletion_orders_care_provider ON deletion_orders (care_provider, state);
CREATE TABLE deletion_order_items (
    order_id     TEXT NOT NULL REFERENCES deletion_orders (id),
    recording_id TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'shredded')),
    PRIMARY KEY (order_id, recording_id)
) STRICT;

CREATE TABLE tombstones (
    recording_id      TEXT PRIMARY KEY,
    care_provider     TEXT NOT NULL,
    plaintext_sha256  BLOB NOT NULL,
    ciphertext_sha256 BLOB NOT NULL,
    ciphertext_size   INTEGER NOT NULL,
    dek_id            BLOB NOT NULL,
    order_id          TEXT NOT NULL REFERENCES deletion_orders (id),
    deleted_at_us     INTEGER NOT NULL,
    blobs_deleted     INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX tombstones_pending ON tombstones (blobs_deleted) WHERE blobs_deleted = 0;
CREATE TRIGGER tombstones_no_delete BEFORE DELETE ON tombstones
    BEGIN SELECT RAISE(ABORT, 'tombstones are permanent'); END;
CREATE TRIGGER tombstones_only_blobs_deleted BEFORE UPDATE ON tombstones
    WHEN NEW.recording_id IS NOT OLD.recording_id OR NEW.plaintext_sha256 IS NOT OLD.plaintext_sha256
      OR NEW.ciphertext_sha256 IS NOT OLD.ciphertext_sha256 OR NEW.order_id IS NOT OLD.order_id
      OR NEW.deleted_at_us IS NOT OLD.deleted_at_us OR NEW.dek_id IS NOT OLD.dek_id
    BEGIN SELECT RAISE(ABORT, 'tombstones are permanent'); END;

-- A recording row is deleted only by an executed deletion order: its tombstone first, never
-- while a legal hold covers it, and, unless the order is an IVO decision, never before its
-- retention date.
CREATE TRIGGER recordings_delete_only_tombstoned BEFORE DELETE ON recordings
    WHEN NOT EXISTS (SELECT 1 FROM tombstones WHERE recording_id = OLD.id)
    BEGIN SELECT RAISE(ABORT, 'a recording is deleted only by an executed deletion order'); END;
CREATE TRIGGER recordings_delete_not_held BEFORE DELETE ON recordings
    WHEN OLD.legal_hold <> 0 OR EXISTS (
        SELECT 1 FROM legal_hold_items i JOIN legal_holds h ON h.id = i.hold_id
        WHERE i.recording_id = OLD.id AND h.released_at_us IS NULL)
    BEGIN SELECT RAISE(ABORT, 'the recording is under legal hold'); END;
CREATE TRIGGER recordings_delete_after_retention BEFORE DELETE ON recordings
    WHEN EXISTS (
        SELECT 1 FROM tombstones t JOIN deletion_orders o ON o.id = t.order_id
        WHERE t.recording_id = OLD.id AND o.kind <> 'ivo' AND OLD.retention_until_us > t.deleted_at_us)
    BEGIN SELECT RAISE(ABORT, 'the recording is within its retention period'); END;
"#,
    // 4: witnesses' cosignatures of checkpoints, and the size each witness last cosigned.
    r#"
CREATE TABLE cosignatures (
    size          INTEGER NOT NULL REFERENCES checkpoints (size),
    witness       TEXT NOT NULL,
    line          TEXT NOT NULL,
    time_s        INTEGER NOT NULL,
    PRIMARY KEY (size, witness)
) STRICT;
CREATE TRIGGER cosignatures_no_update BEFORE UPDATE ON cosignatures
    BEGIN SELECT RAISE(ABORT, 'cosignatures are append-only'); END;
CREATE TRIGGER cosignatures_no_delete BEFORE DELETE ON cosignatures
    BEGIN SELECT RAISE(ABORT, 'cosignatures are append-only'); END;
"#,
    // 5: log follow-up — patients with protected identity, employees' own personal identity
    // numbers (sealed, blind-indexed), follow-up runs and their findings with the review.
    r#"
CREATE INDEX audit_time ON audit_log (time_us);

ALTER TABLE users ADD COLUMN personal_id_sealed BLOB;
ALTER TABLE users ADD COLUMN personal_id_bidx BLOB;

CREATE TABLE protected_patients (
    care_provider TEXT NOT NULL,
    patient_bidx  BLOB NOT NULL,
    reference     TEXT NOT NULL,
    marked_by     TEXT NOT NULL,
    marked_at_us  INTEGER NOT NULL,
    PRIMARY KEY (care_provider, patient_bidx)
) STRICT;

CREATE TABLE followup_runs (
    id             TEXT PRIMARY KEY,
    care_provider  TEXT NOT NULL,
    period_from_us INTEGER NOT NULL,
    period_to_us   INTEGER NOT NULL CHECK (period_to_us > period_from_us),
    settings       TEXT NOT NULL,
    seed           BLOB NOT NULL,
    audit_size     INTEGER NOT NULL,
    events_checked INTEGER NOT NULL,
    run_by         TEXT NOT NULL,
    run_at_us      INTEGER NOT NULL
) STRICT;
CREATE INDEX followup_runs_care_provider ON followup_runs (care_provider, run_at_us);
CREATE TRIGGER followup_runs_no_update BEFORE UPDATE ON followup_runs
    BEGIN SELECT RAISE(ABORT, 'follow-up runs are permanent'); END;
CREATE TRIGGER followup_runs_no_delete BEFORE DELETE ON followup_runs
    BEGIN SELECT RAISE(ABORT, 'follow-up runs are permanent'); END;

CREATE TABLE followup_findings (
    run_id         TEXT NOT NULL REFERENCES followup_runs (id),
    n              INTEGER NOT NULL,
    rule           TEXT NOT NULL,
    leaf_index     INTEGER NOT NULL,
    time_us        INTEGER NOT NULL,
    actor          TEXT NOT NULL,
    summary        TEXT NOT NULL,
    verdict        TEXT CHECK (verdict IN ('justified', 'unjustified')),
    comment_sealed BLOB,
    reviewed_by    TEXT,
    reviewed_at_us INTEGER,
    PRIMARY KEY (run_id, n),
    CHECK ((verdict IS NULL) = (reviewed_by IS NULL)),
    CHECK ((verdict IS NULL) = (reviewed_at_us IS NULL)),
    -- Nobody judges their own accesses.
    CHECK (reviewed_by IS NULL OR reviewed_by <> actor)
) STRICT;
CREATE TRIGGER followup_findings_no_delete BEFORE DELETE ON followup_findings
    BEGIN SELECT RAISE(ABORT, 'follow-up findings are permanent'); END;
CREATE TRIGGER followup_findings_fixed BEFORE UPDATE
    OF run_id, n, rule, leaf_index, time_us, actor, summary ON followup_findings
    BEGIN SELECT RAISE(ABORT, 'a finding is fixed; only its review changes'); END;
"#,
    // 6: retention of the audit log itself — prune orders (registered by one records
    // manager, approved for every care provider by another), and the minimum index below
    // which leaves keep only their hash and time (C2SP tlog-tiles style pruning: every
    // proof stays valid).
    r#"
CREATE TABLE audit_prune_orders (
    id               TEXT PRIMARY KEY,
    before_us        INTEGER NOT NULL,
    min_index        INTEGER NOT NULL CHECK (min_index > 0),
    state            TEXT NOT NULL CHECK (state IN ('registered', 'executed')),
    registered_by    TEXT NOT NULL,
    registered_at_us INTEGER NOT NULL,
    executed_by      TEXT,
    executed_at_us   INTEGER,
    pruned           INTEGER,
    CHECK ((state = 'executed') = (executed_by IS NOT NULL))
) STRICT;
CREATE TRIGGER audit_prune_orders_no_delete BEFORE DELETE ON audit_prune_orders
    BEGIN SELECT RAISE(ABORT, 'prune orders are permanent'); END;
CREATE TABLE audit_prune_approvals (
    order_id      TEXT NOT NULL REFERENCES audit_prune_orders (id),
    care_provider TEXT NOT NULL,
    approved_by   TEXT NOT NULL,
    approved_at_us INTEGER NOT NULL,
    PRIMARY KEY (order_id, care_provider)
) STRICT;
-- Four eyes: whoever registers an order approves it for no care provider.
CREATE TRIGGER audit_prune_approvals_four_eyes BEFORE INSERT ON audit_prune_approvals
    WHEN NEW.approved_by = (SELECT registered_by FROM audit_prune_orders WHERE id = NEW.order_id)
    BEGIN SELECT RAISE(ABORT, 'the person who registered a prune order does not approve it'); END;
CREATE TRIGGER audit_prune_approvals_permanent BEFORE DELETE ON audit_prune_approvals
    BEGIN SELECT RAISE(ABORT, 'approvals are permanent'); END;

-- One row: the minimum index. It only grows, only by an executed order approved for every
-- care provider, and never past an event younger than five years (1827 days).
CREATE TABLE audit_pruned (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    min_index INTEGER NOT NULL,
    before_us INTEGER NOT NULL,
    order_id  TEXT NOT NULL REFERENCES audit_prune_orders (id)
) STRICT;
CREATE TRIGGER audit_pruned_no_delete BEFORE DELETE ON audit_pruned
    BEGIN SELECT RAISE(ABORT, 'the minimum index is permanent'); END;
CREATE TRIGGER audit_pruned_grows BEFORE UPDATE ON audit_pruned
    WHEN NEW.min_index <= OLD.min_index
    BEGIN SELECT RAISE(ABORT, 'the minimum index only grows'); END;
CREATE TRIGGER audit_pruned_approved_insert BEFORE INSERT ON audit_pruned
    WHEN (SELECT COUNT(*) FROM audit_prune_approvals WHERE order_id = NEW.order_id)
         < (SELECT COUNT(*) FROM care_providers)
      OR (SELECT min_index FROM audit_prune_orders WHERE id = NEW.order_id) IS NOT NEW.min_index
    BEGIN SELECT RAISE(ABORT, 'pruning needs an order approved for every care provider'); END;
CREATE TRIGGER audit_pruned_approved_update BEFORE UPDATE ON audit_pruned
    WHEN (SELECT COUNT(*) FROM audit_prune_approvals WHERE order_id = NEW.order_id)
         < (SELECT COUNT(*) FROM care_providers)
      OR (SELECT min_index FROM audit_prune_orders WHERE id = NEW.order_id) IS NOT NEW.min_index
    BEGIN SELECT RAISE(ABORT, 'pruning needs an order approved for every care provider'); END;
CREATE TRIGGER audit_pruned_five_years_insert BEFORE INSERT ON audit_pruned
    WHEN EXISTS (SELECT 1 FROM audit_log WHERE idx < NEW.min_index
                 AND time_us > (unixepoch('now') - 1827 * 86400) * 1000000)
    BEGIN SELECT RAISE(ABORT, 'audit events younger than five years are never pruned'); END;
CREATE TRIGGER audit_pruned_five_years_update BEFORE UPDATE ON audit_pruned
    WHEN EXISTS (SELECT 1 FROM audit_log WHERE idx < NEW.min_index
                 AND time_us > (unixepoch('now') - 1827 * 86400) * 1000000)
    BEGIN SELECT RAISE(ABORT, 'audit events younger than five years are never pruned'); END;

-- Below the minimum index a leaf may lose its event bytes and indexed columns, keeping its
-- index, hash, time and action; nothing else in the audit log ever changes.
DROP TRIGGER audit_log_no_update;
CREATE TRIGGER audit_log_only_pruned BEFORE UPDATE ON audit_log
    WHEN NEW.idx IS NOT OLD.idx OR NEW.leaf_hash IS NOT OLD.leaf_hash
      OR NEW.time_us IS NOT OLD.time_us OR NEW.action IS NOT OLD.action
      OR NEW.event IS NOT X'' OR NEW.recording_id IS NOT NULL OR NEW.patient_bidx IS NOT NULL
      OR NEW.assignment IS NOT NULL
      OR OLD.idx >= COALESCE((SELECT min_index FROM audit_pruned WHERE id = 1), 0)
    BEGIN SELECT RAISE(ABORT, 'audit log leaves change only by pruning below the minimum index'); END;
"#,
    // 7: events by action (verify finds every approval of an assignment among them).
    r#"
CREATE INDEX audit_action ON audit_log (action, idx);
"#,
    // 8: the tree's compact range with each checkpoint, so that the next checkpoint extends
    // it instead of recomputing the whole tree (NULL for checkpoints signed before).
    r#"
ALTER TABLE checkpoints ADD COLUMN compact_range BLOB;
"#,
    // 9: a recording stored although incomplete (a call cut off by a crash must not vanish)
    // carries the reason; NULL for a complete one.
    r#"
ALTER TABLE recordings ADD COLUMN incomplete TEXT;
"#,
    // 10: a recording linked to its patient after the call (a live call has no personnummer
    // when it starts). Every link, corrections included, is a row here; the recording's
    // patient columns hold the latest. Rows never change; they go only with their
    // recording (deletion order), after it.
    r#"
CREATE TABLE patient_links (
    recording_id   TEXT NOT NULL,
    n              INTEGER NOT NULL CHECK (n >= 1),
    patient_sealed BLOB NOT NULL,
    patient_bidx   BLOB NOT NULL,
    linked_by      TEXT NOT NULL,
    linked_at_us   INTEGER NOT NULL,
    reason_sealed  BLOB,
    PRIMARY KEY (recording_id, n),
    -- A correction says why.
    CHECK (n = 1 OR reason_sealed IS NOT NULL)
) STRICT;
CREATE TRIGGER patient_links_no_update BEFORE UPDATE ON patient_links
    BEGIN SELECT RAISE(ABORT, 'patient links are permanent; a correction is a new link'); END;
CREATE TRIGGER patient_links_delete_with_recording BEFORE DELETE ON patient_links
    WHEN EXISTS (SELECT 1 FROM recordings WHERE id = OLD.recording_id)
    BEGIN SELECT RAISE(ABORT, 'patient links are deleted only with their recording'); END;
CREATE TRIGGER patient_links_next BEFORE INSERT ON patient_links
    WHEN NEW.n <> 1 + COALESCE((SELECT MAX(n) FROM patient_links WHERE recording_id = NEW.recording_id), 0)
      OR NOT EXISTS (SELECT 1 FROM recordings WHERE id = NEW.recording_id)
    BEGIN SELECT RAISE(ABORT, 'a patient link is the next of an existing recording'); END;
"#,
];
