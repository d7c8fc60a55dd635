// Package qr serves the DICOM Query/Retrieve service class (PS3.4 Annex C:
// C-FIND, C-MOVE and C-GET on the Patient Root and Study Root information
// models) and the Storage Commitment Push Model SCP (PS3.4 Annex J) over the
// catalog and the instance store.
//
// It sits between dimse (which knows messages, counters, C-CANCEL and
// sub-operation associations) and catalog (which knows attribute matching
// per PS3.4 §C.2.2.2): qr turns identifiers into catalog queries and
// records back into identifiers, checks per-peer permissions, selects the
// namespace by the called AE title and resolves move destinations.
package qr
