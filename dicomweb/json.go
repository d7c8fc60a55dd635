package dicomweb

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/sonogate/sonogate/dcm"
)

// attr is one attribute of the DICOM JSON model (PS3.18 Annex F.2).
type attr struct {
	Tag          uint32
	VR           string
	Values       []any // nil: no Value member (empty value, F.2.5)
	Items        [][]attr
	InlineBinary []byte
	BulkDataURI  string
}

// object is a data set in the JSON model, written in tag order.
type object []attr

func (o object) sorted() object {
	sort.SliceStable(o, func(i, j int) bool { return o[i].Tag < o[j].Tag })
	return o
}

// writeObject appends the JSON of o to b.
func writeObject(b *bytes.Buffer, o object) {
	o = o.sorted()
	b.WriteByte('{')
	for i, a := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(b, `"%08X":{"vr":"%s"`, a.Tag, a.VR)
		switch {
		case a.BulkDataURI != "":
			b.WriteString(`,"BulkDataURI":`)
			writeJSONString(b, a.BulkDataURI)
		case a.InlineBinary != nil:
			b.WriteString(`,"InlineBinary":"`)
			b.WriteString(base64.StdEncoding.EncodeToString(a.InlineBinary))
			b.WriteByte('"')
		case a.VR == "SQ":
			if len(a.Items) > 0 {
				b.WriteString(`,"Value":[`)
				for j, it := range a.Items {
					if j > 0 {
						b.WriteByte(',')
					}
					writeObject(b, it)
				}
				b.WriteByte(']')
			}
		case len(a.Values) > 0:
			b.WriteString(`,"Value":`)
			v, err := json.Marshal(a.Values)
			if err != nil {
				v = []byte("[]")
			}
			b.Write(v)
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
}

func writeJSONString(b *bytes.Buffer, s string) {
	v, _ := json.Marshal(s)
	b.Write(v)
}

// pnValue is a person name in the JSON model (F.2.2): one member per
// non-empty component group.
func pnValue(s string) any {
	groups := strings.SplitN(s, "=", 3)
	m := map[string]string{}
	names := []string{"Alphabetic", "Ideographic", "Phonetic"}
	for i, g := range groups {
		if g = strings.TrimRight(g, " ^"); g != "" {
			m[names[i]] = g
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// textValues converts decoded string values of vr to JSON values: numbers
// for IS and DS (F.2.3; an unparsable number stays a string rather than
// being lost), objects for PN, null for empty values inside a list.
func textValues(vr string, vals []string) []any {
	if len(vals) == 0 || (len(vals) == 1 && strings.TrimSpace(vals[0]) == "") {
		return nil
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		v = strings.TrimSpace(v)
		switch {
		case v == "":
			out[i] = nil
		case vr == "PN":
			out[i] = pnValue(v)
		case vr == "IS":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				out[i] = n
			} else {
				out[i] = v
			}
		case vr == "DS":
			if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				out[i] = json.Number(strconv.FormatFloat(f, 'g', -1, 64))
			} else {
				out[i] = v
			}
		default:
			out[i] = v
		}
	}
	for _, v := range out {
		if v != nil {
			return out
		}
	}
	return nil // only empty values (e.g. a PN of "^^^^"): no Value member, F.2.5
}

// binaryValues decodes the numeric binary VRs.
func binaryValues(vr string, raw []byte, bigEndian bool) []any {
	var bo binary.ByteOrder = binary.LittleEndian
	if bigEndian {
		bo = binary.BigEndian
	}
	size := map[string]int{"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "AT": 4, "SV": 8, "UV": 8}[vr]
	if size == 0 || len(raw)%size != 0 {
		return nil
	}
	out := make([]any, 0, len(raw)/size)
	for i := 0; i+size <= len(raw); i += size {
		b := raw[i : i+size]
		switch vr {
		case "US":
			out = append(out, bo.Uint16(b))
		case "SS":
			out = append(out, int16(bo.Uint16(b)))
		case "UL":
			out = append(out, bo.Uint32(b))
		case "SL":
			out = append(out, int32(bo.Uint32(b)))
		case "FL":
			f := float64(math.Float32frombits(bo.Uint32(b)))
			if math.IsNaN(f) || math.IsInf(f, 0) {
				out = append(out, nil)
			} else {
				out = append(out, json.Number(strconv.FormatFloat(f, 'g', -1, 32)))
			}
		case "FD":
			f := math.Float64frombits(bo.Uint64(b))
			if math.IsNaN(f) || math.IsInf(f, 0) {
				out = append(out, nil)
			} else {
				out = append(out, json.Number(strconv.FormatFloat(f, 'g', -1, 64)))
			}
		case "AT":
			out = append(out, fmt.Sprintf("%04X%04X", bo.Uint16(b[:2]), bo.Uint16(b[2:])))
		case "SV":
			out = append(out, strconv.FormatInt(int64(bo.Uint64(b)), 10))
		case "UV":
			out = append(out, strconv.FormatUint(bo.Uint64(b), 10))
		}
	}
	return out
}

// inlineLimit is the largest binary value written inline; larger ones get a
// BulkDataURI.
const inlineLimit = 1024

// bulkFunc makes the BulkDataURI of a large value of a top-level or nested
// element; "" drops the value (the attribute is still listed).
type bulkFunc func(e *dcm.Element) string

// datasetObject converts a parsed data set to the JSON model. Group 0002
// and group lengths are left out.
func datasetObject(ds *dcm.Dataset, bulk bulkFunc) object {
	var o object
	for _, e := range ds.Elements {
		if e.Kind != dcm.KindValue && e.Kind != dcm.KindSequence {
			continue
		}
		t := uint32(e.Tag)
		if t>>16 == 0x0002 || t&0xFFFF == 0 || t>>16 == 0xFFFE {
			continue
		}
		vr := string(e.VR)
		if vr == "" {
			vr = string(dcm.DictionaryVR(e.Tag))
		}
		if vr == "" {
			vr = "UN"
		}
		a := attr{Tag: t, VR: vr}
		switch {
		case e.Kind == dcm.KindSequence && e.Encapsulated:
			a.BulkDataURI = bulk(e)
		case e.Kind == dcm.KindSequence || vr == "SQ":
			a.VR = "SQ"
			for _, it := range e.Items {
				a.Items = append(a.Items, datasetObject(it, bulk))
			}
		case e.Skipped:
			a.BulkDataURI = bulk(e)
		case dcm.VR(vr).IsString() || dcm.VR(vr).IsText():
			a.Values = textValues(vr, ds.DecodeStrings(e))
		case vr == "US" || vr == "SS" || vr == "UL" || vr == "SL" || vr == "FL" || vr == "FD" || vr == "AT" || vr == "SV" || vr == "UV":
			a.Values = binaryValues(vr, e.Value, e.BigEndian)
		default: // OB, OW, OF, OD, OL, OV, UN
			if len(e.Value) == 0 {
				break
			}
			if len(e.Value) <= inlineLimit {
				a.InlineBinary = e.Value
			} else {
				a.BulkDataURI = bulk(e)
			}
		}
		if a.BulkDataURI == "" && (e.Skipped || (e.Kind == dcm.KindSequence && e.Encapsulated)) {
			continue
		}
		o = append(o, a)
	}
	return o
}
