// Package dicomweb is sonogate's DICOMweb front end (PS3.18): QIDO-RS
// search (§10.6), WADO-RS retrieve of instances, metadata, frames and bulk
// data (§10.4), STOW-RS store (§10.5), and a STOW-RS client that is a
// routing.Destination.
//
// Two namespaces are served from one net/http ServeMux: /dicom-web (the
// clinical namespace) and /research/dicom-web (the research namespace,
// which holds only de-identified instances; it is read-only). Requests
// carry bearer tokens from config.Auth with the scopes "clinical",
// "research" and "admin"; a research token reaches only the research
// namespace. With no tokens configured, loopback clients are let in (the
// embedded default configuration) and everyone else gets 401; New logs this
// mode. Every request is written to the audit log (slog, component=audit):
// who, what, when, outcome; query values are not logged (they may hold
// names).
//
// Searches run on catalog.Find (PS3.4 §C.2.2.2 matching) and answer in the
// DICOM JSON model (PS3.18 Annex F): person names as Alphabetic,
// Ideographic and Phonetic objects, numbers as JSON numbers, large binary
// values as BulkDataURI. Retrieval streams the stored Part 10 files from
// disk, byte for byte and in the stored transfer syntax: sonogate never
// transcodes (field failure B10), so a request for another transfer syntax
// is answered 406 with the reason. Frames are cut from native pixel data
// by size, and from encapsulated pixel data by the Extended Offset Table,
// the Basic Offset Table, or else by the fragments themselves (PS3.5 §A.4;
// never one fragment per frame by assumption, B45).
//
// Stores go through ingest.Ingester, the same durable commit path as
// C-STORE. The multipart/related body is parsed leniently (quoted or bare
// parameters, CRLF or LF, preamble, missing close delimiter: B28) under a
// byte limit, each part is checked on its own and answered in the Failed
// SOP Sequence or the Referenced SOP Sequence (PS3.18 §10.5.3, B29); bad
// input is never a 500.
//
// dicomweb sits above catalog, store, ingest and routing, and below node.
package dicomweb
