//go:build linux

package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/dimse"
	"github.com/sonogate/sonogate/internal/testenv"
	"github.com/sonogate/sonogate/node"
)

// hostileName is what a modality could put in Patient Name. If the page
// ever parsed data as HTML, <b> and <script> elements would appear in the
// DOM. (No "=": that separates PN component groups.)
const hostileName = `<b>Evil</b><script>alert(1)</script>^Hacker`

// startNode runs a node on loopback ports with a folder destination that
// works and a DIMSE destination nobody listens on (one attempt, so its
// jobs go to the dead letter at once).
func startNode(t *testing.T, mutate func(*config.Config)) *node.Node {
	t.Helper()
	cfg := config.Default()
	cfg.Node.DIMSEListen = "127.0.0.1:0"
	cfg.Node.HTTPListen = "127.0.0.1:0"
	cfg.Node.DataDir = t.TempDir()
	cfg.Node.Catalog.DSN = filepath.Join(cfg.Node.DataDir, "catalog.db")
	cfg.Destinations = []config.Destination{
		{Name: "archive", Folder: &config.FolderDest{Path: t.TempDir()}},
		{Name: "pacs", MaxAttempts: 1, DIMSE: &config.DIMSEDest{AETitle: "PACS", Host: "127.0.0.1", Port: testenv.FreePort(t), CallingAE: "SONOGATE"}},
	}
	cfg.Rules = []config.Rule{{Name: "everything", Send: []string{"archive", "pacs"}}}
	if mutate != nil {
		mutate(&cfg)
	}
	n, err := node.New(context.Background(), cfg, nil)
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

// store sends one data set with C-STORE and requires success.
func store(t *testing.T, n *node.Node, sopClass, sopInstance string, ts dcm.TransferSyntax, data io.Reader) {
	t.Helper()
	ctx := context.Background()
	a, err := dimse.Dial(ctx, n.DIMSEAddr().String(), dimse.ClientConfig{CallingAE: "US01", CalledAE: "SONOGATE"},
		[]dimse.PresentationContextRequest{{AbstractSyntax: sopClass, TransferSyntaxes: []string{ts.UID}}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	resp, err := a.Store(ctx, sopClass, sopInstance, ts.UID, data)
	if err != nil || !resp.Status.IsSuccess() {
		t.Fatalf("store %s: %v %v", sopInstance, resp.Status, err)
	}
}

func storeFile(t *testing.T, n *node.Node, path string) {
	t.Helper()
	f, fh := openDataSet(t, path)
	defer fh.Close()
	store(t, n, f.Meta.MediaStorageSOPClassUID, f.Meta.MediaStorageSOPInstanceUID, f.Syntax, bufio.NewReader(fh))
}

// openDataSet reads a Part 10 file's meta and returns it with the file
// positioned at its data set; the caller closes it.
func openDataSet(t *testing.T, path string) (dcm.File, *os.File) {
	t.Helper()
	f, err := dcm.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.Seek(f.DataOffset, io.SeekStart); err != nil {
		fh.Close()
		t.Fatal(err)
	}
	return f, fh
}

// storeHostile sends a copy of path with new UIDs and the given patient
// name and ID.
func storeHostile(t *testing.T, n *node.Node, path, name, id string) {
	t.Helper()
	f, fh := openDataSet(t, path)
	defer fh.Close()
	ds, err := dcm.Parse(bufio.NewReader(fh), f.Syntax, dcm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sop := "2.25.1000000000000000000000000000000001"
	set := map[dcm.Tag]string{
		dcm.NewTag(0x0010, 0x0010): name,
		dcm.NewTag(0x0010, 0x0020): id,
		dcm.NewTag(0x0008, 0x0018): sop,
		dcm.NewTag(0x0020, 0x000D): "2.25.1000000000000000000000000000000002",
		dcm.NewTag(0x0020, 0x000E): "2.25.1000000000000000000000000000000003",
	}
	for tag, v := range set {
		e := ds.Find(tag)
		if e == nil {
			t.Fatalf("%s: no %v", path, tag)
		}
		if len(v)%2 == 1 {
			if e.VR == dcm.UI {
				v += "\x00"
			} else {
				v += " "
			}
		}
		e.Value, e.Length = []byte(v), uint32(len(v))
	}
	var buf bytes.Buffer
	w := dcm.NewWriter(&buf, f.Syntax)
	w.WriteDataset(ds)
	if w.Err() != nil {
		t.Fatal(w.Err())
	}
	store(t, n, f.Meta.MediaStorageSOPClassUID, sop, f.Syntax, &buf)
}

// waitQueue waits until the queue API shows want (destination → state → count).
func waitQueue(t *testing.T, n *node.Node, want map[string]map[string]int64) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + n.HTTPAddr().String() + "/api/queue?limit=1")
		if err != nil {
			t.Fatal(err)
		}
		var q struct {
			Destinations []struct {
				Destination string           `json:"destination"`
				Counts      map[string]int64 `json:"counts"`
			} `json:"destinations"`
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = string(b)
		if json.Unmarshal(b, &q) != nil {
			continue
		}
		ok := len(q.Destinations) == len(want)
		for _, d := range q.Destinations {
			for s, c := range want[d.Destination] {
				ok = ok && d.Counts[s] == c
			}
		}
		if ok {
			return
		}
	}
	t.Fatalf("queue never reached %v: %s", want, last)
}

// chromium runs headless Chromium with args and returns its stdout. The
// browser gets its own process group, killed afterwards, so no renderer
// or zygote outlives the test.
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	bin := testenv.RequireTool(t, "chromium")
	home := t.TempDir()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--user-data-dir=" + filepath.Join(home, "profile"), "--virtual-time-budget=5000", "--window-size=1400,1000"}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_CACHE_HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // stragglers of the group, if any
	}
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// checkPNG decodes a screenshot and requires a real rendering: the right
// size and many colours (a blank or error page has a handful).
func checkPNG(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	colours := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r >> 8, g >> 8, bl >> 8, a >> 8}] = true
		}
	}
	t.Logf("screenshot %s: %d bytes, %v, %d colours", path, fi.Size(), b.Size(), len(colours))
	if fi.Size() < 20000 || b.Dx() != 1400 || b.Dy() != 1000 || len(colours) < 50 {
		t.Errorf("%s looks trivial: %d bytes, %v, %d colours", path, fi.Size(), b.Size(), len(colours))
	}
	if dir := os.Getenv("SONOGATE_WEB_SCREENSHOTS"); dir != "" {
		b, _ := os.ReadFile(path)
		os.WriteFile(filepath.Join(dir, filepath.Base(path)), b, 0o644)
	}
}

// The dashboard, rendered by a real browser against a running node, shows
// the Chinese patient name in UTF-8, the queue counts, the dead letters and
// the elastography values, and puts a hostile name in as text.
func TestBrowserDashboard(t *testing.T) {
	testenv.RequireTool(t, "chromium")
	n := startNode(t, nil)
	us := testenv.SharedTestdata(t, "dicom/ultrasound")
	cs := testenv.SharedTestdata(t, "dicom/charset")
	storeFile(t, n, filepath.Join(cs, "chrX1.dcm"))
	storeFile(t, n, filepath.Join(us, "OBXXXX1A.dcm"))
	storeHostile(t, n, filepath.Join(cs, "chrX1.dcm"), hostileName, "EVIL-1")
	for _, f := range []string{"std_elastpq_reliable.dcm", "std_elastpq_unreliable.dcm"} {
		storeFile(t, n, filepath.Join("..", "elastography", "testdata", f))
	}
	waitQueue(t, n, map[string]map[string]int64{"archive": {"done": 5}, "pacs": {"dead": 5}})

	base := "http://" + n.HTTPAddr().String()
	dom := string(chromium(t, "--dump-dom", base+"/"))
	if !strings.Contains(dom, `id="queue-updated">updated`) {
		t.Fatalf("the page did not load its data:\n%s", dom)
	}
	mustContain := func(what, s string) {
		t.Helper()
		if !strings.Contains(dom, s) {
			t.Errorf("%s: DOM lacks %q", what, s)
		}
	}
	mustMatch := func(what, re string) {
		t.Helper()
		if !regexp.MustCompile(re).MatchString(dom) {
			t.Errorf("%s: DOM does not match %s", what, re)
		}
	}

	// Studies: the X1 name's ideographic group in UTF-8, the alphabetic one
	// beside it, the raw value in the title.
	mustContain("ideographic name", `<span class="pn-ideo">王 小東</span>`)
	mustContain("alphabetic name", `<span class="pn-alt">Wang XiaoDong</span>`)
	mustContain("raw PN", `title="Wang^XiaoDong=王^小東"`)
	mustContain("patient ID", `<td>X1EXAMPLE</td>`)
	mustContain("US study", `<td>11-05-25-142825</td>`)
	if c := strings.Count(dom, "<tr data-study="); c != 5 {
		t.Errorf("%d study rows, want 5", c)
	}
	mustContain("no more-results note for 5 studies", `<p id="study-more" class="banner info" hidden="">`)

	// The hostile name is text: escaped in the serialization, no element.
	mustContain("hostile name as text", `<span class="pn-ideo">&lt;b&gt;Evil&lt;/b&gt;&lt;script&gt;alert(1)&lt;/script&gt; Hacker</span>`)
	if strings.Contains(dom, "<b>") || strings.Contains(dom, "<script>alert") {
		t.Errorf("a patient name became markup:\n%s", dom)
	}

	// Queues: counts per destination and state.
	mustMatch("archive counts", `<tr data-destination="archive"><td>archive</td><td class="num" data-state="pending">0</td><td class="num" data-state="inflight">0</td><td class="num" data-state="done">5</td><td class="num" data-state="dead">0</td>`)
	mustMatch("pacs counts", `<tr data-destination="pacs"><td>pacs</td><td class="num" data-state="pending">0</td><td class="num" data-state="inflight">0</td><td class="num" data-state="done">0</td><td class="num dead" data-state="dead">5</td>`)
	mustContain("dead letter count", `<span id="dead-count" class="count">(5)</span>`)
	if c := strings.Count(dom, `<button class="retry" type="button">Retry</button>`); c != 5 {
		t.Errorf("%d retry buttons, want 5", c)
	}
	mustMatch("dead letter reason", `<td class="reason">[^<]*connection refused`)
	mustContain("empty quarantine", `<span id="quarantine-count" class="count">(0)</span>`)

	// Elastography: values, reliability, staging with its disclaimer, links.
	mustMatch("reliable report", `<tr class="" data-report="\d+"><td class="date">2024-03-15</td><td>FX-std_elastpq_reliable</td><td>pSWE</td><td>liver</td><td>[^<]*</td><td class="num median">7.12</td><td class="num">0.83</td><td class="num">11.6</td><td class="num">10 / 10</td><td><span class="yes">yes</span></td>`)
	mustMatch("unreliable report", `<tr class="unreliable" data-report="\d+"><td class="date">2024-03-15</td><td>FX-std_elastpq_unreliable</td>.*?<td class="num median">7.2</td><td class="num">2.55</td><td class="num">35.4</td>.*?<span class="no">no</span><span class="flags">IQRM_GT_30_KPA`)
	mustContain("staging text", "in the absence of other known clinical signs, rules out cACLD")
	mustContain("disclaimer", "SRU-2020-ARFI · not clinical advice")
	mustMatch("FHIR link", `<a href="/api/elastography/reports/\d+/fhir" target="_blank" rel="noopener" download="report-\d+.fhir.json">FHIR</a>`)
	mustContain("CSV link", `href="/api/elastography/reports?format=csv&amp;limit=10000"`)
	mustMatch("chart point, reliable", `<circle [^>]*data-kpa="7.12" data-reliable="true"`)
	mustMatch("chart point, unreliable", `<circle [^>]*data-kpa="7.2" data-reliable="false"`)
	for _, k := range []string{">5<", ">9<", ">13<", ">17<"} {
		mustMatch("cut-off "+k, `class="axis">`+strings.Trim(k, "<>")+`</text>`)
	}
	mustContain("health", `class="badge ok"`)
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}

	dir := t.TempDir()
	for _, tab := range []string{"queues", "studies", "elastography"} {
		p := filepath.Join(dir, "dashboard-"+tab+".png")
		chromium(t, "--screenshot="+p, "--hide-scrollbars", base+"/#"+tab)
		checkPNG(t, p)
	}
}

// With auth tokens configured and no token in the page, the APIs answer
// 401 and the page says a token is needed instead of showing data.
func TestBrowserNeedsToken(t *testing.T) {
	testenv.RequireTool(t, "chromium")
	n := startNode(t, func(c *config.Config) {
		c.Auth.Tokens = []config.Token{{Name: "ops", Token: "s3cret-token-for-the-dashboard", Scopes: []string{"admin"}}}
	})
	storeFile(t, n, filepath.Join(testenv.SharedTestdata(t, "dicom/charset"), "chrX1.dcm"))
	dom := string(chromium(t, "--dump-dom", fmt.Sprintf("http://%s/", n.HTTPAddr())))
	if !strings.Contains(dom, "This node requires a bearer token") || strings.Contains(dom, "小東") || strings.Contains(dom, `id="banner" class="banner" hidden`) {
		t.Errorf("token-less page:\n%s", dom)
	}
}
