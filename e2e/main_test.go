package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sonogate/sonogate/internal/testenv"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// sonogateBinary returns the path of the sonogate binary, built once per
// test run from ./cmd/sonogate (with -race when the tests run with -race),
// or $SONOGATE_E2E_BIN when set.
func sonogateBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end tests start real peers; skipped in -short mode")
	}
	if bin := os.Getenv("SONOGATE_E2E_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		root := testenv.RepoRoot(t)
		dir, err := os.MkdirTemp("", "sonogate-e2e-bin-")
		if err != nil {
			buildErr = err.Error()
			return
		}
		buildDir = dir
		bin := filepath.Join(dir, "sonogate")
		args := []string{"build", "-o", bin}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/sonogate")
		cmd := exec.Command("go", args...) // go test puts its own GOROOT/bin first in PATH
		cmd.Dir = root
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = "go " + strings.Join(args, " ") + ": " + err.Error() + "\n" + string(out)
			return
		}
		t.Logf("built %s in %s (race=%v)", bin, time.Since(start).Round(time.Millisecond), raceEnabled)
		buildBin = bin
	})
	if buildErr != "" {
		t.Fatalf("cannot build sonogate: %s", buildErr)
	}
	return buildBin
}
