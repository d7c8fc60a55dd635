package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (CI=true or CI=1), where a
// missing prerequisite is a failure rather than a skip.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1" || v == "yes"
}

// missing fails the test under CI and skips it loudly otherwise.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("MISSING PREREQUISITE (CI=true makes this a failure): %s", msg)
		return
	}
	t.Skipf("SKIP: MISSING PREREQUISITE: %s (under CI=true this test fails)", msg)
}

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// RepoRoot returns the directory holding go.mod, found by walking up from
// the working directory (the package directory under go test).
func RepoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = errors.New("go.mod not found above the working directory")
				return
			}
			dir = parent
		}
	})
	if rootErr != nil {
		t.Fatalf("testenv: %v", rootErr)
	}
	return rootDir
}

// SharedDir returns the absolute path of the shared folder, ../shared
// relative to the repository root (SONOGATE_SHARED overrides it).
func SharedDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("SONOGATE_SHARED"); d != "" {
		abs, err := filepath.Abs(d)
		if err != nil {
			t.Fatalf("testenv: SONOGATE_SHARED: %v", err)
		}
		return abs
	}
	return filepath.Join(filepath.Dir(RepoRoot(t)), "shared")
}

// SharedTestdata returns the absolute path of shared/testdata/<rel>, e.g.
// SharedTestdata(t, "dicom/ultrasound"). When it does not exist the test
// fails under CI and is skipped loudly otherwise.
func SharedTestdata(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(SharedDir(t), "testdata", filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		missing(t, "shared test data %s not found (expected the shared folder beside the repository: %v)", p, err)
	}
	return p
}

// toolDirs are searched after PATH: Debian puts Orthanc in /usr/sbin and the
// PostgreSQL server tools in /usr/lib/postgresql/<version>/bin.
func toolDirs() []string {
	dirs := []string{"/usr/sbin", "/sbin", "/usr/local/sbin"}
	pg, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest version first.
	for i := len(pg) - 1; i >= 0; i-- {
		dirs = append(dirs, pg[i])
	}
	return dirs
}

// LookTool returns the path of a binary (PATH, then /usr/sbin and the
// PostgreSQL bin directories, or an absolute path), or "" when not found.
func LookTool(name string) string {
	if filepath.IsAbs(name) {
		if st, err := os.Stat(name); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return name
		}
		return ""
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range toolDirs() {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// RequireTool returns the absolute path of the named binary (e.g.
// "storescu", "Orthanc", "pg_ctl"). When it is missing the test fails under
// CI and is skipped loudly otherwise.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p := LookTool(name)
	if p == "" {
		missing(t, "tool %q not found in PATH, /usr/sbin or /usr/lib/postgresql/*/bin; install it with: bash scripts/install-deps.sh", name)
	}
	return p
}

// RequireFile is RequireTool for a file such as a plugin library.
func RequireFile(t testing.TB, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		missing(t, "file %s not found; install it with: bash scripts/install-deps.sh", path)
	}
	return path
}

var (
	portMu   sync.Mutex
	portUsed = map[int]bool{}
)

// FreePort returns a TCP port free on 127.0.0.1. Ports are drawn at random
// below the kernel's ephemeral range (so outgoing connections cannot take
// them before the server binds), checked by binding and closing, and never
// handed out twice in one test binary.
func FreePort(t testing.TB) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 200 {
		p := 20000 + rand.IntN(12000) // [20000, 32000)
		if portUsed[p] || !canBind(p) {
			continue
		}
		portUsed[p] = true
		return p
	}
	// Fall back to the kernel's choice.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: no free port: %v", err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	portUsed[p] = true
	return p
}

func canBind(p int) bool {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// DefaultRunTimeout bounds Run.
const DefaultRunTimeout = 2 * time.Minute

// Run runs a command (looked up like RequireTool) with DefaultRunTimeout and
// returns its combined stdout and stderr and its exit code (-1 when killed by
// the timeout). The test fails if the command cannot be started.
func Run(t testing.TB, name string, args ...string) (string, int) {
	t.Helper()
	return RunTimeout(t, DefaultRunTimeout, name, args...)
}

// RunTimeout is Run with an explicit timeout.
func RunTimeout(t testing.TB, timeout time.Duration, name string, args ...string) (string, int) {
	t.Helper()
	path := RequireTool(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Logf("testenv: %s %s: killed after %s", name, strings.Join(args, " "), timeout)
		return out.String(), -1
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	t.Fatalf("testenv: run %s: %v", name, err)
	return "", -1
}

// waitTCP waits until addr accepts a TCP connection or d elapses; exited, when
// closed, ends the wait early.
func waitTCP(addr string, d time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("process exited")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %s: %w", addr, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
