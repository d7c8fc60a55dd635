package dcm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Dataset is a parsed data set (or sequence item): its elements in
// stream order, values kept as the raw bytes that were encoded.
type Dataset struct {
	Elements []*Element
	Parent   *Dataset // enclosing data set of an item; nil at top level

	charset *Charset
}

// Parse reads a whole data set (or, with Options.StopAtPixelData, its
// header) into a tree. Pixel data fragments are kept as elements of their
// encapsulated sequence (values skipped past Options.LoadLimit).
func Parse(r io.Reader, ts TransferSyntax, opt Options) (*Dataset, error) {
	return ParseFrom(NewReader(r, ts, opt))
}

// ParseHeader parses everything before the pixel data, skipping values
// longer than 1 MiB.
func ParseHeader(r io.Reader, ts TransferSyntax, opt Options) (*Dataset, error) {
	opt.StopAtPixelData = true
	if opt.LoadLimit == 0 {
		opt.LoadLimit = 1 << 20
	}
	return Parse(r, ts, opt)
}

// ParseFrom builds a tree from the reader's tokens.
func ParseFrom(rd *Reader) (*Dataset, error) {
	root := &Dataset{}
	type level struct {
		ds  *Dataset
		seq *Element
	}
	stack := []level{{ds: root}}
	for {
		e, err := rd.Next()
		if errors.Is(err, ErrStopped) {
			e.Value = nil
			root.Elements = append(root.Elements, e)
			return root, nil
		}
		if err == io.EOF {
			if len(stack) != 1 {
				return root, fmt.Errorf("%w: data set ended inside a sequence", ErrMalformed)
			}
			return root, nil
		}
		if err != nil {
			return root, err
		}
		top := &stack[len(stack)-1]
		switch e.Kind {
		case KindValue:
			top.ds.Elements = append(top.ds.Elements, e)
		case KindSequence:
			top.ds.Elements = append(top.ds.Elements, e)
			stack = append(stack, level{ds: top.ds, seq: e})
		case KindItem:
			item := &Dataset{Parent: top.ds}
			top.seq.Items = append(top.seq.Items, item)
			stack = append(stack, level{ds: item, seq: top.seq})
		case KindFragment:
			top.seq.Fragments = append(top.seq.Fragments, e)
		case KindItemEnd, KindSequenceEnd:
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
		}
	}
}

// Find returns the element with tag t in this data set (not nested), or nil.
func (d *Dataset) Find(t Tag) *Element {
	if d == nil {
		return nil
	}
	for _, e := range d.Elements {
		if e.Tag == t {
			return e
		}
	}
	return nil
}

// Charset returns the character set in force for this data set: its own
// (0008,0005), else its parent's (an item inherits it, PS3.5 §7.5.3).
func (d *Dataset) Charset() *Charset {
	if d == nil {
		return defaultCharset
	}
	if d.charset != nil {
		return d.charset
	}
	if e := d.Find(TagSpecificCharacterSet); e != nil && e.Kind == KindValue {
		d.charset = ParseCharset(string(e.Value))
	} else if d.Parent != nil {
		d.charset = d.Parent.Charset()
	} else {
		d.charset = defaultCharset
	}
	return d.charset
}

// Strings returns the values of a string element decoded to UTF-8, split on
// backslash where the VR allows several values, trailing padding removed
// (leading spaces too, except for the text VRs LT, ST, UT).
func (d *Dataset) Strings(t Tag) []string {
	e := d.Find(t)
	if e == nil || e.Kind != KindValue || e.Value == nil {
		return nil
	}
	return d.DecodeStrings(e)
}

// DecodeStrings decodes the value of e, an element of d.
func (d *Dataset) DecodeStrings(e *Element) []string {
	vr := e.VR
	if vr == UN || vr == "" {
		vr = DictionaryVR(e.Tag)
	}
	if !vr.IsString() {
		if s, ok := numericString(e, vr); ok {
			return s
		}
		return nil
	}
	raw := e.Value
	var parts []string
	if vr.IsText() {
		parts = d.Charset().DecodeValues(raw, vr)
	} else {
		parts = []string{string(raw)}
		if vr.MultiValued() {
			parts = strings.Split(string(raw), `\`)
		}
	}
	for i, p := range parts {
		p = strings.TrimRight(p, " \x00")
		if vr != LT && vr != ST && vr != UT {
			p = strings.TrimLeft(p, " ")
		}
		parts[i] = p
	}
	if len(parts) == 1 && parts[0] == "" {
		return nil
	}
	return parts
}

// String returns the first value of Strings, or "".
func (d *Dataset) String(t Tag) string {
	if v := d.Strings(t); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Int returns the first value of an integer-valued element (US, SS, UL, SL, IS).
func (d *Dataset) Int(t Tag) (int64, bool) {
	v := d.String(t)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n, err == nil
}

// Sequence returns the items of the sequence element t, or nil.
func (d *Dataset) Sequence(t Tag) []*Dataset {
	if e := d.Find(t); e != nil {
		return e.Items
	}
	return nil
}

func numericString(e *Element, vr VR) ([]string, bool) {
	var order binary.ByteOrder = binary.LittleEndian
	if e.BigEndian {
		order = binary.BigEndian
	}
	b := e.Value
	var out []string
	switch vr {
	case US:
		for ; len(b) >= 2; b = b[2:] {
			out = append(out, strconv.FormatUint(uint64(order.Uint16(b)), 10))
		}
	case SS:
		for ; len(b) >= 2; b = b[2:] {
			out = append(out, strconv.FormatInt(int64(int16(order.Uint16(b))), 10))
		}
	case UL:
		for ; len(b) >= 4; b = b[4:] {
			out = append(out, strconv.FormatUint(uint64(order.Uint32(b)), 10))
		}
	case SL:
		for ; len(b) >= 4; b = b[4:] {
			out = append(out, strconv.FormatInt(int64(int32(order.Uint32(b))), 10))
		}
	case UV:
		for ; len(b) >= 8; b = b[8:] {
			out = append(out, strconv.FormatUint(order.Uint64(b), 10))
		}
	case SV:
		for ; len(b) >= 8; b = b[8:] {
			out = append(out, strconv.FormatInt(int64(order.Uint64(b)), 10))
		}
	case FL:
		for ; len(b) >= 4; b = b[4:] {
			out = append(out, strconv.FormatFloat(float64(math.Float32frombits(order.Uint32(b))), 'g', -1, 32))
		}
	case FD:
		for ; len(b) >= 8; b = b[8:] {
			out = append(out, strconv.FormatFloat(math.Float64frombits(order.Uint64(b)), 'g', -1, 64))
		}
	case AT:
		for ; len(b) >= 4; b = b[4:] {
			out = append(out, NewTag(order.Uint16(b), order.Uint16(b[2:])).String())
		}
	default:
		return nil, false
	}
	return out, true
}
