-- sonogate catalog, version 2: indexes for attribute queries (catalog/query.go,
-- used by QIDO-RS and C-FIND). Keep identical to ../sqlite/0002_query.sql.
CREATE INDEX instances_study_series ON instances (namespace, study_instance_uid, series_instance_uid, instance_number);
