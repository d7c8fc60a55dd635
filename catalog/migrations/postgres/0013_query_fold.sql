-- sonogate catalog, version 13: derived columns that let attribute queries
-- (catalog/query.go Find, for QIDO-RS and C-FIND) select matching rows in
-- SQL with indexes instead of matching every row in Go:
--   patient_name_folded    Go strings.ToLower of the whole Patient's Name
--   patient_name_folded2   ... of its second component group (ideographic)
--   patient_name_folded3   ... of its third component group (phonetic) and beyond
--   patient_name_fuzzy     catalog.FoldName (lower case, no diacritics)
--   study_date_norm        Study Date without the separators of "1994.01.30"
-- They are computed in Go (CommitInstance), so existing rows are NULL here and
-- are filled in by Open (backfillDerived) before the catalog is used.
-- Keep identical to ../sqlite/0013_query_fold.sql apart from COLLATE "C".
ALTER TABLE instances ADD COLUMN patient_name_folded TEXT;
ALTER TABLE instances ADD COLUMN patient_name_folded2 TEXT;
ALTER TABLE instances ADD COLUMN patient_name_folded3 TEXT;
ALTER TABLE instances ADD COLUMN patient_name_fuzzy TEXT;
ALTER TABLE instances ADD COLUMN study_date_norm TEXT;
CREATE INDEX instances_name_f1 ON instances (namespace, patient_name_folded COLLATE "C");
CREATE INDEX instances_name_f2 ON instances (namespace, patient_name_folded2 COLLATE "C");
CREATE INDEX instances_name_f3 ON instances (namespace, patient_name_folded3 COLLATE "C");
CREATE INDEX instances_date_norm ON instances (namespace, study_date_norm COLLATE "C");
