package srgen

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/big"
	"sort"
	"strconv"

	"github.com/sonogate/sonogate/dcm"
)

// SOP classes used.
const (
	ComprehensiveSR   = "1.2.840.10008.5.1.4.1.1.88.33"
	Comprehensive3DSR = "1.2.840.10008.5.1.4.1.1.88.34"
	EnhancedSR        = "1.2.840.10008.5.1.4.1.1.88.22"
	USImage           = "1.2.840.10008.5.1.4.1.1.6.1"
)

// Code is a coded entry (value, scheme, meaning).
type Code struct{ Value, Scheme, Meaning string }

// Node is a content item.
type Node struct {
	Rel, VT   string
	Name      *Code
	Code      *Code
	NumValue  string
	Unit      *Code
	Qualifier *Code
	Text      string
	Value     string // DATE, TIME, DATETIME, PNAME, UIDREF value
	SOPClass  string // COMPOSITE, IMAGE, WAVEFORM
	SOPInst   string
	Frames    []string
	Channels  []uint16 // WAVEFORM channels (pairs)
	Graphic   string   // SCOORD/SCOORD3D graphic type
	Points    []float64
	FoR       string // SCOORD3D frame of reference
	TRange    string // TCOORD range type
	TOffsets  []string
	RefID     []uint32 // by-reference
	Template  string   // Content Template Sequence (CONTAINER)
	Children  []*Node
}

// Add appends children and returns n.
func (n *Node) Add(c ...*Node) *Node { n.Children = append(n.Children, c...); return n }

// Container is a CONTAINER item.
func Container(rel string, name Code, children ...*Node) *Node {
	return &Node{Rel: rel, VT: "CONTAINER", Name: &name, Children: children}
}

// Num is a NUM item; value "" with a qualifier encodes an empty Measured
// Value Sequence.
func Num(rel string, name Code, value string, unit Code, children ...*Node) *Node {
	return &Node{Rel: rel, VT: "NUM", Name: &name, NumValue: value, Unit: &unit, Children: children}
}

// CodeItem is a CODE item.
func CodeItem(rel string, name, value Code) *Node {
	return &Node{Rel: rel, VT: "CODE", Name: &name, Code: &value}
}

// Text is a TEXT item.
func Text(rel string, name Code, text string) *Node {
	return &Node{Rel: rel, VT: "TEXT", Name: &name, Text: text}
}

// Image is an IMAGE item referencing an instance (and a frame when frame > 0).
func Image(rel, class, inst string, frame int) *Node {
	n := &Node{Rel: rel, VT: "IMAGE", SOPClass: class, SOPInst: inst}
	if frame > 0 {
		n.Frames = []string{strconv.Itoa(frame)}
	}
	return n
}

// Ref is a by-reference relationship to the item at the given positions.
func Ref(rel string, pos ...uint32) *Node { return &Node{Rel: rel, RefID: pos} }

// Doc is one SR (or, with Image set, US image) instance.
type Doc struct {
	Name         string // file base name, also the UID seed
	SOPClassUID  string
	Modality     string
	Manufacturer string
	Model        string
	Software     string
	Transducer   string
	PatientName  string
	PatientID    string
	StudyDesc    string
	SeriesDesc   string
	StudySeed    string // fixtures sharing a StudySeed share the study
	Root         *Node
}

// UID derives a deterministic 2.25 UID from a seed (PS3.5 §B.2).
func UID(seed string) string {
	h := sha256.Sum256([]byte("sonogate-elastography-fixture:" + seed))
	return "2.25." + new(big.Int).SetBytes(h[:16]).String()
}

func elem(t uint32, vr dcm.VR, v []byte) *dcm.Element {
	return &dcm.Element{Tag: dcm.Tag(t), VR: vr, Value: v, Kind: dcm.KindValue}
}
func str(t uint32, vr dcm.VR, s string) *dcm.Element { return elem(t, vr, []byte(s)) }
func seq(t uint32, items ...*dcm.Dataset) *dcm.Element {
	return &dcm.Element{Tag: dcm.Tag(t), VR: dcm.SQ, Kind: dcm.KindSequence, Items: items}
}
func dataset(es ...*dcm.Element) *dcm.Dataset {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Tag < es[j].Tag })
	return &dcm.Dataset{Elements: es}
}

func codeItem(c *Code) *dcm.Dataset {
	return dataset(str(0x00080100, dcm.SH, c.Value), str(0x00080102, dcm.SH, c.Scheme), str(0x00080104, dcm.LO, c.Meaning))
}

func (n *Node) elements() []*dcm.Element {
	var es []*dcm.Element
	if n.Rel != "" {
		es = append(es, str(0x0040A010, dcm.CS, n.Rel))
	}
	if n.RefID != nil {
		b := make([]byte, 0, 4*len(n.RefID))
		for _, v := range n.RefID {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
		return append(es, elem(0x0040DB73, dcm.UL, b))
	}
	es = append(es, str(0x0040A040, dcm.CS, n.VT))
	if n.Name != nil {
		es = append(es, seq(0x0040A043, codeItem(n.Name)))
	}
	switch n.VT {
	case "CONTAINER":
		es = append(es, str(0x0040A050, dcm.CS, "SEPARATE"))
		if n.Template != "" {
			es = append(es, seq(0x0040A504, dataset(str(0x00080105, dcm.CS, "DCMR"), str(0x0040DB00, dcm.CS, n.Template))))
		}
	case "NUM":
		var mv []*dcm.Dataset
		if n.NumValue != "" {
			mv = append(mv, dataset(seq(0x004008EA, codeItem(n.Unit)), str(0x0040A30A, dcm.DS, n.NumValue)))
		}
		es = append(es, seq(0x0040A300, mv...))
		if n.Qualifier != nil {
			es = append(es, seq(0x0040A301, codeItem(n.Qualifier)))
		}
	case "CODE":
		es = append(es, seq(0x0040A168, codeItem(n.Code)))
	case "TEXT":
		es = append(es, str(0x0040A160, dcm.UT, n.Text))
	case "DATE":
		es = append(es, str(0x0040A121, dcm.DA, n.Value))
	case "TIME":
		es = append(es, str(0x0040A122, dcm.TM, n.Value))
	case "DATETIME":
		es = append(es, str(0x0040A120, dcm.DT, n.Value))
	case "PNAME":
		es = append(es, str(0x0040A123, dcm.PN, n.Value))
	case "UIDREF":
		es = append(es, str(0x0040A124, dcm.UI, n.Value))
	case "COMPOSITE", "IMAGE", "WAVEFORM":
		ref := []*dcm.Element{str(0x00081150, dcm.UI, n.SOPClass), str(0x00081155, dcm.UI, n.SOPInst)}
		if len(n.Frames) > 0 {
			ref = append(ref, str(0x00081160, dcm.IS, join(n.Frames)))
		}
		if len(n.Channels) > 0 {
			b := make([]byte, 0, 2*len(n.Channels))
			for _, c := range n.Channels {
				b = binary.LittleEndian.AppendUint16(b, c)
			}
			ref = append(ref, elem(0x0040A0B0, dcm.US, b))
		}
		es = append(es, seq(0x00081199, dataset(ref...)))
	case "SCOORD", "SCOORD3D":
		// Graphic Data is FL in the data dictionary for both (PS3.6).
		b := make([]byte, 0, 4*len(n.Points))
		for _, p := range n.Points {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(p)))
		}
		es = append(es, elem(0x00700022, dcm.FL, b), str(0x00700023, dcm.CS, n.Graphic))
		if n.VT == "SCOORD3D" {
			es = append(es, str(0x30060024, dcm.UI, n.FoR))
		}
	case "TCOORD":
		es = append(es, str(0x0040A130, dcm.CS, n.TRange), str(0x0040A138, dcm.DS, join(n.TOffsets)))
	}
	if len(n.Children) > 0 {
		items := make([]*dcm.Dataset, len(n.Children))
		for i, c := range n.Children {
			items[i] = dataset(c.elements()...)
		}
		es = append(es, seq(0x0040A730, items...))
	}
	return es
}

func join(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += "\\"
		}
		out += v
	}
	return out
}

const (
	fixedDate = "20240315"
	fixedTime = "101500"
)

// Encode returns the Part 10 file (explicit VR little endian).
func (d *Doc) Encode() ([]byte, error) {
	study := d.StudySeed
	if study == "" {
		study = d.Name
	}
	inst := UID(d.Name + "/instance")
	es := []*dcm.Element{
		str(0x00080005, dcm.CS, "ISO_IR 192"),
		str(0x00080016, dcm.UI, d.SOPClassUID),
		str(0x00080018, dcm.UI, inst),
		str(0x00080020, dcm.DA, fixedDate),
		str(0x00080023, dcm.DA, fixedDate),
		str(0x00080030, dcm.TM, fixedTime),
		str(0x00080033, dcm.TM, fixedTime),
		str(0x00080050, dcm.SH, ""),
		str(0x00080060, dcm.CS, d.Modality),
		str(0x00080070, dcm.LO, d.Manufacturer),
		str(0x00080090, dcm.PN, ""),
		str(0x00081030, dcm.LO, d.StudyDesc),
		str(0x0008103E, dcm.LO, d.SeriesDesc),
		str(0x00081090, dcm.LO, d.Model),
		str(0x00100010, dcm.PN, d.PatientName),
		str(0x00100020, dcm.LO, d.PatientID),
		str(0x00100030, dcm.DA, ""),
		str(0x00100040, dcm.CS, "O"),
		str(0x00181020, dcm.LO, d.Software),
		str(0x0020000D, dcm.UI, UID(study+"/study")),
		str(0x0020000E, dcm.UI, UID(d.Name+"/series")),
		str(0x00200010, dcm.SH, "1"),
		str(0x00200011, dcm.IS, "1"),
		str(0x00200013, dcm.IS, "1"),
	}
	if d.Transducer != "" {
		es = append(es, str(0x00185010, dcm.LO, d.Transducer))
	}
	if d.SOPClassUID == USImage {
		// An 8x8 MONOCHROME2 image: only the header matters here.
		es = append(es,
			str(0x00080008, dcm.CS, "ORIGINAL\\PRIMARY"),
			elem(0x00280002, dcm.US, []byte{1, 0}),
			str(0x00280004, dcm.CS, "MONOCHROME2"),
			elem(0x00280010, dcm.US, []byte{8, 0}),
			elem(0x00280011, dcm.US, []byte{8, 0}),
			elem(0x00280100, dcm.US, []byte{8, 0}),
			elem(0x00280101, dcm.US, []byte{8, 0}),
			elem(0x00280102, dcm.US, []byte{7, 0}),
			elem(0x00280103, dcm.US, []byte{0, 0}),
			elem(0x7FE00010, dcm.OB, make([]byte, 64)),
		)
	} else {
		es = append(es,
			seq(0x00081111), // Referenced Performed Procedure Step Sequence (type 2)
			str(0x0040A491, dcm.CS, "COMPLETE"),
			str(0x0040A493, dcm.CS, "UNVERIFIED"),
			seq(0x0040A372), // Performed Procedure Code Sequence (type 2)
		)
		es = append(es, d.Root.elements()...)
	}
	var buf bytes.Buffer
	buf.Write(dcm.EncodeFileMeta(dcm.FileMeta{
		MediaStorageSOPClassUID:    d.SOPClassUID,
		MediaStorageSOPInstanceUID: inst,
		TransferSyntaxUID:          dcm.ExplicitVRLittleEndian.UID,
	}))
	w := dcm.NewWriter(&buf, dcm.ExplicitVRLittleEndian)
	w.WriteDataset(dataset(es...))
	if err := w.Err(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
