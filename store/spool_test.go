package store

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCommitFindsLegacyLayout: a file stored by an earlier version under
// ns/ab/cd/<sha>.dcm is found, so the same content is not stored twice.
func TestCommitFindsLegacyLayout(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir())
	sp, err := s.Spool([]byte("P"), strings.NewReader("legacy bytes"))
	if err != nil {
		t.Fatal(err)
	}
	legacy := legacyRelPath(NamespaceClinical, sp.SHA256)
	if err := os.MkdirAll(filepath.Dir(s.Path(legacy)), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path(legacy), []byte("Plegacy bytes"), 0o640); err != nil {
		t.Fatal(err)
	}
	rel, err := s.Commit(sp, NamespaceClinical)
	if err != nil {
		t.Fatal(err)
	}
	if rel != legacy {
		t.Errorf("rel = %s, want the legacy path %s", rel, legacy)
	}
	newRel, _ := RelPath(NamespaceClinical, sp.SHA256)
	if _, err := os.Stat(s.Path(newRel)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a second copy was written at %s: %v", newRel, err)
	}
}

// TestFanOutCreatedOnceAndRepaired: with a pool, the first commit starts
// the creation of all 256 fan-out directories; a directory removed later
// is made again.
func TestFanOutCreatedOnceAndRepaired(t *testing.T) {
	t.Parallel()
	s, _ := OpenOptions(t.TempDir(), Options{Prealloc: 1})
	sp, _ := s.Spool(nil, strings.NewReader("first"))
	if _, err := s.Commit(sp, NamespaceResearch); err != nil {
		t.Fatal(err)
	}
	var entries []os.DirEntry
	waitFor(t, "the fan-out directories", func() bool {
		entries, _ = os.ReadDir(filepath.Join(s.Dir(), string(NamespaceResearch)))
		return len(entries) >= 256
	})
	if err := s.Close(); err != nil { // waits for the background creation
		t.Fatal(err)
	}
	if len(entries) != 256 || entries[0].Name() != "00" || entries[255].Name() != "ff" {
		t.Fatalf("fan-out: %d entries (%s..)", len(entries), entries[0].Name())
	}
	sp2, _ := s.Spool(nil, strings.NewReader("second"))
	leaf := filepath.Join(s.Dir(), string(NamespaceResearch), sp2.SHA256[:2])
	if err := os.RemoveAll(leaf); err != nil {
		t.Fatal(err)
	}
	rel, err := s.Commit(sp2, NamespaceResearch)
	if err != nil {
		t.Fatalf("Commit after the fan-out directory vanished: %v", err)
	}
	if got, _ := os.ReadFile(s.Path(rel)); string(got) != "second" {
		t.Errorf("content = %q", got)
	}
}

// TestHeaderReader: the data set after the prefix comes back whole, from
// memory for a small file and from memory then the file for a large one.
func TestHeaderReader(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir())
	prefix := []byte("PREFIX")
	for _, n := range []int{0, 10, headSize - len(prefix), headSize, 3*headSize + 7} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i*7 + i>>8)
		}
		sp, err := s.Spool(prefix, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		r := sp.HeaderReader()
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("n=%d: HeaderReader gave %d bytes (err %v), want the %d data bytes", n, len(got), err, n)
		}
		if err := s.Discard(sp); err != nil {
			t.Fatal(err)
		}
	}
}

// writerToReader hands its data out through WriteTo in small slices, as the
// DIMSE data reader does.
type writerToReader struct{ data []byte }

func (w *writerToReader) Read(p []byte) (int, error) { panic("Read must not be used") }

func (w *writerToReader) WriteTo(dst io.Writer) (int64, error) {
	var n int64
	for len(w.data) > 0 {
		k := min(len(w.data), 1000)
		m, err := dst.Write(w.data[:k])
		n += int64(m)
		if err != nil {
			return n, err
		}
		w.data = w.data[k:]
	}
	return n, nil
}

func TestSpoolUsesWriterTo(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir())
	data := bytes.Repeat([]byte("0123456789abcdef"), 20000)
	sp, err := s.Spool([]byte("P"), &writerToReader{data: data})
	if err != nil {
		t.Fatal(err)
	}
	if want := sum([]byte("P"), data); sp.SHA256 != want || sp.Size != int64(len(data)+1) {
		t.Errorf("sha/size = %s/%d, want %s/%d", sp.SHA256, sp.Size, want, len(data)+1)
	}
	got, _ := os.ReadFile(sp.TempPath)
	if !bytes.Equal(got[1:], data) {
		t.Error("spooled content differs")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPrealloc: spools use pre-created files, the pool refills, a pooled
// file removed by another replica's clean-up is not used, and Close
// removes the unused files.
func TestPrealloc(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := OpenOptions(dir, Options{Prealloc: 3})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tempFiles(t, s)); n != 0 {
		t.Errorf("%d files pre-created before the first spool, want 0", n)
	}
	first, err := s.Spool(nil, strings.NewReader("starts the pool"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(first); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pool filled", func() bool { return len(tempFiles(t, s)) == 3 })
	pooled := map[string]bool{}
	for _, p := range tempFiles(t, s) {
		pooled[p] = true
	}
	sp, err := s.Spool([]byte("P"), strings.NewReader("pooled"))
	if err != nil {
		t.Fatal(err)
	}
	if !pooled[sp.TempPath] {
		t.Errorf("spool %s is not one of the pre-created files", sp.TempPath)
	}
	if got, _ := os.ReadFile(sp.TempPath); string(got) != "Ppooled" {
		t.Errorf("content = %q", got)
	}
	if _, err := s.Commit(sp, NamespaceClinical); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pool refilled", func() bool { return len(tempFiles(t, s)) == 3 })

	// Another replica removes every temp file (StaleAfter 0): the pooled
	// files are unlinked; spooling must still land in a file with a name.
	if _, err := s.CleanTemp(0); err != nil {
		t.Fatal(err)
	}
	sp2, err := s.Spool(nil, strings.NewReader("after clean"))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := s.Commit(sp2, NamespaceClinical)
	if err != nil {
		t.Fatalf("Commit after the pool was cleaned: %v", err)
	}
	if got, _ := os.ReadFile(s.Path(rel)); string(got) != "after clean" {
		t.Errorf("content = %q", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(tempFiles(t, s)); n != 0 {
		t.Errorf("%d temp files after Close, want 0", n)
	}
}
