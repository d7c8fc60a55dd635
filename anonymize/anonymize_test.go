package anonymize

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sonogate/sonogate/anonymize/pixel"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/internal/testenv"
)

var testKey = []byte("test-secret-key-0123456789")

var researchOptions = []string{"retain_long_modified_dates", "retain_patient_chars", "clean_desc",
	"clean_struct_cont", "clean_graph", "clean_pixel"}

func newProfile(t testing.TB, pc config.Profile) *Profile {
	t.Helper()
	p, err := NewProfileWithKey("research", pc, testKey)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// parseFile reads a file's data set fully into memory (test helper).
func parseFile(t testing.TB, path string) (*dcm.Dataset, dcm.File) {
	t.Helper()
	f, err := dcm.OpenFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, _ := fh.Stat()
	if _, err := fh.Seek(f.DataOffset, 0); err != nil {
		t.Fatal(err)
	}
	ds, err := dcm.Parse(fh, f.Syntax, dcm.Options{Size: st.Size() - f.DataOffset, LoadLimit: 1 << 30})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return ds, f
}

func corpus(t testing.TB) []string {
	dir := testenv.SharedTestdata(t, "dicom")
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".dcm") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 50 {
		t.Fatalf("only %d corpus files", len(files))
	}
	return files
}

// identifying collects, from an original data set, the values the
// profile must not let through: every value whose resolved action is not
// K or C, every private value, SR text, and every mapped UID. kept holds
// values of kept elements, which may legitimately recur.
func identifying(p *Profile, ds *dcm.Dataset) (secrets map[string]string, kept map[string]bool) {
	secrets, kept = map[string]string{}, map[string]bool{}
	var walk func(d *dcm.Dataset, path string)
	walk = func(d *dcm.Dataset, path string) {
		for _, e := range d.Elements {
			where := path + e.Tag.String()
			if e.Kind == dcm.KindSequence {
				for _, it := range e.Items {
					walk(it, where+">")
				}
				continue
			}
			if e.Kind != dcm.KindValue || e.Skipped || len(e.Value) == 0 {
				continue
			}
			vr := e.VR
			if vr == dcm.UN || vr == "" {
				vr = dcm.DictionaryVR(e.Tag)
			}
			if !vr.IsString() {
				continue
			}
			vals := d.DecodeStrings(e)
			act := p.actionFor(e.Tag, false, false)
			secret := e.Tag.IsPrivate() && !e.Tag.IsPrivateCreator() || e.Tag == tagTextValue
			if !e.Tag.IsPrivate() && act != "K" && act != "C" {
				secret = true
			}
			if act == "C" && (vr == dcm.DA || vr == dcm.DT) {
				secret = true // shifted dates
			}
			if e.Tag == dcm.TagSpecificCharacterSet || e.Tag.Group() == 0x0002 {
				secret = false
			}
			for _, v := range vals {
				v = strings.TrimSpace(v)
				if !secret {
					kept[v] = true
					continue
				}
				if vr == dcm.UI && strings.HasPrefix(v, wellKnownUIDRoot) {
					continue
				}
				parts := []string{v}
				if vr == dcm.PN {
					parts = append(parts, strings.FieldsFunc(v, func(r rune) bool { return r == '^' || r == '=' || r == ' ' })...)
				}
				for _, s := range parts {
					if len([]rune(s)) >= 5 || (vr == dcm.UI && len(s) > 0) || (len(s) >= 4 && vr == dcm.PN) {
						secrets[s] = where
					}
				}
			}
		}
	}
	walk(ds, "")
	return secrets, kept
}

var dummies = map[string]bool{"ANONYMIZED": true, "19000101": true, "ANONYMOUS": true, "Anonymized": true}

// TestLeak de-identifies every parsable corpus file with the research
// profile and searches the output bytes for every identifying value of
// the input, in its original encoding and in UTF-8.
func TestLeak(t *testing.T) {
	pc := config.Profile{Options: researchOptions, PixelMasks: []config.PixelMask{{Rects: []config.Rect{{X: 0, Y: 0, Width: 8, Height: 8}}}}}
	p := newProfile(t, pc)
	// Non-US SC images without regions: the catch-all mask above lets
	// them through so their headers are checked too.
	out := t.TempDir()
	dcmdump := testenv.LookTool("dcmdump")
	var checked, quarantined int
	for _, path := range corpus(t) {
		name := filepath.Base(path)
		if _, err := dcm.OpenFile(path); err != nil {
			continue
		}
		dst := filepath.Join(out, name)
		res, err := p.AnonymizeFile(context.Background(), path, dst)
		var q *QuarantineError
		if errors.As(err, &q) {
			quarantined++
			continue
		}
		if err != nil {
			continue // malformed inputs fail; they are never sent
		}
		checked++
		ds, _ := parseFile(t, path)
		secrets, kept := identifying(p, ds)
		kept[basicProfileMeaning] = true // our own marking (0012,0063/0064)
		for _, c := range cid7050 {
			kept[c.meaning] = true
		}
		got, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		for s, where := range secrets {
			if inKept(kept, s) || dummies[s] || s == res.Pseudonym.ID || strings.Trim(s, "0. ") == "" {
				continue
			}
			if bytes.Contains(got, []byte(s)) {
				t.Errorf("%s: value of %s %q found in the output", name, where, s)
			}
		}
		// Every original UID must be gone except well-known ones.
		for _, uid := range []string{ds.String(dcm.TagSOPInstanceUID), ds.String(dcm.TagStudyInstanceUID), ds.String(dcm.TagSeriesInstanceUID)} {
			if uid != "" && bytes.Contains(got, []byte(uid)) {
				t.Errorf("%s: original UID %s in output", name, uid)
			}
		}
		if dcmdump != "" {
			if b, err := exec.Command(dcmdump, "-q", dst).CombinedOutput(); err != nil {
				t.Errorf("%s: dcmdump: %v\n%s", name, err, b)
			}
		}
		odc, _ := parseFile(t, dst)
		if cs := odc.String(dcm.TagSpecificCharacterSet); cs != "ISO_IR 192" {
			t.Errorf("%s: charset %q", name, cs)
		}
		if v := odc.String(tagPatientIdentityRemoved); v != "YES" {
			t.Errorf("%s: PatientIdentityRemoved %q", name, v)
		}
		if v := odc.String(tagLongitudinalTemporalMod); v != "MODIFIED" {
			t.Errorf("%s: LongitudinalTemporalInformationModified %q", name, v)
		}
		assertNoPrivate(t, name, odc)
	}
	t.Logf("checked %d outputs, %d quarantined", checked, quarantined)
	if checked < 60 {
		t.Errorf("only %d outputs checked", checked)
	}
}

// inKept reports whether s is (part of) a value the profile keeps, such
// as "TOSHIBA" in Manufacturer "TOSHIBA_MEC" or "Name" in a code meaning.
func inKept(kept map[string]bool, s string) bool {
	for k := range kept {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

func assertNoPrivate(t *testing.T, name string, ds *dcm.Dataset) {
	t.Helper()
	for _, e := range ds.Elements {
		if e.Tag.IsPrivate() {
			t.Errorf("%s: private element %s kept", name, e.Tag)
		}
		for _, it := range e.Items {
			assertNoPrivate(t, name, it)
		}
	}
}

// TestCharsetUTF8 checks that names in GB18030 and ISO 2022 are decoded
// and re-encoded as UTF-8 (B41 c): descriptions kept by clean_desc come
// out as the dcm decoder reads them.
func TestCharsetUTF8(t *testing.T) {
	p := newProfile(t, config.Profile{Options: []string{"clean_desc", "retain_patient_chars", "clean_pixel"}, PixelMasks: []config.PixelMask{{Rects: []config.Rect{{Width: 1, Height: 1}}}}})
	dir := testenv.SharedTestdata(t, "dicom/charset")
	for _, name := range []string{"chrH31.dcm", "chrX1.dcm", "chrGerm.dcm", "chrSQEncoding.dcm"} {
		src := filepath.Join(dir, name)
		orig, _ := parseFile(t, src)
		dst := filepath.Join(t.TempDir(), name)
		if _, err := p.AnonymizeFile(context.Background(), src, dst); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, _ := parseFile(t, dst)
		// Patient Sex is kept by retain_patient_chars; ISO_IR 192 and the
		// raw bytes must be valid UTF-8 for every text element.
		var check func(d *dcm.Dataset)
		check = func(d *dcm.Dataset) {
			for _, e := range d.Elements {
				if e.VR.IsText() && e.Kind == dcm.KindValue && !bytesValidUTF8(e.Value) {
					t.Errorf("%s: %s is not UTF-8: % x", name, e.Tag, e.Value)
				}
				for _, it := range e.Items {
					check(it)
				}
			}
		}
		check(out)
		if a, b := orig.String(dcm.TagPatientSex), out.String(dcm.TagPatientSex); a != b {
			t.Errorf("%s: PatientSex %q -> %q", name, a, b)
		}
	}
}

func bytesValidUTF8(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

// TestMindrayBanner: the burned-in RLE YBR_FULL ultrasound comes out with
// everything outside the ultrasound regions blanked and the region pixels
// unchanged.
func TestMindrayBanner(t *testing.T) {
	p := newProfile(t, config.Profile{Options: researchOptions})
	src := filepath.Join(testenv.SharedTestdata(t, "dicom/anonymization"), "mindray_us_burned_in_rle_ybr_full.dcm")
	dst := filepath.Join(t.TempDir(), "out.dcm")
	res, err := p.AnonymizeFile(context.Background(), src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if !res.PixelsCleaned || res.TransferSyntaxUID != rleUID {
		t.Fatalf("result %+v", res)
	}
	in, _ := parseFile(t, src)
	out, _ := parseFile(t, dst)
	if v := out.String(tagBurnedInAnnotation); v != "NO" {
		t.Errorf("BurnedInAnnotation %q", v)
	}
	f, err := p.planPixels(in, in.Find(dcm.TagPixelData), dcm.TransferSyntax{UID: rleUID, Encapsulated: true})
	if err != nil {
		t.Fatal(err)
	}
	a := decodeRLEFrame(t, in, f.format)
	b := decodeRLEFrame(t, out, f.format)
	var inside, outside, bannerChanged int
	for s := range a {
		for i := range a[s] {
			x, y := i%f.format.Columns, i/f.format.Columns
			if f.mask.Blanked(x, y) {
				want := byte(0)
				if s > 0 {
					want = 128
				}
				if b[s][i] != want {
					t.Fatalf("sample %d pixel (%d,%d) = %d, want blank %d", s, x, y, b[s][i], want)
				}
				if a[s][i] != want {
					bannerChanged++
				}
				outside++
			} else {
				if a[s][i] != b[s][i] {
					t.Fatalf("region pixel (%d,%d) sample %d changed %d -> %d", x, y, s, a[s][i], b[s][i])
				}
				inside++
			}
		}
	}
	if inside == 0 || outside == 0 || bannerChanged == 0 {
		t.Errorf("inside %d, outside %d, banner pixels blanked %d: the test proves nothing", inside, outside, bannerChanged)
	}
}

func decodeRLEFrame(t *testing.T, ds *dcm.Dataset, f pixel.Format) [][]byte {
	t.Helper()
	pix := ds.Find(dcm.TagPixelData)
	if pix == nil || len(pix.Fragments) < 2 {
		t.Fatal("no RLE fragments")
	}
	var data []byte
	for _, fr := range pix.Fragments[1:] {
		data = append(data, fr.Value...)
	}
	segs, err := pixel.DecodeRLE(f, data)
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

// TestQuarantineJPEG2000: ultrasound in JPEG 2000 may hold burned-in text
// the gateway cannot decode, so it is quarantined with the reason.
func TestQuarantineJPEG2000(t *testing.T) {
	p := newProfile(t, config.Profile{Options: researchOptions})
	for _, name := range []string{"jp2k91YBR-ICT_ge_logiqe.dcm", "US1_J2KI.dcm"} {
		src := filepath.Join(testenv.SharedTestdata(t, "dicom/ultrasound"), name)
		dst := filepath.Join(t.TempDir(), name)
		_, err := p.AnonymizeFile(context.Background(), src, dst)
		var q *QuarantineError
		if !errors.As(err, &q) {
			t.Fatalf("%s: err = %v, want *QuarantineError", name, err)
		}
		if !strings.Contains(q.Reason, "burned-in") {
			t.Errorf("%s: reason %q", name, q.Reason)
		}
		if _, err := os.Stat(dst); !os.IsNotExist(err) {
			t.Errorf("%s: output written for a quarantined instance", name)
		}
	}
	// Without clean_pixel even a decodable burned-in US is quarantined.
	basic := newProfile(t, config.Profile{})
	src := filepath.Join(testenv.SharedTestdata(t, "dicom/anonymization"), "mindray_us_burned_in_rle_ybr_full.dcm")
	_, err := basic.AnonymizeFile(context.Background(), src, filepath.Join(t.TempDir(), "x.dcm"))
	var q *QuarantineError
	if !errors.As(err, &q) || !strings.Contains(q.Reason, "clean_pixel") {
		t.Errorf("basic profile on burned-in US: %v", err)
	}
}

// TestSamePatientTwoStudies: two instances of one patient get the same
// pseudonym and date offset; their UIDs map with MapUID.
func TestSamePatientTwoStudies(t *testing.T) {
	p := newProfile(t, config.Profile{Options: researchOptions})
	dir := testenv.SharedTestdata(t, "dicom/anonymization")
	var results []*Result
	var outs []*dcm.Dataset
	for _, name := range []string{"PatientIdsCollision_Image1.dcm", "PatientIdsCollision_Image2.dcm"} {
		src := filepath.Join(dir, name)
		in, _ := parseFile(t, src)
		dst := filepath.Join(t.TempDir(), name)
		res, err := p.AnonymizeFile(context.Background(), src, dst)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := parseFile(t, dst)
		if got, want := out.String(dcm.TagStudyInstanceUID), p.MapUID(in.String(dcm.TagStudyInstanceUID)); got != want || !strings.HasPrefix(got, "2.25.") {
			t.Errorf("%s: study UID %s, want %s", name, got, want)
		}
		if d := in.String(dcm.TagStudyDate); d != "" {
			if got, want := out.String(dcm.TagStudyDate), shiftDates(d, dcm.DA, res.DateShiftDays); got != want || got == d {
				t.Errorf("%s: StudyDate %s -> %s, want %s", name, d, got, want)
			}
		}
		if out.String(dcm.TagPatientID) != res.Pseudonym.ID {
			t.Errorf("%s: PatientID %q, want %q", name, out.String(dcm.TagPatientID), res.Pseudonym.ID)
		}
		results, outs = append(results, res), append(outs, out)
	}
	if results[0].Pseudonym != results[1].Pseudonym || results[0].DateShiftDays != results[1].DateShiftDays || results[0].DateShiftDays >= 0 {
		t.Errorf("same patient, different pseudonyms or shifts: %+v / %+v", results[0], results[1])
	}
	// A second profile key maps differently.
	other, _ := NewProfileWithKey("other", config.Profile{}, []byte("another-secret-key-xyz"))
	if other.MapUID("1.2.3.4") == p.MapUID("1.2.3.4") || p.MapUID("1.2.840.10008.1.2.1") != "1.2.840.10008.1.2.1" {
		t.Error("UID map not keyed or maps a well-known UID")
	}
}

// TestPresentationStateReferences: the GSPS still points at the mapped
// CR image and series after both are de-identified (B31).
func TestPresentationStateReferences(t *testing.T) {
	p := newProfile(t, config.Profile{Options: researchOptions})
	dir := testenv.SharedTestdata(t, "dicom/anonymization")
	tmp := t.TempDir()
	cr, err := p.AnonymizeFile(context.Background(), filepath.Join(dir, "HierAnon_CR000000.dcm"), filepath.Join(tmp, "cr.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AnonymizeFile(context.Background(), filepath.Join(dir, "HierAnon_PR000000.dcm"), filepath.Join(tmp, "pr.dcm")); err != nil {
		t.Fatal(err)
	}
	pr, _ := parseFile(t, filepath.Join(tmp, "pr.dcm"))
	series := pr.Sequence(0x00081115)
	if len(series) != 1 {
		t.Fatalf("ReferencedSeriesSequence has %d items", len(series))
	}
	if got := series[0].String(dcm.TagSeriesInstanceUID); got != cr.SeriesInstanceUID {
		t.Errorf("referenced series %s, CR series %s", got, cr.SeriesInstanceUID)
	}
	imgs := series[0].Sequence(0x00081140)
	if len(imgs) != 1 || imgs[0].String(0x00081155) != cr.SOPInstanceUID {
		t.Errorf("referenced image does not match CR %s", cr.SOPInstanceUID)
	}
	meta, err := dcm.OpenFile(filepath.Join(tmp, "cr.dcm"))
	if err != nil || meta.Meta.MediaStorageSOPInstanceUID != cr.SOPInstanceUID {
		t.Errorf("meta (0002,0003) %q, want %q (%v)", meta.Meta.MediaStorageSOPInstanceUID, cr.SOPInstanceUID, err)
	}
}

// TestStructuredReport: Clean Structured Content keeps NUM and CODE items
// and their concept names, replaces TEXT, maps UIDREF and reference UIDs.
func TestStructuredReport(t *testing.T) {
	p := newProfile(t, config.Profile{Options: researchOptions})
	dir := testenv.SharedTestdata(t, "dicom/sr")
	var nums, texts int
	for _, name := range []string{"highdicom_sr_document.dcm", "reportsi.dcm", "test-SR.dcm"} {
		src := filepath.Join(dir, name)
		in, _ := parseFile(t, src)
		dst := filepath.Join(t.TempDir(), name)
		if _, err := p.AnonymizeFile(context.Background(), src, dst); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, _ := parseFile(t, dst)
		ni, ti := countItems(in)
		no, to := countItems(out)
		if ni["NUM"] != no["NUM"] || ni["CODE"] != no["CODE"] || ni["CONTAINER"] != no["CONTAINER"] {
			t.Errorf("%s: content items %v -> %v", name, ni, no)
		}
		for _, v := range to {
			if v != "ANONYMIZED" {
				t.Errorf("%s: TEXT value %q survived", name, v)
			}
		}
		nums += no["NUM"]
		texts += len(ti)
		checkRefs(t, p, name, in, out)
	}
	if nums == 0 || texts == 0 {
		t.Errorf("corpus had %d NUM and %d TEXT items: the test proves nothing", nums, texts)
	}
}

func countItems(ds *dcm.Dataset) (map[string]int, []string) {
	counts := map[string]int{}
	var texts []string
	var walk func(d *dcm.Dataset)
	walk = func(d *dcm.Dataset) {
		if vt := d.String(tagValueType); vt != "" {
			counts[vt]++
			if vt == "TEXT" {
				texts = append(texts, d.String(tagTextValue))
			}
		}
		for _, e := range d.Elements {
			for _, it := range e.Items {
				walk(it)
			}
		}
	}
	walk(ds)
	return counts, texts
}

// checkRefs: every (0008,1155) and (0040,A124) of the output is the
// mapping of the corresponding input value, in order.
func checkRefs(t *testing.T, p *Profile, name string, in, out *dcm.Dataset) {
	collect := func(ds *dcm.Dataset) []string {
		var v []string
		var walk func(d *dcm.Dataset)
		walk = func(d *dcm.Dataset) {
			for _, e := range d.Elements {
				if e.Tag == 0x00081155 || e.Tag == 0x0040A124 {
					v = append(v, d.String(e.Tag))
				}
				for _, it := range e.Items {
					walk(it)
				}
			}
		}
		walk(ds)
		return v
	}
	a, b := collect(in), collect(out)
	if len(a) != len(b) {
		t.Errorf("%s: %d references in, %d out", name, len(a), len(b))
		return
	}
	for i := range a {
		if p.MapUID(a[i]) != b[i] {
			t.Errorf("%s: reference %s -> %s, want %s", name, a[i], b[i], p.MapUID(a[i]))
		}
	}
}

// TestMemoryFlat: a large native image that needs no cleaning is
// streamed: allocation does not grow with the pixel data.
func TestMemoryFlat(t *testing.T) {
	p := newProfile(t, config.Profile{Options: researchOptions})
	alloc := func(pixels int) uint64 {
		src := filepath.Join(t.TempDir(), "big.dcm")
		writeSyntheticCT(t, src, pixels)
		var a, b runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&a)
		if _, err := p.AnonymizeFile(context.Background(), src, src+".out"); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&b)
		st, _ := os.Stat(src + ".out")
		if st.Size() < int64(pixels) {
			t.Fatalf("output %d bytes for %d pixel bytes", st.Size(), pixels)
		}
		return b.TotalAlloc - a.TotalAlloc
	}
	small, big := alloc(4<<20), alloc(64<<20)
	t.Logf("allocated %d bytes for 4 MiB, %d for 64 MiB of pixels", small, big)
	if big > small+(2<<20) || big > 8<<20 {
		t.Errorf("allocation grows with pixel data: %d -> %d", small, big)
	}
}

func writeSyntheticCT(t testing.TB, path string, pixels int) {
	var b bytes.Buffer
	w := dcm.NewWriter(&b, dcm.ExplicitVRLittleEndian)
	w.WriteString(dcm.TagSOPClassUID, dcm.UI, "1.2.840.10008.5.1.4.1.1.2")
	w.WriteString(dcm.TagSOPInstanceUID, dcm.UI, "1.2.3.4.5.6.7")
	w.WriteString(dcm.TagModality, dcm.CS, "CT")
	w.WriteString(dcm.TagPatientName, dcm.PN, "Doe^Jane")
	w.WriteString(dcm.TagPatientID, dcm.LO, "PID12345")
	w.WriteHeader(dcm.TagPixelData, dcm.OW, uint32(pixels))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(dcm.EncodeFileMeta(dcm.FileMeta{MediaStorageSOPClassUID: "1.2.840.10008.5.1.4.1.1.2", MediaStorageSOPInstanceUID: "1.2.3.4.5.6.7", TransferSyntaxUID: dcm.ExplicitVRLittleEndian.UID}))
	f.Write(b.Bytes())
	if err := f.Truncate(int64(len(dcm.EncodeFileMeta(dcm.FileMeta{MediaStorageSOPClassUID: "1.2.840.10008.5.1.4.1.1.2", MediaStorageSOPInstanceUID: "1.2.3.4.5.6.7", TransferSyntaxUID: dcm.ExplicitVRLittleEndian.UID})) + b.Len() + pixels)); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkCorpus measures throughput without pixel cleaning: instances
// that need none (burned-in suspects are quarantined early).
func BenchmarkCorpus(b *testing.B) {
	p := newProfile(b, config.Profile{Options: []string{"retain_long_modified_dates", "clean_desc", "clean_struct_cont"}})
	var files []string
	var total int64
	for _, f := range corpus(b) {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		st, _ := fh.Stat()
		_, err = p.Anonymize(context.Background(), fh, st.Size(), discard{})
		fh.Close()
		if err == nil {
			files = append(files, f)
			total += st.Size()
		}
	}
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, f := range files {
			fh, _ := os.Open(f)
			st, _ := fh.Stat()
			if _, err := p.Anonymize(context.Background(), fh, st.Size(), discard{}); err != nil {
				b.Fatal(err)
			}
			fh.Close()
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// FuzzApply runs the engine on arbitrary data sets: it must not panic,
// and whatever it writes must parse again without private elements.
func FuzzApply(f *testing.F) {
	for _, name := range []string{"anonymization/HierAnon_PR000000.dcm", "sr/report_dfl.dcm", "charset/chrSQEncoding.dcm"} {
		if b, err := os.ReadFile(filepath.Join("..", "..", "shared", "testdata", "dicom", name)); err == nil {
			f.Add(b)
		}
	}
	p, _ := NewProfileWithKey("fuzz", config.Profile{Options: researchOptions, SafePrivate: []config.SafePrivate{{Creator: "ACME US 1.0"}}}, testKey)
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		if _, err := p.Anonymize(context.Background(), bytes.NewReader(data), int64(len(data)), &out); err != nil {
			return
		}
		fh, err := dcm.ReadFile(bufioReader(out.Bytes()))
		if err != nil {
			t.Fatalf("output unreadable: %v", err)
		}
		ds, err := dcm.Parse(bytes.NewReader(out.Bytes()[fh.DataOffset:]), fh.Syntax, dcm.Options{Size: int64(out.Len()) - fh.DataOffset})
		if err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		if ds.String(tagPatientIdentityRemoved) != "YES" {
			t.Fatal("output not marked")
		}
	})
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
