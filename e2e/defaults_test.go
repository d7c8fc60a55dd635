package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sonogate/sonogate/internal/testenv"
)

// TestDefaults runs `sonogate serve` as the README's first command does,
// with no configuration file, in an empty working directory; only the
// listen addresses are moved to free ports (the defaults :11112 and :8080
// may be taken on the test machine).
func TestDefaults(t *testing.T) {
	t.Parallel()
	testenv.RequireTool(t, "echoscu")
	sg := StartSonogate(t, SonogateOptions{DefaultDataDir: true})

	t.Run("echoscu", func(t *testing.T) {
		code, out := Echoscu(t, sg.Addr(), "SONOGATE")
		if code != 0 {
			t.Fatalf("echoscu -aec SONOGATE %s: exit %d\n%s", sg.Addr(), code, out)
		}
	})
	t.Run("healthz", func(t *testing.T) {
		code, body, err := httpGet(sg.URL() + "/healthz")
		if err != nil || code != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
			t.Fatalf("GET /healthz = %d %q %v, want 200 \"ok\"", code, body, err)
		}
	})
	t.Run("readyz", func(t *testing.T) {
		code, body, err := httpGet(sg.URL() + "/readyz")
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET /readyz = %d %q %v, want 200", code, body, err)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		code, body, err := httpGet(sg.URL() + "/metrics")
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET /metrics = %d %v", code, err)
		}
		names := map[string]bool{}
		re := regexp.MustCompile(`(?m)^(sonogate_[a-zA-Z0-9_]+?)(?:_bucket|_sum|_count)?[{ ]`)
		for _, m := range re.FindAllStringSubmatch(string(body), -1) {
			names[m[1]] = true
		}
		if len(names) == 0 {
			t.Fatalf("/metrics has no sonogate_ metric:\n%s", tail(string(body), 30))
		}
		// The C-ECHO above went through the DIMSE server: one accepted
		// association and one C-ECHO-RQ must have been counted.
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^sonogate_dimse_associations_total\{outcome="accepted"\} [1-9]`),
			regexp.MustCompile(`(?m)^sonogate_dimse_messages_received_total\{command="C-ECHO-RQ"\} [1-9]`),
		} {
			if !want.Match(body) {
				t.Errorf("/metrics has no line matching %s", want)
			}
		}
		t.Logf("sonogate metrics: %v", sortedKeys(names))
	})
	t.Run("default data directory", func(t *testing.T) {
		// No --config, no --data-dir: the data lives in ./sonogate-data
		// of the working directory with an SQLite catalog.
		db := filepath.Join(sg.Dir, "sonogate-data", "catalog.db")
		if _, err := os.Stat(db); err != nil {
			t.Fatalf("default catalog %s: %v", db, err)
		}
		if _, err := os.Stat(sg.ObjectsDir()); err != nil {
			t.Fatalf("default store %s: %v", sg.ObjectsDir(), err)
		}
		if !strings.Contains(sg.Log(), "embedded defaults") {
			t.Errorf("log does not say that the embedded defaults are used:\n%s", tail(sg.Log(), 20))
		}
	})
	t.Run("graceful stop", func(t *testing.T) {
		if err := sg.Stop(); err != nil {
			t.Fatalf("SIGTERM: %v; log:\n%s", err, tail(sg.Log(), 20))
		}
	})
}
