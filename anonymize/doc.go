// Package anonymize de-identifies DICOM instances with the Application
// Level Confidentiality Profiles of PS3.15 Annex E: the Basic Application
// Level Confidentiality Profile (Table E.1-1, generated from the shared
// standard table by go generate) and its options (E.3: Clean Pixel Data,
// Clean Graphics, Clean Structured Content, Clean Descriptors, Retain
// Longitudinal Temporal Information with Full or Modified Dates, Retain
// Patient Characteristics, Retain Device Identity, Retain Institution
// Identity, Retain UIDs, Retain Safe Private).
//
// It sits above the dcm codec and below routing: a Profile, built from a
// config.Profile and the profile's secret key, turns one Part 10 instance
// into a de-identified Part 10 instance (explicit VR little endian, or the
// source's encapsulated syntax), with text re-encoded as UTF-8
// (ISO_IR 192), every UID mapped by one keyed function
// (2.25.<HMAC-SHA256 truncated to 128 bits>), per-patient pseudonyms and
// date shifts, and the de-identification marked as PS3.15 E.1.1 and
// PS3.3 C.12.1.1 ask. Instances that may hold burned-in text that cannot
// be cleaned fail with *QuarantineError and must not be sent.
//
// Pixel data that is not cleaned is streamed from the source by offset, so
// memory stays flat in the size of the instance. The pixel sub-package
// masks native, RLE (PS3.5 Annex G) and JPEG baseline frames.
//
// See OPTIONS.md for the option names and how they compare with other
// de-identifiers.
package anonymize
