package dicomweb

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/internal/testenv"
	"github.com/sonogate/sonogate/store"
)

// TestDicomwebClientJS drives sonogate with the real dicomweb-client npm
// package (testdata/js, installed with npm ci into a temporary directory).
func TestDicomwebClientJS(t *testing.T) {
	if testing.Short() {
		t.Skip("npm install in -short mode")
	}
	node := testenv.RequireTool(t, "node")
	npm := testenv.RequireTool(t, "npm")
	js := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "client.js"} {
		b, err := os.ReadFile(filepath.Join("testdata", "js", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(js, f), b, 0o644)
	}
	if out, code := testenv.Run(t, npm, "ci", "--prefix", js, "--no-audit", "--no-fund"); code != 0 {
		if testenv.InCI() {
			t.Fatalf("npm ci: %s", out)
		}
		t.Skipf("SKIP: npm ci failed (registry unreachable?): %s", out)
	}
	e := newEnv(t, config.Auth{})
	dir := testenv.SharedTestdata(t, "dicom/ultrasound")
	for _, f := range []string{"US1_UNCR.dcm", "US1_J2KI.dcm", "US1_RLE.dcm"} {
		e.ingestFile(filepath.Join(dir, f), store.NamespaceClinical)
	}
	fsop, _ := e.ingestFile(filepath.Join(dir, "OBXXXX1A_2frame.dcm"), store.NamespaceClinical)
	fin, _ := e.cat.InstancesBySOP(t.Context(), "clinical", fsop)
	uncr, _ := e.cat.InstancesBySOP(t.Context(), "clinical", "1.3.6.1.4.1.5962.1.1.13.1.1.20040826185059.5457")
	if len(uncr) == 0 {
		t.Fatal("US1 not ingested")
	}
	want := uncr[len(uncr)-1]
	storedBytes, _ := os.ReadFile(e.srv.cfg.Store.Path(want.RelPath))
	sum := sha256.Sum256(storedBytes)
	toStore := filepath.Join(dir, "JPGLosslessP14SV1_1s_1f_8b.dcm")
	cmd := exec.Command(node, filepath.Join(js, "client.js"), e.http.URL+"/dicom-web", stUS1a, want.SeriesInstanceUID, want.SOPInstanceUID,
		fin[0].StudyInstanceUID, fin[0].SeriesInstanceUID, fsop, toStore)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(js, "node_modules"))
	cmd.Dir = js
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("client.js: %v\n%s\n%s", err, out, stderr)
	}
	var got struct {
		Studies      []string
		StudyName    map[string]string
		Series       []string
		Instances    []string
		InstanceSHA  string
		MetadataSOPs []string
		MetadataRows int
		FrameLengths []int
		Stored       map[string]jsonAttr
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if joinSet(got.Studies) != joinSet([]string{stUS1a, stUS1b}) {
		t.Errorf("searchForStudies: %v", got.Studies)
	}
	if got.StudyName["Alphabetic"] != "CompressedSamples^US1" {
		t.Errorf("PN: %v", got.StudyName)
	}
	inSeries, _ := e.cat.InstancesOf(t.Context(), "clinical", stUS1a, want.SeriesInstanceUID, "")
	var wantSOPs []string
	for _, in := range inSeries {
		wantSOPs = append(wantSOPs, in.SOPInstanceUID)
	}
	if len(wantSOPs) != 2 { // US1_UNCR and US1_J2KI
		t.Fatalf("series holds %v", wantSOPs)
	}
	if len(got.Series) != 1 || got.Series[0] != want.SeriesInstanceUID || joinSet(got.Instances) != joinSet(wantSOPs) {
		t.Errorf("searchForSeries %v / searchForInstances %v", got.Series, got.Instances)
	}
	if got.InstanceSHA != hex.EncodeToString(sum[:]) {
		t.Errorf("retrieveInstance bytes differ from the stored file")
	}
	if joinSet(got.MetadataSOPs) != joinSet(wantSOPs) || got.MetadataRows != want.Rows {
		t.Errorf("retrieveStudyMetadata: %v rows %d", got.MetadataSOPs, got.MetadataRows)
	}
	if len(got.FrameLengths) != 2 || got.FrameLengths[0] != fin[0].Rows*fin[0].Columns {
		t.Errorf("retrieveInstanceFrames: %v", got.FrameLengths)
	}
	refs := seqItems(got.Stored["00081199"])
	if len(refs) != 1 || !strings.HasPrefix(refs[0]["00081155"].str(0), "1.2.826.0.1.3680043") {
		t.Errorf("storeInstances: %v", got.Stored)
	}
	if objs := e.search("/dicom-web/studies?StudyInstanceUID=" + stCitizen); len(objs) != 1 {
		t.Errorf("stored instance not searchable")
	}
}
