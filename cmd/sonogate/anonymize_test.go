package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/internal/testenv"
)

// TestAnonymizeFolder runs `sonogate anonymize` over a tree shaped to
// exercise the walk: a folder with more files than one worker batch, a
// folder whose files sort before and after its subfolder, a nested folder
// and a file that is not DICOM. Every DICOM file comes out under the same
// relative path, de-identified; the other one is counted as failed.
func TestAnonymizeFolder(t *testing.T) {
	src := filepath.Join(testenv.SharedTestdata(t, "dicom"), "sr", "test-SR.dcm")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	var want []string
	put := func(rel string, b []byte) {
		p := filepath.Join(in, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range anonymizeBatch + 5 {
		rel := "big/" + string(rune('a'+i)) + ".dcm"
		put(rel, data)
		want = append(want, rel)
	}
	for _, rel := range []string{"m/a.dcm", "m/n/b.dcm", "m/z.dcm", "m/n/o/p/c.dcm", "top.dcm"} {
		put(rel, data)
		want = append(want, rel)
	}
	put("m/notes.txt", []byte("not DICOM"))
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte("cli-test-key-0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sonogate.yaml")
	if err := os.WriteFile(cfg, []byte("profiles:\n  research:\n    key_file: key\n    options: [retain_long_modified_dates]\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	err = run([]string{"anonymize", "--profile", "research", "--config", cfg, in, out}, &stdout, &stderr)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Errorf("exit: %v, want exit 1 (one file failed)\n%s", err, stderr.String())
	}
	if got, w := strings.TrimSpace(stdout.String()), "anonymized 26, quarantined 0, failed 1"; got != w {
		t.Errorf("stdout %q, want %q\nstderr: %s", got, w, stderr.String())
	}
	if !strings.Contains(stderr.String(), "notes.txt") {
		t.Errorf("stderr does not name the failed file: %s", stderr.String())
	}

	// Again into the same folders (they exist now), with one worker: the
	// copies are replaced.
	stdout.Reset()
	stderr.Reset()
	run([]string{"anonymize", "--profile", "research", "--config", cfg, "--workers", "1", in, out}, &stdout, &stderr)
	if got, w := strings.TrimSpace(stdout.String()), "anonymized 26, quarantined 0, failed 1"; got != w {
		t.Errorf("second run: stdout %q, want %q\nstderr: %s", got, w, stderr.String())
	}

	var got []string
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(out, p)
			got = append(got, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("outputs:\n%v\nwant:\n%v", got, want)
	}
	for _, rel := range got {
		p := filepath.Join(out, filepath.FromSlash(rel))
		f, err := dcm.OpenFile(p)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		b, _ := os.ReadFile(p)
		ds, err := dcm.Parse(bytes.NewReader(b[f.DataOffset:]), f.Syntax, dcm.Options{Size: int64(len(b)) - f.DataOffset})
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if ds.String(dcm.Tag(0x00120062)) != "YES" {
			t.Errorf("%s: Patient Identity Removed is not YES", rel)
		}
	}
}
