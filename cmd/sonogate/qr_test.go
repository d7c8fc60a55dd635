package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/internal/testenv"
)

// TestQRAgainstOrthanc checks that sonogate find/move/get return what
// DCMTK's findscu/movescu/getscu return against the same Orthanc.
func TestQRAgainstOrthanc(t *testing.T) {
	testenv.RequireTool(t, "findscu")
	destDir := t.TempDir()
	scp := testenv.StartStoreSCPServer(t, "DEST", destDir)
	o := testenv.StartOrthanc(t, testenv.OrthancOptions{Modalities: map[string]testenv.Modality{
		"scu":  {AET: "QRSCU", Host: "127.0.0.1", Port: 1},
		"dest": {AET: "DEST", Host: "127.0.0.1", Port: scp.Port()},
	}})
	dir := testenv.SharedTestdata(t, "dicom/ultrasound")
	names, _ := filepath.Glob(filepath.Join(dir, "*.dcm"))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(o.URL()+"/instances", "application/dicom", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	host, port := "127.0.0.1", strconv.Itoa(o.DicomPort())
	common := []string{"--aet", "QRSCU", "--aec", o.AET()}

	// Studies: sonogate find vs findscu.
	var out, errb bytes.Buffer
	if err := run(append([]string{"find", "-S", "--level", "STUDY", "-k", "StudyInstanceUID", "-k", "PatientID", host + ":" + port}, common...), &out, &errb); err != nil {
		t.Fatalf("find: %v\n%s", err, errb.String())
	}
	var ours []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m map[string]string
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		ours = append(ours, m["StudyInstanceUID"])
	}
	sort.Strings(ours)
	x := t.TempDir()
	if o2, code := testenv.Run(t, "findscu", "-S", "-aet", "QRSCU", "-aec", o.AET(), "-X", "-od", x, "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID", host, port); code != 0 {
		t.Fatalf("findscu: %s", o2)
	}
	var theirs []string
	rsps, _ := filepath.Glob(filepath.Join(x, "rsp*.dcm"))
	for _, r := range rsps {
		f, _ := os.Open(r)
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
		theirs = append(theirs, ds.String(dcm.Tag(0x0020000D)))
	}
	sort.Strings(theirs)
	if len(ours) == 0 || !slices.Equal(ours, theirs) {
		t.Fatalf("sonogate find = %v\nfindscu = %v", ours, theirs)
	}
	study := ours[0]

	// Move that study to storescp with both tools; same SOP instances.
	if err := run(append([]string{"move", "-S", "--dest", "DEST", "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=" + study, host + ":" + port}, common...), &out, &errb); err != nil {
		t.Fatalf("move: %v\n%s", err, errb.String())
	}
	files := testenv.WaitFiles(t, destDir, 1, 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	files = testenv.ReceivedFiles(t, destDir)
	moved := sopsOf(t, files)
	for _, f := range files {
		os.Remove(f)
	}
	if o2, code := testenv.Run(t, "movescu", "-S", "-aet", "QRSCU", "-aec", o.AET(), "-aem", "DEST", "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID="+study, host, port); code != 0 {
		t.Fatalf("movescu: %s", o2)
	}
	testenv.WaitFiles(t, destDir, len(moved), 20*time.Second)
	if got := sopsOf(t, testenv.ReceivedFiles(t, destDir)); !slices.Equal(got, moved) {
		t.Errorf("movescu moved %v, sonogate move %v", got, moved)
	}

	// Get the study with both tools; same SOP instances.
	g1, g2 := t.TempDir(), t.TempDir()
	if err := run(append([]string{"get", "-S", "--out", g1, "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=" + study, host + ":" + port}, common...), &out, &errb); err != nil {
		t.Logf("get: %v\n%s", err, errb.String())
	}
	if o2, code := testenv.Run(t, "getscu", "-S", "-aet", "QRSCU", "-aec", o.AET(), "-od", g2, "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID="+study, host, port); code != 0 {
		t.Logf("getscu: %s", o2)
	}
	n1, _ := filepath.Glob(filepath.Join(g1, "*"))
	n2, _ := filepath.Glob(filepath.Join(g2, "*"))
	got1, got2 := sopsOf(t, n1), sopsOf(t, n2)
	if len(got1) == 0 || !isSuperset(got1, got2) {
		t.Errorf("sonogate get %v, getscu %v", got1, got2)
	}
	if !strings.Contains(errb.String(), "C-GET: status 0x0000") && len(got1) == len(moved) {
		t.Errorf("get status: %s", errb.String())
	}
}

func isSuperset(a, b []string) bool {
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

func sopsOf(t *testing.T, paths []string) []string {
	var out []string
	for _, p := range paths {
		df, err := dcm.OpenFile(p)
		if err != nil {
			continue
		}
		out = append(out, df.Meta.MediaStorageSOPInstanceUID)
	}
	sort.Strings(out)
	return slices.Compact(out)
}
