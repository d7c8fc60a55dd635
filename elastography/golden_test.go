package elastography

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/sonogate/sonogate/elastography/internal/srgen"
)

var update = flag.Bool("update", false, "rewrite the fixtures in testdata/ and their golden reports")

// testConfig is the default configuration plus the demo vendor table the
// vendor fixtures need.
func testConfig(t testing.TB) *Config {
	t.Helper()
	cfg, err := LoadConfig("testdata/demo-vendor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// GoldenJSON is the serialization used by goldens and `sonogate extract`.
func goldenJSON(t testing.TB, rs []Report) []byte {
	t.Helper()
	if rs == nil {
		rs = []Report{}
	}
	b, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestFixturesAreCurrent checks that the generator is deterministic and
// that testdata holds exactly what it generates.
func TestFixturesAreCurrent(t *testing.T) {
	if *update {
		if _, err := srgen.WriteAll("testdata"); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range srgen.Fixtures() {
		a, err := f.Doc.Encode()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := f.Doc.Encode()
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: two encodings differ", f.Doc.Name)
		}
		disk, err := os.ReadFile(filepath.Join("testdata", f.Doc.Name+".dcm"))
		if err != nil {
			t.Fatalf("%v (run go test ./elastography -update)", err)
		}
		if !bytes.Equal(disk, a) {
			t.Errorf("testdata/%s.dcm is stale (run go test ./elastography -update)", f.Doc.Name)
		}
	}
}

func TestGoldenReports(t *testing.T) {
	cfg := testConfig(t)
	for _, f := range srgen.Fixtures() {
		name := f.Doc.Name
		t.Run(name, func(t *testing.T) {
			rs, err := ExtractFiles([]string{filepath.Join("testdata", name+".dcm")}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := goldenJSON(t, rs)
			gp := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(gp, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(gp)
			if err != nil {
				t.Fatalf("%v (run go test ./elastography -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("report differs from %s (run with -update after checking the change):\n%s", gp, got)
			}
		})
	}
}
