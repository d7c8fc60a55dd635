package anonymize

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/internal/testenv"
)

// benchCorpus returns up to n .dcm files of the ultrasound corpus made by
// ../shared/bench/gen_us_corpus.py (SONOGATE_ANON_CORPUS, default
// /tmp/sonobench/corpus_small); the benchmark is skipped without one.
func benchCorpus(b *testing.B, n int) []string {
	dir := os.Getenv("SONOGATE_ANON_CORPUS")
	if dir == "" {
		dir = "/tmp/sonobench/corpus_small"
	}
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".dcm") && len(files) < n {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		b.Skipf("no corpus under %s (generate it with ../shared/bench/gen_us_corpus.py)", dir)
	}
	return files
}

// BenchmarkAnonymizeFileUS measures AnonymizeFile, file to new file as
// `sonogate anonymize` runs it, over the generated ultrasound corpus with
// the options of bench/anon.sh: "clean" masks the BurnedInAnnotation YES
// quarter, "noclean" quarantines it (no output written for those). Most
// of the time is the kernel's: on ext4 without a journal every create
// first skips the inodes deleted in the last minute, so the figure
// depends on what the machine deleted just before.
func BenchmarkAnonymizeFileUS(b *testing.B) {
	files := benchCorpus(b, 200)
	for _, tc := range []struct {
		name string
		opts []string
	}{
		{"clean", []string{"retain_long_modified_dates", "clean_pixel"}},
		{"noclean", []string{"retain_long_modified_dates"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := newProfile(b, config.Profile{Options: tc.opts})
			out := b.TempDir()
			var bytes int64
			for _, f := range files {
				if st, err := os.Stat(f); err == nil {
					bytes += st.Size()
				}
			}
			b.SetBytes(bytes / int64(len(files)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%1000 == 999 { // new files, as a batch run makes, without filling the disk
					b.StopTimer()
					os.RemoveAll(out)
					os.Mkdir(out, 0o755)
					b.StartTimer()
				}
				f := files[i%len(files)]
				_, err := p.AnonymizeFile(context.Background(), f, filepath.Join(out, strconv.Itoa(i)+".dcm"))
				if err != nil && !isQuarantine(err) {
					b.Fatal(err)
				}
			}
		})
	}
}

func isQuarantine(err error) bool {
	_, ok := err.(*QuarantineError)
	return ok
}

// TestFileCopyMatchesStream: AnonymizeFile (file to temporary file, its
// output buffer flushed before long values, made at the first byte)
// writes exactly the bytes that Anonymize streams from memory to memory.
// Without clean_pixel (re-encoding the corpus's JPEG frames twice would
// make this the slowest test): the burned-in suspects must then fail
// alike on both paths.
func TestFileCopyMatchesStream(t *testing.T) {
	t.Parallel()
	p := newProfile(t, config.Profile{Options: researchOptions[:len(researchOptions)-1]})
	if p.Has(CleanPixel) {
		t.Fatal("the profile cleans pixels")
	}
	dir := t.TempDir()
	big := filepath.Join(dir, "big.dcm")
	writeSyntheticCT(t, big, 3<<20+1) // odd: the output pads the value
	checked := 0
	for _, src := range append(corpus(t), big) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		_, werr := p.Anonymize(context.Background(), bytes.NewReader(data), int64(len(data)), &want)
		dst := filepath.Join(dir, "out.dcm")
		os.Remove(dst)
		_, gerr := p.AnonymizeFile(context.Background(), src, dst)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s: stream error %v, file error %v", src, werr, gerr)
		}
		if werr != nil {
			if _, err := os.Stat(dst); err == nil {
				t.Errorf("%s: failed (%v) but wrote %s", src, gerr, dst)
			}
			continue
		}
		got, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s: file output (%d bytes) differs from stream output (%d bytes)", src, len(got), want.Len())
		}
		checked++
	}
	if checked < 50 {
		t.Errorf("only %d files compared", checked)
	}
}

// TestTruncatedPixelData: native pixel data longer than the file is an
// error on both paths, and nothing is written.
func TestTruncatedPixelData(t *testing.T) {
	t.Parallel()
	p := newProfile(t, config.Profile{Options: researchOptions})
	dir := t.TempDir()
	src := filepath.Join(dir, "short.dcm")
	writeSyntheticCT(t, src, 1<<20)
	st, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(src, st.Size()-1000); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "out.dcm")
	if _, err := p.AnonymizeFile(context.Background(), src, dst); err == nil || !errors.Is(err, dcm.ErrMalformed) {
		t.Errorf("AnonymizeFile: err = %v, want a malformed-data error", err)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Error("a truncated instance was written")
	}
	data, _ := os.ReadFile(src)
	if _, err := p.Anonymize(context.Background(), bytes.NewReader(data), int64(len(data)), io.Discard); err == nil || !errors.Is(err, dcm.ErrMalformed) {
		t.Errorf("Anonymize: err = %v, want a malformed-data error", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".anon-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// BenchmarkAnonymizeUSInMemory is the CPU of one instance of the
// ultrasound corpus without any file system: Anonymize from memory to a
// discarding writer (noclean options: the BurnedInAnnotation YES quarter
// stops at the quarantine decision).
func BenchmarkAnonymizeUSInMemory(b *testing.B) {
	files := benchCorpus(b, 200)
	p := newProfile(b, config.Profile{Options: []string{"retain_long_modified_dates"}})
	var data [][]byte
	for _, f := range files {
		d, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		data = append(data, d)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := data[i%len(data)]
		if _, err := p.Anonymize(context.Background(), bytes.NewReader(d), int64(len(d)), io.Discard); err != nil && !isQuarantine(err) {
			b.Fatal(err)
		}
	}
}

// TestLongHeader: a header several times longer than one read of the
// header parser (here 700 referenced images, ~60 KB) comes out whole,
// every reference mapped, and the pixel data behind it unchanged.
func TestLongHeader(t *testing.T) {
	t.Parallel()
	p := newProfile(t, config.Profile{Options: researchOptions})
	const refs, pixels = 700, 200_001
	var b bytes.Buffer
	w := dcm.NewWriter(&b, dcm.ExplicitVRLittleEndian)
	w.WriteString(dcm.TagSOPClassUID, dcm.UI, "1.2.840.10008.5.1.4.1.1.2")
	w.WriteString(dcm.TagSOPInstanceUID, dcm.UI, "1.2.3.4.5.6.7")
	w.WriteString(dcm.TagModality, dcm.CS, "CT")
	w.WriteHeader(0x00081140, dcm.SQ, dcm.UndefinedLength)
	var want []string
	for i := range refs {
		uid := "1.2.826.0.1.3680043.2.1125." + strconv.Itoa(1_000_000+i)
		want = append(want, p.MapUID(uid))
		w.WriteHeader(dcm.TagItem, "", dcm.UndefinedLength)
		w.WriteString(0x00081150, dcm.UI, "1.2.840.10008.5.1.4.1.1.2")
		w.WriteString(0x00081155, dcm.UI, uid)
		w.WriteHeader(dcm.TagItemDelimitationItem, "", 0)
	}
	w.WriteHeader(dcm.TagSequenceDelimitationItem, "", 0)
	w.WriteString(dcm.TagPatientName, dcm.PN, "Doe^Jane")
	w.WriteString(dcm.TagPatientID, dcm.LO, "PID12345")
	pix := make([]byte, pixels)
	for i := range pix {
		pix[i] = byte(i * 7)
	}
	w.WriteValue(dcm.TagPixelData, dcm.OB, pix)
	if b.Len() < 4*headerChunk {
		t.Fatalf("header of %d bytes is not longer than a few reads", b.Len()-pixels)
	}
	src := filepath.Join(t.TempDir(), "long.dcm")
	meta := dcm.EncodeFileMeta(dcm.FileMeta{MediaStorageSOPClassUID: "1.2.840.10008.5.1.4.1.1.2", MediaStorageSOPInstanceUID: "1.2.3.4.5.6.7", TransferSyntaxUID: dcm.ExplicitVRLittleEndian.UID})
	if err := os.WriteFile(src, append(meta, b.Bytes()...), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := src + ".out"
	if _, err := p.AnonymizeFile(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	out, _ := parseFile(t, dst)
	items := out.Sequence(0x00081140)
	if len(items) != refs {
		t.Fatalf("%d referenced images, want %d", len(items), refs)
	}
	for i, it := range items {
		if got := it.String(0x00081155); got != want[i] {
			t.Fatalf("reference %d = %s, want %s", i, got, want[i])
		}
	}
	if e := out.Find(dcm.TagPixelData); e == nil || !bytes.Equal(e.Value[:pixels], pix) {
		t.Error("pixel data changed")
	}
}

// TestQuarantineCreatesNothing: an instance quarantined before its first
// output byte makes no temporary file at all (the folder is not touched),
// and one that fails at parsing neither.
func TestQuarantineCreatesNothing(t *testing.T) {
	t.Parallel()
	basic := newProfile(t, config.Profile{})
	dir := t.TempDir()
	notDICOM := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notDICOM, []byte("not DICOM at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{
		filepath.Join(testenv.SharedTestdata(t, "dicom/anonymization"), "mindray_us_burned_in_rle_ybr_full.dcm"),
		notDICOM,
	} {
		before, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := basic.AnonymizeFile(context.Background(), src, filepath.Join(dir, "x.dcm")); err == nil {
			t.Fatalf("%s: no error", src)
		}
		after, _ := os.Stat(dir)
		entries, _ := os.ReadDir(dir)
		if len(entries) != 0 || !after.ModTime().Equal(before.ModTime()) {
			t.Errorf("%s: the output folder was written to (%d entries, mtime %v -> %v)", src, len(entries), before.ModTime(), after.ModTime())
		}
	}
}
