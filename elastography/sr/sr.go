package sr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sonogate/sonogate/dcm"
)

// Attributes of the SR content item macros (PS3.3 §C.17.3, §C.18).
const (
	tagCodeValue                      = dcm.Tag(0x00080100)
	tagCodingSchemeDesignator         = dcm.Tag(0x00080102)
	tagCodingSchemeVersion            = dcm.Tag(0x00080103)
	tagCodeMeaning                    = dcm.Tag(0x00080104)
	tagMappingResource                = dcm.Tag(0x00080105)
	tagLongCodeValue                  = dcm.Tag(0x00080119)
	tagURNCodeValue                   = dcm.Tag(0x00080120)
	tagReferencedSOPSequence          = dcm.Tag(0x00081199)
	tagReferencedSOPClassUID          = dcm.Tag(0x00081150)
	tagReferencedSOPInstanceUID       = dcm.Tag(0x00081155)
	tagReferencedFrameNumber          = dcm.Tag(0x00081160)
	tagReferencedSegmentNumber        = dcm.Tag(0x0062000B)
	tagMeasurementUnitsCodeSequence   = dcm.Tag(0x004008EA)
	tagRelationshipType               = dcm.Tag(0x0040A010)
	tagValueType                      = dcm.Tag(0x0040A040)
	tagConceptNameCodeSequence        = dcm.Tag(0x0040A043)
	tagContinuityOfContent            = dcm.Tag(0x0040A050)
	tagDateTime                       = dcm.Tag(0x0040A120)
	tagDate                           = dcm.Tag(0x0040A121)
	tagTime                           = dcm.Tag(0x0040A122)
	tagPersonName                     = dcm.Tag(0x0040A123)
	tagUID                            = dcm.Tag(0x0040A124)
	tagTemporalRangeType              = dcm.Tag(0x0040A130)
	tagReferencedSamplePositions      = dcm.Tag(0x0040A132)
	tagReferencedTimeOffsets          = dcm.Tag(0x0040A138)
	tagReferencedDateTime             = dcm.Tag(0x0040A13A)
	tagTextValue                      = dcm.Tag(0x0040A160)
	tagFloatingPointValue             = dcm.Tag(0x0040A161)
	tagConceptCodeSequence            = dcm.Tag(0x0040A168)
	tagMeasuredValueSequence          = dcm.Tag(0x0040A300)
	tagNumericValueQualifierCodeSeq   = dcm.Tag(0x0040A301)
	tagNumericValue                   = dcm.Tag(0x0040A30A)
	tagContentTemplateSequence        = dcm.Tag(0x0040A504)
	tagContentSequence                = dcm.Tag(0x0040A730)
	tagTemplateIdentifier             = dcm.Tag(0x0040DB00)
	tagReferencedContentItemIdentifer = dcm.Tag(0x0040DB73)
	tagGraphicData                    = dcm.Tag(0x00700022)
	tagGraphicType                    = dcm.Tag(0x00700023)
	tagReferencedFrameOfReferenceUID  = dcm.Tag(0x30060024)
	tagReferencedWaveformChannels     = dcm.Tag(0x0040A0B0)
)

// Relationship types (PS3.3 §C.17.3.2.4).
const (
	Contains       = "CONTAINS"
	HasProperties  = "HAS PROPERTIES"
	HasConceptMod  = "HAS CONCEPT MOD"
	HasObsContext  = "HAS OBS CONTEXT"
	HasAcqContext  = "HAS ACQ CONTEXT"
	InferredFrom   = "INFERRED FROM"
	SelectedFrom   = "SELECTED FROM"
	ValueContainer = "CONTAINER"
	ValueNum       = "NUM"
	ValueCode      = "CODE"
	ValueText      = "TEXT"
)

// Errors returned by Parse; each returned error wraps one of these.
var (
	ErrNotSR    = errors.New("not an SR document: no root CONTAINER")
	ErrTooDeep  = errors.New("SR content tree nested too deep")
	ErrTooLarge = errors.New("SR content tree has too many items")
)

// Code is a coded entry (PS3.3 §8.8, Code Sequence Macro).
type Code struct {
	Value   string `json:"value"`
	Scheme  string `json:"scheme"`
	Version string `json:"version,omitempty"`
	Meaning string `json:"meaning"`
}

// Is reports whether c has the code value and coding scheme designator.
func (c *Code) Is(value, scheme string) bool {
	return c != nil && c.Value == value && c.Scheme == scheme
}

// String formats the code as (value, scheme, "meaning") as PS3.16 does.
func (c *Code) String() string {
	if c == nil {
		return "()"
	}
	return fmt.Sprintf("(%s, %s, %q)", c.Value, c.Scheme, c.Meaning)
}

// Num is the value of a NUM content item (PS3.3 Table C.18.1-1).
type Num struct {
	Text      string  // Numeric Value (0040,A30A) as encoded (DS)
	Value     float64 // Floating Point Value (0040,A161) if present, else Text parsed
	HasValue  bool    // a Measured Value Sequence item with a parseable value exists
	Unit      *Code   // Measurement Units Code Sequence (0040,08EA)
	Qualifier *Code   // Numeric Value Qualifier Code Sequence (0040,A301)
}

// SOPRef is a Referenced SOP Sequence item of COMPOSITE, IMAGE and
// WAVEFORM items (PS3.3 §C.18.3-5).
type SOPRef struct {
	SOPClassUID    string
	SOPInstanceUID string
	Frames         []int
	Segments       []int
	Channels       []int
}

// Graphic is the value of SCOORD and SCOORD3D items (PS3.3 §C.18.6, §C.18.9).
type Graphic struct {
	Type                string
	Data                []float64
	FrameOfReferenceUID string // SCOORD3D only
}

// Temporal is the value of a TCOORD item (PS3.3 §C.18.7).
type Temporal struct {
	RangeType       string
	SamplePositions []int
	TimeOffsets     []float64
	DateTimes       []string
}

// Item is one content item of the tree.
type Item struct {
	ID           string // ordinal positions from the root, "1.2.3"
	Position     []int
	Depth        int // root is 0
	Relationship string
	ValueType    string
	Concept      *Code
	Continuity   string // CONTAINER
	TemplateID   string // Content Template Sequence, when present
	Mapping      string // its Mapping Resource

	Code       *Code     // CODE
	Num        *Num      // NUM
	Text       string    // TEXT
	Date       string    // DATE
	Time       string    // TIME
	DateTime   string    // DATETIME
	PersonName string    // PNAME
	UID        string    // UIDREF
	SOP        *SOPRef   // COMPOSITE, IMAGE, WAVEFORM
	Graphic    *Graphic  // SCOORD, SCOORD3D
	Temporal   *Temporal // TCOORD

	// RefID is set for an item related by reference: the Referenced
	// Content Item Identifier, and Target the item it names (nil when it
	// names no item of the tree).
	RefID  []int
	Target *Item

	Parent   *Item
	Children []*Item
}

// IsReference reports whether the item is a by-reference relationship.
func (it *Item) IsReference() bool { return it.RefID != nil }

// Resolved returns the item itself, or for a by-reference item its target
// (nil when unresolved).
func (it *Item) Resolved() *Item {
	if it.IsReference() {
		return it.Target
	}
	return it
}

// Related returns the children with the given relationship type, with
// by-reference children replaced by their targets (unresolved ones
// dropped).
func (it *Item) Related(rel string) []*Item {
	var out []*Item
	for _, c := range it.Children {
		if c.Relationship != rel {
			continue
		}
		if r := c.Resolved(); r != nil {
			out = append(out, r)
		}
	}
	return out
}

// Modifier returns the CODE value of the first HAS CONCEPT MOD child whose
// concept name satisfies match, or nil.
func (it *Item) Modifier(match func(*Code) bool) *Code {
	for _, c := range it.Related(HasConceptMod) {
		if c.ValueType == ValueCode && c.Code != nil && match(c.Concept) {
			return c.Code
		}
	}
	return nil
}

// Document is a parsed SR content tree.
type Document struct {
	Root     *Item
	Items    []*Item  // every item in document order (pre-order)
	Warnings []string // structural problems that did not stop the walk
}

// Find returns the item with the given ordinal positions, or nil.
func (d *Document) Find(pos []int) *Item {
	if d == nil || d.Root == nil || len(pos) == 0 || pos[0] != 1 {
		return nil
	}
	it := d.Root
	for _, p := range pos[1:] {
		if p < 1 || p > len(it.Children) {
			return nil
		}
		it = it.Children[p-1]
	}
	return it
}

// Walk calls fn for every item in document order; fn returning false skips
// the item's children. By-reference items are visited as themselves, their
// targets are not descended into (so a reference cannot make a cycle).
func (d *Document) Walk(fn func(*Item) bool) {
	if d == nil || d.Root == nil {
		return
	}
	walk(d.Root, fn)
}

func walk(it *Item, fn func(*Item) bool) {
	if !fn(it) {
		return
	}
	for _, c := range it.Children {
		walk(c, fn)
	}
}

// Options bound the walk.
type Options struct {
	MaxDepth int // content item nesting; 0 means 50
	MaxItems int // total content items; 0 means 100000
}

// Parse reads the content tree of the SR document ds. The root is the
// data set itself: its Value Type must be CONTAINER.
func Parse(ds *dcm.Dataset, opt Options) (*Document, error) {
	if opt.MaxDepth <= 0 {
		opt.MaxDepth = 50
	}
	if opt.MaxItems <= 0 {
		opt.MaxItems = 100000
	}
	if ds == nil || ds.String(tagValueType) != ValueContainer {
		return nil, ErrNotSR
	}
	p := &parser{opt: opt, doc: &Document{}}
	root, err := p.item(ds, nil, []int{1})
	if err != nil {
		return nil, err
	}
	p.doc.Root = root
	for _, it := range p.doc.Items {
		if it.RefID != nil {
			it.Target = p.doc.Find(it.RefID)
			if it.Target == nil {
				p.warn("%s: referenced content item %s not found", it.ID, joinPos(it.RefID))
			}
		}
	}
	return p.doc, nil
}

type parser struct {
	opt Options
	doc *Document
}

func (p *parser) warn(format string, a ...any) {
	if len(p.doc.Warnings) < 100 {
		p.doc.Warnings = append(p.doc.Warnings, fmt.Sprintf(format, a...))
	}
}

func joinPos(pos []int) string {
	s := make([]string, len(pos))
	for i, v := range pos {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ".")
}

func (p *parser) item(ds *dcm.Dataset, parent *Item, pos []int) (*Item, error) {
	depth := len(pos) - 1
	if depth > p.opt.MaxDepth {
		return nil, fmt.Errorf("%w: item %s is at depth %d (limit %d)", ErrTooDeep, joinPos(pos), depth, p.opt.MaxDepth)
	}
	if len(p.doc.Items) >= p.opt.MaxItems {
		return nil, fmt.Errorf("%w: more than %d items", ErrTooLarge, p.opt.MaxItems)
	}
	it := &Item{
		ID:           joinPos(pos),
		Position:     pos,
		Depth:        depth,
		Parent:       parent,
		Relationship: ds.String(tagRelationshipType),
		ValueType:    ds.String(tagValueType),
		Concept:      firstCode(ds, tagConceptNameCodeSequence),
	}
	p.doc.Items = append(p.doc.Items, it)
	if e := ds.Find(tagReferencedContentItemIdentifer); e != nil {
		it.RefID = ints(ds.DecodeStrings(e))
		if it.RefID == nil {
			it.RefID = []int{}
		}
		if it.ValueType != "" {
			p.warn("%s: has both a value type and a referenced content item identifier", it.ID)
		}
	} else if it.ValueType == "" {
		p.warn("%s: no value type", it.ID)
	}
	if parent != nil && it.Relationship == "" {
		p.warn("%s: no relationship type", it.ID)
	}
	if tpl := ds.Sequence(tagContentTemplateSequence); len(tpl) > 0 {
		it.TemplateID = tpl[0].String(tagTemplateIdentifier)
		it.Mapping = tpl[0].String(tagMappingResource)
	}
	switch it.ValueType {
	case ValueContainer:
		it.Continuity = ds.String(tagContinuityOfContent)
	case ValueNum:
		it.Num = num(ds)
	case ValueCode:
		it.Code = firstCode(ds, tagConceptCodeSequence)
	case ValueText:
		it.Text = ds.String(tagTextValue)
	case "DATE":
		it.Date = ds.String(tagDate)
	case "TIME":
		it.Time = ds.String(tagTime)
	case "DATETIME":
		it.DateTime = ds.String(tagDateTime)
	case "PNAME":
		it.PersonName = ds.String(tagPersonName)
	case "UIDREF":
		it.UID = ds.String(tagUID)
	case "COMPOSITE", "IMAGE", "WAVEFORM":
		if refs := ds.Sequence(tagReferencedSOPSequence); len(refs) > 0 {
			r := refs[0]
			it.SOP = &SOPRef{
				SOPClassUID:    r.String(tagReferencedSOPClassUID),
				SOPInstanceUID: r.String(tagReferencedSOPInstanceUID),
				Frames:         ints(r.Strings(tagReferencedFrameNumber)),
				Segments:       ints(r.Strings(tagReferencedSegmentNumber)),
				Channels:       ints(r.Strings(tagReferencedWaveformChannels)),
			}
		} else {
			p.warn("%s: %s without Referenced SOP Sequence", it.ID, it.ValueType)
		}
	case "SCOORD", "SCOORD3D":
		it.Graphic = &Graphic{
			Type:                ds.String(tagGraphicType),
			Data:                floats(ds.Strings(tagGraphicData)),
			FrameOfReferenceUID: ds.String(tagReferencedFrameOfReferenceUID),
		}
	case "TCOORD":
		it.Temporal = &Temporal{
			RangeType:       ds.String(tagTemporalRangeType),
			SamplePositions: ints(ds.Strings(tagReferencedSamplePositions)),
			TimeOffsets:     floats(ds.Strings(tagReferencedTimeOffsets)),
			DateTimes:       ds.Strings(tagReferencedDateTime),
		}
	case "":
	default:
		p.warn("%s: unknown value type %q", it.ID, it.ValueType)
	}
	for i, child := range ds.Sequence(tagContentSequence) {
		cpos := make([]int, len(pos)+1)
		copy(cpos, pos)
		cpos[len(pos)] = i + 1
		c, err := p.item(child, it, cpos)
		if err != nil {
			return nil, err
		}
		it.Children = append(it.Children, c)
	}
	return it, nil
}

func num(ds *dcm.Dataset) *Num {
	n := &Num{Qualifier: firstCode(ds, tagNumericValueQualifierCodeSeq)}
	mv := ds.Sequence(tagMeasuredValueSequence)
	if len(mv) == 0 {
		return n
	}
	m := mv[0]
	n.Unit = firstCode(m, tagMeasurementUnitsCodeSequence)
	n.Text = m.String(tagNumericValue)
	if v, err := strconv.ParseFloat(strings.TrimSpace(n.Text), 64); err == nil {
		n.Value, n.HasValue = v, true
	}
	if f := floats(m.Strings(tagFloatingPointValue)); len(f) > 0 {
		n.Value, n.HasValue = f[0], true
	}
	return n
}

func firstCode(ds *dcm.Dataset, t dcm.Tag) *Code {
	items := ds.Sequence(t)
	if len(items) == 0 {
		return nil
	}
	c := items[0]
	code := &Code{
		Value:   c.String(tagCodeValue),
		Scheme:  c.String(tagCodingSchemeDesignator),
		Version: c.String(tagCodingSchemeVersion),
		Meaning: c.String(tagCodeMeaning),
	}
	if code.Value == "" {
		if code.Value = c.String(tagLongCodeValue); code.Value == "" {
			code.Value = c.String(tagURNCodeValue)
		}
	}
	return code
}

func ints(s []string) []int {
	var out []int
	for _, v := range s {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		out = append(out, n)
	}
	return out
}

func floats(s []string) []float64 {
	var out []float64
	for _, v := range s {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		out = append(out, f)
	}
	return out
}
