// Package sr walks the content tree of a DICOM Structured Report into plain
// Go values, independent of any template.
//
// It reads the SR Document Content Module (PS3.3 §C.17.3) and the Content
// Item macros of PS3.3 §C.18: every value type of PS3.3 Table C.17.3-7
// (CONTAINER, NUM, CODE, TEXT, DATE, TIME, DATETIME, PNAME, UIDREF,
// COMPOSITE, IMAGE, WAVEFORM, SCOORD, SCOORD3D, TCOORD), relationships by
// value and by reference (Referenced Content Item Identifier (0040,DB73),
// PS3.3 §C.17.3.2.5, resolved to the target item after the walk), concept
// modifiers (HAS CONCEPT MOD, PS3.3 §C.17.3.2.4), the Measured Value
// Sequence with its units and the Numeric Value Qualifier (PS3.3 §C.18.1),
// and the Content Template Sequence (PS3.3 Table C.18.8-1) that names the
// PS3.16 template an item was built from.
//
// Items are identified as the standard does in (0040,DB73): the list of
// 1-based ordinal positions from the root, written "1.2.3" in ID. Text is
// decoded to UTF-8 by the dcm package with the data set's Specific
// Character Set. Nesting depth and item count are bounded (Options), so a
// hostile document fails with an error instead of exhausting the stack.
//
// The package knows nothing about elastography; package elastography reads
// the tree this package builds. It sits directly above package dcm.
package sr
