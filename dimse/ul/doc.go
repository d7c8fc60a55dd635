// Package ul is the DICOM Upper Layer protocol machine of PS3.8 §9.2: the
// states Sta1..Sta13, events Evt1..Evt19 and actions AE-1..AA-8 of Table
// 9-10, driven by PDUs from package pdu.
//
// The transition table is data generated from shared/standard/ps38_*.tsv
// (fsm_table_gen.go). Cells the standard leaves empty are defined too:
// XX-1 rejects a local primitive that the state does not allow, XX-2
// ignores an event that cannot occur in the state.
//
// One goroutine owns a Machine: every method runs the machine
// synchronously on the caller's goroutine, so there are no channels or
// locks on the data path. The ARTIM timer is the read deadline of the
// transport connection; a read that times out while ARTIM runs is Evt18.
// The package knows PDUs, never DIMSE messages.
package ul
