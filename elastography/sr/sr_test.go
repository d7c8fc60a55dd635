package sr_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/elastography/sr"
	"github.com/sonogate/sonogate/internal/testenv"
)

func parseBytes(b []byte) (*dcm.Dataset, error) {
	f, err := dcm.ReadFile(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		return nil, err
	}
	if f.DataOffset > int64(len(b)) {
		return nil, errors.New("offset past end")
	}
	opt := dcm.Options{Size: int64(len(b)) - f.DataOffset, MaxDepth: 32, LoadLimit: 1 << 20}
	if f.Syntax.Deflated {
		opt.Size = 0
	}
	return dcm.ParseHeader(bytes.NewReader(b[f.DataOffset:]), f.Syntax, opt)
}

func load(t testing.TB, path string) *sr.Document {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := parseBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := sr.Parse(ds, sr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestEveryValueType walks the generated fixture that holds every value
// type and two by-reference relationships.
func TestEveryValueType(t *testing.T) {
	doc := load(t, "../testdata/walker_all_types.dcm")
	if len(doc.Warnings) != 0 {
		t.Errorf("warnings: %v", doc.Warnings)
	}
	byType := map[string]*sr.Item{}
	for _, it := range doc.Items {
		if _, ok := byType[it.ValueType]; !ok {
			byType[it.ValueType] = it
		}
	}
	for _, vt := range []string{"CONTAINER", "NUM", "CODE", "TEXT", "DATE", "TIME", "DATETIME", "PNAME", "UIDREF",
		"COMPOSITE", "IMAGE", "WAVEFORM", "SCOORD", "SCOORD3D", "TCOORD"} {
		if byType[vt] == nil {
			t.Errorf("no %s item", vt)
		}
	}
	if doc.Root.TemplateID != "1500" || doc.Root.Mapping != "DCMR" || doc.Root.Continuity != "SEPARATE" {
		t.Errorf("root %+v", doc.Root)
	}
	if it := byType["TEXT"]; it.Text != "ROI 1 — Größe" || it.ID != "1.8.1" {
		t.Errorf("TEXT %q at %s (UTF-8 via ISO_IR 192)", it.Text, it.ID)
	}
	if it := byType["PNAME"]; it.PersonName != "Observer^Fixture" || it.Relationship != sr.HasObsContext {
		t.Errorf("PNAME %+v", it)
	}
	if it := byType["DATE"]; it.Date != "20240315" {
		t.Errorf("DATE %q", it.Date)
	}
	if it := byType["TIME"]; it.Time != "101500" {
		t.Errorf("TIME %q", it.Time)
	}
	if it := byType["DATETIME"]; it.DateTime != "20240315101500" {
		t.Errorf("DATETIME %q", it.DateTime)
	}
	if it := byType["NUM"]; it.Num.Value != 2.5 || !it.Num.HasValue || !it.Num.Unit.Is("cm2", "UCUM") || !it.Concept.Is("131184002", "SCT") {
		t.Errorf("NUM %+v %+v", it.Num, it.Concept)
	}
	if it := byType["SCOORD"]; it.Graphic.Type != "POLYLINE" || len(it.Graphic.Data) != 8 || it.Graphic.Data[2] != 5 {
		t.Errorf("SCOORD %+v", it.Graphic)
	}
	if it := byType["SCOORD3D"]; it.Graphic.Type != "POINT" || len(it.Graphic.Data) != 3 || it.Graphic.FrameOfReferenceUID == "" {
		t.Errorf("SCOORD3D %+v", it.Graphic)
	}
	if it := byType["TCOORD"]; it.Temporal.RangeType != "SEGMENT" || len(it.Temporal.TimeOffsets) != 2 || it.Temporal.TimeOffsets[1] != 1.5 {
		t.Errorf("TCOORD %+v", it.Temporal)
	}
	if it := byType["WAVEFORM"]; len(it.SOP.Channels) != 2 || it.SOP.SOPClassUID != "1.2.840.10008.5.1.4.1.1.9.1.1" {
		t.Errorf("WAVEFORM %+v", it.SOP)
	}
	// By reference: SCOORD SELECTED FROM 1.7.1 (the IMAGE).
	refs := 0
	for _, it := range doc.Items {
		if it.IsReference() {
			refs++
			if it.Target == nil || it.Target.ID != joinIDs(it.RefID) {
				t.Errorf("%s: reference %v resolved to %+v", it.ID, it.RefID, it.Target)
			}
		}
	}
	if refs != 2 || doc.Find([]int{1, 7, 1}).ValueType != "IMAGE" {
		t.Errorf("%d references", refs)
	}
	// The failed NUM: empty Measured Value Sequence and a qualifier.
	last := doc.Items[len(doc.Items)-1]
	if last.Num == nil || last.Num.HasValue || !last.Num.Qualifier.Is("114006", "DCM") {
		t.Errorf("qualified NUM %+v", last.Num)
	}
}

func joinIDs(p []int) string {
	s := ""
	for i, v := range p {
		if i > 0 {
			s += "."
		}
		s += strconv.Itoa(v)
	}
	return s
}

func TestModifiersAndProperties(t *testing.T) {
	doc := load(t, "../testdata/std_elastpq_reliable.dcm")
	med := doc.Find([]int{1, 5, 14})
	if med == nil || !med.Concept.Is("110830", "DCM") {
		t.Fatalf("1.5.14 = %+v", med)
	}
	d := med.Modifier(func(c *sr.Code) bool { return c.Is("121401", "DCM") })
	if !d.Is("373099004", "SCT") {
		t.Errorf("derivation %v", d)
	}
	props := med.Related(sr.HasProperties)
	if len(props) != 2 || props[0].Num.Value != 0.83 || props[1].Num.Value != 11.6 {
		t.Errorf("properties %v", props)
	}
	// INFERRED FROM by reference to each group's Elasticity.
	inf := med.Related(sr.InferredFrom)
	if len(inf) != 10 || inf[0].ID != "1.5.4.2" || inf[0].Num.Value != 6.05 {
		t.Errorf("inferred from %d items, first %+v", len(inf), inf[0])
	}
}

func TestNotSRAndLimits(t *testing.T) {
	if _, err := sr.Parse(&dcm.Dataset{}, sr.Options{}); !errors.Is(err, sr.ErrNotSR) {
		t.Errorf("empty data set: %v", err)
	}
	b, _ := os.ReadFile("../testdata/std_elastpq_reliable.dcm")
	ds, _ := parseBytes(b)
	if _, err := sr.Parse(ds, sr.Options{MaxDepth: 2}); !errors.Is(err, sr.ErrTooDeep) {
		t.Errorf("depth 3 with limit 2: %v", err)
	}
	if _, err := sr.Parse(ds, sr.Options{MaxItems: 10}); !errors.Is(err, sr.ErrTooLarge) {
		t.Errorf("item limit: %v", err)
	}
}

// TestSharedCorpus walks every real SR of the shared corpus.
func TestSharedCorpus(t *testing.T) {
	for _, p := range seeds(t) {
		if strings.Contains(p, "image") {
			continue // the US image fixture
		}
		doc := load(t, p)
		if doc.Root == nil || len(doc.Items) < 2 {
			t.Errorf("%s: %d items", p, len(doc.Items))
		}
	}
}

func seeds(t testing.TB) []string {
	var files []string
	for _, dir := range []string{"dicom/sr", "sr"} {
		m, _ := filepath.Glob(filepath.Join(testenv.SharedTestdata(t, dir), "*.dcm"))
		files = append(files, m...)
	}
	own, _ := filepath.Glob("../testdata/*.dcm")
	return append(files, own...)
}

// FuzzParse: the walker never panics and stays within its bounds on any
// input the codec accepts.
func FuzzParse(f *testing.F) {
	for _, p := range seeds(f) {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := parseBytes(b)
		if err != nil {
			return
		}
		doc, err := sr.Parse(ds, sr.Options{MaxDepth: 20, MaxItems: 5000})
		if err != nil {
			return
		}
		if len(doc.Items) > 5000 {
			t.Fatalf("%d items past the limit", len(doc.Items))
		}
		for _, it := range doc.Items {
			if it.Depth > 20 {
				t.Fatalf("depth %d past the limit", it.Depth)
			}
			_ = it.Resolved()
		}
	})
}
