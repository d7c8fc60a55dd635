// Package srgen builds SR documents as DICOM Part 10 files for the
// elastography extractor's fixtures: a small content-tree builder over
// dcm.Writer and dcm.EncodeFileMeta, and the fixture set (fixtures.go).
// Output is deterministic: UIDs are derived from fixture names, dates are
// fixed.
//
// The content trees follow PS3.3 §C.17.3 (SR Document Content) and the
// PS3.16 templates TID 12000, 5401 and 5402 as far as
// /work/shared/elastography.md establishes them; the structural assumptions
// are listed at the top of fixtures.go.
package srgen
