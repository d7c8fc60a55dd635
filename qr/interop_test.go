package qr_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/dimse"
	"github.com/sonogate/sonogate/internal/testenv"
	"github.com/sonogate/sonogate/node"
)

// corpusFile is one test file with the attributes the tests compare.
type corpusFile struct {
	path                                  string
	sopClass, sop, ts                     string
	patientID, patientName, study, series string
	studyDate                             string
}

func loadCorpus(t testing.TB) []corpusFile {
	t.Helper()
	var paths []string
	us := testenv.SharedTestdata(t, "dicom/ultrasound")
	ents, err := os.ReadDir(us)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".dcm") {
			paths = append(paths, filepath.Join(us, e.Name()))
		}
	}
	cs := testenv.SharedTestdata(t, "dicom/charset")
	paths = append(paths, filepath.Join(cs, "chrX2.dcm"), filepath.Join(cs, "GH1301_gb18030_bad_cs.dcm"))
	var out []corpusFile
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(f)
		df, err := dcm.ReadFile(br)
		if err != nil {
			f.Close()
			t.Logf("skipping %s: %v", p, err)
			continue
		}
		ds, err := dcm.ParseHeader(br, df.Syntax, dcm.Options{})
		f.Close()
		if err != nil || !df.HasMeta {
			t.Logf("skipping %s: %v", p, err)
			continue
		}
		out = append(out, corpusFile{path: p, sopClass: df.Meta.MediaStorageSOPClassUID, sop: df.Meta.MediaStorageSOPInstanceUID,
			ts: df.Meta.TransferSyntaxUID, patientID: ds.String(dcm.Tag(0x00100020)), patientName: ds.String(dcm.Tag(0x00100010)),
			study: ds.String(dcm.Tag(0x0020000D)), series: ds.String(dcm.Tag(0x0020000E)), studyDate: ds.String(dcm.Tag(0x00080020))})
	}
	return out
}

// gateway is a sonogate node started for a test.
type gateway struct {
	n    *node.Node
	port int
	addr string
}

func startGateway(t *testing.T, extraYAML string) *gateway {
	t.Helper()
	port := testenv.FreePort(t)
	yaml := fmt.Sprintf(`
node:
  ae_title: SONOGATE
  research_ae_title: SONOGATE_RES
  dimse_listen: 127.0.0.1:%d
  http_listen: 127.0.0.1:%d
  data_dir: %s
%s`, port, testenv.FreePort(t), t.TempDir(), extraYAML)
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := node.New(context.Background(), cfg, log)
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
	return &gateway{n: n, port: port, addr: "127.0.0.1:" + strconv.Itoa(port)}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// storeAll sends the corpus to addr with C-STORE.
func storeAll(t *testing.T, addr, calledAE string, files []corpusFile) {
	t.Helper()
	seen := map[[2]string]bool{}
	var pcs []dimse.PresentationContextRequest
	for _, f := range files {
		k := [2]string{f.sopClass, f.ts}
		if !seen[k] {
			seen[k] = true
			pcs = append(pcs, dimse.PresentationContextRequest{AbstractSyntax: f.sopClass, TransferSyntaxes: []string{f.ts}})
		}
	}
	ctx := context.Background()
	a, err := dimse.Dial(ctx, addr, dimse.ClientConfig{CallingAE: "MODALITY", CalledAE: calledAE}, pcs)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	for _, f := range files {
		df, err := dcm.OpenFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(f.path)
		if err != nil {
			t.Fatal(err)
		}
		fh.Seek(df.DataOffset, io.SeekStart)
		_, err = a.Store(ctx, f.sopClass, f.sop, f.ts, fh)
		fh.Close()
		if err != nil {
			t.Fatalf("store %s: %v", f.path, err)
		}
	}
}

// readResponses parses findscu's extracted rsp*.dcm files.
func readResponses(t *testing.T, dir string) []*dcm.Dataset {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "rsp*.dcm"))
	sort.Strings(names)
	var out []*dcm.Dataset
	for _, n := range names {
		f, err := os.Open(n)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(f)
		df, err := dcm.ReadFile(br)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := dcm.Parse(br, df.Syntax, dcm.Options{})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ds)
		os.Remove(n)
	}
	return out
}

func distinct(files []corpusFile, key func(corpusFile) string) []string {
	m := map[string]bool{}
	for _, f := range files {
		if k := key(f); k != "" {
			m[k] = true
		}
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func values(ds []*dcm.Dataset, tag uint32) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.String(dcm.Tag(tag)))
	}
	sort.Strings(out)
	return out
}

const peersYAML = `peers:
  - {ae_title: FINDSCU, host: 127.0.0.1, port: 1, services: [find, move, get]}
  - {ae_title: NOFIND, host: 127.0.0.1, port: 1, services: [move]}
`

func TestDCMTKFindMoveGet(t *testing.T) {
	testenv.RequireTool(t, "findscu")
	files := loadCorpus(t)
	if len(files) < 5 {
		t.Fatalf("corpus has %d files", len(files))
	}
	destDir := t.TempDir()
	scp := testenv.StartStoreSCPServer(t, "DEST", destDir)
	g := startGateway(t, peersYAML+fmt.Sprintf("  - {ae_title: DEST, host: 127.0.0.1, port: %d}\n", scp.Port()))
	storeAll(t, g.addr, "SONOGATE", files)
	out := t.TempDir()
	find := func(args ...string) ([]*dcm.Dataset, string) {
		t.Helper()
		a := append([]string{"-v", "-aet", "FINDSCU", "-aec", "SONOGATE", "-X", "-od", out}, args...)
		a = append(a, "127.0.0.1", strconv.Itoa(g.port))
		o, code := testenv.Run(t, "findscu", a...)
		if code != 0 {
			t.Fatalf("findscu %v: exit %d\n%s", args, code, o)
		}
		return readResponses(t, out), o
	}
	studies := distinct(files, func(f corpusFile) string { return f.study })
	patients := distinct(files, func(f corpusFile) string { return "#" + f.patientID })
	for i := range patients {
		patients[i] = patients[i][1:] // an empty Patient ID is a patient too
	}

	t.Run("study root STUDY", func(t *testing.T) {
		rs, _ := find("-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID", "-k", "PatientName", "-k", "StudyDate")
		if got := values(rs, 0x0020000D); !slices.Equal(got, studies) {
			t.Errorf("studies = %v\nwant %v", got, studies)
		}
		for _, r := range rs {
			if cs := r.String(dcm.Tag(0x00080005)); cs != "ISO_IR 192" {
				t.Errorf("Specific Character Set = %q", cs)
			}
			if lv := r.String(dcm.Tag(0x00080052)); lv != "STUDY" {
				t.Errorf("level = %q", lv)
			}
		}
	})
	t.Run("patient root PATIENT", func(t *testing.T) {
		rs, _ := find("-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID", "-k", "PatientName")
		if got := values(rs, 0x00100020); !slices.Equal(got, patients) {
			t.Errorf("patients = %v\nwant %v", got, patients)
		}
	})
	t.Run("study root has no PATIENT level", func(t *testing.T) {
		_, o := find("-S", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID")
		if !strings.Contains(o, "Error: DataSetDoesNotMatchSOPClass") {
			t.Errorf("want status A900 in output:\n%s", o)
		}
	})
	st := files[0]
	t.Run("SERIES and IMAGE", func(t *testing.T) {
		in := func(f corpusFile) bool { return f.study == st.study }
		var sel []corpusFile
		for _, f := range files {
			if in(f) {
				sel = append(sel, f)
			}
		}
		rs, _ := find("-S", "-k", "QueryRetrieveLevel=SERIES", "-k", "StudyInstanceUID="+st.study, "-k", "SeriesInstanceUID", "-k", "Modality")
		if got, want := values(rs, 0x0020000E), distinct(sel, func(f corpusFile) string { return f.series }); !slices.Equal(got, want) {
			t.Errorf("series = %v\nwant %v", got, want)
		}
		rs, _ = find("-P", "-k", "QueryRetrieveLevel=IMAGE", "-k", "PatientID="+st.patientID, "-k", "StudyInstanceUID="+st.study,
			"-k", "SeriesInstanceUID="+st.series, "-k", "SOPInstanceUID")
		var want []string
		for _, f := range sel {
			if f.series == st.series {
				want = append(want, f.sop)
			}
		}
		if got := values(rs, 0x00080018); !slices.Equal(got, distinct(filesOf(want), func(f corpusFile) string { return f.sop })) {
			t.Errorf("images = %v\nwant %v", got, want)
		}
	})
	t.Run("wildcard and case-insensitive PN", func(t *testing.T) {
		rs, _ := find("-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID", "-k", "PatientName=wang*")
		var want []string
		for _, f := range files {
			if strings.HasPrefix(strings.ToLower(f.patientName), "wang") {
				want = append(want, f.study)
			}
		}
		if got := values(rs, 0x0020000D); !slices.Equal(got, distinct(filesOf(want), func(f corpusFile) string { return f.sop })) || len(got) == 0 {
			t.Errorf("studies = %v, want %v", got, want)
		}
	})
	t.Run("GB18030 name", func(t *testing.T) {
		key, err := simplifiedchinese.GB18030.NewEncoder().String("PatientName=王*")
		if err != nil {
			t.Fatal(err)
		}
		rs, _ := find("-S", "-k", "SpecificCharacterSet=GB18030", "-k", "QueryRetrieveLevel=STUDY", "-k", key, "-k", "StudyInstanceUID")
		if len(rs) != 1 || rs[0].String(dcm.Tag(0x0020000D)) != "1.3.6.1.4.1.5962.1.2.0.1175775771.5714.0" {
			t.Fatalf("got %d responses %v", len(rs), values(rs, 0x0020000D))
		}
		var wantName string
		for _, f := range files {
			if strings.HasSuffix(f.path, "chrX2.dcm") {
				wantName = f.patientName
			}
		}
		if name := rs[0].String(dcm.Tag(0x00100010)); name != wantName || !strings.Contains(name, "王") {
			t.Errorf("PatientName = %q", name)
		}
	})
	t.Run("date range", func(t *testing.T) {
		dates := distinct(files, func(f corpusFile) string { return f.studyDate })
		if len(dates) < 2 {
			t.Skip("corpus has fewer than two study dates")
		}
		lo, hi := dates[0], dates[len(dates)/2]
		rs, _ := find("-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID", "-k", "StudyDate="+lo+"-"+hi)
		var want []string
		for _, f := range files {
			if f.studyDate != "" && f.studyDate >= lo && f.studyDate <= hi {
				want = append(want, f.study)
			}
		}
		if got := values(rs, 0x0020000D); !slices.Equal(got, dedupSorted(want)) {
			t.Errorf("studies %s-%s = %v\nwant %v", lo, hi, got, dedupSorted(want))
		}
	})
	t.Run("not authorized", func(t *testing.T) {
		o, _ := testenv.Run(t, "findscu", "-v", "-aet", "NOFIND", "-aec", "SONOGATE", "-S", "-k", "QueryRetrieveLevel=STUDY", "127.0.0.1", strconv.Itoa(g.port))
		if !strings.Contains(o, "Final Find Response (Unknown Status: 0x124)") {
			t.Errorf("want 0x0124 in output:\n%s", o)
		}
	})
	t.Run("research namespace is empty", func(t *testing.T) {
		o, code := testenv.Run(t, "findscu", "-aet", "FINDSCU", "-aec", "SONOGATE_RES", "-X", "-od", out, "-S", "-k", "QueryRetrieveLevel=STUDY", "127.0.0.1", strconv.Itoa(g.port))
		if rs := readResponses(t, out); code != 0 || len(rs) != 0 {
			t.Errorf("exit %d, %d responses\n%s", code, len(rs), o)
		}
	})

	t.Run("movescu", func(t *testing.T) {
		var want []string
		for _, f := range files {
			if f.study == st.study {
				want = append(want, f.sop)
			}
		}
		want = dedupSorted(want)
		o, code := testenv.Run(t, "movescu", "-v", "-S", "-aet", "FINDSCU", "-aec", "SONOGATE", "-aem", "DEST",
			"-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID="+st.study, "127.0.0.1", strconv.Itoa(g.port))
		if code != 0 {
			t.Fatalf("movescu exit %d\n%s", code, o)
		}
		got := receivedSOPs(t, testenv.WaitFiles(t, destDir, len(want), 20*time.Second))
		if !slices.Equal(got, want) {
			t.Errorf("moved %v\nwant %v\n%s", got, want, o)
		}
	})
	t.Run("movescu unknown destination", func(t *testing.T) {
		o, _ := testenv.Run(t, "movescu", "-v", "-S", "-aet", "FINDSCU", "-aec", "SONOGATE", "-aem", "NOPE",
			"-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID="+st.study, "127.0.0.1", strconv.Itoa(g.port))
		if !strings.Contains(o, "Refused: MoveDestinationUnknown") || strings.Contains(o, "Sub-Operations") {
			t.Errorf("want A801 in output:\n%s", o)
		}
	})
	t.Run("getscu", func(t *testing.T) {
		x2 := "1.3.6.1.4.1.5962.1.2.0.1175775771.5714.0"
		getDir := t.TempDir()
		o, code := testenv.Run(t, "getscu", "-v", "-S", "-aet", "FINDSCU", "-aec", "SONOGATE", "-od", getDir,
			"-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID="+x2, "127.0.0.1", strconv.Itoa(g.port))
		if code != 0 {
			t.Fatalf("getscu exit %d\n%s", code, o)
		}
		var want []string
		for _, f := range files {
			if f.study == x2 {
				want = append(want, f.sop)
			}
		}
		names, _ := filepath.Glob(filepath.Join(getDir, "*"))
		if got := receivedSOPs(t, names); !slices.Equal(got, dedupSorted(want)) {
			t.Errorf("got %v\nwant %v\n%s", got, want, o)
		}
	})
}

// filesOf wraps UIDs so distinct can sort and deduplicate them.
func filesOf(uids []string) []corpusFile {
	out := make([]corpusFile, len(uids))
	for i, u := range uids {
		out[i].sop = u
	}
	return out
}

func dedupSorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return slices.Compact(s)
}

func receivedSOPs(t *testing.T, paths []string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		df, err := dcm.OpenFile(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		out = append(out, df.Meta.MediaStorageSOPInstanceUID)
	}
	return dedupSorted(out)
}

var _ = net.JoinHostPort
