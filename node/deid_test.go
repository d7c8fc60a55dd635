package node

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/internal/testenv"
)

// A destination with a profile receives only de-identified copies, which
// are also indexed in the research namespace; an instance whose burned-in
// text cannot be cleaned is quarantined, never sent.
func TestResearchDestinationDeidentifies(t *testing.T) {
	us := testenv.SharedTestdata(t, "dicom/ultrasound")
	dir := t.TempDir()
	key := filepath.Join(dir, "research.key")
	os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef"), 0o600)
	out := filepath.Join(dir, "research-out")
	n := startNode(t, func(c *config.Config) {
		c.Profiles = map[string]config.Profile{"research": {KeyFile: key,
			Options: []string{"retain_long_modified_dates", "retain_patient_chars", "clean_desc", "clean_struct_cont", "clean_graph", "clean_pixel"}}}
		c.Destinations = []config.Destination{{Name: "research", Folder: &config.FolderDest{Path: out}, Profile: "research"}}
		c.Rules = []config.Rule{{Name: "us-to-research", Match: config.Match{Modality: []string{"US", "SR"}}, Send: []string{"research"}}}
		c.Routing.BaseBackoff = config.Duration(100 * time.Millisecond)
	})
	clean := filepath.Join(us, "YBR_FULL-RLE_acuson_sequoia.dcm") // has ultrasound regions: cleanable
	dirty := filepath.Join(us, "US1_UNCR.dcm")                    // no regions, no mask: may hold burned-in text
	for _, f := range []string{clean, dirty} {
		if st := storeFile(t, n, f); !st.IsSuccess() {
			t.Fatalf("%s: %v", f, st)
		}
	}
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	var stats []catalog.DestinationStats
	for time.Now().Before(deadline) {
		stats, _ = n.Catalog().Stats(ctx)
		if len(stats) == 1 && stats[0].Counts[catalog.JobDone]+stats[0].Counts[catalog.JobDead] == 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(stats) != 1 || stats[0].Counts[catalog.JobDone] != 1 || stats[0].Counts[catalog.JobDead] != 1 {
		t.Fatalf("queue: %+v", stats)
	}

	// The folder holds exactly one file: the de-identified copy.
	var files []string
	filepath.Walk(out, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 1 {
		t.Fatalf("research folder has %d files, want 1", len(files))
	}
	sent, _ := os.ReadFile(files[0])
	orig, _ := dcm.OpenFile(clean)
	for _, leak := range []string{"DOE^JOHN", orig.Meta.MediaStorageSOPInstanceUID} {
		if bytes.Contains(sent, []byte(leak)) {
			t.Fatalf("research copy contains %q", leak)
		}
	}
	f, err := dcm.OpenFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	research, err := n.Catalog().InstancesBySOP(ctx, "research", f.Meta.MediaStorageSOPInstanceUID)
	if err != nil || len(research) != 1 || research[0].PatientName == "DOE^JOHN" || research[0].PatientID == "" {
		t.Fatalf("research namespace: %+v %v", research, err)
	}
	if got, _ := n.Catalog().InstancesBySOP(ctx, "research", orig.Meta.MediaStorageSOPInstanceUID); len(got) != 0 {
		t.Fatal("the original UID is in the research namespace")
	}
	// Research copies are not routed again.
	if jobs, _ := n.Catalog().List(ctx, catalog.JobFilter{}); len(jobs) != 2 {
		t.Fatalf("%d jobs, want 2", len(jobs))
	}

	code, _, body := get(t, n, "/api/quarantine")
	var q []quarantineJSON
	if err := json.Unmarshal(body, &q); code != 200 || err != nil || len(q) != 1 {
		t.Fatalf("quarantine: %d %v %s", code, err, body)
	}
	dirtyMeta, _ := dcm.OpenFile(dirty)
	if q[0].SOPInstanceUID != dirtyMeta.Meta.MediaStorageSOPInstanceUID || q[0].Reason == "" || q[0].Destination != "research" {
		t.Fatalf("quarantine entry %+v", q[0])
	}

	code, _, body = get(t, n, "/api/pseudonyms?format=csv")
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if code != 200 || len(lines) < 2 || !strings.Contains(string(body), "DOE^JOHN") || !strings.Contains(string(body), research[0].PatientID) {
		t.Fatalf("pseudonyms: %d %s", code, body)
	}
}
