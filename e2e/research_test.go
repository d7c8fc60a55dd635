package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/internal/testenv"
)

// TestResearchRouting is issue 3's example, as written, with two Orthancs:
// storescu → sonogate puts every original in the PACS and a de-identified
// copy of each US/SR instance in the research repository; the research
// copies carry no original name, ID or UID, and what cannot be cleaned of
// burned-in text is quarantined instead of sent.
func TestResearchRouting(t *testing.T) {
	t.Parallel()
	us := testenv.SharedTestdata(t, "dicom/ultrasound")
	pacs := testenv.StartOrthanc(t, testenv.OrthancOptions{AET: "ORTHANC"})
	research := testenv.StartOrthanc(t, testenv.OrthancOptions{AET: "RESEARCH"})
	cfg := exampleConfig(pacs.DicomPort(), fmt.Sprintf(`profiles:
  research:
    key_file: ./research.key
    options: [retain_long_modified_dates, retain_patient_chars, clean_desc,
              clean_struct_cont, clean_graph, clean_pixel]
`))
	// The destination and rule, appended to the example's lists.
	cfg = strings.Replace(cfg, "rules:\n", fmt.Sprintf(`  - name: research
    dimse: {ae_title: RESEARCH, host: 127.0.0.1, port: %d}
    profile: research
rules:
  - name: us-to-research
    match: {modality: [US, SR]}
    send: [research]
`, research.DicomPort()), 1)
	sg := startWithKey(t, cfg)

	files, _ := ScanDICOM(t, us)
	out, _ := Storescu(t, sg.Addr(), "SONOGATE", files)
	var sent []Instance
	for _, f := range files {
		if out[f.Path].Success() {
			sent = append(sent, f)
		}
	}
	if len(sent) < 15 {
		t.Fatalf("only %d of %d ultrasound files accepted", len(sent), len(files))
	}
	pacsCounts := sg.WaitQueueSettled(t, "pacs", int64(len(sent)), 2*time.Minute)
	resCounts := sg.WaitQueueSettled(t, "research", int64(len(sent)), 3*time.Minute)
	if pacsCounts.Dead != 0 {
		t.Fatalf("pacs: %s", pacsCounts)
	}
	if got, want := pacs.Instances(t), UIDSet(sent); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("PACS instances differ from the originals sent: %s", diffSets(got, want))
	}
	// Every dead research job is a quarantine with a reason.
	for _, j := range sg.Jobs(t, "research", "dead") {
		if !strings.HasPrefix(j.LastError, "quarantined: ") {
			t.Errorf("research job %d dead for another reason: %s", j.ID, j.LastError)
		}
	}
	if resCounts.Done == 0 {
		t.Fatalf("no research copy delivered: %s", resCounts)
	}
	resUIDs := research.Instances(t)
	if int64(len(resUIDs)) > resCounts.Done || len(resUIDs) == 0 {
		t.Fatalf("research Orthanc has %d instances for %d delivered jobs", len(resUIDs), resCounts.Done)
	}

	// Identifying values of the originals, none of which may appear.
	var leaks []string
	for _, f := range sent {
		leaks = append(leaks, identifyingValues(t, f.Path)...)
	}
	ids := researchOrthancIDs(t, research)
	t.Logf("%d originals in the PACS; research: %s, %d instances checked for %d identifying values", len(sent), resCounts, len(ids), len(leaks))
	for _, id := range ids {
		dicom := research.Get(t, "/instances/"+id+"/file")
		tags := research.Get(t, "/instances/"+id+"/simplified-tags")
		for _, leak := range leaks {
			if bytes.Contains(dicom, []byte(leak)) || bytes.Contains(tags, []byte(leak)) {
				t.Errorf("research instance %s contains the original value %q", id, leak)
			}
		}
		if !bytes.Contains(tags, []byte(`"PatientIdentityRemoved" : "YES"`)) && !bytes.Contains(tags, []byte(`"PatientIdentityRemoved": "YES"`)) {
			t.Errorf("research instance %s not marked Patient Identity Removed: %.300s", id, tags)
		}
	}
}

func startWithKey(t *testing.T, cfg string) *Sonogate {
	t.Helper()
	dir := t.TempDir()
	// The key must exist before the gateway starts: write it beside the
	// configuration that StartSonogate writes into its own directory, by
	// making the key path absolute.
	key := filepath.Join(dir, "research.key")
	if err := os.WriteFile(key, []byte("a-research-secret-of-32-bytes!!!"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = strings.Replace(cfg, "key_file: ./research.key", "key_file: "+key, 1)
	return StartSonogate(t, SonogateOptions{Config: cfg})
}

func researchOrthancIDs(t *testing.T, o *testenv.Orthanc) []string {
	var ids []string
	o.GetJSON(t, "/instances", &ids)
	return ids
}

// identifyingValues lists the UIDs, patient name (each component of 5
// characters or more) and patient ID (4 or more) of a file.
func identifyingValues(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	file, err := dcm.ReadFile(br)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dcm.ParseHeader(br, file.Syntax, dcm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vals := []string{ds.String(dcm.TagSOPInstanceUID), ds.String(dcm.TagStudyInstanceUID), ds.String(dcm.TagSeriesInstanceUID)}
	for _, part := range strings.FieldsFunc(ds.String(dcm.TagPatientName), func(r rune) bool { return r == '^' || r == '=' }) {
		if len(strings.TrimSpace(part)) >= 5 && !strings.HasPrefix(part, "Anonymized") {
			vals = append(vals, strings.TrimSpace(part))
		}
	}
	if id := ds.String(dcm.TagPatientID); len(id) >= 4 {
		vals = append(vals, id)
	}
	return vals
}
