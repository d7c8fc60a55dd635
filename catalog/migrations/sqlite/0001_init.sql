-- sonogate catalog, version 1 (SQLite).
-- Times are INTEGER microseconds since the Unix epoch (UTC) so that the same
-- SQL runs on PostgreSQL (BIGINT). Keep this file and
-- ../postgres/0001_init.sql identical apart from the id columns.

CREATE TABLE instances (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace                TEXT    NOT NULL,
    sop_instance_uid         TEXT    NOT NULL,
    version                  INTEGER NOT NULL,
    sop_class_uid            TEXT    NOT NULL DEFAULT '',
    study_instance_uid       TEXT    NOT NULL DEFAULT '',
    series_instance_uid      TEXT    NOT NULL DEFAULT '',
    patient_id               TEXT    NOT NULL DEFAULT '',
    patient_name             TEXT    NOT NULL DEFAULT '',
    patient_birth_date       TEXT    NOT NULL DEFAULT '',
    patient_sex              TEXT    NOT NULL DEFAULT '',
    study_date               TEXT    NOT NULL DEFAULT '',
    study_time               TEXT    NOT NULL DEFAULT '',
    accession_number         TEXT    NOT NULL DEFAULT '',
    study_description        TEXT    NOT NULL DEFAULT '',
    study_id                 TEXT    NOT NULL DEFAULT '',
    referring_physician_name TEXT    NOT NULL DEFAULT '',
    modality                 TEXT    NOT NULL DEFAULT '',
    series_number            INTEGER NOT NULL DEFAULT 0,
    series_description       TEXT    NOT NULL DEFAULT '',
    instance_number          INTEGER NOT NULL DEFAULT 0,
    transfer_syntax_uid      TEXT    NOT NULL DEFAULT '',
    specific_character_set   TEXT    NOT NULL DEFAULT '',
    manufacturer             TEXT    NOT NULL DEFAULT '',
    manufacturer_model_name  TEXT    NOT NULL DEFAULT '',
    number_of_frames         INTEGER NOT NULL DEFAULT 0,
    rows_                    INTEGER NOT NULL DEFAULT 0,
    columns_                 INTEGER NOT NULL DEFAULT 0,
    rel_path                 TEXT    NOT NULL,
    sha256                   TEXT    NOT NULL,
    size                     INTEGER NOT NULL,
    data_offset              INTEGER NOT NULL,
    calling_ae               TEXT    NOT NULL DEFAULT '',
    received_at              INTEGER NOT NULL,
    UNIQUE (namespace, sop_instance_uid, sha256),
    UNIQUE (namespace, sop_instance_uid, version)
);

CREATE INDEX instances_study   ON instances (namespace, study_instance_uid);
CREATE INDEX instances_series  ON instances (namespace, series_instance_uid);
CREATE INDEX instances_patient ON instances (namespace, patient_id);
CREATE INDEX instances_name    ON instances (namespace, patient_name);
CREATE INDEX instances_acc     ON instances (namespace, accession_number);
CREATE INDEX instances_date    ON instances (namespace, study_date);
CREATE INDEX instances_mod     ON instances (namespace, modality);
CREATE INDEX instances_sha     ON instances (sha256);

CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id     INTEGER NOT NULL REFERENCES instances (id),
    destination     TEXT    NOT NULL,
    rule            TEXT    NOT NULL DEFAULT '',
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE INDEX jobs_due      ON jobs (destination, state, next_attempt_at);
CREATE INDEX jobs_lease    ON jobs (destination, state, lease_until);
CREATE INDEX jobs_instance ON jobs (instance_id);
