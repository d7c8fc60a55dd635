package dcm

import dict "github.com/suyashkumar/dicom/pkg/tag"

// VR is a value representation code such as "PN" or "OB" (PS3.5 §6.2).
type VR string

// The value representations of PS3.5 Table 6.2-1.
const (
	AE VR = "AE"
	AS VR = "AS"
	AT VR = "AT"
	CS VR = "CS"
	DA VR = "DA"
	DS VR = "DS"
	DT VR = "DT"
	FD VR = "FD"
	FL VR = "FL"
	IS VR = "IS"
	LO VR = "LO"
	LT VR = "LT"
	OB VR = "OB"
	OD VR = "OD"
	OF VR = "OF"
	OL VR = "OL"
	OV VR = "OV"
	OW VR = "OW"
	PN VR = "PN"
	SH VR = "SH"
	SL VR = "SL"
	SQ VR = "SQ"
	SS VR = "SS"
	ST VR = "ST"
	SV VR = "SV"
	TM VR = "TM"
	UC VR = "UC"
	UI VR = "UI"
	UL VR = "UL"
	UN VR = "UN"
	UR VR = "UR"
	US VR = "US"
	UT VR = "UT"
	UV VR = "UV"
)

var knownVRs = map[VR]bool{
	AE: true, AS: true, AT: true, CS: true, DA: true, DS: true, DT: true, FD: true, FL: true,
	IS: true, LO: true, LT: true, OB: true, OD: true, OF: true, OL: true, OV: true, OW: true,
	PN: true, SH: true, SL: true, SQ: true, SS: true, ST: true, SV: true, TM: true, UC: true,
	UI: true, UL: true, UN: true, UR: true, US: true, UT: true, UV: true,
}

// Known reports whether vr is one of the value representations of PS3.5.
func (vr VR) Known() bool { return knownVRs[vr] }

// HasLongLength reports whether, in explicit VR encodings, the VR is
// followed by two reserved bytes and a 32-bit length (PS3.5 §7.1.2).
func (vr VR) HasLongLength() bool {
	switch vr {
	case OB, OD, OF, OL, OV, OW, SQ, SV, UC, UN, UR, UT, UV:
		return true
	}
	return false
}

// IsText reports whether the VR's value is character data subject to the
// Specific Character Set (PS3.5 §6.1.2.3).
func (vr VR) IsText() bool {
	switch vr {
	case LO, LT, PN, SH, ST, UC, UT:
		return true
	}
	return false
}

// IsString reports whether the VR's value is a character string of any
// repertoire (including the default-repertoire-only VRs such as CS, UI).
func (vr VR) IsString() bool {
	switch vr {
	case AE, AS, CS, DA, DS, DT, IS, LO, LT, PN, SH, ST, TM, UC, UI, UR, UT:
		return true
	}
	return false
}

// MultiValued reports whether backslash separates values of this VR; it is
// data in LT, ST, UT and UR (PS3.5 Table 6.2-1).
func (vr VR) MultiValued() bool {
	switch vr {
	case LT, ST, UT, UR:
		return false
	}
	return vr.IsString()
}

// IsBinary reports whether the value is binary and so swapped by byte
// order rather than decoded as characters.
func (vr VR) IsBinary() bool { return !vr.IsString() && vr != SQ }

// WordSize is the size in bytes of one binary value unit for byte swapping
// (1 for byte and string VRs).
func (vr VR) WordSize() int {
	switch vr {
	case OW, US, SS, AT:
		return 2
	case OL, OF, FL, UL, SL:
		return 4
	case OD, FD, OV, SV, UV:
		return 8
	}
	return 1
}

// overrides corrects and completes the dictionary where it is out of date
// or lists a VR that depends on context ("US or SS", "OB or OW").
var overrides = map[Tag]VR{
	TagPixelData:            OW,
	TagExtendedOffsetTable:  OV,
	Tag(0x7FE00002):         OV, // Extended Offset Table Lengths
	TagFloatPixelData:       OF,
	TagDoubleFloatPixelData: OD,
	Tag(0x00189219):         SS,
	Tag(0x00280106):         US, // Smallest Image Pixel Value (US or SS)
	Tag(0x00280107):         US,
	Tag(0x00281101):         US,
	Tag(0x00281102):         US,
	Tag(0x00281103):         US,
}

// DictionaryVR returns the VR that implicit VR encodings imply for a tag:
// group lengths are UL, private creators LO, unknown and private tags UN
// (PS3.5 §7.1.3, §7.8.1).
func DictionaryVR(t Tag) VR {
	if vr, ok := overrides[t]; ok {
		return vr
	}
	if t.Element() == 0 {
		return UL
	}
	if t.IsPrivate() {
		if t.IsPrivateCreator() {
			return LO
		}
		return UN
	}
	// Repeating groups (50xx curve, 60xx overlay) are listed at their base group.
	g := t.Group()
	if g >= 0x6000 && g <= 0x60FF && g%2 == 0 {
		g = 0x6000
	} else if g >= 0x5000 && g <= 0x50FF && g%2 == 0 {
		g = 0x5000
	}
	info, err := dict.Find(dict.Tag{Group: g, Element: t.Element()})
	if err != nil || info.VR == "" || len(info.VR) != 2 {
		return UN
	}
	vr := VR(info.VR)
	if !vr.Known() {
		return UN
	}
	return vr
}
