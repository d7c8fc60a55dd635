-- Every index on instances is written by every ingest. These four are no
-- longer read by any query:
--   instances_study: a prefix of instances_study_series (0002);
--   instances_name, instances_date: Patient's Name and Study Date keys are
--     matched on the folded and normalised columns of 0013;
--   instances_sha: nothing looks instances up by hash alone (duplicates are
--     found by namespace and SOP Instance UID, then compared by hash).
DROP INDEX IF EXISTS instances_study;
DROP INDEX IF EXISTS instances_name;
DROP INDEX IF EXISTS instances_date;
DROP INDEX IF EXISTS instances_sha;
