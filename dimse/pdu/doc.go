// Package pdu encodes and decodes the DICOM Upper Layer protocol data units
// defined in PS3.8 §9.3 (A-ASSOCIATE-RQ/AC/RJ, P-DATA-TF, A-RELEASE-RQ/RP,
// A-ABORT) and their items and sub-items (PS3.8 §9.3.2-9.3.4, Annex D; PS3.7
// Annex D.3.3 for the extended user-information sub-items).
//
// The package knows bytes only: it has no notion of association state,
// timers or DIMSE messages. Decoding works on an io.Reader and checks every
// declared length against a configured limit before allocating, so a hostile
// peer cannot make it allocate more than the limit. Unknown items and
// sub-items inside A-ASSOCIATE PDUs are skipped as PS3.8 §9.3.1 requires.
package pdu
