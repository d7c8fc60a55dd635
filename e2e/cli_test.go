package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sonogate/sonogate/internal/testenv"
)

// TestCLI drives `sonogate echo` and `sonogate store` against DCMTK
// storescp and Orthanc, as an operator would.
func TestCLI(t *testing.T) {
	t.Parallel()
	testenv.RequireTool(t, "storescp")
	usDir := testenv.SharedTestdata(t, "dicom/ultrasound")
	us, bad := ScanDICOM(t, usDir)
	if len(bad) != 0 || len(us) == 0 {
		t.Fatalf("ultrasound folder: %d readable, unreadable %v", len(us), bad)
	}

	type peer struct {
		name, aet, addr string
		uids            func(t *testing.T) []string
	}
	newStoreSCP := func(t *testing.T) peer {
		scp := testenv.StartStoreSCPServer(t, "STORESCP", filepath.Join(t.TempDir(), "in"), "--unique-filenames")
		return peer{"storescp", scp.AET(), scp.Addr(), func(t *testing.T) []string {
			got, badf := ScanDICOM(t, scp.Dir())
			if len(badf) != 0 {
				t.Errorf("storescp wrote unreadable files: %v", badf)
			}
			var uids []string
			for _, in := range got {
				uids = append(uids, in.SOPInst)
			}
			return uids // one entry per received file: duplicates show
		}}
	}
	newOrthanc := func(t *testing.T) peer {
		o := testenv.StartOrthanc(t, testenv.OrthancOptions{})
		return peer{"orthanc", o.AET(), o.DicomAddr(), func(t *testing.T) []string { return o.Instances(t) }}
	}

	for name, mk := range map[string]func(*testing.T) peer{"storescp": newStoreSCP, "orthanc": newOrthanc} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := mk(t)
			t.Run("echo", func(t *testing.T) {
				out, code := RunSonogate(t, time.Minute, "echo", "--aec", p.aet, p.addr)
				if code != 0 || !strings.Contains(out, "Success") {
					t.Fatalf("sonogate echo --aec %s %s: exit %d\n%s", p.aet, p.addr, code, out)
				}
			})
			t.Run("store ultrasound", func(t *testing.T) {
				out, code := RunSonogate(t, 2*time.Minute, "store", "--aec", p.aet, p.addr, usDir)
				lines, summary := parseStoreOutput(out)
				if code != 0 {
					t.Errorf("exit %d, want 0\n%s", code, out)
				}
				for _, in := range us {
					if l, ok := lines[in.Path]; !ok || !l.ok || l.detail != "Success" {
						t.Errorf("%s: line %+v (present %v), want OK ... (Success)", filepath.Base(in.Path), l, ok)
					}
				}
				if want := len(us); !strings.HasPrefix(summary, strconv.Itoa(want)+" sent, 0 failed") {
					t.Errorf("summary %q, want %q", summary, strconv.Itoa(want)+" sent, 0 failed, ...")
				}
				want := UIDSet(us)
				var got []string
				deadline := time.Now().Add(10 * time.Second)
				for {
					got = p.uids(t)
					if len(dedup(got)) >= len(want) || time.Now().After(deadline) {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if p.name == "storescp" {
					// One file per C-STORE: as many files as were sent,
					// carrying the sent UIDs.
					if len(got) != len(us) {
						t.Errorf("storescp received %d files, %d were sent", len(got), len(us))
					}
					got = dedup(got)
				}
				if d := diffSets(got, want); d != "" {
					t.Errorf("%s holds other SOP Instance UIDs than were sent: %s", p.name, d)
				}
			})
		})
	}

	t.Run("store with a non-DICOM file", func(t *testing.T) {
		t.Parallel()
		scp := testenv.StartStoreSCPServer(t, "STORESCP", filepath.Join(t.TempDir(), "in"))
		dir := t.TempDir()
		var sent []Instance
		for _, in := range us[:2] {
			b, err := os.ReadFile(in.Path)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, filepath.Base(in.Path))
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			sent = append(sent, Instance{Path: p, SOPInst: in.SOPInst})
		}
		junk := filepath.Join(dir, "notes.txt")
		if err := os.WriteFile(junk, []byte("this is not a DICOM file\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, code := RunSonogate(t, time.Minute, "store", "--aec", scp.AET(), scp.Addr(), dir)
		lines, summary := parseStoreOutput(out)
		if code == 0 || code == -1 {
			t.Errorf("exit %d, want non-zero\n%s", code, out)
		}
		if l, ok := lines[junk]; !ok || l.ok || strings.TrimSpace(l.detail) == "" {
			t.Errorf("non-DICOM file: line %+v (present %v), want FAIL with a reason\n%s", l, ok, out)
		} else {
			t.Logf("FAIL line for the non-DICOM file: %s", l.detail)
		}
		for _, in := range sent {
			if l := lines[in.Path]; !l.ok {
				t.Errorf("%s: %+v, want OK", in.Path, l)
			}
		}
		if !strings.HasPrefix(summary, "2 sent, 1 failed") {
			t.Errorf("summary %q, want \"2 sent, 1 failed, ...\"", summary)
		}
		got, _ := ScanDICOM(t, scp.Dir())
		if d := diffSets(UIDSet(got), UIDSet(sent)); d != "" || len(got) != 2 {
			t.Errorf("storescp received %d files: %s", len(got), d)
		}
	})
}

func dedup(s []string) []string {
	m := map[string]bool{}
	for _, x := range s {
		m[x] = true
	}
	return sortedKeys(m)
}
