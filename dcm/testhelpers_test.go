package dcm

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// sharedTestdata resolves ../shared/testdata/<rel> from the module root:
// missing data fails under CI=true and skips loudly elsewhere.
func sharedTestdata(t testing.TB, rel string) string {
	t.Helper()
	p, _ := filepath.Abs(filepath.Join("..", "..", "shared", "testdata", rel))
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared test data missing under CI: %s", p)
		}
		t.Skipf("SKIPPING: shared test data not found at %s", p)
	}
	return p
}

func requireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI (run scripts/install-deps.sh)", name)
		}
		t.Skipf("SKIPPING: %s not installed", name)
	}
}

func runTool(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
