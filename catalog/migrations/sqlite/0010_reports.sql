-- sonogate catalog, version 10: elastography measurement reports extracted
-- from SR documents (and image-only placeholders), one row per report, the
-- normalized record kept as JSON with the filter keys beside it. Keep
-- identical to the other dialect's 0010_reports.sql apart from the id columns.
CREATE TABLE reports (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id        INTEGER NOT NULL REFERENCES instances (id),
    namespace          TEXT    NOT NULL,
    sop_instance_uid   TEXT    NOT NULL,
    study_instance_uid TEXT    NOT NULL DEFAULT '',
    patient_id         TEXT    NOT NULL DEFAULT '',
    study_date         TEXT    NOT NULL DEFAULT '',
    method             TEXT    NOT NULL DEFAULT '',
    site               TEXT    NOT NULL DEFAULT '',
    kind               TEXT    NOT NULL DEFAULT '',
    reliable           INTEGER NOT NULL DEFAULT 0,
    body               TEXT    NOT NULL,
    created_at         INTEGER NOT NULL
);
CREATE INDEX reports_instance ON reports (instance_id);
CREATE INDEX reports_patient  ON reports (namespace, patient_id);
CREATE INDEX reports_study    ON reports (namespace, study_instance_uid);
CREATE INDEX reports_date     ON reports (namespace, study_date);
