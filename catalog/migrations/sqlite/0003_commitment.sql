-- sonogate catalog, version 3: Storage Commitment Push Model requests
-- (PS3.4 Annex J) kept until their N-EVENT-REPORT has been delivered, so
-- that a restart resumes them. Keep identical to the other dialect's
-- 0003_commitment.sql apart from the id column.
CREATE TABLE commitments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_uid TEXT    NOT NULL,
    requester_ae    TEXT    NOT NULL,
    called_ae       TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    event_type      INTEGER NOT NULL DEFAULT 0,
    reported_at     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (requester_ae, transaction_uid)
);
CREATE INDEX commitments_state ON commitments (state, next_attempt_at);
CREATE TABLE commitment_items (
    commitment_id    BIGINT  NOT NULL REFERENCES commitments (id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    sop_class_uid    TEXT    NOT NULL,
    sop_instance_uid TEXT    NOT NULL,
    failure_reason   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (commitment_id, position)
);
