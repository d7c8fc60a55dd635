package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// StoreSCP is a DCMTK storescp private to one test.
type StoreSCP struct {
	aet     string
	dir     string
	port    int
	bin     string
	args    []string
	logPath string

	mu   sync.Mutex
	proc *process
}

// StartStoreSCP runs DCMTK storescp as AE aet on a free loopback port and
// returns the port; t.Cleanup stops it. Received objects are written to dir
// (created if needed) bit-preserving (+B: file meta and data set exactly as
// received), one file per instance named <modality>.<SOP Instance UID>.dcm.
// It accepts every transfer syntax DCMTK knows (+xa) and unknown SOP classes
// (--promiscuous). extra arguments go before the port, e.g. "--ignore" or
// "--sleep-after", "5".
func StartStoreSCP(t testing.TB, aet, dir string, extra ...string) int {
	t.Helper()
	return StartStoreSCPServer(t, aet, dir, extra...).Port()
}

// StartStoreSCPServer is StartStoreSCP returning the server, for tests that
// stop and restart it.
func StartStoreSCPServer(t testing.TB, aet, dir string, extra ...string) *StoreSCP {
	t.Helper()
	bin := RequireTool(t, "storescp")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	logDir := t.TempDir()
	s := &StoreSCP{
		aet:     aet,
		dir:     dir,
		port:    FreePort(t),
		bin:     bin,
		logPath: filepath.Join(logDir, "storescp.log"),
	}
	s.args = append([]string{
		"--verbose",
		"--aetitle", aet,
		"--output-directory", dir,
		"--bit-preserving",
		"--filename-extension", ".dcm",
		"+xa",
		"--promiscuous",
		"--acse-timeout", "30",
		"--dimse-timeout", "60",
	}, extra...)
	s.args = append(s.args, strconv.Itoa(s.port))
	t.Cleanup(s.Stop)
	dumpLogOnFailure(t, "storescp "+aet, s.logPath)
	s.Start(t)
	return s
}

// Start (re)starts storescp on the same port and directory; no-op while it runs.
func (s *StoreSCP) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && !s.proc.exited() {
		return
	}
	p, err := startProcess("storescp", s.logPath, s.bin, s.args, []string{"TCP_NODELAY=1"})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	s.proc = p
	if err := waitTCP(s.Addr(), 30*time.Second, p.done); err != nil {
		p.stop(5 * time.Second)
		t.Fatalf("testenv: storescp: %v; log:\n%s", err, logTail(s.logPath, 8<<10))
	}
}

// Stop stops storescp (SIGTERM, SIGKILL after 10 s) and waits for it.
func (s *StoreSCP) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.stop(10 * time.Second)
	}
}

// Port is the DICOM port on 127.0.0.1.
func (s *StoreSCP) Port() int { return s.port }

// Addr is "127.0.0.1:<Port>".
func (s *StoreSCP) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// AET is the AE title storescp answers to.
func (s *StoreSCP) AET() string { return s.aet }

// Dir is where received files are written.
func (s *StoreSCP) Dir() string { return s.dir }

// Log returns storescp's (verbose) log so far.
func (s *StoreSCP) Log() string { return logTail(s.logPath, 1<<20) }

// ReceivedFiles lists the .dcm files below dir, sorted. storescp writes a
// file completely before it sends the C-STORE-RSP, so after a successful
// C-STORE the file is whole.
func ReceivedFiles(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".dcm") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("testenv: list %s: %v", dir, err)
	}
	sort.Strings(files)
	return files
}

// WaitFiles polls until dir holds at least n .dcm files and returns them.
func WaitFiles(t testing.TB, dir string, n int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		files := ReceivedFiles(t, dir)
		if len(files) >= n {
			return files
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s has %d files after %s, want %d", dir, len(files), timeout, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
