package dicomweb

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/config"
)

// FuzzParseQIDO: any query string parses to a query or a 400 reason, and
// a parsed query runs on the catalog without a panic or a non-QueryError.
func FuzzParseQIDO(f *testing.F) {
	for _, s := range []string{"PatientName=smi*", "StudyDate=-20210115", "StudyDate=20200101&StudyTime=0930-1200",
		"PatientName=Thoma%22s&fuzzymatching=true", "00100010=*^Jo*", "includefield=all&limit=5&offset=2",
		"StudyInstanceUID=1.2,1.3", "ModalitiesInStudy=US%5CCT", "SeriesNumber=x", "PatientName=%E7%8E%8B*"} {
		f.Add(s)
	}
	cat, err := catalog.OpenSQLite(context.Background(), f.TempDir()+"/c.db")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { cat.Close() })
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		for _, lvl := range []catalog.Level{catalog.LevelStudy, catalog.LevelSeries, catalog.LevelImage} {
			req, err := parseQIDO(v, lvl, "", "")
			if err != nil {
				continue
			}
			req.Query.Namespace = "clinical"
			err = cat.Find(context.Background(), req.Query, func(catalog.Record) error { return nil })
			var qe *catalog.QueryError
			if err != nil && !errors.As(err, &qe) {
				t.Fatalf("%q: %v", q, err)
			}
		}
	})
}

// FuzzSTOWBody: any body under any content type gets a 2xx/4xx answer,
// never a panic or a 5xx other than 503.
func FuzzSTOWBody(f *testing.F) {
	f.Add(`multipart/related; type=application/dicom; boundary=abc`, []byte("--abc\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--abc--\r\n"))
	f.Add(`multipart/related; boundary="a b"`, []byte("--a b\n\nxx\n--a b--"))
	f.Add(`Multipart/Related; Boundary=abc`, []byte("preamble\r\n--abc  \r\n\r\n"+string(make([]byte, 140))+"\r\n"))
	e := newEnv(f, config.Auth{})
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		req := httptest.NewRequest("POST", "/dicom-web/studies", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		e.srv.stow(rec, req, &reqCtx{prefix: ClinicalPrefix, ns: "clinical"})
		if rec.Code >= 500 && rec.Code != 503 {
			t.Fatalf("%d for %q", rec.Code, ctype)
		}
	})
}
