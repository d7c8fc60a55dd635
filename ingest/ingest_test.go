package ingest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/routing"
	"github.com/sonogate/sonogate/store"
)

const usClass = "1.2.840.10008.5.1.4.1.1.6.1"

func dataset(sop, series, patient string, extra ...byte) []byte {
	var b bytes.Buffer
	w := dcm.NewWriter(&b, dcm.ExplicitVRLittleEndian)
	w.WriteString(dcm.TagSpecificCharacterSet, dcm.CS, "ISO_IR 192")
	w.WriteString(dcm.TagSOPClassUID, dcm.UI, usClass)
	w.WriteString(dcm.TagSOPInstanceUID, dcm.UI, sop)
	w.WriteString(dcm.TagModality, dcm.CS, "US")
	w.WriteString(dcm.TagStudyDescription, dcm.LO, "LIVER ELASTOGRAPHY")
	w.WriteString(dcm.TagPatientName, dcm.PN, "Wang^Xiaoming=王^小明")
	w.WriteString(dcm.TagPatientID, dcm.LO, patient)
	w.WriteString(dcm.TagStudyInstanceUID, dcm.UI, "1.2.3.100")
	w.WriteString(dcm.TagSeriesInstanceUID, dcm.UI, series)
	w.WriteValue(dcm.TagPixelData, dcm.OB, append([]byte{1, 2, 3, 4}, extra...))
	return b.Bytes()
}

type fixture struct {
	in    *Ingester
	cat   *catalog.Catalog
	store *store.Store
	dir   string
}

func newFixture(t *testing.T, rules []config.Rule) fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.OpenSQLite(context.Background(), filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	m, err := routing.NewMatcher(rules)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{in: New(Config{Store: st, Catalog: cat, Matcher: m}), cat: cat, store: st, dir: dir}
}

func (f fixture) ingest(t *testing.T, sop string, data []byte) (Result, error) {
	t.Helper()
	return f.in.Ingest(context.Background(), Request{CallingAE: "US01", SOPClassUID: usClass, SOPInstanceUID: sop,
		TransferSyntaxUID: dcm.ExplicitVRLittleEndian.UID, Data: bytes.NewReader(data)})
}

func TestIngestCommitsBytesIndexAndJobs(t *testing.T) {
	f := newFixture(t, []config.Rule{
		{Name: "us", Match: config.Match{Modality: []string{"US"}}, Send: []string{"pacs"}},
		{Name: "liver", Match: config.Match{Tags: map[string][]string{"StudyDescription": {"LIVER*"}}}, Send: []string{"research"}},
		{Name: "ct", Match: config.Match{Modality: []string{"CT"}}, Send: []string{"other"}},
	})
	data := dataset("1.2.3.1", "1.2.3.100.1", "P1")
	res, err := f.ingest(t, "1.2.3.1", data)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != catalog.Inserted || res.Jobs != 2 || res.Version != 1 {
		t.Fatalf("result %+v, want inserted with 2 jobs", res)
	}
	got, err := os.ReadFile(f.store.Path(res.RelPath))
	if err != nil {
		t.Fatal(err)
	}
	meta, off, err := dcm.ReadFileMeta(bytes.NewReader(got))
	if err != nil || !bytes.Equal(got[off:], data) {
		t.Fatalf("stored data set differs from what was received (err %v)", err)
	}
	if meta.TransferSyntaxUID != dcm.ExplicitVRLittleEndian.UID || meta.MediaStorageSOPInstanceUID != "1.2.3.1" || meta.SourceApplicationEntityTitle != "US01" {
		t.Fatalf("meta %+v", meta)
	}
	insts, err := f.cat.InstancesBySOP(context.Background(), "clinical", "1.2.3.1")
	if err != nil || len(insts) != 1 {
		t.Fatalf("catalog: %v %d", err, len(insts))
	}
	if in := insts[0]; in.PatientName != "Wang^Xiaoming=王^小明" || in.Modality != "US" || in.SeriesInstanceUID != "1.2.3.100.1" || in.DataOffset != off {
		t.Fatalf("indexed %+v", in)
	}
	jobs, _ := f.cat.List(context.Background(), catalog.JobFilter{})
	dests := map[string]bool{}
	for _, j := range jobs {
		dests[j.Destination] = true
	}
	if len(jobs) != 2 || !dests["pacs"] || !dests["research"] {
		t.Fatalf("jobs %+v", jobs)
	}
}

// B17: an identical resend is a no-op; different bytes under the same UID
// are a new version; neither deletes or overwrites what was stored.
func TestIngestDuplicateAndNewVersion(t *testing.T) {
	f := newFixture(t, []config.Rule{{Name: "all", Send: []string{"pacs"}}})
	a := dataset("1.2.3.5", "1.2.3.9", "P1")
	b := dataset("1.2.3.5", "1.2.3.10", "P1", 9, 9)
	r1, err := f.ingest(t, "1.2.3.5", a)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := f.ingest(t, "1.2.3.5", b)
	if err != nil || r2.Outcome != catalog.NewVersion || r2.Version != 2 || r2.Jobs != 1 {
		t.Fatalf("second: %+v %v", r2, err)
	}
	for i := 0; i < 2; i++ {
		r, err := f.ingest(t, "1.2.3.5", a)
		if err != nil || r.Outcome != catalog.Duplicate || r.Jobs != 0 || r.RelPath != r1.RelPath {
			t.Fatalf("resend %d: %+v %v", i, r, err)
		}
	}
	for _, r := range []Result{r1, r2} {
		if _, err := os.Stat(f.store.Path(r.RelPath)); err != nil {
			t.Fatalf("a stored version disappeared: %v", err)
		}
	}
	jobs, _ := f.cat.List(context.Background(), catalog.JobFilter{})
	if len(jobs) != 2 {
		t.Fatalf("%d jobs, want 2 (one per version)", len(jobs))
	}
}

func TestIngestRefusalsLeaveNothing(t *testing.T) {
	f := newFixture(t, []config.Rule{{Name: "all", Send: []string{"pacs"}}})
	cases := []struct {
		name string
		sop  string
		ts   string
		data []byte
		want error
	}{
		{"truncated", "1.2.3.7", dcm.ExplicitVRLittleEndian.UID, dataset("1.2.3.7", "1.2.3.9", "P")[:60], ErrCannotUnderstand},
		{"uid mismatch", "1.2.3.8", dcm.ExplicitVRLittleEndian.UID, dataset("1.2.3.999", "1.2.3.9", "P"), ErrMismatch},
		{"unknown syntax", "1.2.3.9", "1.2.3.4.5.6", dataset("1.2.3.9", "1.2.3.9", "P"), ErrCannotUnderstand},
		{"no series", "1.2.3.10", dcm.ExplicitVRLittleEndian.UID, dataset("1.2.3.10", "", "P"), ErrCannotUnderstand},
	}
	for _, c := range cases {
		_, err := f.in.Ingest(context.Background(), Request{SOPClassUID: usClass, SOPInstanceUID: c.sop, TransferSyntaxUID: c.ts, Data: bytes.NewReader(c.data)})
		var ie *Error
		if !errors.Is(err, c.want) || !errors.As(err, &ie) || ie.Comment == "" || len(ie.Comment) > 64 {
			t.Fatalf("%s: err = %v, want %v with a short comment", c.name, err, c.want)
		}
		if insts, _ := f.cat.InstancesBySOP(context.Background(), "clinical", c.sop); len(insts) != 0 {
			t.Fatalf("%s: half-indexed instance", c.name)
		}
	}
	tmp, _ := os.ReadDir(filepath.Join(f.dir, "objects", "tmp"))
	if len(tmp) != 0 {
		t.Fatalf("%d temporary files left behind", len(tmp))
	}
	if jobs, _ := f.cat.List(context.Background(), catalog.JobFilter{}); len(jobs) != 0 {
		t.Fatalf("jobs queued for refused instances: %d", len(jobs))
	}
}
