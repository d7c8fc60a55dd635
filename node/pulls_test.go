package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/internal/testenv"
)

// pullPACS is an Orthanc PACS preloaded over REST with the shared
// ultrasound and SR files and the two ElastPQ SRs (StudyDate 20240315),
// knowing sonogate (AE SONOGATE on dimsePort) as a move destination. It
// returns the original study UID, patient name and patient ID of every
// file Orthanc accepted, by file name.
func pullPACS(t *testing.T, dimsePort int) (*testenv.Orthanc, map[string]dcm.FileMeta, map[string][3]string) {
	t.Helper()
	pacs := testenv.StartOrthanc(t, testenv.OrthancOptions{AET: "PACS",
		Modalities: map[string]testenv.Modality{"sonogate": {AET: "SONOGATE", Host: "127.0.0.1", Port: dimsePort}},
		Extra:      map[string]any{"SynchronousCMove": false}})
	var files []string
	for _, dir := range []string{testenv.SharedTestdata(t, "dicom/ultrasound"), testenv.SharedTestdata(t, "dicom/sr")} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.dcm"))
		files = append(files, m...)
	}
	files = append(files, filepath.Join("..", "elastography", "testdata", "std_elastpq_reliable.dcm"),
		filepath.Join("..", "elastography", "testdata", "std_elastpq_unreliable.dcm"))
	metas := map[string]dcm.FileMeta{}
	ids := map[string][3]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(pacs.URL()+"/instances", "application/dicom", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			continue
		}
		df, err := dcm.OpenFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fh, _ := os.Open(f)
		fh.Seek(df.DataOffset, io.SeekStart)
		ds, err := dcm.ParseHeader(fh, df.Syntax, dcm.Options{})
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		metas[name] = df.Meta
		ids[name] = [3]string{ds.String(dcm.TagStudyInstanceUID), ds.String(dcm.TagPatientName), ds.String(dcm.TagPatientID)}
	}
	if len(ids) < 20 {
		t.Fatalf("Orthanc accepted only %d of %d files", len(ids), len(files))
	}
	return pacs, metas, ids
}

func pullNode(t *testing.T, pacs *testenv.Orthanc, dimsePort int, dataDir string) *Node {
	key := filepath.Join(dataDir, "research.key")
	os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef"), 0o600)
	return startNode(t, func(c *config.Config) {
		c.Node.DataDir = dataDir
		c.Node.Catalog.DSN = filepath.Join(dataDir, "catalog.db")
		c.Node.DIMSEListen = fmt.Sprintf("127.0.0.1:%d", dimsePort)
		c.Peers = []config.Peer{{AETitle: "PACS", Host: "127.0.0.1", Port: pacs.DicomPort(), Services: []string{"find", "move"}},
			{AETitle: "DOWN", Host: "127.0.0.1", Port: testenv.FreePort(t)}} // nothing listens
		c.Profiles = map[string]config.Profile{"research": {KeyFile: key,
			Options: []string{"retain_long_modified_dates", "retain_patient_chars", "clean_desc", "clean_struct_cont", "clean_graph", "clean_pixel"}}}
	})
}

func postJSON(t *testing.T, n *Node, path, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post("http://"+n.HTTPAddr().String()+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// waitPull polls GET /api/research/pulls/{id} until the pull is final.
func waitPull(t *testing.T, n *Node, id int64) pullJSON {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, _, b := get(t, n, fmt.Sprintf("/api/research/pulls/%d", id))
		var p pullJSON
		if err := json.Unmarshal(b, &p); code != 200 || err != nil {
			t.Fatalf("GET pull: %d %v %s", code, err, b)
		}
		if p.State == "done" || p.State == "failed" {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pull still %s: %s", p.State, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startPull posts a pull; the answer shows it queued, or already running
// when the worker was quicker than the answer.
func startPull(t *testing.T, n *Node, body string) int64 {
	t.Helper()
	code, b := postJSON(t, n, "/api/research/pulls", body)
	var p pullJSON
	if err := json.Unmarshal(b, &p); code != http.StatusAccepted || err != nil || p.ID == 0 || (p.State != "queued" && p.State != "running") {
		t.Fatalf("POST pull: %d %v %s", code, err, b)
	}
	return p.ID
}

// orthancMoves is the number of C-MOVE jobs Orthanc has run
// (SynchronousCMove false makes each incoming C-MOVE a job).
func orthancMoves(t *testing.T, pacs *testenv.Orthanc) int {
	var jobs []string
	pacs.GetJSON(t, "/jobs", &jobs)
	return len(jobs)
}

// A 2024 elastography cohort is pulled from a real PACS: the C-FIND finds
// the three 2024 studies, all three are moved to sonogate, only the two
// with an elastography report are de-identified into research (exactly
// those, under mapped UIDs, with research reports), and the same pull
// again retrieves nothing.
func TestResearchPullCohort(t *testing.T) {
	port := testenv.FreePort(t)
	pacs, _, ids := pullPACS(t, port)
	n := pullNode(t, pacs, port, t.TempDir())
	prof, err := n.pulls.profile("research")
	if err != nil {
		t.Fatal(err)
	}

	// Validation names the field.
	for _, tc := range []struct{ body, want string }{
		{`{"source":"NOPE","profile":"research"}`, "source: "},
		{`{"source":"PACS","profile":"nope"}`, "profile: "},
		{`{"profile":"research"}`, "source: required"},
		{`{"source":"PACS","profile":"research","study_date":{"from":"20241301"}}`, "study_date.from: "},
		{`{"source":"PACS","profile":"research","study_date":{"from":"20240101","to":"2024-13-01"}}`, "study_date.to: "},
		{`{"source":"PACS","profile":"research","study_date":{"from":"20241231","to":"20240101"}}`, "study_date: from 20241231 is after"},
		{`{"source":"PACS","profile":"research","modalty":"US"}`, `unknown field "modalty"`},
		{`{"source":"PACS","profile":"research","has_elastography":"yes"}`, "has_elastography: "},
	} {
		code, b := postJSON(t, n, "/api/research/pulls", tc.body)
		var e struct{ Error string }
		json.Unmarshal(b, &e)
		if code != http.StatusBadRequest || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s: %d %s, want 400 with %q", tc.body, code, b, tc.want)
		}
	}

	elastFiles := []string{"std_elastpq_reliable.dcm", "std_elastpq_unreliable.dcm"}
	other2024 := "jp2k91YBR-ICT_ge_logiqe.dcm" // StudyDate 20240824, US image, no elastography
	criteria := `{"source":"PACS","profile":"research","study_date":{"from":"2024-01-01","to":"20241231"},"has_elastography":true}`
	id := startPull(t, n, criteria)
	p := waitPull(t, n, id)
	if p.State != "done" || p.StudiesFound != 3 || p.StudiesRetrieved != 3 || p.StudiesSkippedExisting != 0 ||
		p.StudiesSkippedNoElastography != 1 || p.StudiesDeidentified != 2 || p.InstancesRetrieved != 3 ||
		p.InstancesDeidentified != 2 || p.InstancesQuarantined != 0 || len(p.Failures) != 0 {
		t.Fatalf("first pull: %+v", p)
	}
	var wantStudies []string
	for _, f := range append(slices.Clone(elastFiles), other2024) {
		wantStudies = append(wantStudies, ids[f][0])
	}
	var gotStudies []string
	for _, s := range p.Studies {
		gotStudies = append(gotStudies, s.StudyInstanceUID)
		want := "done"
		if s.StudyInstanceUID == ids[other2024][0] {
			want = "skipped_no_elastography"
		}
		if s.State != want || !s.Retrieved || s.InstancesRetrieved != 1 || s.ExpectedInstances != 1 {
			t.Errorf("study %s: %+v, want %s", s.StudyInstanceUID, s, want)
		}
	}
	slices.Sort(gotStudies)
	slices.Sort(wantStudies)
	if !slices.Equal(gotStudies, wantStudies) {
		t.Fatalf("studies found %v, want %v", gotStudies, wantStudies)
	}
	movesAfterFirst := orthancMoves(t, pacs)
	if movesAfterFirst != 3 {
		t.Errorf("Orthanc ran %d C-MOVEs, want 3", movesAfterFirst)
	}

	// The research namespace holds exactly the two elastography studies,
	// under mapped UIDs, with no original UID, name or ID.
	research := mustInstances(t, n, "research")
	var gotMapped, wantMapped []string
	for _, f := range elastFiles {
		wantMapped = append(wantMapped, prof.MapUID(ids[f][0]))
	}
	for _, in := range research {
		gotMapped = append(gotMapped, in.StudyInstanceUID)
		for name, orig := range ids {
			if in.StudyInstanceUID == orig[0] || (orig[1] != "" && in.PatientName == orig[1]) || (orig[2] != "" && in.PatientID == orig[2]) {
				t.Errorf("research instance %s keeps an original identifier of %s: %+v", in.SOPInstanceUID, name, in)
			}
		}
	}
	slices.Sort(gotMapped)
	slices.Sort(wantMapped)
	if !slices.Equal(gotMapped, wantMapped) {
		t.Fatalf("research studies %v, want %v", gotMapped, wantMapped)
	}

	// Research reports exist for both, under the mapped study UIDs.
	code, _, body := get(t, n, "/research/api/elastography/reports")
	var reps []reportJSON
	if err := json.Unmarshal(body, &reps); code != 200 || err != nil || len(reps) != 2 {
		t.Fatalf("research reports: %d %v %s", code, err, body)
	}
	var repStudies []string
	for _, r := range reps {
		repStudies = append(repStudies, r.StudyInstanceUID)
		if strings.HasPrefix(r.PatientID, "FX-") {
			t.Errorf("research report keeps the original patient ID: %+v", r)
		}
	}
	slices.Sort(repStudies)
	if !slices.Equal(repStudies, wantMapped) {
		t.Fatalf("research report studies %v, want %v", repStudies, wantMapped)
	}

	// The same pull again retrieves nothing: the elastography studies are
	// in research, the other one is already complete in clinical.
	clinicalBefore := len(mustInstances(t, n, "clinical"))
	id2 := startPull(t, n, criteria)
	p2 := waitPull(t, n, id2)
	if p2.State != "done" || p2.StudiesFound != 3 || p2.StudiesRetrieved != 0 || p2.InstancesRetrieved != 0 ||
		p2.StudiesSkippedExisting != 2 || p2.StudiesSkippedNoElastography != 1 || p2.StudiesAlreadyLocal != 1 ||
		p2.InstancesDeidentified != 0 || len(p2.Failures) != 0 {
		t.Fatalf("second pull: %+v", p2)
	}
	if got := orthancMoves(t, pacs); got != movesAfterFirst {
		t.Errorf("Orthanc ran %d C-MOVEs after the second pull, want still %d", got, movesAfterFirst)
	}
	if got := len(mustInstances(t, n, "clinical")); got != clinicalBefore {
		t.Errorf("clinical namespace %d instances, was %d", got, clinicalBefore)
	}
	if got := len(mustInstances(t, n, "research")); got != 2 {
		t.Errorf("research namespace %d instances, want 2", got)
	}

	// Both pulls are listed, newest first.
	code, _, body = get(t, n, "/api/research/pulls")
	var list []pullJSON
	if err := json.Unmarshal(body, &list); code != 200 || err != nil || len(list) != 2 || list[0].ID != id2 || list[1].ID != id ||
		list[1].StudiesDeidentified != 2 || list[0].StudiesSkippedExisting != 2 {
		t.Fatalf("list: %d %v %s", code, err, body)
	}
	if code, _, _ := get(t, n, "/api/research/pulls/999"); code != http.StatusNotFound {
		t.Errorf("unknown pull: %d", code)
	}

	// Modality and description wildcard, no elastography requirement.
	p3 := waitPull(t, n, startPull(t, n, `{"source":"PACS","profile":"research","modality":"US","study_description":"*hyroid*"}`))
	if p3.State != "done" || p3.StudiesFound != 1 || p3.StudiesRetrieved != 1 || p3.InstancesDeidentified != 1 ||
		p3.Studies[0].StudyInstanceUID != ids["YBR_FULL-RLE_acuson_sequoia.dcm"][0] {
		t.Errorf("thyroid pull: %+v", p3)
	}
	// A study whose images may carry burned-in text: quarantined, counted.
	p4 := waitPull(t, n, startPull(t, n, `{"source":"PACS","profile":"research","study_date":{"from":"20040826","to":"20040826"}}`))
	if p4.State != "done" || p4.StudiesFound != 1 || p4.InstancesRetrieved != 2 || p4.InstancesDeidentified != 0 || p4.InstancesQuarantined != 2 ||
		p4.Studies[0].StudyInstanceUID != ids["US1_UNCR.dcm"][0] {
		t.Errorf("20040826 pull: %+v", p4)
	}
	if got := len(mustInstances(t, n, "research")); got != 3 {
		t.Errorf("research namespace %d instances, want 3 (2 SR, 1 thyroid image)", got)
	}
	// An unreachable source fails the pull with the reason.
	p5 := waitPull(t, n, startPull(t, n, `{"source":"DOWN","profile":"research"}`))
	if p5.State != "failed" || !strings.Contains(p5.Error, "C-FIND on DOWN: ") || !strings.Contains(p5.Error, "connection refused") {
		t.Errorf("unreachable source: %+v", p5)
	}
}

// mustInstances lists a namespace at IMAGE level.
func mustInstances(t *testing.T, n *Node, ns string) []catalog.Instance {
	var out []catalog.Instance
	err := n.Catalog().Find(context.Background(), catalog.Query{Namespace: ns, Level: catalog.LevelImage}, func(r catalog.Record) error {
		out = append(out, r.Instance)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A pull interrupted by a restart resumes at start-up without redoing the
// studies it had finished: here the catalog records a running pull whose
// first study is done (with counts no real run would give), and the node
// retrieves and processes only the other two.
func TestResearchPullResumes(t *testing.T) {
	port := testenv.FreePort(t)
	pacs, _, ids := pullPACS(t, port)
	dataDir := t.TempDir()
	ctx := context.Background()
	cat, err := catalog.OpenSQLite(ctx, filepath.Join(dataDir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := cat.CreatePull(ctx, []byte(`{"source":"PACS","profile":"research","study_date":{"from":"20240101","to":"20241231"},"has_elastography":true}`))
	if err != nil {
		t.Fatal(err)
	}
	reliable, unreliable, other := ids["std_elastpq_reliable.dcm"][0], ids["std_elastpq_unreliable.dcm"][0], ids["jp2k91YBR-ICT_ge_logiqe.dcm"][0]
	if err := cat.ListPullStudies(ctx, id, []catalog.PullStudy{{StudyInstanceUID: reliable, ExpectedInstances: 1},
		{StudyInstanceUID: other, ExpectedInstances: 1}, {StudyInstanceUID: unreliable, ExpectedInstances: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := cat.UpdatePullStudy(ctx, catalog.PullStudy{PullID: id, StudyInstanceUID: reliable, State: catalog.PullStudyDone, Retrieved: true,
		InstancesRetrieved: 5, InstancesDeidentified: 7}); err != nil {
		t.Fatal(err)
	}
	if err := cat.SetPullState(ctx, id, catalog.PullRunning, ""); err != nil {
		t.Fatal(err)
	}
	cat.Close()

	n := pullNode(t, pacs, port, dataDir)
	p := waitPull(t, n, id)
	if p.State != "done" || p.StudiesFound != 3 || p.StudiesRetrieved != 3 || p.InstancesRetrieved != 5+2 ||
		p.StudiesDeidentified != 2 || p.InstancesDeidentified != 7+1 || p.StudiesSkippedNoElastography != 1 || len(p.Failures) != 0 {
		t.Fatalf("resumed pull: %+v", p)
	}
	if got := orthancMoves(t, pacs); got != 2 {
		t.Errorf("Orthanc ran %d C-MOVEs, want 2 (the finished study is not retrieved again)", got)
	}
	prof, _ := n.pulls.profile("research")
	research := mustInstances(t, n, "research")
	if len(research) != 1 || research[0].StudyInstanceUID != prof.MapUID(unreliable) {
		t.Fatalf("research namespace: %+v", research)
	}
	if got := mustInstances(t, n, "clinical"); len(got) != 2 {
		t.Errorf("clinical namespace holds %d instances, want 2", len(got))
	}
}

// The pull API is for the admin scope only: research and clinical tokens
// get 403, no token 401, an admin token reaches it.
func TestResearchPullScopes(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Auth.Tokens = []config.Token{
			{Name: "repo", Token: "research-token-0123456789", Scopes: []string{"research"}},
			{Name: "ward", Token: "clinical-token-0123456789", Scopes: []string{"clinical"}},
			{Name: "root", Token: "admin-token-0123456789", Scopes: []string{"admin"}},
		}
	})
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/api/research/pulls", "", 401},
		{"GET", "/api/research/pulls", "research-token-0123456789", 403},
		{"POST", "/api/research/pulls", "research-token-0123456789", 403},
		{"POST", "/api/research/pulls", "clinical-token-0123456789", 403},
		{"GET", "/api/research/pulls/1", "clinical-token-0123456789", 403},
		{"GET", "/api/research/pulls", "admin-token-0123456789", 200},
		{"POST", "/api/research/pulls", "admin-token-0123456789", 400}, // reached validation: no such source
	} {
		req, _ := http.NewRequest(c.method, "http://"+n.HTTPAddr().String()+c.path, strings.NewReader(`{"source":"PACS","profile":"research"}`))
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s with %q: %d, want %d", c.method, c.path, c.token, resp.StatusCode, c.want)
		}
	}
}
