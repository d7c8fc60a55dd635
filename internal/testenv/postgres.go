package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Postgres is a throw-away PostgreSQL cluster private to one test, on a free
// loopback port with trust authentication and durability off (fsync=off).
type Postgres struct {
	port    int
	base    string
	logPath string
	proc    *process
}

// StartPostgres runs initdb and postgres (as the "postgres" OS user when the
// tests run as root, since PostgreSQL refuses root) and waits until it
// accepts connections; t.Cleanup stops it and removes its files. When the
// server binaries are missing the test fails under CI and is skipped loudly
// otherwise.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	initdb := RequireTool(t, "initdb")
	server := RequireTool(t, "postgres")
	isready := RequireTool(t, "pg_isready")
	var cred *syscall.Credential
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			missing(t, "running as root and there is no \"postgres\" OS user to run PostgreSQL as: %v", err)
			return nil
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// t.TempDir() is 0700 root: PostgreSQL's user could not enter it.
	base, err := os.MkdirTemp("", "sonogate-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &Postgres{port: FreePort(t), base: base, logPath: filepath.Join(base, "postgres.log")}
	data, sock := filepath.Join(base, "data"), filepath.Join(base, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if cred != nil {
			if err := os.Chown(d, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	if f, err := os.Create(p.logPath); err == nil {
		f.Close()
		if cred != nil {
			_ = os.Chown(p.logPath, uid, gid)
		}
	}
	cmd := exec.Command(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = base
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	dumpLogOnFailure(t, "postgres", p.logPath)
	p.proc, err = startProcessAs("postgres", p.logPath, server, []string{
		"-D", data, "-p", strconv.Itoa(p.port), "-k", sock,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
	}, nil, cred)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { p.proc.stopWith(syscall.SIGINT, 20*time.Second) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		if p.proc.exited() {
			t.Fatalf("testenv: postgres exited during start-up; log:\n%s", logTail(p.logPath, 8<<10))
		}
		if err := exec.Command(isready, "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(p.port)).Run(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: postgres not ready after 60s; log:\n%s", logTail(p.logPath, 8<<10))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

// Port is the server's port on 127.0.0.1.
func (p *Postgres) Port() int { return p.port }

// DSN returns a connection URL for database db ("postgres" always exists),
// user postgres, no password.
func (p *Postgres) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, db)
}

// CreateDB creates database name and returns its DSN.
func (p *Postgres) CreateDB(t testing.TB, name string) string {
	t.Helper()
	out, code := Run(t, "psql", "-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", "postgres",
		"-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", `CREATE DATABASE "`+strings.ReplaceAll(name, `"`, `""`)+`"`)
	if code != 0 {
		t.Fatalf("testenv: CREATE DATABASE %s: exit %d: %s", name, code, out)
	}
	return p.DSN(name)
}

// Psql runs one SQL command in database db and returns psql's unaligned,
// tuples-only output; the test fails on error.
func (p *Postgres) Psql(t testing.TB, db, sql string) string {
	t.Helper()
	out, code := Run(t, "psql", "-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", "postgres",
		"-d", db, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql)
	if code != 0 {
		t.Fatalf("testenv: psql %q: exit %d: %s", sql, code, out)
	}
	return out
}
