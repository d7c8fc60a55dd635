-- sonogate catalog, version 12: research cohort pulls (C-FIND on a PACS,
-- C-MOVE to sonogate, de-identification into the research namespace) and
-- the progress of each study, so an interrupted pull resumes where it
-- stopped. Keep identical to the other dialect's 0012_pulls.sql apart
-- from the id column.
CREATE TABLE pulls (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    state       TEXT    NOT NULL,
    criteria    TEXT    NOT NULL,
    listed      INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX pulls_state ON pulls (state, id);
CREATE TABLE pull_studies (
    pull_id                INTEGER NOT NULL REFERENCES pulls (id) ON DELETE CASCADE,
    study_instance_uid     TEXT    NOT NULL,
    seq                    INTEGER NOT NULL,
    expected_instances     INTEGER NOT NULL DEFAULT -1,
    state                  TEXT    NOT NULL,
    retrieved              INTEGER NOT NULL DEFAULT 0,
    instances_retrieved    INTEGER NOT NULL DEFAULT 0,
    instances_deidentified INTEGER NOT NULL DEFAULT 0,
    instances_quarantined  INTEGER NOT NULL DEFAULT 0,
    error                  TEXT    NOT NULL DEFAULT '',
    updated_at             INTEGER NOT NULL,
    PRIMARY KEY (pull_id, study_instance_uid)
);
