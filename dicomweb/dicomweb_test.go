package dicomweb

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sonogate/sonogate/catalog"

	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/internal/testenv"
	"github.com/sonogate/sonogate/store"
)

// Study Instance UIDs of the shared corpus used in expectations.
const (
	stH31     = "1.3.6.1.4.1.5962.1.2.0.1175775771.5702.0"    // Yamada^Tarou=山田^太郎=やまだ^たろう (ISO 2022)
	stH32     = "1.3.6.1.4.1.5962.1.2.0.1175775771.5705.0"    // ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう
	stX1      = "1.3.6.1.4.1.5962.1.2.0.1175775771.5711.0"    // Wang^XiaoDong=王^小東= (GB18030)
	stX2      = "1.3.6.1.4.1.5962.1.2.0.1175775771.5714.0"    // Wang^XiaoDong=王^小东= (GBK and bad-charset copy)
	stGerm    = "1.3.6.1.4.1.5962.1.2.0.1175775772.5723.0"    // Äneas^Rüdiger
	stFren    = "1.3.6.1.4.1.5962.1.2.0.1175775772.5720.0"    // Buc^Jérôme
	stUS1a    = "1.3.6.1.4.1.5962.1.2.13.20040826185059.5457" // CompressedSamples^US1, 20040826
	stUS1b    = "1.3.6.1.4.1.5962.1.2.13.20031208063649.855"  // CompressedSamples^US1, 20031208
	stOB      = "1.3.46.670589.14.1000.210.4.199999.20110525182825.1.0"
	stDoe     = "1.2.840.113680.1.103.61289.1476739615.10730" // DOE^JOHN, 20161017 132655
	stEsaote  = "1.3.88.0.8.8.39.437.34.57.923810.141636"     // 20100401 090500
	stCitizen = "1.2.826.0.1.3680043.2.1143.536994375713558855009808807549617714"
)

func TestQIDOMatching(t *testing.T) {
	e := newEnv(t, config.Auth{})
	e.loadCorpus()
	cases := []struct {
		query string
		want  []string
	}{
		{"PatientName=Yamada*", []string{stH31}},
		{"PatientName=yamada^tarou", []string{stH31}},                       // PN single value, case-insensitive
		{"PatientName=" + url.QueryEscape("王*"), []string{stX1, stX2}},      // ideographic group
		{"PatientName=" + url.QueryEscape("山田^太郎"), []string{stH31, stH32}}, // one component group
		{"PatientName=" + url.QueryEscape("ÄNE*"), []string{stGerm}},        // non-ASCII, case-insensitive
		{"PatientName=" + url.QueryEscape("rüdiger äneas") + "&fuzzymatching=true", []string{stGerm}},
		{"PatientName=rudiger&fuzzymatching=true", []string{stGerm}},      // accent folding
		{"PatientName=jerome%20buc&fuzzymatching=true", []string{stFren}}, // component order
		{"PatientName=Thoma%22s&fuzzymatching=true", nil},                 // B25: a quote is no 500
		{"PatientName=Atkinson-Lloyd&fuzzymatching=true", nil},
		{"00100010=*^JO*", []string{stDoe}},
		{"PatientName=D?E*", []string{stDoe}},
		{"PatientID=13US1", []string{stUS1a, stUS1b}},
		{"StudyDate=20040826", []string{stUS1a}},
		{"StudyDate=20031201-20041231", []string{stUS1a, stUS1b}},
		{"StudyDate=-20031231", []string{stUS1b, "1.2.392.200039.102.3.1096.11.20020524.111958",
			"1.2.840.113663.1298.6234813.1.298.20000329.1115122",
			// ACR-NEMA dates "1997.04.24", "1994.11.05", "1994.01.30" are read as dates.
			"1.2.840.113619.2.21.848.246800003.0.1952805748.3", "999.999.2.19941105.112000", "999.999.3859744"}},
		{"StudyDate=20200101-", []string{"1.2.276.0.26.1.1.1.2.2020.45.52293.1506048", "1.2.840.113619.2.257.224860853851067.1724550844.2"}},
		{"StudyDate=20161017&StudyTime=1300-1400", []string{stDoe}},
		{"StudyDate=20161017&StudyTime=1400-", nil},
		{"StudyDate=20100401&StudyTime=0900-0906", []string{stEsaote}},
		{"StudyInstanceUID=" + stH31 + "," + stGerm, []string{stGerm, stH31}},
		{"StudyInstanceUID=" + stH31 + "%5C" + stDoe, []string{stDoe, stH31}},
		{"ModalitiesInStudy=SR&PatientID=P22", []string{"1.2.826.0.1.3680043.2.15698796759233767756630698199"}},
		{"AccessionNumber=NONE", []string{"1.2.840.113663.1298.6234813.1.298.20000329.1115122"}},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			got := uids(e.search("/dicom-web/studies?"+c.query), "0020000D")
			if joinSet(got) != joinSet(c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestQIDOReturnKeysAndJSON(t *testing.T) {
	e := newEnv(t, config.Auth{})
	e.loadCorpus()
	// B24: PN as an object with its three groups; numbers as numbers.
	objs := e.search("/dicom-web/studies?PatientID=H31EXAMPLE")
	if len(objs) != 1 {
		t.Fatalf("%d results", len(objs))
	}
	var pn []map[string]string
	json.Unmarshal(objs[0]["00100010"].Value[0], &[]any{})
	raw, _ := json.Marshal(objs[0]["00100010"].Value)
	json.Unmarshal(raw, &pn)
	want := map[string]string{"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"}
	if fmt.Sprint(pn) != fmt.Sprint([]map[string]string{want}) || objs[0]["00100010"].VR != "PN" {
		t.Errorf("PN = %s", raw)
	}
	if got := string(objs[0]["00201208"].Value[0]); got != "1" {
		t.Errorf("NumberOfStudyRelatedInstances = %s, want the JSON number 1", got)
	}
	for _, tag := range []string{"00080005", "00080020", "00080030", "00080050", "00080056", "00080061", "00080090", "00081190",
		"00100010", "00100020", "00100030", "00100040", "0020000D", "00200010", "00201206", "00201208"} {
		if _, ok := objs[0][tag]; !ok {
			t.Errorf("study result lacks mandatory %s", tag)
		}
	}
	// GB18030 source comes out as UTF-8.
	objs = e.search("/dicom-web/studies?PatientID=X1EXAMPLE")
	if raw, _ := json.Marshal(objs[0]["00100010"].Value); !strings.Contains(string(raw), `"Ideographic":"王^小東"`) {
		t.Errorf("GB18030 name: %s", raw)
	}
	// Series and instance levels with aggregates; includefield.
	objs = e.search("/dicom-web/studies/" + stOB + "/series?includefield=00080070")
	if len(objs) != 1 {
		t.Fatalf("series: %v", objs)
	}
	// OBXXXX1A*: four files, one SOP Instance UID: only the newest version counts.
	if string(objs[0]["00201209"].Value[0]) != "1" {
		t.Errorf("NumberOfSeriesRelatedInstances = %s", objs[0]["00201209"].Value[0])
	}
	objs = e.search("/dicom-web/instances?StudyInstanceUID=" + stUS1a + "&includefield=00280100,00181030")
	if len(objs) != 2 {
		t.Fatalf("instances: %d", len(objs))
	}
	if string(objs[0]["00280100"].Value[0]) != "8" {
		t.Errorf("includefield BitsAllocated from the file: %v", objs[0]["00280100"])
	}
	objs = e.search("/dicom-web/studies?PatientID=H31EXAMPLE&includefield=all")
	if _, ok := objs[0]["00081030"]; !ok {
		t.Errorf("includefield=all lacks StudyDescription")
	}
	// Paging: stable order, disjoint pages covering the whole.
	all := e.search("/dicom-web/studies")
	var paged []string
	for off := 0; off < len(all); off += 4 {
		paged = append(paged, uids(e.search(fmt.Sprintf("/dicom-web/studies?limit=4&offset=%d", off)), "0020000D")...)
	}
	if joinSet(paged) != joinSet(uids(all, "0020000D")) || len(paged) != len(all) {
		t.Errorf("pages %v != all %v", paged, uids(all, "0020000D"))
	}
	pagedFuzzy := uids(e.search("/dicom-web/studies?PatientName=a*&limit=1&offset=1"), "0020000D")
	allA := uids(e.search("/dicom-web/studies?PatientName=a*"), "0020000D")
	if len(pagedFuzzy) != 1 || !strings.Contains(joinSet(allA), pagedFuzzy[0]) {
		t.Errorf("paging over Go-matched results: %v of %v", pagedFuzzy, allA)
	}
	// Bad input is 400 with a reason, never 500 (B25).
	for _, q := range []string{"StudyDate=2020-01-01-2", "limit=-1", "fuzzymatching=maybe", "NoSuchKeyword=1", "StudyDate=abc", "SOPInstanceUID=1.2"} {
		resp, body := e.get("/dicom-web/studies?"+q, "Accept", "application/dicom+json")
		if resp.StatusCode != 400 || len(body) == 0 {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
	if resp, _ := e.get("/dicom-web/studies", "Accept", "application/dicom+xml"); resp.StatusCode != 406 {
		t.Errorf("XML accept: %d", resp.StatusCode)
	}
}

func TestWADO(t *testing.T) {
	e := newEnv(t, config.Auth{})
	e.loadCorpus()
	// Instance retrieval: the stored bytes, as stored.
	dir := testenv.SharedTestdata(t, "dicom/ultrasound")
	src := filepath.Join(dir, "US1_J2KI.dcm")
	sop, _ := e.ingestFile(src, store.NamespaceClinical)
	inst, _ := e.cat.InstancesBySOP(t.Context(), "clinical", sop)
	stored, _ := os.ReadFile(e.srv.cfg.Store.Path(inst[0].RelPath))
	path := fmt.Sprintf("/dicom-web/studies/%s/series/%s/instances/%s", inst[0].StudyInstanceUID, inst[0].SeriesInstanceUID, sop)
	resp, body := e.get(path, "Accept", `multipart/related; type="application/dicom"; transfer-syntax=*`)
	parts, types := readMultipart(t, resp, body)
	if len(parts) != 1 || !bytes.Equal(parts[0], stored) || types[0] != "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.91" {
		t.Fatalf("retrieve: %d parts %v", len(parts), types)
	}
	orig, _ := os.ReadFile(src)
	if !bytes.Equal(stored[inst[0].DataOffset:], orig[len(orig)-len(stored)+int(inst[0].DataOffset):]) {
		t.Errorf("stored data set differs from the source file's")
	}
	resp, body = e.get(path, "Accept", `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1`)
	if resp.StatusCode != 406 || !strings.Contains(string(body), "does not transcode") {
		t.Errorf("transcode request: %d %s", resp.StatusCode, body)
	}
	// Study retrieval: every instance.
	resp, body = e.get("/dicom-web/studies/"+stUS1a, "Accept", `multipart/related; type="application/dicom"`)
	if parts, _ := readMultipart(t, resp, body); len(parts) != 2 {
		t.Errorf("study retrieval: %d parts", len(parts))
	}
	if resp, _ := e.get("/dicom-web/studies/1.2.3.4"); resp.StatusCode != 404 {
		t.Errorf("unknown study: %d", resp.StatusCode)
	}

	// Frames: native (2 frames) and encapsulated, each file alone in its namespace.
	e = newEnv(t, config.Auth{})
	var last catalog.Instance
	frames := func(file, list, accept string) ([][]byte, []string, int) {
		sop, ok := e.ingestFile(filepath.Join(dir, file), store.NamespaceClinical)
		if !ok {
			t.Fatalf("ingest %s", file)
		}
		in, _ := e.cat.InstancesBySOP(t.Context(), "clinical", sop)
		last = in[len(in)-1]
		p := fmt.Sprintf("/dicom-web/studies/%s/series/%s/instances/%s/frames/%s", last.StudyInstanceUID, last.SeriesInstanceUID, sop, list)
		resp, body := e.get(p, "Accept", accept)
		if resp.StatusCode != 200 {
			return nil, nil, resp.StatusCode
		}
		b, ty := readMultipart(t, resp, body)
		return b, ty, 200
	}
	fb, _, code := frames("OBXXXX1A_2frame.dcm", "1,2", `multipart/related; type="application/octet-stream"`)
	if code != 200 || len(fb) != 2 || len(fb[0]) != last.Rows*last.Columns /* 8-bit monochrome */ || bytes.Equal(fb[0], fb[1]) {
		t.Errorf("native frames: %d %d", code, len(fb))
	}
	fb, ty, code := frames("IM00001_acuson_mf_jpeg_baseline.dcm", "1,8", `multipart/related; type="application/octet-stream"; transfer-syntax=*`)
	if code != 200 || len(fb) != 2 || !bytes.HasPrefix(fb[0], []byte{0xFF, 0xD8}) || !bytes.HasPrefix(fb[1], []byte{0xFF, 0xD8}) ||
		!strings.HasPrefix(ty[0], "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50") {
		t.Errorf("JPEG frames: %d %d %v", code, len(fb), ty)
	}
	if _, _, code := frames("IM00001_acuson_mf_jpeg_baseline.dcm", "1", `multipart/related; type="application/octet-stream"`); code != 406 {
		t.Errorf("decompression request: %d, want 406", code)
	}
	if _, _, code := frames("IM00001_acuson_mf_jpeg_baseline.dcm", "9", `multipart/related; type="image/jpeg"`); code != 404 {
		t.Errorf("frame 9 of 8: %d", code)
	}
	fb, _, code = frames("Issue164_ge_voluson_mf_jpeg.dcm", "1,87", `multipart/related; type="image/jpeg"`)
	if code != 200 || len(fb) != 2 || !bytes.HasSuffix(bytes.TrimRight(fb[1], "\x00"), []byte{0xFF, 0xD9}) {
		t.Errorf("GE multi-frame JPEG: %d %d", code, len(fb))
	}

	// Metadata: full header, pixel data as BulkDataURI that resolves.
	e.ingestFile(filepath.Join(dir, "YBR_FULL-RLE_acuson_sequoia.dcm"), store.NamespaceClinical)
	resp, body = e.get("/dicom-web/studies/"+stDoe+"/metadata", "Accept", "application/dicom+json")
	var md []map[string]jsonAttr
	if err := json.Unmarshal(body, &md); err != nil || len(md) != 1 {
		t.Fatalf("metadata: %v %s", err, body)
	}
	bulk := md[0]["7FE00010"].BulkDataURI
	if md[0]["00280010"].VR != "US" || bulk == "" {
		t.Fatalf("metadata lacks Rows or pixel BulkDataURI: %v", md[0]["7FE00010"])
	}
	u, _ := url.Parse(bulk)
	resp, body = e.get(u.Path, "Accept", "multipart/related; type=\"image/dicom-rle\"")
	if pb, _ := readMultipart(t, resp, body); resp.StatusCode != 200 || len(pb) == 0 {
		t.Errorf("bulk data %s: %d", bulk, resp.StatusCode)
	}
}

// multipartBody builds a STOW-RS body from parts (content type, bytes).
func multipartBody(boundary string, parts ...[2]string) []byte {
	var b bytes.Buffer
	b.WriteString("preamble to ignore\r\n")
	for _, p := range parts {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s\r\n\r\n%s\r\n", boundary, p[0], p[1])
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes()
}

func (e *env) post(path, ctype string, body []byte, hdr ...string) (*http.Response, map[string]jsonAttr, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.http.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", "application/dicom+json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	var obj map[string]jsonAttr
	json.Unmarshal(buf.Bytes(), &obj)
	return resp, obj, buf.Bytes()
}

func seqItems(a jsonAttr) []map[string]jsonAttr {
	var out []map[string]jsonAttr
	for _, v := range a.Value {
		var m map[string]jsonAttr
		json.Unmarshal(v, &m)
		out = append(out, m)
	}
	return out
}

func TestSTOWPerPartFailures(t *testing.T) {
	e := newEnv(t, config.Auth{})
	dir := testenv.SharedTestdata(t, "dicom/ultrasound")
	good, _ := os.ReadFile(filepath.Join(dir, "US1_UNCR.dcm"))
	other, _ := os.ReadFile(filepath.Join(dir, "YBR_FULL-RLE_acuson_sequoia.dcm"))
	junk := make([]byte, 100)
	rand.Read(junk)
	truncated := good[:len(good)-5000]
	// Wrong SOP class: the meta says Ultrasound Multi-frame, the data set Ultrasound.
	wrongClass := bytes.Replace(append([]byte(nil), other...), []byte("1.2.840.10008.5.1.4.1.1.6.1\x00"), []byte("1.2.840.10008.5.1.4.1.1.3.1\x00"), 1)
	body := multipartBody("abc",
		[2]string{"application/dicom", string(good)},
		[2]string{"application/dicom", string(junk)},
		[2]string{"application/dicom", string(truncated)},
		[2]string{"application/dicom", string(wrongClass)},
		[2]string{"application/dicom", string(other)},
	)
	resp, obj, raw := e.post("/dicom-web/studies/"+stUS1a, `multipart/related; type="application/dicom"; boundary="abc"`, body)
	if resp.StatusCode != 202 {
		t.Fatalf("status %d %s", resp.StatusCode, raw)
	}
	refs := seqItems(obj["00081199"])
	fails := seqItems(obj["00081198"])
	if len(refs) != 1 || refs[0]["00081155"].str(0) != "1.3.6.1.4.1.5962.1.1.13.1.1.20040826185059.5457" || !strings.HasSuffix(refs[0]["00081190"].str(0), "/instances/1.3.6.1.4.1.5962.1.1.13.1.1.20040826185059.5457") {
		t.Errorf("referenced: %s", raw)
	}
	reasons := []string{}
	for _, f := range fails {
		reasons = append(reasons, string(f["00081197"].Value[0]))
	}
	// junk and truncated: 0xC000; wrong class and study mismatch: 0xA900.
	if fmt.Sprint(reasons) != fmt.Sprint([]string{"49152", "49152", "43264", "43264"}) {
		t.Errorf("failure reasons %v: %s", reasons, raw)
	}
	if objs := e.search("/dicom-web/instances"); len(objs) != 1 {
		t.Errorf("%d instances stored, want 1", len(objs))
	}
	// None stored: 409.
	resp, _, raw = e.post("/dicom-web/studies", `multipart/related; type=application/dicom; boundary=abc`, multipartBody("abc", [2]string{"application/dicom", string(junk)}))
	if resp.StatusCode != 409 {
		t.Errorf("all failed: %d %s", resp.StatusCode, raw)
	}
	// Not multipart: 415; DICOM JSON parts: 415; no boundary: 400.
	if resp, _, _ := e.post("/dicom-web/studies", "application/dicom", good); resp.StatusCode != 415 {
		t.Errorf("bare application/dicom: %d", resp.StatusCode)
	}
	if resp, _, _ := e.post("/dicom-web/studies", `multipart/related; type="application/dicom+json"; boundary=abc`, body); resp.StatusCode != 415 {
		t.Errorf("DICOM JSON: %d", resp.StatusCode)
	}
	if resp, _, _ := e.post("/dicom-web/studies", `multipart/related; type="application/dicom"`, body); resp.StatusCode != 400 {
		t.Errorf("no boundary: %d", resp.StatusCode)
	}
}

// TestSTOWHeaderForms is field failure B28: quoting, case, order, LF line
// ends, transport padding and a missing close delimiter.
func TestSTOWHeaderForms(t *testing.T) {
	e := newEnv(t, config.Auth{})
	dir := testenv.SharedTestdata(t, "dicom/ultrasound")
	good, _ := os.ReadFile(filepath.Join(dir, "JPGLosslessP14SV1_1s_1f_8b.dcm"))
	crlf := multipartBody("abc", [2]string{"application/dicom; transfer-syntax=1.2.840.10008.1.2.4.70", string(good)})
	lf := []byte("--abc\nContent-Type: application/dicom\n\n" + string(good) + "\n--abc--\n")
	padded := []byte("--abc  \r\nContent-Type: application/dicom\r\n\r\n" + string(good) + "\r\n--abc--  \r\n")
	noClose := []byte("--abc\r\nContent-Type: application/dicom\r\n\r\n" + string(good) + "\r\n")
	noType := []byte("--abc\r\n\r\n" + string(good) + "\r\n--abc--\r\n")
	for _, c := range []struct {
		ctype string
		body  []byte
	}{
		{"multipart/related; type=application/dicom; boundary=abc", crlf},
		{`multipart/related; type="application/dicom"; boundary="abc"`, crlf},
		{"multipart/related;boundary=abc", crlf},
		{`Multipart/Related; Boundary=abc; type="application/dicom"`, crlf},
		{"multipart/related; type=application/dicom; boundary=abc", lf},
		{"multipart/related; type=application/dicom; boundary=abc", padded},
		{"multipart/related; type=application/dicom; boundary=abc", noClose},
		{"multipart/related; type=application/dicom; boundary=abc", noType},
	} {
		resp, obj, raw := e.post("/dicom-web/studies", c.ctype, c.body)
		if resp.StatusCode != 200 || len(seqItems(obj["00081199"])) != 1 {
			t.Errorf("%q (%d bytes): %d %s", c.ctype, len(c.body), resp.StatusCode, raw)
		}
	}
}

func TestAuthAndNamespaces(t *testing.T) {
	auth := config.Auth{Tokens: []config.Token{
		{Name: "pacs", Token: "clin-secret", Scopes: []string{"clinical"}},
		{Name: "lab", Token: "res-secret", Scopes: []string{"research"}},
	}}
	e := newEnv(t, auth)
	e.loadCorpus()
	// Research namespace: one de-identified-looking instance with new UIDs.
	dir := testenv.SharedTestdata(t, "dicom/ultrasound")
	src, _ := os.ReadFile(filepath.Join(dir, "US-RGB-8-esopecho.dcm"))
	deid := bytes.ReplaceAll(src, []byte("999.999.2.19941105.112000"), []byte("2.25.9999.19941105.112000"))
	p := filepath.Join(t.TempDir(), "deid.dcm")
	os.WriteFile(p, deid, 0o644)
	resSOP, ok := e.ingestFile(p, store.NamespaceResearch)
	if !ok {
		t.Fatal("research ingest failed")
	}
	bearer := func(tok string) []string {
		return []string{"Accept", "application/dicom+json", "Authorization", "Bearer " + tok}
	}
	if resp, _ := e.get("/dicom-web/studies", "Accept", "application/dicom+json"); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	if resp, _ := e.get("/dicom-web/studies", bearer("wrong")...); resp.StatusCode != 401 {
		t.Errorf("bad token: %d", resp.StatusCode)
	}
	if resp, _ := e.get("/dicom-web/studies", bearer("res-secret")...); resp.StatusCode != 403 {
		t.Errorf("research token on clinical: %d", resp.StatusCode)
	}
	if resp, _ := e.get("/dicom-web/studies/"+stOB, bearer("res-secret")...); resp.StatusCode != 403 {
		t.Errorf("research token retrieving clinical: %d", resp.StatusCode)
	}
	if resp, _, _ := e.post("/research/dicom-web/studies", "multipart/related; boundary=a", nil, "Authorization", "Bearer res-secret"); resp.StatusCode != 405 {
		t.Errorf("STOW into research: %d", resp.StatusCode)
	}
	resp, body := e.get("/research/dicom-web/instances", bearer("res-secret")...)
	if resp.StatusCode != 200 {
		t.Fatalf("research search: %d", resp.StatusCode)
	}
	var objs []map[string]jsonAttr
	json.Unmarshal(body, &objs)
	if len(objs) != 1 || objs[0]["00080018"].str(0) != resSOP {
		t.Errorf("research namespace lists %d instances", len(objs))
	}
	// No clinical identifier appears anywhere in research answers.
	for _, path := range []string{"/research/dicom-web/studies", "/research/dicom-web/series", "/research/dicom-web/studies?PatientName=*",
		"/research/dicom-web/studies?StudyInstanceUID=999.999.2.19941105.112000"} {
		_, b := e.get(path, bearer("res-secret")...)
		for _, id := range []string{"999.999.2.19941105.112000", "13US1", "H31EXAMPLE", "Yamada", "DOE^JOHN", stOB} {
			if bytes.Contains(b, []byte(id)) {
				t.Errorf("%s leaks %s", path, id)
			}
		}
	}
	if resp, _ := e.get("/research/dicom-web/studies/"+stOB, bearer("res-secret")...); resp.StatusCode != 404 {
		t.Errorf("clinical study through research: %d", resp.StatusCode)
	}
	if resp, _ := e.get("/dicom-web/studies", bearer("clin-secret")...); resp.StatusCode != 200 {
		t.Errorf("clinical token: %d", resp.StatusCode)
	}
	time.Sleep(50 * time.Millisecond) // the audit entry is written after the response
	if !strings.Contains(e.logs.String(), `"component":"audit"`) || !strings.Contains(e.logs.String(), `"who":"pacs"`) {
		t.Errorf("no audit entries: %s", e.logs.String())
	}
	if strings.Contains(e.logs.String(), "clin-secret") || strings.Contains(e.logs.String(), "Yamada") {
		t.Errorf("secrets or names in logs")
	}
}

func TestOpenLoopbackMode(t *testing.T) {
	e := newEnv(t, config.Auth{})
	if !strings.Contains(e.logs.String(), "open access for loopback") {
		t.Errorf("open mode not announced: %s", e.logs.String())
	}
	if resp, _ := e.get("/dicom-web/studies", "Accept", "application/dicom+json"); resp.StatusCode != 200 {
		t.Errorf("loopback without token: %d", resp.StatusCode)
	}
	mux := http.NewServeMux()
	e.srv.Register(mux)
	req := httptest.NewRequest("GET", "/dicom-web/studies", nil)
	req.RemoteAddr = "192.0.2.7:5555"
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Errorf("remote client without tokens configured: %d", rec.Code)
	}
}

func TestParseMediaTypeForms(t *testing.T) {
	for in, want := range map[string]string{
		`multipart/related; type=application/dicom; boundary=abc`:           "multipart/related application/dicom abc",
		`Multipart/Related; Boundary="a;b"; TYPE="application/dicom"`:       "multipart/related application/dicom a;b",
		`multipart/related;boundary=abc`:                                    "multipart/related  abc",
		`multipart/related; type="application/dicom"; boundary="x\"y"; q=1`: `multipart/related application/dicom x"y`,
	} {
		m := parseMediaType(in)
		if got := m.Type + " " + m.Params["type"] + " " + m.Params["boundary"]; got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
	_ = dcm.TagPatientName
}
