package node

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/dimse"
)

// startNode runs a node on free loopback ports with a temporary data dir.
func startNode(t *testing.T, mutate func(*config.Config)) *Node {
	t.Helper()
	cfg := config.Default()
	cfg.Node.DIMSEListen = "127.0.0.1:0"
	cfg.Node.HTTPListen = "127.0.0.1:0"
	cfg.Node.DataDir = t.TempDir()
	cfg.Node.Catalog.DSN = filepath.Join(cfg.Node.DataDir, "catalog.db")
	if mutate != nil {
		mutate(&cfg)
	}
	n, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n.Shutdown(ctx)
	})
	return n
}

// storeFile sends a Part 10 file with our C-STORE SCU.
func storeFile(t *testing.T, n *Node, path string) dimse.Status {
	t.Helper()
	f, err := dcm.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := dimse.Dial(ctx, n.DIMSEAddr().String(), dimse.ClientConfig{CallingAE: "US01", CalledAE: "SONOGATE"},
		[]dimse.PresentationContextRequest{{AbstractSyntax: f.Meta.MediaStorageSOPClassUID, TransferSyntaxes: []string{f.Syntax.UID}}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	fh, _ := os.Open(path)
	defer fh.Close()
	fh.Seek(f.DataOffset, io.SeekStart)
	resp, err := a.Store(ctx, f.Meta.MediaStorageSOPClassUID, f.Meta.MediaStorageSOPInstanceUID, f.Syntax.UID, bufio.NewReader(fh))
	if err != nil {
		t.Fatalf("store %s: %v", path, err)
	}
	return resp.Status
}

func get(t *testing.T, n *Node, path string, hdr ...string) (int, string, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+n.HTTPAddr().String()+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

type apiReport struct {
	ID        int64  `json:"id"`
	PatientID string `json:"patient_id"`
	Report    struct {
		Method  string `json:"method"`
		Summary struct {
			NValid int `json:"n_valid"`
			Median struct {
				KPa float64 `json:"kpa"`
			} `json:"median"`
			IQR struct {
				KPa float64 `json:"kpa"`
			} `json:"iqr"`
			IQRM struct {
				KPa float64 `json:"kpa"`
			} `json:"iqr_over_median_pct"`
		} `json:"summary"`
		Measurements []struct {
			EKPa float64 `json:"e_kpa"`
		} `json:"measurements"`
		QC struct {
			Reliable bool     `json:"reliable"`
			Flags    []string `json:"flags"`
		} `json:"qc"`
		Staging struct {
			Category   string `json:"category"`
			Applicable bool   `json:"applicable"`
			Disclaimer string `json:"disclaimer"`
		} `json:"staging"`
	} `json:"report"`
}

// An ElastPQ SR sent over C-STORE is in the reports API at once, with the
// exact values, and the CSV and FHIR forms agree with the JSON.
func TestElastographyReportsOnIngest(t *testing.T) {
	n := startNode(t, nil)
	for _, f := range []string{"std_elastpq_reliable.dcm", "std_elastpq_unreliable.dcm"} {
		if st := storeFile(t, n, filepath.Join("..", "elastography", "testdata", f)); !st.IsSuccess() {
			t.Fatalf("%s: status %v", f, st)
		}
	}
	code, _, body := get(t, n, "/api/elastography/reports?reliable=true")
	var reps []apiReport
	if err := json.Unmarshal(body, &reps); code != 200 || err != nil || len(reps) != 1 {
		t.Fatalf("reliable: %d %v %s", code, err, body)
	}
	r := reps[0]
	wantE := []float64{6.05, 6.39, 6.66, 6.84, 7.02, 7.21, 7.39, 7.58, 7.97, 8.67}
	if len(r.Report.Measurements) != len(wantE) {
		t.Fatalf("%d measurements", len(r.Report.Measurements))
	}
	for i, m := range r.Report.Measurements {
		if m.EKPa != wantE[i] {
			t.Fatalf("measurement %d = %v kPa, want %v", i+1, m.EKPa, wantE[i])
		}
	}
	s := r.Report.Summary
	if r.PatientID != "FX-std_elastpq_reliable" || r.Report.Method != "pSWE" || s.NValid != 10 || s.Median.KPa != 7.12 || s.IQR.KPa != 0.83 || s.IQRM.KPa != 11.6 ||
		!r.Report.QC.Reliable || r.Report.Staging.Category != "rule_out_cACLD_if_no_other_signs" || !r.Report.Staging.Applicable || r.Report.Staging.Disclaimer != "not clinical advice" {
		t.Fatalf("reliable report: %+v", r)
	}

	code, _, body = get(t, n, "/api/elastography/reports?reliable=false")
	reps = nil
	if err := json.Unmarshal(body, &reps); code != 200 || err != nil || len(reps) != 1 {
		t.Fatalf("unreliable: %d %v %s", code, err, body)
	}
	u := reps[0]
	if u.Report.QC.Reliable || !strings.Contains(strings.Join(u.Report.QC.Flags, ","), "IQRM_GT_30_KPA") || u.Report.Summary.IQRM.KPa != 35.4 || u.Report.Staging.Applicable {
		t.Fatalf("unreliable report: %+v", u)
	}

	code, ctype, body := get(t, n, "/api/elastography/reports?reliable=true", "Accept", "text/csv")
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if code != 200 || !strings.HasPrefix(ctype, "text/csv") || err != nil || len(rows) != 2 {
		t.Fatalf("csv: %d %s %v %d rows", code, ctype, err, len(rows))
	}
	col := map[string]string{}
	for i, h := range rows[0] {
		col[h] = rows[1][i]
	}
	if col["median_kpa"] != "7.12" || col["iqr_kpa"] != "0.83" || col["n_valid"] != "10" || col["reliable"] != "true" || col["patient_id"] != "FX-std_elastpq_reliable" {
		t.Fatalf("csv row disagrees with JSON: %v", col)
	}

	code, ctype, body = get(t, n, "/api/elastography/reports/"+itoa(r.ID)+"/fhir")
	var obs struct {
		ResourceType string `json:"resourceType"`
		Subject      struct {
			Identifier struct{ Value string } `json:"identifier"`
		} `json:"subject"`
		Component []struct {
			Code          struct{ Text string } `json:"code"`
			ValueQuantity *struct {
				Value float64 `json:"value"`
				Unit  string  `json:"unit"`
			} `json:"valueQuantity"`
			ValueInteger *int `json:"valueInteger"`
		} `json:"component"`
	}
	if err := json.Unmarshal(body, &obs); code != 200 || ctype != "application/fhir+json" || err != nil || obs.ResourceType != "Observation" {
		t.Fatalf("fhir: %d %s %v %s", code, ctype, err, body)
	}
	var values []float64
	for _, c := range obs.Component {
		if c.ValueQuantity != nil {
			values = append(values, c.ValueQuantity.Value)
		}
		if c.ValueInteger != nil {
			values = append(values, float64(*c.ValueInteger))
		}
	}
	for _, want := range []float64{7.12, 0.83, 11.6, 10} {
		found := false
		for _, v := range values {
			found = found || v == want
		}
		if !found {
			t.Fatalf("FHIR components %v lack %v", values, want)
		}
	}
	if obs.Subject.Identifier.Value != "FX-std_elastpq_reliable" {
		t.Fatalf("FHIR subject %+v", obs.Subject)
	}

	// The research namespace holds only de-identified data: nothing here.
	if code, _, body := get(t, n, "/research/api/elastography/reports"); code != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("research: %d %s", code, body)
	}
	for _, bad := range []string{"?from=2024-13-01", "?reliable=maybe", "?limit=-1", "?format=xml"} {
		if code, _, _ := get(t, n, "/api/elastography/reports"+bad); code != 400 {
			t.Fatalf("%s: %d, want 400", bad, code)
		}
	}
	if code, _, _ := get(t, n, "/api/elastography/reports/99999"); code != 404 {
		t.Fatalf("missing report: %d", code)
	}
}

// With tokens configured, a research token reaches only the research API,
// and no token gets 401.
func TestAPIScopes(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Auth.Tokens = []config.Token{
			{Name: "repo", Token: "research-token-0123456789", Scopes: []string{"research"}},
			{Name: "ward", Token: "clinical-token-0123456789", Scopes: []string{"clinical"}},
		}
	})
	cases := []struct {
		path, token string
		want        int
	}{
		{"/api/elastography/reports", "", 401},
		{"/api/elastography/reports", "research-token-0123456789", 403},
		{"/research/api/elastography/reports", "research-token-0123456789", 200},
		{"/api/elastography/reports", "clinical-token-0123456789", 200},
		{"/api/queue", "research-token-0123456789", 403},
		{"/api/queue", "clinical-token-0123456789", 200},
		{"/healthz", "", 200},
	}
	for _, c := range cases {
		var hdr []string
		if c.token != "" {
			hdr = []string{"Authorization", "Bearer " + c.token}
		}
		if code, _, body := get(t, n, c.path, hdr...); code != c.want {
			t.Errorf("%s with %q: %d, want %d (%s)", c.path, c.token, code, c.want, body)
		}
	}
	req, _ := http.NewRequest("POST", "http://"+n.HTTPAddr().String()+"/api/queue/1/retry", nil)
	req.Header.Set("Authorization", "Bearer clinical-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 403 {
		t.Fatalf("retry with a clinical token: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
}

func itoa(v int64) string { return jsonNumber(v) }

func jsonNumber(v int64) string { b, _ := json.Marshal(v); return string(b) }
