package qr

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/dcm"
)

// tagQueryRetrieveLevel is (0008,0052); the other keys of an identifier
// use dcm's named tags.
const tagQueryRetrieveLevel = dcm.Tag(0x00080052)

// Model is a Query/Retrieve information model.
type Model int

// Information models (PS3.4 §C.6.1, §C.6.2).
const (
	PatientRoot Model = iota + 1
	StudyRoot
)

// uniqueKey is the unique key of each level (PS3.4 §C.6.1.1, §C.6.2.1).
var uniqueKey = map[catalog.Level]dcm.Tag{
	catalog.LevelPatient: dcm.TagPatientID,
	catalog.LevelStudy:   dcm.TagStudyInstanceUID,
	catalog.LevelSeries:  dcm.TagSeriesInstanceUID,
	catalog.LevelImage:   dcm.TagSOPInstanceUID,
}

var levels = []catalog.Level{catalog.LevelPatient, catalog.LevelStudy, catalog.LevelSeries, catalog.LevelImage}

func rank(l catalog.Level) int {
	for i, x := range levels {
		if x == l {
			return i
		}
	}
	return -1
}

// Key is one attribute of an identifier.
type Key struct {
	Tag   dcm.Tag
	VR    dcm.VR
	Value string // decoded to UTF-8; multiple values joined by backslash
}

// Identifier is a parsed C-FIND/C-MOVE/C-GET identifier.
type Identifier struct {
	Level catalog.Level
	Keys  []Key // every attribute but (0008,0005) and (0008,0052), in tag order
}

// IdentifierError is an identifier that does not match the information
// model (answered 0xA900 with the offending element).
type IdentifierError struct {
	Tag    dcm.Tag
	Reason string
}

func (e *IdentifierError) Error() string {
	return fmt.Sprintf("identifier %v: %s", e.Tag, e.Reason)
}

// ParseIdentifier decodes an identifier in transfer syntax ts, decoding
// strings with its Specific Character Set, and checks the level against the
// model (Study Root has no PATIENT level).
func ParseIdentifier(b []byte, tsUID string, model Model) (*Identifier, error) {
	ts, ok := dcm.LookupTransferSyntax(tsUID)
	if !ok {
		return nil, &IdentifierError{Reason: "unknown transfer syntax " + tsUID}
	}
	ds, err := dcm.Parse(bytes.NewReader(b), ts, dcm.Options{Size: int64(len(b)), MaxDepth: 8, LoadLimit: 1 << 20})
	if err != nil {
		return nil, &IdentifierError{Reason: err.Error()}
	}
	id := &Identifier{Level: catalog.Level(strings.ToUpper(strings.TrimSpace(ds.String(tagQueryRetrieveLevel))))}
	if rank(id.Level) < 0 {
		return nil, &IdentifierError{Tag: tagQueryRetrieveLevel, Reason: fmt.Sprintf("unknown Query/Retrieve Level %q", id.Level)}
	}
	if model == StudyRoot && id.Level == catalog.LevelPatient {
		return nil, &IdentifierError{Tag: tagQueryRetrieveLevel, Reason: "PATIENT level is not part of the Study Root model"}
	}
	for _, e := range ds.Elements {
		if e.Tag == dcm.TagSpecificCharacterSet || e.Tag == tagQueryRetrieveLevel || e.Tag.Group() == 0x0002 || e.Tag.Element() == 0 {
			continue
		}
		vr := e.VR
		if vr == "" || vr == "UN" {
			vr = dcm.DictionaryVR(e.Tag)
		}
		k := Key{Tag: e.Tag, VR: vr}
		if vr != dcm.SQ && len(e.Items) == 0 && !e.Skipped {
			k.Value = strings.Join(ds.DecodeStrings(e), `\`)
			if vr == dcm.UI {
				k.Value = strings.TrimRight(k.Value, "\x00 ")
			}
		}
		id.Keys = append(id.Keys, k)
	}
	sort.Slice(id.Keys, func(i, j int) bool { return id.Keys[i].Tag < id.Keys[j].Tag })
	return id, nil
}

// Value returns the value of tag in the identifier ("" when absent).
func (id *Identifier) Value(t dcm.Tag) string {
	for _, k := range id.Keys {
		if k.Tag == t {
			return k.Value
		}
	}
	return ""
}

// encodeIdentifier writes a response identifier: Specific Character Set
// ISO_IR 192 (values are UTF-8), the level, and keys in tag order.
func encodeIdentifier(tsUID string, level catalog.Level, keys []Key) ([]byte, error) {
	return encodeIdentifierCharset(tsUID, level, keys, "ISO_IR 192")
}

// encodeIdentifierCharset is encodeIdentifier with a chosen Specific
// Character Set ("" omits the element).
func encodeIdentifierCharset(tsUID string, level catalog.Level, keys []Key, charset string) ([]byte, error) {
	ts, ok := dcm.LookupTransferSyntax(tsUID)
	if !ok {
		return nil, fmt.Errorf("unknown transfer syntax %s", tsUID)
	}
	all := append([]Key{{Tag: tagQueryRetrieveLevel, VR: dcm.CS, Value: string(level)}}, keys...)
	if charset != "" {
		all = append(all, Key{Tag: dcm.TagSpecificCharacterSet, VR: dcm.CS, Value: charset})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Tag < all[j].Tag })
	var buf bytes.Buffer
	w := dcm.NewWriter(&buf, ts)
	for _, k := range all {
		if k.VR == dcm.SQ {
			w.WriteHeader(k.Tag, dcm.SQ, 0) // an empty sequence: not supported as a return key
			continue
		}
		w.WriteString(k.Tag, k.VR, k.Value)
	}
	return buf.Bytes(), w.Err()
}
