package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/internal/testenv"
)

// Sonogate is a `sonogate serve` subprocess private to one test, on free
// loopback ports. Stop, Kill and Start (again) keep the ports, the working
// directory, the configuration and the data directory, so a test can
// restart the same gateway; t.Cleanup kills it.
type Sonogate struct {
	Dir        string // working directory of the process
	DataDir    string // data directory ("" when the defaults choose it)
	ConfigPath string // "" when serve runs without --config
	DIMSEPort  int
	HTTPPort   int
	AETitle    string

	bin     string
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current process has exited
	exitErr error
	starts  int
}

// SonogateOptions configures StartSonogate.
type SonogateOptions struct {
	// Config is the YAML configuration written to sonogate.yaml in the
	// working directory; "" runs serve without --config (embedded
	// defaults). The listen addresses are always overridden on the command
	// line with free ports.
	Config string
	// DefaultDataDir leaves the data directory to the configuration or the
	// defaults (./sonogate-data in the working directory); otherwise
	// --data-dir points at a private directory.
	DefaultDataDir bool
}

// StartSonogate starts sonogate serve and waits until /readyz answers 200.
func StartSonogate(t testing.TB, opt SonogateOptions) *Sonogate {
	t.Helper()
	bin := sonogateBinary(t)
	dir := t.TempDir()
	s := &Sonogate{
		Dir:       dir,
		DIMSEPort: testenv.FreePort(t),
		HTTPPort:  testenv.FreePort(t),
		AETitle:   "SONOGATE",
		bin:       bin,
		logPath:   filepath.Join(dir, "sonogate.log"),
	}
	if !opt.DefaultDataDir {
		s.DataDir = filepath.Join(dir, "data")
	}
	if opt.Config != "" {
		s.ConfigPath = filepath.Join(dir, "sonogate.yaml")
		if err := os.WriteFile(s.ConfigPath, []byte(opt.Config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("sonogate log (%s), last lines:\n%s", s.logPath, tail(s.Log(), 60))
		}
	})
	s.Start(t)
	return s
}

// Start (re)starts the process on the same ports, configuration and data
// directory and waits until it is ready. It is a no-op while it runs.
func (s *Sonogate) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	if s.cmd != nil && !s.exitedLocked() {
		s.mu.Unlock()
		return
	}
	args := []string{"serve",
		"--dimse-listen", fmt.Sprintf("127.0.0.1:%d", s.DIMSEPort),
		"--http-listen", fmt.Sprintf("127.0.0.1:%d", s.HTTPPort),
		"--log-format", "text", "--log-level", "debug"}
	if s.ConfigPath != "" {
		args = append(args, "--config", s.ConfigPath)
	}
	if s.DataDir != "" {
		args = append(args, "--data-dir", s.DataDir)
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.mu.Unlock()
		t.Fatal(err)
	}
	s.starts++
	fmt.Fprintf(logf, "==== e2e: start #%d: %s %s\n", s.starts, s.bin, strings.Join(args, " "))
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.mu.Unlock()
		t.Fatalf("start sonogate: %v", err)
	}
	done := make(chan struct{})
	s.cmd, s.done, s.exitErr = cmd, done, nil
	go func() {
		err := cmd.Wait()
		logf.Close()
		s.mu.Lock()
		s.exitErr = err
		s.mu.Unlock()
		close(done)
	}()
	s.mu.Unlock()
	s.waitReady(t, 30*time.Second)
}

func (s *Sonogate) exitedLocked() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// waitReady polls /readyz; the test fails if the process exits first.
func (s *Sonogate) waitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if !s.Alive() {
			t.Fatalf("sonogate exited during start-up (%v); log:\n%s", s.ExitErr(), tail(s.Log(), 40))
		}
		code, _, err := httpGet(s.URL() + "/readyz")
		if err == nil && code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sonogate not ready after %s (last: %d %v); log:\n%s", timeout, code, err, tail(s.Log(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Alive reports whether the current process is running.
func (s *Sonogate) Alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil && !s.exitedLocked()
}

// ExitErr is the result of the last process's Wait (nil for exit 0).
func (s *Sonogate) ExitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exitErr
}

// Stop sends SIGTERM (graceful shutdown), waits up to 40 s, then kills.
// It returns the process's exit error (nil for a clean exit 0).
func (s *Sonogate) Stop() error {
	return s.signal(syscall.SIGTERM, 40*time.Second)
}

// Kill sends SIGKILL and waits: a crash, nothing is flushed or released.
func (s *Sonogate) Kill() {
	s.signal(syscall.SIGKILL, 10*time.Second)
}

func (s *Sonogate) signal(sig syscall.Signal, wait time.Duration) error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return s.ExitErr()
	default:
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(wait):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("sonogate did not exit within %s of %v", wait, sig)
	}
	return s.ExitErr()
}

// Addr is the DIMSE address, URL the HTTP base URL.
func (s *Sonogate) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.DIMSEPort) }
func (s *Sonogate) URL() string  { return fmt.Sprintf("http://127.0.0.1:%d", s.HTTPPort) }

// Log returns everything the processes wrote so far.
func (s *Sonogate) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// ObjectsDir is where the store keeps instance files.
func (s *Sonogate) ObjectsDir() string {
	dd := s.DataDir
	if dd == "" {
		dd = filepath.Join(s.Dir, "sonogate-data")
	}
	return filepath.Join(dd, "objects")
}

// OpenCatalog opens the SQLite catalog of the data directory. Call it
// after Stop: the catalog is the stopped gateway's durable state.
func (s *Sonogate) OpenCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	dd := s.DataDir
	if dd == "" {
		dd = filepath.Join(s.Dir, "sonogate-data")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := catalog.OpenSQLite(ctx, filepath.Join(dd, "catalog.db"))
	if err != nil {
		t.Fatalf("open catalog: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// QueueCounts are the job counts of one destination.
type QueueCounts struct{ Pending, Inflight, Done, Dead int64 }

// Total is the number of jobs in every state.
func (c QueueCounts) Total() int64 { return c.Pending + c.Inflight + c.Done + c.Dead }

func (c QueueCounts) String() string {
	return fmt.Sprintf("pending=%d inflight=%d done=%d dead=%d", c.Pending, c.Inflight, c.Done, c.Dead)
}

// QueueJob is one job as GET /api/queue lists it.
type QueueJob struct {
	ID            int64     `json:"id"`
	InstanceID    int64     `json:"instance_id"`
	Destination   string    `json:"destination"`
	Rule          string    `json:"rule"`
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LastError     string    `json:"last_error"`
}

// QueueView is the body of GET /api/queue.
type QueueView struct {
	Destinations []struct {
		Destination string           `json:"destination"`
		Counts      map[string]int64 `json:"counts"`
	} `json:"destinations"`
	Jobs []QueueJob `json:"jobs"`
}

// Counts returns the counts of destination dest (zero if not listed).
func (q QueueView) Counts(dest string) QueueCounts {
	for _, d := range q.Destinations {
		if d.Destination == dest {
			return QueueCounts{d.Counts["pending"], d.Counts["inflight"], d.Counts["done"], d.Counts["dead"]}
		}
	}
	return QueueCounts{}
}

// Queue performs GET /api/queue?query; the test fails unless it answers
// 200 with the documented JSON.
func (s *Sonogate) Queue(t testing.TB, query string) QueueView {
	t.Helper()
	u := s.URL() + "/api/queue"
	if query != "" {
		u += "?" + query
	}
	code, body, err := httpGet(u)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", u, code, err, body)
	}
	var v QueueView
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("GET %s: %v in %s", u, err, body)
	}
	return v
}

// WaitQueueSettled polls GET /api/queue until destination dest has no
// pending or inflight job and total jobs in all, and returns the counts;
// the test fails at timeout.
func (s *Sonogate) WaitQueueSettled(t testing.TB, dest string, total int64, timeout time.Duration) QueueCounts {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c := s.Queue(t, "").Counts(dest)
		if c.Pending == 0 && c.Inflight == 0 && c.Total() == total {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue of %q not settled after %s: %s, want %d jobs in done/dead", dest, timeout, c, total)
		}
		if !s.Alive() {
			t.Fatalf("sonogate exited while waiting for the queue (%v)", s.ExitErr())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Jobs lists every job of a destination (in state, if not "") through
// the API, paging by 1000.
func (s *Sonogate) Jobs(t testing.TB, dest, state string) []QueueJob {
	t.Helper()
	var all []QueueJob
	for off := 0; ; off += 1000 {
		q := fmt.Sprintf("destination=%s&limit=1000&offset=%d", dest, off)
		if state != "" {
			q += "&state=" + state
		}
		page := s.Queue(t, q).Jobs
		all = append(all, page...)
		if len(page) < 1000 {
			return all
		}
	}
}

// httpGet is a GET that does not fail the test (for polling).
func httpGet(u string) (int, []byte, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func httpPost(u string) (int, []byte, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post(u, "application/json", nil)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Instance is one DICOM file as the tests see it.
type Instance struct {
	Path      string
	SOPClass  string
	SOPInst   string
	TS        string // transfer syntax of the data set ("" if unknown)
	HasMeta   bool
	DataSHA   string // SHA-256 of the bytes after the meta group
	DataBytes int64
}

// ReadInstance reads a file's meta information (or, for a bare data set,
// its header) and hashes the data set bytes that follow the meta group.
func ReadInstance(path string) (Instance, error) {
	in := Instance{Path: path}
	f, err := dcm.OpenFile(path)
	if err != nil {
		return in, err
	}
	in.HasMeta = f.HasMeta
	in.SOPClass, in.SOPInst, in.TS = f.Meta.MediaStorageSOPClassUID, f.Meta.MediaStorageSOPInstanceUID, f.Syntax.UID
	fh, err := os.Open(path)
	if err != nil {
		return in, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return in, err
	}
	if in.SOPClass == "" || in.SOPInst == "" {
		if _, err := fh.Seek(f.DataOffset, io.SeekStart); err != nil {
			return in, err
		}
		ds, err := dcm.ParseHeader(bufio.NewReader(fh), f.Syntax, dcm.Options{Size: st.Size() - f.DataOffset})
		if err == nil {
			if in.SOPClass == "" {
				in.SOPClass = ds.String(dcm.TagSOPClassUID)
			}
			if in.SOPInst == "" {
				in.SOPInst = ds.String(dcm.TagSOPInstanceUID)
			}
		}
	}
	if _, err := fh.Seek(f.DataOffset, io.SeekStart); err != nil {
		return in, err
	}
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return in, err
	}
	in.DataSHA, in.DataBytes = hex.EncodeToString(h.Sum(nil)), n
	return in, nil
}

// DataSet returns the bytes of a file after its meta group.
func DataSet(t testing.TB, path string) []byte {
	t.Helper()
	f, err := dcm.OpenFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b[f.DataOffset:]
}

// ScanDICOM reads every regular file below dir (sorted by path) with
// ReadInstance; files that are not readable DICOM are returned in bad.
func ScanDICOM(t testing.TB, dir string) (good []Instance, bad map[string]error) {
	t.Helper()
	bad = map[string]error{}
	for _, p := range listFiles(t, dir) {
		in, err := ReadInstance(p)
		if err != nil || in.SOPInst == "" {
			if err == nil {
				err = errors.New("no SOP Instance UID")
			}
			bad[p] = err
			continue
		}
		good = append(good, in)
	}
	return good, bad
}

// listFiles lists the regular files below dir, sorted.
func listFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// UIDSet returns the sorted distinct SOP Instance UIDs of instances.
func UIDSet(ins []Instance) []string {
	m := map[string]bool{}
	for _, in := range ins {
		m[in.SOPInst] = true
	}
	return sortedKeys(m)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// diffSets describes the difference of two sorted string sets, "" when
// they are equal.
func diffSets(got, want []string) string {
	g, w := map[string]bool{}, map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	for _, s := range want {
		w[s] = true
	}
	var missing, extra []string
	for _, s := range want {
		if !g[s] {
			missing = append(missing, s)
		}
	}
	for _, s := range got {
		if !w[s] {
			extra = append(extra, s)
		}
	}
	if len(missing) == 0 && len(extra) == 0 && len(got) == len(want) {
		return ""
	}
	return fmt.Sprintf("got %d, want %d; missing %v; unexpected %v", len(got), len(want), missing, extra)
}

// Outcome is what a sender reported for one file.
type Outcome struct {
	Sent    bool   // a C-STORE-RQ went out and a response came back
	Status  int    // DIMSE status of the C-STORE-RSP, -1 when none
	Comment string // Error Comment (0000,0902), if any
	Err     string // why it was not sent or no response came
	NetTS   string // transfer syntax used on the wire, when the tool says
}

// Success reports a 0x0000 response.
func (o Outcome) Success() bool { return o.Sent && o.Status == 0 }

func (o Outcome) String() string {
	switch {
	case o.Sent && o.Comment != "":
		return fmt.Sprintf("0x%04X %q", o.Status, o.Comment)
	case o.Sent:
		return fmt.Sprintf("0x%04X", o.Status)
	case o.Err != "":
		return "not sent: " + o.Err
	}
	return "not sent"
}

// storescuConfig writes a storescu association configuration (-xf) that
// proposes, for each distinct (SOP class, transfer syntax) of ins, one
// presentation context with exactly that transfer syntax, so that
// storescu sends every file in its own transfer syntax and never
// converts it. It returns the file path and the profile name.
//
// storescu 3.6.7 has no option that proposes each file's own transfer
// syntax: the -x options propose the uncompressed syntaxes plus at most
// one compressed family, and a file in another syntax is then converted
// (failing for compressed data: "unable to convert dataset"). An
// association profile lists the contexts exactly. DCMTK 3.6.7 does not
// know HTJ2K (1.2.840.10008.1.2.4.201-203) and cannot send such files
// either way; `sonogate store` covers them.
func storescuConfig(t testing.TB, dir string, ins []Instance) (string, string) {
	t.Helper()
	type pair struct{ sop, ts string }
	var pairs []pair
	tsIndex := map[string]int{}
	var tss []string
	seen := map[pair]bool{}
	for _, in := range ins {
		if in.SOPClass == "" || in.TS == "" {
			continue
		}
		p := pair{in.SOPClass, in.TS}
		if seen[p] {
			continue
		}
		seen[p] = true
		pairs = append(pairs, p)
		if _, ok := tsIndex[in.TS]; !ok {
			tsIndex[in.TS] = len(tss)
			tss = append(tss, in.TS)
		}
	}
	if len(pairs) > 128 {
		t.Fatalf("storescu config: %d presentation contexts, at most 128", len(pairs))
	}
	var b strings.Builder
	b.WriteString("[[TransferSyntaxes]]\n")
	for i, ts := range tss {
		fmt.Fprintf(&b, "[TS%d]\nTransferSyntax1 = %s\n", i, ts)
	}
	b.WriteString("[[PresentationContexts]]\n[E2EContexts]\n")
	for i, p := range pairs {
		fmt.Fprintf(&b, "PresentationContext%d = %s\\TS%d\n", i+1, p.sop, tsIndex[p.ts])
	}
	b.WriteString("[[Profiles]]\n[E2E]\nPresentationContexts = E2EContexts\n")
	path := filepath.Join(dir, fmt.Sprintf("storescu-%d.cfg", time.Now().UnixNano()))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, "E2E"
}

// Storescu sends ins to addr with DCMTK storescu in one association,
// proposing each file's own (SOP class, transfer syntax) and continuing
// after failures (--no-halt). It returns each file's outcome, parsed from
// storescu's debug log, and the log.
func Storescu(t testing.TB, addr, aec string, ins []Instance, extra ...string) (map[string]Outcome, string) {
	t.Helper()
	host, port := splitAddr(t, addr)
	cfg, profile := storescuConfig(t, t.TempDir(), ins)
	args := []string{"-d", "--no-halt", "-aet", "E2ESCU", "-aec", aec, "-xf", cfg, profile,
		"--acse-timeout", "30", "--dimse-timeout", "60"} // a hung gateway shows as a failure, not a stuck test
	args = append(args, extra...)
	args = append(args, host, port)
	for _, in := range ins {
		args = append(args, in.Path)
	}
	out, code := testenv.RunTimeout(t, 3*time.Minute, "storescu", args...)
	if code == -1 {
		t.Fatalf("storescu to %s timed out; log tail:\n%s", addr, tail(out, 40))
	}
	return parseStorescu(out), out
}

// StorescuPaths is Storescu for files that may not be readable by the
// sonogate codec: storescu chooses the proposals (-R: only the files' SOP
// classes, uncompressed transfer syntaxes plus, via extra, more).
func StorescuPaths(t testing.TB, addr, aec string, paths []string, extra ...string) (map[string]Outcome, string, int) {
	t.Helper()
	host, port := splitAddr(t, addr)
	args := []string{"-d", "--no-halt", "-aet", "E2ESCU", "-aec", aec, "--acse-timeout", "30", "--dimse-timeout", "60"}
	args = append(args, extra...)
	args = append(args, host, port)
	args = append(args, paths...)
	out, code := testenv.RunTimeout(t, 2*time.Minute, "storescu", args...)
	return parseStorescu(out), out, code
}

// parseStorescu reads storescu's -d log: "Sending file: P" opens a file's
// record; the C-STORE-RSP dump gives "DIMSE Status : 0xc000: ..." and the
// Error Comment; "Store Failed, file: P" and "No presentation context
// for" say why nothing came back.
func parseStorescu(log string) map[string]Outcome {
	res := map[string]Outcome{}
	cur := ""
	inRsp := false
	lines := strings.Split(log, "\n")
	for i, line := range lines {
		l := strings.TrimRight(line, "\r")
		switch {
		case strings.HasPrefix(l, "I: Sending file: "):
			cur = strings.TrimPrefix(l, "I: Sending file: ")
			res[cur] = Outcome{Status: -1}
			inRsp = false
		case strings.HasPrefix(l, "E: No SOP Class or Instance UID in file: "):
			p := strings.TrimPrefix(l, "E: No SOP Class or Instance UID in file: ")
			res[p] = Outcome{Status: -1, Err: "storescu: no SOP Class or Instance UID in file"}
		case strings.HasPrefix(l, "E: Bad DICOM file: ") && cur != "":
			o := res[cur]
			o.Err = "storescu: bad DICOM file:" + strings.TrimPrefix(strings.TrimPrefix(l, "E: Bad DICOM file: "), cur+":")
			res[cur] = o
		case strings.HasPrefix(l, "W: missing SOP class (or instance) in file: "):
			p := strings.TrimSuffix(strings.TrimPrefix(l, "W: missing SOP class (or instance) in file: "), ", ignoring file")
			res[p] = Outcome{Status: -1, Err: "storescu: missing SOP class or instance, file ignored"}
		case strings.HasPrefix(l, "E: No presentation context for: ") && cur != "":
			o := res[cur]
			o.Err = "no accepted presentation context for " + strings.TrimPrefix(l, "E: No presentation context for: ")
			res[cur] = o
		case strings.HasPrefix(l, "E: Store Failed, file: "):
			p := strings.TrimSuffix(strings.TrimPrefix(l, "E: Store Failed, file: "), ":")
			o := res[p]
			o.Status = -1
			o.Sent = false
			if i+1 < len(lines) {
				o.Err = "store failed: " + strings.TrimPrefix(strings.TrimSpace(lines[i+1]), "E: ")
			}
			res[p] = o
		case strings.Contains(l, "Message Type") && strings.Contains(l, "C-STORE RSP"):
			inRsp = true
		case inRsp && strings.HasPrefix(l, "D: DIMSE Status") && cur != "":
			v := strings.TrimSpace(l[strings.Index(l, ":")+1:])
			v = strings.TrimSpace(v[strings.Index(v, ":")+1:])
			if len(v) >= 6 {
				if st, err := strconv.ParseUint(v[2:6], 16, 16); err == nil {
					o := res[cur]
					o.Sent, o.Status = true, int(st)
					res[cur] = o
				}
			}
		case inRsp && strings.HasPrefix(l, "D: (0000,0902)") && cur != "":
			if a, b := strings.Index(l, "["), strings.LastIndex(l, "]"); a >= 0 && b > a {
				o := res[cur]
				o.Comment = l[a+1 : b]
				res[cur] = o
			}
		case strings.HasPrefix(l, "I: Sending file: ") || strings.HasPrefix(l, "I: Releasing Association"):
			inRsp = false
		}
	}
	return res
}

// Dcmsend sends the files with DCMTK dcmsend, never decompressing (-dn),
// so that each file is proposed and sent in its own transfer syntax
// where the peer accepts it. Outcomes come from dcmsend's report file.
func Dcmsend(t testing.TB, addr, aec string, paths []string) (map[string]Outcome, string) {
	t.Helper()
	host, port := splitAddr(t, addr)
	rep := filepath.Join(t.TempDir(), "dcmsend-report.txt")
	args := []string{"-v", "-dn", "--no-halt", "-aet", "E2ESCU", "-aec", aec, "+crf", rep,
		"--acse-timeout", "30", "--dimse-timeout", "60", host, port}
	args = append(args, paths...)
	out, code := testenv.RunTimeout(t, 3*time.Minute, "dcmsend", args...)
	if code == -1 {
		t.Fatalf("dcmsend to %s timed out; log tail:\n%s", addr, tail(out, 40))
	}
	res := map[string]Outcome{}
	b, err := os.ReadFile(rep)
	switch {
	case err == nil:
		res = parseDcmsendReport(string(b))
	case !strings.Contains(out, "no valid input files"):
		t.Fatalf("dcmsend wrote no report (exit %d): %v\n%s", code, err, tail(out, 40))
	}
	// Files dcmsend refused to put on its transfer list are only in its log:
	// "W: bad DICOM file: PATH: REASON, ignoring file".
	for _, l := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimRight(l, "\r"), "W: bad DICOM file: ")
		if !ok {
			continue
		}
		rest = strings.TrimSuffix(rest, ", ignoring file")
		for _, p := range paths {
			if reason, ok := strings.CutPrefix(rest, p+": "); ok {
				if _, inReport := res[p]; !inReport {
					res[p] = Outcome{Status: -1, Err: "dcmsend: bad DICOM file: " + reason}
				}
			}
		}
	}
	return res, out
}

// parseDcmsendReport reads the blocks of a dcmsend +crf report.
func parseDcmsendReport(rep string) map[string]Outcome {
	res := map[string]Outcome{}
	cur := ""
	for _, line := range strings.Split(rep, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "Filename":
			cur = v
			res[cur] = Outcome{Status: -1}
		case "Network Xfer":
			o := res[cur]
			o.NetTS, _, _ = strings.Cut(v, " ")
			res[cur] = o
		case "DIMSE Status":
			o := res[cur]
			if strings.HasPrefix(v, "0x") && len(v) >= 6 {
				if st, err := strconv.ParseUint(v[2:6], 16, 16); err == nil {
					o.Sent, o.Status = true, int(st)
				}
			} else {
				o.Err = "dcmsend: " + v
			}
			res[cur] = o
		}
	}
	return res
}

func splitAddr(t testing.TB, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		t.Fatalf("bad address %q", addr)
	}
	return addr[:i], addr[i+1:]
}

// Echoscu runs DCMTK echoscu and returns its exit code and output.
func Echoscu(t testing.TB, addr, aec string) (int, string) {
	t.Helper()
	host, port := splitAddr(t, addr)
	out, code := testenv.RunTimeout(t, 30*time.Second, "echoscu", "-aet", "E2ESCU", "-aec", aec, host, port)
	return code, out
}

// RunSonogate runs the sonogate binary (echo, store, ...) and returns its
// combined output and exit code (-1 on timeout).
func RunSonogate(t testing.TB, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	return testenv.RunTimeout(t, timeout, sonogateBinary(t), args...)
}

// acceptedByDefault loads the SOP classes and transfer syntaxes that the
// gateway's DIMSE server accepts by default: Verification and the storage
// SOP classes of shared/standard/us_sop_and_ts.tsv, and every transfer
// syntax listed there (DESIGN.md §3).
func acceptedByDefault(t testing.TB) (sopClasses, transferSyntaxes map[string]bool) {
	t.Helper()
	p := filepath.Join(testenv.SharedDir(t), "standard", "us_sop_and_ts.tsv")
	b, err := os.ReadFile(p)
	if err != nil {
		if testenv.InCI() {
			t.Fatalf("%v", err)
		}
		t.Skipf("SKIP: %v (the shared folder is missing)", err)
	}
	sopClasses, transferSyntaxes = map[string]bool{}, map[string]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, "\t")
		if i == 0 || len(f) < 6 {
			continue
		}
		uid, kind, cat := f[0], f[3], f[5]
		switch {
		case kind == "sop_class" && (cat == "verification" || (strings.HasPrefix(cat, "storage-") && cat != "storage-commitment")):
			sopClasses[uid] = true
		case kind == "transfer_syntax":
			transferSyntaxes[uid] = true
		}
	}
	if len(sopClasses) < 10 || len(transferSyntaxes) < 10 {
		t.Fatalf("%s: only %d SOP classes and %d transfer syntaxes parsed", p, len(sopClasses), len(transferSyntaxes))
	}
	return sopClasses, transferSyntaxes
}

// outcomeTable renders per-file outcomes for the test log.
func outcomeTable(title string, paths []string, cols []string, get func(path, col string) string) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n", title)
	w := 0
	for _, p := range paths {
		if n := len(filepath.Base(p)); n > w {
			w = n
		}
	}
	fmt.Fprintf(&b, "  %-*s", w, "file")
	for _, c := range cols {
		fmt.Fprintf(&b, " | %-34s", c)
	}
	b.WriteString("\n")
	for _, p := range paths {
		fmt.Fprintf(&b, "  %-*s", w, filepath.Base(p))
		for _, c := range cols {
			fmt.Fprintf(&b, " | %-34s", get(p, c))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// storeFiles lists the committed instance files of a sonogate store (not
// its temporary spool files).
func storeFiles(t testing.TB, objectsDir string) []string {
	t.Helper()
	var out []string
	for _, p := range listFiles(t, objectsDir) {
		rel, _ := filepath.Rel(objectsDir, p)
		if strings.HasPrefix(rel, "tmp"+string(filepath.Separator)) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// spoolFiles lists the temporary files of a sonogate store.
func spoolFiles(t testing.TB, objectsDir string) []string {
	t.Helper()
	return listFiles(t, filepath.Join(objectsDir, "tmp"))
}
