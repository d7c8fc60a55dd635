package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func sum(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func tempFiles(t *testing.T, s *Store) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(s.Dir(), tempDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSpoolCommit(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	prefix := append(make([]byte, 128), []byte("DICMmeta")...)
	data := bytes.Repeat([]byte{1, 2, 3, 4, 5}, 300000) // 1.5 MB, larger than the buffer
	sp, err := s.Spool(prefix, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := sum(prefix, data)
	if sp.SHA256 != want {
		t.Errorf("SHA256 = %s, want %s", sp.SHA256, want)
	}
	if sp.Size != int64(len(prefix)+len(data)) || sp.DataOffset != int64(len(prefix)) {
		t.Errorf("Size/DataOffset = %d/%d, want %d/%d", sp.Size, sp.DataOffset, len(prefix)+len(data), len(prefix))
	}
	if !strings.HasPrefix(sp.TempPath, filepath.Join(s.Dir(), tempDir)+string(filepath.Separator)) {
		t.Errorf("TempPath %s not under tmp/", sp.TempPath)
	}
	rel, err := s.Commit(sp, NamespaceClinical)
	if err != nil {
		t.Fatal(err)
	}
	wantRel := "clinical/" + want[:2] + "/" + want + ".dcm"
	if rel != wantRel {
		t.Errorf("rel = %s, want %s", rel, wantRel)
	}
	got, err := os.ReadFile(s.Path(rel))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(append([]byte{}, prefix...), data...)) {
		t.Errorf("file content differs (len %d)", len(got))
	}
	if _, err := os.Stat(sp.TempPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp file still present after commit: %v", err)
	}
	if err := s.Discard(sp); err != nil {
		t.Errorf("Discard after Commit = %v, want nil", err)
	}
}

func TestCommitIdempotent(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sp1, err := s.Spool([]byte("P"), strings.NewReader("same bytes"))
	if err != nil {
		t.Fatal(err)
	}
	rel1, err := s.Commit(sp1, NamespaceClinical)
	if err != nil {
		t.Fatal(err)
	}
	info1, _ := os.Stat(s.Path(rel1))
	sp2, err := s.Spool([]byte("P"), strings.NewReader("same bytes"))
	if err != nil {
		t.Fatal(err)
	}
	rel2, err := s.Commit(sp2, NamespaceClinical)
	if err != nil {
		t.Fatal(err)
	}
	if rel1 != rel2 {
		t.Fatalf("rel %s != %s", rel1, rel2)
	}
	info2, _ := os.Stat(s.Path(rel2))
	if !os.SameFile(info1, info2) {
		t.Error("second commit replaced the existing file; want it kept")
	}
	if n := len(tempFiles(t, s)); n != 0 {
		t.Errorf("%d temp files left, want 0", n)
	}
	// Same bytes in another namespace is a separate file.
	sp3, _ := s.Spool([]byte("P"), strings.NewReader("same bytes"))
	rel3, err := s.Commit(sp3, NamespaceResearch)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rel3, "research/") {
		t.Errorf("rel3 = %s", rel3)
	}
}

func TestCommitRepairsTruncatedFile(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir())
	sp, _ := s.Spool(nil, strings.NewReader("0123456789"))
	rel, _ := RelPath(NamespaceClinical, sp.SHA256)
	if err := os.MkdirAll(filepath.Dir(s.Path(rel)), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path(rel), []byte("0123"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(sp, NamespaceClinical); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(s.Path(rel))
	if string(got) != "0123456789" {
		t.Errorf("content = %q, want repaired full content", got)
	}
}

func TestDiscard(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir())
	sp, err := s.Spool([]byte("x"), strings.NewReader("y"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(sp); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sp.TempPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp still exists: %v", err)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func TestSpoolReaderErrorLeavesNothing(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir())
	sp, err := s.Spool([]byte("prefix"), &failingReader{n: 3 << 20})
	if !errors.Is(err, io.ErrUnexpectedEOF) || sp != nil {
		t.Fatalf("Spool = %v, %v; want ErrUnexpectedEOF", sp, err)
	}
	if n := len(tempFiles(t, s)); n != 0 {
		t.Errorf("%d temp files left after failed spool", n)
	}
}

// TestCrashBeforeRename simulates a process killed after Spool but before
// Commit: the temp file must never be visible at the final path, and the
// next Open removes it.
func TestCrashBeforeRename(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	sp, err := s.Spool([]byte("p"), strings.NewReader("instance"))
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := RelPath(NamespaceClinical, sp.SHA256)
	if _, err := os.Stat(s.Path(rel)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("final path exists before commit: %v", err)
	}
	// "crash": reopen without committing.
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sp.TempPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp survived reopen: %v", err)
	}
	if n := len(tempFiles(t, s2)); n != 0 {
		t.Errorf("%d temp files after reopen", n)
	}
	// Committing the vanished spool fails and creates nothing.
	if _, err := s2.Commit(sp, NamespaceClinical); err == nil {
		t.Error("Commit of cleaned spool succeeded")
	}
	if _, err := os.Stat(s2.Path(rel)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("final path exists after failed commit: %v", err)
	}
}

func TestStaleAfterKeepsFreshTemp(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	fresh, _ := s.Spool(nil, strings.NewReader("fresh"))
	old, _ := s.Spool(nil, strings.NewReader("old"))
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(old.TempPath, past, past); err != nil {
		t.Fatal(err)
	}
	// An unrelated file in tmp/ is never touched.
	other := filepath.Join(dir, tempDir, "keep.me")
	if err := os.WriteFile(other, []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenOptions(dir, Options{StaleAfter: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fresh.TempPath); err != nil {
		t.Errorf("fresh temp removed: %v", err)
	}
	if _, err := os.Stat(old.TempPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old temp kept: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("unrelated file removed: %v", err)
	}
}

func TestInvalidNamespaceAndPath(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir())
	sp, _ := s.Spool(nil, strings.NewReader("z"))
	for _, ns := range []Namespace{"", "tmp", "../x", "a/b", "Clinical"} {
		if _, err := s.Commit(sp, ns); !errors.Is(err, ErrNamespace) {
			t.Errorf("Commit(ns=%q) = %v, want ErrNamespace", ns, err)
		}
	}
	if got, want := s.Path("../../etc/passwd"), filepath.Join(s.Dir(), "etc", "passwd"); got != want {
		t.Errorf("Path escaped root: %s", got)
	}
}

// zeroReader yields n zero bytes without holding them.
type zeroReader struct{ n int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	k := int64(len(p))
	if k > z.n {
		k = z.n
	}
	clear(p[:k])
	z.n -= k
	return int(k), nil
}

func TestSpoolMemoryFlat(t *testing.T) {
	s, _ := Open(t.TempDir())
	const size = 64 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sp, err := s.Spool(make([]byte, 132), &zeroReader{n: size})
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if sp.Size != size+132 {
		t.Errorf("Size = %d", sp.Size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("Spool of %d bytes allocated %d bytes; want < 4 MiB", size, alloc)
	}
	_ = s.Discard(sp)
}
