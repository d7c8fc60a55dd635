package dicomweb

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/ingest"
	"github.com/sonogate/sonogate/internal/testenv"
	"github.com/sonogate/sonogate/store"
)

// env is a gateway's DICOMweb side over a private store and catalog.
type env struct {
	t     testing.TB
	srv   *Server
	http  *httptest.Server
	cat   *catalog.Catalog
	in    *ingest.Ingester
	logs  *lockedWriter
	files map[string]string // SOP Instance UID -> corpus file (clinical)
}

func newEnv(t testing.TB, auth config.Auth) *env {
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
	logs := &lockedWriter{w: &bytes.Buffer{}}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	in := ingest.New(ingest.Config{Store: st, Catalog: cat})
	srv := New(Config{Catalog: cat, Store: st, Ingester: in, Auth: auth, Logger: log, MaxRequestBytes: 64 << 20, TempDir: t.TempDir()})
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return &env{t: t, srv: srv, http: hs, cat: cat, in: in, logs: logs, files: map[string]string{}}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// ingestFile commits a Part 10 file into namespace ns; files without meta
// information are skipped (false).
func (e *env) ingestFile(path string, ns store.Namespace) (string, bool) {
	e.t.Helper()
	f, err := os.Open(path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	file, err := dcm.ReadFile(br)
	if err != nil || !file.HasMeta || file.Meta.MediaStorageSOPInstanceUID == "" {
		return "", false
	}
	_, err = e.in.Ingest(context.Background(), ingest.Request{SOPClassUID: file.Meta.MediaStorageSOPClassUID,
		SOPInstanceUID: file.Meta.MediaStorageSOPInstanceUID, TransferSyntaxUID: file.Syntax.UID, Data: br, Namespace: ns})
	if err != nil {
		return "", false
	}
	if ns == store.NamespaceClinical {
		e.files[file.Meta.MediaStorageSOPInstanceUID] = path
	}
	return file.Meta.MediaStorageSOPInstanceUID, true
}

// corpus lists the shared test files the DICOMweb tests load.
func corpus(t testing.TB) []string {
	var out []string
	for _, d := range []string{"dicom/ultrasound", "dicom/charset"} {
		fs, _ := filepath.Glob(filepath.Join(testenv.SharedTestdata(t, d), "*.dcm"))
		out = append(out, fs...)
	}
	sort.Strings(out)
	return out
}

func (e *env) loadCorpus() {
	for _, p := range corpus(e.t) {
		e.ingestFile(p, store.NamespaceClinical)
	}
}

func (e *env) get(path string, hdr ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.http.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// search runs a QIDO-RS query and returns the objects.
func (e *env) search(path string) []map[string]jsonAttr {
	e.t.Helper()
	resp, b := e.get(path, "Accept", "application/dicom+json")
	if resp.StatusCode != 200 {
		e.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	var out []map[string]jsonAttr
	if err := json.Unmarshal(b, &out); err != nil {
		e.t.Fatalf("GET %s: %v in %s", path, err, b)
	}
	return out
}

type jsonAttr struct {
	VR          string            `json:"vr"`
	Value       []json.RawMessage `json:"Value"`
	BulkDataURI string            `json:"BulkDataURI"`
}

func (a jsonAttr) str(i int) string {
	if i >= len(a.Value) {
		return ""
	}
	var s string
	json.Unmarshal(a.Value[i], &s)
	return s
}

// uids collects one UID attribute of search results, sorted.
func uids(objs []map[string]jsonAttr, tag string) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o[tag].str(0))
	}
	sort.Strings(out)
	return out
}

// readMultipart splits a multipart/related response into its parts.
func readMultipart(t *testing.T, resp *http.Response, body []byte) (bodies [][]byte, types []string) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" {
		t.Fatalf("content type %q: %v (%s)", resp.Header.Get("Content-Type"), err, body)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
		types = append(types, p.Header.Get("Content-Type"))
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

func joinSet(s []string) string { return strings.Join(sortedCopy(s), " ") }
