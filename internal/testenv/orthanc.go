package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Paths of the Debian orthanc and orthanc-dicomweb packages.
const (
	OrthancBinary   = "/usr/sbin/Orthanc"
	DicomWebPlugin  = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
	orthancStartMax = 60 * time.Second
)

// Modality is a remote AE Orthanc knows (its DicomModalities entry), needed
// for Orthanc to C-STORE or C-MOVE to it.
type Modality struct {
	AET  string
	Host string
	Port int
}

// OrthancOptions configures StartOrthanc.
type OrthancOptions struct {
	// AET is Orthanc's AE title; default "ORTHANC".
	AET string
	// DicomWeb loads the DICOMweb plugin, rooted at /dicom-web/.
	DicomWeb bool
	// Modalities are written to DicomModalities, keyed by symbolic name.
	Modalities map[string]Modality
	// Extra members are merged into the JSON configuration last.
	Extra map[string]any
}

// Orthanc is an Orthanc server private to one test: its own configuration,
// storage and index under t.TempDir(), HTTP and DICOM on free loopback
// ports, no authentication.
type Orthanc struct {
	aet       string
	bin       string
	dir       string
	config    string
	logPath   string
	httpPort  int
	dicomPort int

	mu   sync.Mutex
	proc *process
}

// StartOrthanc starts Orthanc and waits until GET /system answers and the
// DICOM port accepts connections. t.Cleanup stops it. When Orthanc (or the
// DICOMweb plugin, if asked for) is missing the test fails under CI and is
// skipped loudly otherwise.
func StartOrthanc(t testing.TB, opt OrthancOptions) *Orthanc {
	t.Helper()
	bin := RequireTool(t, OrthancBinary)
	if opt.DicomWeb {
		RequireFile(t, DicomWebPlugin)
	}
	if opt.AET == "" {
		opt.AET = "ORTHANC"
	}
	dir := t.TempDir()
	o := &Orthanc{
		aet:       opt.AET,
		bin:       bin,
		dir:       dir,
		config:    filepath.Join(dir, "orthanc.json"),
		logPath:   filepath.Join(dir, "orthanc.log"),
		httpPort:  FreePort(t),
		dicomPort: FreePort(t),
	}
	storage := filepath.Join(dir, "storage")
	if err := os.MkdirAll(storage, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{
		"Name":                    "sonogate-test-" + opt.AET,
		"StorageDirectory":        storage,
		"IndexDirectory":          storage,
		"HttpServerEnabled":       true,
		"HttpPort":                o.httpPort,
		"RemoteAccessAllowed":     false,
		"AuthenticationEnabled":   false,
		"OrthancExplorerEnabled":  false,
		"WebDavEnabled":           false,
		"DicomServerEnabled":      true,
		"DicomAet":                opt.AET,
		"DicomPort":               o.dicomPort,
		"DicomCheckCalledAet":     false,
		"DicomAlwaysAllowStore":   true,
		"DicomAlwaysAllowEcho":    true,
		"UnknownSopClassAccepted": true,
		"SaveJobs":                false,
		"Plugins":                 []string{},
	}
	if opt.DicomWeb {
		cfg["Plugins"] = []string{DicomWebPlugin}
		cfg["DicomWeb"] = map[string]any{
			"Enable": true, "Root": "/dicom-web/", "EnableWado": true, "WadoRoot": "/wado",
			"Host": fmt.Sprintf("127.0.0.1:%d", o.httpPort), "Ssl": false,
		}
	}
	if len(opt.Modalities) > 0 {
		mods := map[string]any{}
		for name, m := range opt.Modalities {
			mods[name] = []any{m.AET, m.Host, m.Port}
		}
		cfg["DicomModalities"] = mods
	}
	for k, v := range opt.Extra {
		cfg[k] = v
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(o.config, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Stop)
	dumpLogOnFailure(t, "Orthanc", o.logPath)
	o.Start(t)
	return o
}

// Start (re)starts Orthanc on the same ports, configuration and storage,
// e.g. after Stop in an outage test. It is a no-op while Orthanc runs.
func (o *Orthanc) Start(t testing.TB) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.proc != nil && !o.proc.exited() {
		return
	}
	p, err := startProcess("Orthanc", o.logPath, o.bin, []string{o.config}, []string{"TCP_NODELAY=1"})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	o.proc = p
	deadline := time.Now().Add(orthancStartMax)
	for {
		if p.exited() {
			t.Fatalf("testenv: Orthanc exited during start-up; log:\n%s", logTail(o.logPath, 8<<10))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		code, _, err := o.TryGet(ctx, "/system")
		cancel()
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			p.stop(5 * time.Second)
			t.Fatalf("testenv: Orthanc did not answer GET /system within %s (last: %d %v); log:\n%s",
				orthancStartMax, code, err, logTail(o.logPath, 8<<10))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := waitTCP(o.DicomAddr(), 30*time.Second, p.done); err != nil {
		p.stop(5 * time.Second)
		t.Fatalf("testenv: Orthanc DICOM port: %v; log:\n%s", err, logTail(o.logPath, 8<<10))
	}
}

// Stop stops Orthanc (SIGTERM, SIGKILL after 20 s) and waits for it.
// Storage is kept; Start brings the same server back.
func (o *Orthanc) Stop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.proc != nil {
		o.proc.stop(20 * time.Second)
	}
}

// Running reports whether the Orthanc process is alive.
func (o *Orthanc) Running() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.proc != nil && !o.proc.exited()
}

// URL is the HTTP base URL, e.g. http://127.0.0.1:23456 (no trailing slash).
func (o *Orthanc) URL() string { return "http://127.0.0.1:" + strconv.Itoa(o.httpPort) }

// DicomWebURL is the DICOMweb root (plugin enabled with DicomWeb: true).
func (o *Orthanc) DicomWebURL() string { return o.URL() + "/dicom-web" }

// AET is Orthanc's AE title.
func (o *Orthanc) AET() string { return o.aet }

// DicomPort is Orthanc's DICOM port on 127.0.0.1.
func (o *Orthanc) DicomPort() int { return o.dicomPort }

// HTTPPort is Orthanc's HTTP port on 127.0.0.1.
func (o *Orthanc) HTTPPort() int { return o.httpPort }

// DicomAddr is "127.0.0.1:<DicomPort>".
func (o *Orthanc) DicomAddr() string { return "127.0.0.1:" + strconv.Itoa(o.dicomPort) }

// Dir is the server's private directory (configuration, log, storage).
func (o *Orthanc) Dir() string { return o.dir }

// Log returns the log so far.
func (o *Orthanc) Log() string { return logTail(o.logPath, 1<<20) }

// TryGet performs GET URL()+path and returns the status and body; it does
// not fail the test, for polling and outage checks.
func (o *Orthanc) TryGet(ctx context.Context, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.URL()+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	return resp.StatusCode, b, err
}

// Get performs GET URL()+path and returns the body; the test fails unless
// the status is 200.
func (o *Orthanc) Get(t testing.TB, path string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code, b, err := o.TryGet(ctx, path)
	if err != nil {
		t.Fatalf("testenv: Orthanc GET %s: %v", path, err)
	}
	if code != http.StatusOK {
		t.Fatalf("testenv: Orthanc GET %s: status %d: %s", path, code, b)
	}
	return b
}

// GetJSON is Get decoding the JSON body into v.
func (o *Orthanc) GetJSON(t testing.TB, path string, v any) {
	t.Helper()
	b := o.Get(t, path)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("testenv: Orthanc GET %s: bad JSON: %v: %.200s", path, err, b)
	}
}

// Instances returns the SOP Instance UIDs Orthanc stores, sorted.
func (o *Orthanc) Instances(t testing.TB) []string {
	t.Helper()
	var list []struct {
		MainDicomTags struct {
			SOPInstanceUID string
		}
	}
	o.GetJSON(t, "/instances?expand", &list)
	uids := make([]string, 0, len(list))
	for _, in := range list {
		uids = append(uids, in.MainDicomTags.SOPInstanceUID)
	}
	sort.Strings(uids)
	return uids
}

// CountInstances returns the number of stored instances.
func (o *Orthanc) CountInstances(t testing.TB) int {
	t.Helper()
	var ids []string
	o.GetJSON(t, "/instances", &ids)
	return len(ids)
}

// WaitInstances polls until Orthanc stores at least n instances and returns
// their SOP Instance UIDs; the test fails after timeout.
func (o *Orthanc) WaitInstances(t testing.TB, n int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := o.CountInstances(t)
		if got >= n {
			return o.Instances(t)
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: Orthanc has %d instances after %s, want %d", got, timeout, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
