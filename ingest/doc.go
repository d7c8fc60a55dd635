// Package ingest is the one commit path of sonogate: every instance that
// arrives, by C-STORE (PS3.4 Annex B) or STOW-RS (PS3.18 §10.5), is
// spooled to disk as a Part 10 file, its header parsed, its routing jobs
// chosen by the rules, the file renamed into the content-addressed store
// with fsyncs, and the instance row and jobs inserted in one catalog
// transaction. Only after all of that does Ingest return success, which is
// when the receiver may answer Success and the gateway has taken
// responsibility for the instance (PS3.4 §B.2.3).
//
// A failure at any step leaves nothing half-indexed: the temporary file is
// removed, and a file that reached the store without an index row is
// harmless (content-addressed; the next identical send re-uses it).
//
// ingest sits above dcm, store, catalog and routing's matcher, and below
// the DIMSE and DICOMweb front ends.
package ingest
