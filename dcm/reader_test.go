package dcm

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// el builds an explicit VR little endian element.
func el(t Tag, vr VR, value []byte) []byte {
	var b bytes.Buffer
	NewWriter(&b, ExplicitVRLittleEndian).WriteValue(t, vr, value)
	return b.Bytes()
}

func hdr(ts TransferSyntax, t Tag, vr VR, length uint32) []byte {
	var b bytes.Buffer
	NewWriter(&b, ts).WriteHeader(t, vr, length)
	return b.Bytes()
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func tokens(t *testing.T, data []byte, ts TransferSyntax, opt Options) ([]*Element, error) {
	t.Helper()
	rd := NewReader(bytes.NewReader(data), ts, opt)
	var out []*Element
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
}

// B36: an implicit VR private element of undefined length is a sequence.
func TestImplicitUndefinedLengthPrivateIsSequence(t *testing.T) {
	ts := ImplicitVRLittleEndian
	data := cat(
		hdr(ts, 0x00290010, LO, 4), []byte("SIEM"),
		hdr(ts, 0x00291140, UN, UndefinedLength),
		hdr(ts, TagItem, "", 12), hdr(ts, 0x00290010, LO, 4), []byte("ACME"),
		hdr(ts, TagSequenceDelimitationItem, "", 0),
		hdr(ts, TagPatientName, PN, 4), []byte("X^Y "),
	)
	ds, err := Parse(bytes.NewReader(data), ts, Options{Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	sq := ds.Find(0x00291140)
	if sq == nil || sq.Kind != KindSequence || len(sq.Items) != 1 {
		t.Fatalf("private undefined length element not read as a 1-item sequence: %+v", sq)
	}
	if got := string(sq.Items[0].Find(0x00290010).Value); got != "ACME" {
		t.Fatalf("item content %q", got)
	}
	if got := ds.String(TagPatientName); got != "X^Y" {
		t.Fatalf("element after the sequence: %q", got)
	}
}

// B37: explicit UN of undefined length holds implicit VR items (CP-246).
func TestExplicitUNUndefinedLength(t *testing.T) {
	imp := ImplicitVRLittleEndian
	data := cat(
		el(0x00290010, LO, []byte("SIEM")),
		hdr(ExplicitVRLittleEndian, 0x00291140, UN, UndefinedLength),
		hdr(imp, TagItem, "", UndefinedLength), hdr(imp, TagStudyDescription, LO, 4), []byte("ABCD"),
		hdr(imp, TagItemDelimitationItem, "", 0),
		hdr(imp, TagSequenceDelimitationItem, "", 0),
		el(TagPatientName, PN, []byte("X^Y")),
	)
	ds, err := Parse(bytes.NewReader(data), ExplicitVRLittleEndian, Options{})
	if err != nil {
		t.Fatal(err)
	}
	items := ds.Sequence(0x00291140)
	if len(items) != 1 || items[0].String(TagStudyDescription) != "ABCD" {
		t.Fatalf("CP-246 content not read as implicit VR: %d items", len(items))
	}
	if ds.String(TagPatientName) != "X^Y" {
		t.Fatal("lost sync after the UN sequence")
	}
}

// B38: a 40-byte input declaring a 4 GB value must fail without
// allocating it.
func TestHugeLengthDoesNotAllocate(t *testing.T) {
	data := cat(el(0x00090010, LO, []byte("ACME")), hdr(ExplicitVRLittleEndian, 0x00091001, OB, 0xFFFFFFF0), []byte{1, 2, 3, 4})
	for _, size := range []int64{0, int64(len(data))} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := tokens(t, data, ExplicitVRLittleEndian, Options{Size: size, LoadLimit: 1 << 40})
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("size %d: err = %v, want ErrMalformed", size, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
			t.Fatalf("size %d: allocated %d bytes for a 40-byte input", size, grew)
		}
	}
	_, err := tokens(t, data, ExplicitVRLittleEndian, Options{MaxValueLength: 1 << 20})
	if !errors.Is(err, ErrValueTooLarge) {
		t.Fatalf("err = %v, want ErrValueTooLarge", err)
	}
}

// B39: odd lengths are read as given.
func TestOddLengthsReadAsGiven(t *testing.T) {
	data := cat(hdr(ExplicitVRLittleEndian, 0x00091001, OW, 3), []byte{1, 2, 3}, hdr(ExplicitVRLittleEndian, TagPatientID, LO, 3), []byte("ABC"))
	ds, err := Parse(bytes.NewReader(data), ExplicitVRLittleEndian, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.String(TagPatientID); got != "ABC" {
		t.Fatalf("PatientID = %q", got)
	}
}

// B42: OV, SV, UV have 32-bit lengths in explicit VR; OF is binary.
func TestLongLengthBinaryVRs(t *testing.T) {
	data := cat(
		el(TagSpecificCharacterSet, CS, []byte("GB18030")),
		el(0x00660016, OF, []byte{0x00, 0x5C, 0x80, 0x3F, 0xCD, 0xF5, 0x5C, 0x41}),
		el(TagExtendedOffsetTable, OV, make([]byte, 16)),
		el(TagPatientID, LO, []byte("P1")),
	)
	ds, err := Parse(bytes.NewReader(data), ExplicitVRLittleEndian, Options{})
	if err != nil {
		t.Fatal(err)
	}
	of := ds.Find(0x00660016)
	if of == nil || !bytes.Equal(of.Value, []byte{0x00, 0x5C, 0x80, 0x3F, 0xCD, 0xF5, 0x5C, 0x41}) {
		t.Fatalf("OF value altered: %+v", of)
	}
	if ov := ds.Find(TagExtendedOffsetTable); ov == nil || len(ov.Value) != 16 || ov.VR != OV {
		t.Fatalf("OV: %+v", ov)
	}
	if ds.String(TagPatientID) != "P1" {
		t.Fatal("lost sync after OV")
	}
}

// B45: fragments are kept as they are; frames are not assumed to be fragments.
func TestEncapsulatedFragments(t *testing.T) {
	e := ExplicitVRLittleEndian
	data := cat(
		el(TagNumberOfFrames, IS, []byte("1 ")),
		hdr(e, TagPixelData, OB, UndefinedLength),
		hdr(e, TagItem, "", 0),
		hdr(e, TagItem, "", 4), []byte{0xFF, 0xD8, 1, 2},
		hdr(e, TagItem, "", 4), []byte{3, 4, 0xFF, 0xD9},
		hdr(e, TagSequenceDelimitationItem, "", 0),
	)
	ds, err := Parse(bytes.NewReader(data), TransferSyntax{UID: "1.2.840.10008.1.2.4.50", Explicit: true, Encapsulated: true}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	px := ds.Find(TagPixelData)
	if px == nil || !px.Encapsulated || len(px.Fragments) != 3 {
		t.Fatalf("pixel data: %+v", px)
	}
	if !bytes.Equal(px.Fragments[2].Value, []byte{3, 4, 0xFF, 0xD9}) {
		t.Fatalf("fragment 2 = % x", px.Fragments[2].Value)
	}
	hdrOnly, err := ParseHeader(bytes.NewReader(data), ExplicitVRLittleEndian, Options{})
	if err != nil || hdrOnly.Find(TagPixelData) == nil || hdrOnly.String(TagNumberOfFrames) != "1" {
		t.Fatalf("header parse: %v", err)
	}
}

func TestStructuralErrors(t *testing.T) {
	e := ExplicitVRLittleEndian
	cases := map[string][]byte{
		"delimiter at top level":   hdr(e, TagSequenceDelimitationItem, "", 0),
		"element in sequence":      cat(hdr(e, 0x00081115, SQ, UndefinedLength), el(TagPatientID, LO, []byte("X"))),
		"item overruns sequence":   cat(hdr(e, 0x00081115, SQ, 8), hdr(e, TagItem, "", 100)),
		"undefined length LO":      hdr(e, TagPatientID, LO, 0xFFFF),
		"truncated header":         []byte{0x10, 0x00, 0x10},
		"sequence never closed":    cat(hdr(e, 0x00081115, SQ, UndefinedLength), hdr(e, TagItem, "", UndefinedLength)),
		"fragment undefined":       cat(hdr(e, TagPixelData, OB, UndefinedLength), hdr(e, TagItem, "", UndefinedLength)),
		"value beyond declared sq": cat(hdr(e, 0x00081115, SQ, 12), hdr(e, TagItem, "", 4), el(TagPatientID, LO, []byte("ABCDEF"))),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(bytes.NewReader(data), e, Options{Size: int64(len(data))})
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestTooDeep(t *testing.T) {
	e := ExplicitVRLittleEndian
	var data []byte
	for i := 0; i < 100; i++ {
		data = append(data, cat(hdr(e, 0x00081115, SQ, UndefinedLength), hdr(e, TagItem, "", UndefinedLength))...)
	}
	_, err := Parse(bytes.NewReader(data), e, Options{MaxDepth: 10})
	if !errors.Is(err, ErrTooDeep) {
		t.Fatalf("err = %v", err)
	}
}

func TestFileMetaRoundTrip(t *testing.T) {
	m := FileMeta{MediaStorageSOPClassUID: "1.2.840.10008.5.1.4.1.1.6.1", MediaStorageSOPInstanceUID: "1.2.3.4.5", TransferSyntaxUID: "1.2.840.10008.1.2.4.50", SourceApplicationEntityTitle: "US01"}
	b := EncodeFileMeta(m)
	if string(b[128:132]) != "DICM" || len(b)%2 != 0 {
		t.Fatalf("bad prefix")
	}
	got, off, err := ReadFileMeta(bytes.NewReader(append(b, el(TagPatientID, LO, []byte("P"))...)))
	if err != nil {
		t.Fatal(err)
	}
	m.ImplementationClassUID, m.ImplementationVersionName = ImplementationClassUID, ImplementationVersionName
	if got != m || off != int64(len(b)) {
		t.Fatalf("got %+v at %d, want %+v at %d", got, off, m, len(b))
	}
	// dcmdump must accept what we write.
	if _, err := os.Stat("/usr/bin/dcmdump"); err == nil {
		p := filepath.Join(t.TempDir(), "m.dcm")
		body := append(EncodeFileMeta(FileMeta{MediaStorageSOPClassUID: "1.2.840.10008.5.1.4.1.1.7", MediaStorageSOPInstanceUID: "1.2.3", TransferSyntaxUID: ExplicitVRLittleEndian.UID}),
			cat(el(TagSOPClassUID, UI, []byte("1.2.840.10008.5.1.4.1.1.7")), el(TagSOPInstanceUID, UI, []byte("1.2.3")), el(TagPatientID, LO, []byte("P")))...)
		os.WriteFile(p, body, 0o644)
		out, err := runTool("dcmdump", p)
		if err != nil || !strings.Contains(out, "(0010,0020) LO [P]") {
			t.Fatalf("dcmdump: %v\n%s", err, out)
		}
	}
}

// Every shared test file, malformed ones included, is read without a
// panic: each ends in success or an error.
func TestSharedCorpusNeverPanics(t *testing.T) {
	root := sharedTestdata(t, "dicom")
	n := 0
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		f, _ := os.Open(p)
		defer f.Close()
		br := bufio.NewReader(f)
		file, err := ReadFile(br)
		if err == nil {
			Parse(br, file.Syntax, Options{LoadLimit: 1 << 16})
		}
		n++
		return nil
	})
	if n < 100 {
		t.Fatalf("read only %d files", n)
	}
}

func FuzzReader(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		ts := []TransferSyntax{ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian}[int(mode)%3]
		ds, err := Parse(bytes.NewReader(data), ts, Options{LoadLimit: 1 << 16, MaxValueLength: 1 << 24, Size: int64(len(data))})
		if err == nil {
			// Whatever parses must encode and parse again.
			var b bytes.Buffer
			w := NewWriter(&b, ExplicitVRLittleEndian)
			w.WriteDataset(ds)
			for _, e := range ds.Elements {
				ds.DecodeStrings(e)
			}
		}
	})
}

func FuzzFileMeta(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, data []byte, _ uint8) {
		ReadFile(bufio.NewReader(bytes.NewReader(data)))
	})
}

func FuzzCharset(f *testing.F) {
	f.Add("ISO 2022 IR 13\\ISO 2022 IR 87", []byte("\x1b$B;3ED\x1b(B^X"))
	f.Add("GB18030", []byte{0x95, 0x5C, '\\', 'A'})
	f.Add("ISO_IR 192", []byte("王^小明"))
	f.Fuzz(func(t *testing.T, cs string, raw []byte) {
		c := ParseCharset(cs)
		for _, vr := range []VR{PN, LO, LT} {
			c.DecodeValues(raw, vr)
		}
	})
}

// seedCorpus adds the data sets of a few shared files (small ones).
func seedCorpus(f *testing.F) {
	p, _ := filepath.Abs(filepath.Join("..", "..", "shared", "testdata", "dicom"))
	filepath.Walk(p, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && info.Size() < 64<<10 {
			if b, err := os.ReadFile(path); err == nil {
				if len(b) > 132 {
					f.Add(b[132:], uint8(1))
				}
				f.Add(b, uint8(0))
			}
		}
		return nil
	})
}
