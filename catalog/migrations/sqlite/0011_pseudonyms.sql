-- sonogate catalog, version 11: pseudonyms chosen by de-identification
-- profiles, kept for authorised re-identification (admin scope only).
-- Keep identical to the other dialect's 0011_pseudonyms.sql apart from the
-- id column.
CREATE TABLE pseudonyms (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    profile     TEXT    NOT NULL,
    real_id     TEXT    NOT NULL,
    real_name   TEXT    NOT NULL,
    pseudo_id   TEXT    NOT NULL,
    pseudo_name TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (profile, real_id, real_name)
);
CREATE INDEX pseudonyms_pseudo ON pseudonyms (profile, pseudo_id);
