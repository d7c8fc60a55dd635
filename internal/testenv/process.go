package testenv

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// process is a server started in its own process group with its output in
// a log file.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	once    sync.Once
}

func startProcess(name, logPath, path string, args []string, env []string) (*process, error) {
	return startProcessAs(name, logPath, path, args, env, nil)
}

// startProcessAs is startProcess running as another OS user when cred is set.
func startProcessAs(name, logPath, path string, args []string, env []string, cred *syscall.Credential) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "=== testenv: %s %s (at %s)\n", path, strings.Join(args, " "), time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	cmd.SysProcAttr.Credential = cred
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(logf, "=== testenv: %s exited: %v\n", name, err)
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM to the process group, then SIGKILL after grace, and
// waits for the process to exit. It is safe to call more than once.
func (p *process) stop(grace time.Duration) { p.stopWith(syscall.SIGTERM, grace) }

// stopWith is stop with another first signal (PostgreSQL: SIGINT, fast shutdown).
func (p *process) stopWith(sig syscall.Signal, grace time.Duration) {
	p.once.Do(func() {
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, sig)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
		// Children left in the group (e.g. storescp --fork) go too.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	})
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logTail returns the last max bytes of a log file.
func logTail(path string, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// dumpLogOnFailure registers a cleanup that prints the log when t failed.
// The log lives under a t.TempDir() created before this registration, so
// (cleanups run last-in first-out) it is still there.
func dumpLogOnFailure(t testing.TB, name, path string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- %s log (%s), last 16 KiB ----\n%s\n---- end of %s log ----", name, path, logTail(path, 16<<10), name)
		}
	})
}
