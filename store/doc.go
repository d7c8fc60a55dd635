// Package store keeps the bytes of received DICOM instances on disk.
//
// An instance arrives as a stream (the P-DATA fragments of a C-STORE, PS3.8
// §9.3.5 and Annex E, or one part of a STOW-RS request, PS3.18 §10.5). Spool
// writes it to a temporary file under <dir>/tmp as a Part 10 file (PS3.10
// §7.1): the caller's prefix (128-byte preamble, "DICM" and the File Meta
// Information group) followed by the data set bytes exactly as received. The
// SHA-256 of the whole file is computed while writing, the file is fsynced
// and closed, so memory use does not grow with the size of the instance.
//
// Commit renames the temporary file to a content-addressed path
//
//	<namespace>/<sha[0:2]>/<sha[2:4]>/<sha>.dcm
//
// and fsyncs the directory that received the new name (and every parent it
// had to create), so that after Commit returns the file survives a crash.
// Because the name is the hash of the content, an identical resend commits
// to the same path and is a no-op, and two different instances that share a
// SOP Instance UID (field failure B17) can never overwrite each other.
//
// The store knows nothing of the catalog: the caller commits the file first
// and then indexes it in one catalog transaction (DESIGN.md §1). A crash
// between the two leaves at most an unindexed file, never an index entry
// without bytes. Temporary files left by a crash are removed by Open.
//
// Namespaces separate identified ("clinical") from de-identified
// ("research") data (PS3.15 Annex E); research reads never touch the
// clinical tree.
package store
