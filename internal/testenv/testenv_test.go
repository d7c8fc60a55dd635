package testenv

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	mrSmall    = "dicom/transfer_syntax/MR_small.dcm"
	mrSmallUID = "1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457"
)

func TestRepoRootAndShared(t *testing.T) {
	root := RepoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !bytes.HasPrefix(b, []byte("module github.com/sonogate/sonogate\n")) {
		t.Fatalf("RepoRoot = %s: go.mod %q %v", root, b[:min(len(b), 60)], err)
	}
	dir := SharedTestdata(t, "dicom/transfer_syntax")
	if !filepath.IsAbs(dir) || filepath.Base(dir) != "transfer_syntax" {
		t.Fatalf("SharedTestdata = %q", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "MR_small.dcm")); err != nil {
		t.Fatal(err)
	}
}

// fakeTB records Fatalf/Skipf instead of stopping the goroutine.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Fatalf(format string, a ...any) { f.fatal = fmt.Sprintf(format, a...) }
func (f *fakeTB) Skipf(format string, a ...any)  { f.skip = fmt.Sprintf(format, a...) }

func TestMissingPolicy(t *testing.T) {
	for _, ci := range []string{"true", ""} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			f := &fakeTB{TB: t}
			if p := RequireTool(f, "no-such-tool-sonogate"); p != "" {
				t.Errorf("RequireTool(missing) = %q", p)
			}
			SharedTestdata(f, "no/such/dir")
			if ci == "true" {
				if !strings.Contains(f.fatal, "MISSING PREREQUISITE") || f.skip != "" {
					t.Errorf("CI=true: fatal=%q skip=%q, want a failure", f.fatal, f.skip)
				}
			} else if !strings.Contains(f.skip, "SKIP: MISSING PREREQUISITE") || f.fatal != "" {
				t.Errorf("CI unset: fatal=%q skip=%q, want a loud skip", f.fatal, f.skip)
			}
		})
	}
}

func TestRequireToolFindsSbinAndPostgres(t *testing.T) {
	if p := RequireTool(t, "sh"); !filepath.IsAbs(p) {
		t.Errorf("RequireTool(sh) = %q", p)
	}
	t.Setenv("PATH", "/nonexistent")
	if p := LookTool("Orthanc"); p != "" && p != "/usr/sbin/Orthanc" {
		t.Errorf("LookTool(Orthanc) = %q", p)
	}
	if p := LookTool("pg_ctl"); p != "" && !strings.HasPrefix(p, "/usr/lib/postgresql/") {
		t.Errorf("LookTool(pg_ctl) without PATH = %q", p)
	}
}

func TestFreePort(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		p := FreePort(t)
		if p <= 0 || p > 65535 || seen[p] {
			t.Fatalf("FreePort = %d (seen %v)", p, seen[p])
		}
		seen[p] = true
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d not free: %v", p, err)
		}
		ln.Close()
	}
}

func TestRun(t *testing.T) {
	out, code := Run(t, "sh", "-c", "echo out; echo err >&2; exit 3")
	if code != 3 || out != "out\nerr\n" {
		t.Errorf("Run = %q, %d; want \"out\\nerr\\n\", 3", out, code)
	}
	start := time.Now()
	_, code = RunTimeout(t, 300*time.Millisecond, "sleep", "10")
	if code != -1 || time.Since(start) > 8*time.Second {
		t.Errorf("RunTimeout(sleep 10) = %d after %s, want -1 quickly", code, time.Since(start))
	}
}

// dataSet returns the bytes after the file meta information of a Part 10
// file, using the (0002,0000) group length that follows the preamble.
func dataSet(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) < 144 || string(b[128:132]) != "DICM" || string(b[132:136]) != "\x02\x00\x00\x00" || string(b[136:138]) != "UL" {
		t.Fatalf("not a Part 10 file with a group length (%d bytes)", len(b))
	}
	n := int(binary.LittleEndian.Uint32(b[140:144]))
	if 144+n > len(b) {
		t.Fatalf("group length %d past the end", n)
	}
	return b[144+n:]
}

func echo(t *testing.T, aet string, port int) int {
	t.Helper()
	_, code := Run(t, "echoscu", "-to", "5", "-aec", aet, "127.0.0.1", strconv.Itoa(port))
	return code
}

func TestStoreSCP(t *testing.T) {
	t.Parallel()
	src := filepath.Join(SharedTestdata(t, "dicom/transfer_syntax"), "MR_small.dcm")
	dir := filepath.Join(t.TempDir(), "in")
	scp := StartStoreSCPServer(t, "SINK", dir)

	if code := echo(t, "SINK", scp.Port()); code != 0 {
		t.Fatalf("echoscu to storescp: exit %d", code)
	}
	out, code := Run(t, "storescu", "-aec", "SINK", "127.0.0.1", strconv.Itoa(scp.Port()), src)
	if code != 0 {
		t.Fatalf("storescu: exit %d\n%s", code, out)
	}
	files := WaitFiles(t, dir, 1, 10*time.Second)
	if len(files) != 1 || filepath.Base(files[0]) != "MR."+mrSmallUID+".dcm" {
		t.Fatalf("received %v, want [MR.%s.dcm]", files, mrSmallUID)
	}
	got, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// storescu drops the trailing (FFFC,FFFC) padding; storescp (+B) keeps
	// the rest exactly as sent.
	gotDS, wantDS := dataSet(t, got), dataSet(t, want)
	if !bytes.HasPrefix(wantDS, gotDS) || !bytes.HasPrefix(wantDS[len(gotDS):], []byte{0xfc, 0xff, 0xfc, 0xff}) {
		t.Errorf("received data set (%d bytes) is not the sent one (%d bytes) less its trailing padding", len(gotDS), len(wantDS))
	}
	if !strings.Contains(scp.Log(), "Received Store Request") {
		t.Errorf("storescp log lacks the store request:\n%s", scp.Log())
	}

	scp.Stop()
	if code := echo(t, "SINK", scp.Port()); code == 0 {
		t.Fatal("echoscu succeeded after Stop")
	}
	scp.Start(t)
	if code := echo(t, "SINK", scp.Port()); code != 0 {
		t.Fatalf("echoscu after restart: exit %d", code)
	}
}

func TestOrthanc(t *testing.T) {
	t.Parallel()
	src := filepath.Join(SharedTestdata(t, "dicom/transfer_syntax"), "MR_small.dcm")
	sinkDir := t.TempDir()
	sink := StartStoreSCP(t, "SINK", sinkDir)
	o := StartOrthanc(t, OrthancOptions{
		AET:        "PACS",
		DicomWeb:   true,
		Modalities: map[string]Modality{"sink": {AET: "SINK", Host: "127.0.0.1", Port: sink}},
	})
	if o.AET() != "PACS" || o.URL() != fmt.Sprintf("http://127.0.0.1:%d", o.HTTPPort()) {
		t.Errorf("AET %q URL %q", o.AET(), o.URL())
	}
	if code := echo(t, "PACS", o.DicomPort()); code != 0 {
		t.Fatalf("echoscu to Orthanc: exit %d", code)
	}
	if n := o.CountInstances(t); n != 0 {
		t.Fatalf("fresh Orthanc has %d instances", n)
	}
	out, code := Run(t, "storescu", "-aec", "PACS", "127.0.0.1", strconv.Itoa(o.DicomPort()), src)
	if code != 0 {
		t.Fatalf("storescu: exit %d\n%s", code, out)
	}
	if got := o.WaitInstances(t, 1, 10*time.Second); len(got) != 1 || got[0] != mrSmallUID {
		t.Fatalf("Instances = %v, want [%s]", got, mrSmallUID)
	}

	// DICOMweb plugin: QIDO-RS finds the study.
	var studies []map[string]any
	o.GetJSON(t, "/dicom-web/studies", &studies)
	if len(studies) != 1 {
		t.Errorf("QIDO /studies returned %d studies, want 1", len(studies))
	}

	// DicomModalities: Orthanc C-STOREs the instance to storescp.
	var mods []string
	o.GetJSON(t, "/modalities", &mods)
	if len(mods) != 1 || mods[0] != "sink" {
		t.Fatalf("/modalities = %v", mods)
	}
	var ids []string
	o.GetJSON(t, "/instances", &ids)
	resp, err := http.Post(o.URL()+"/modalities/sink/store", "application/json", strings.NewReader(`"`+ids[0]+`"`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /modalities/sink/store: %s", resp.Status)
	}
	if files := WaitFiles(t, sinkDir, 1, 10*time.Second); filepath.Base(files[0]) != "MR."+mrSmallUID+".dcm" {
		t.Errorf("sink received %v", files)
	}

	// Outage: Stop closes both ports; Start brings back the same storage.
	o.Stop()
	if o.Running() {
		t.Fatal("Running after Stop")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, _, err := o.TryGet(ctx, "/system"); err == nil {
		t.Fatal("HTTP answered after Stop")
	}
	if code := echo(t, "PACS", o.DicomPort()); code == 0 {
		t.Fatal("echoscu succeeded after Stop")
	}
	o.Start(t)
	if got := o.Instances(t); len(got) != 1 || got[0] != mrSmallUID {
		t.Fatalf("after restart Instances = %v, want [%s]", got, mrSmallUID)
	}
	if code := echo(t, "PACS", o.DicomPort()); code != 0 {
		t.Fatalf("echoscu after restart: exit %d", code)
	}
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	pg := StartPostgres(t)
	dsn := pg.CreateDB(t, "sonogate_test")
	if want := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/sonogate_test?sslmode=disable", pg.Port()); dsn != want {
		t.Errorf("DSN = %q, want %q", dsn, want)
	}
	pg.Psql(t, "sonogate_test", "CREATE TABLE t (x int); INSERT INTO t VALUES (40), (2)")
	if got := strings.TrimSpace(pg.Psql(t, "sonogate_test", "SELECT sum(x) FROM t")); got != "42" {
		t.Errorf("sum = %q, want 42", got)
	}
}
