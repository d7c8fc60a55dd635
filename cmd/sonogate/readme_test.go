package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEConfigsAreValid keeps the README true: every YAML example in it,
// including the heredoc of the quickstart, passes `sonogate config check`.
func TestREADMEConfigsAreValid(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1) {
		docs = append(docs, string(m[1]))
	}
	for _, m := range regexp.MustCompile(`(?s)cat > sonogate\.yaml <<'EOF'\n(.*?)\nEOF`).FindAllSubmatch(readme, -1) {
		docs = append(docs, string(m[1]))
	}
	if len(docs) < 2 {
		t.Fatalf("found %d configuration examples in README.md, want at least 2", len(docs))
	}
	for i, d := range docs {
		p := filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(p, []byte(d), 0o644)
		var out, errb bytes.Buffer
		if err := run([]string{"config", "check", p}, &out, &errb); err != nil {
			t.Fatalf("README example %d is invalid: %v\n%s", i, err, errb.String())
		}
		if !strings.Contains(out.String(), ": OK") {
			t.Fatalf("example %d: %q", i, out.String())
		}
	}
}

func TestConfigCheckNamesTheField(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(p, []byte("destinations:\n  - name: pacs\n    dimse: {ae_title: ORTHANC, host: 127.0.0.1, port: 70000}\n"), 0o644)
	var out, errb bytes.Buffer
	err := run([]string{"config", "check", p}, &out, &errb)
	if ee, ok := err.(exitError); !ok || ee.code != 1 {
		t.Fatalf("err = %v, want exit 1", err)
	}
	if !strings.Contains(errb.String(), "destinations[0].dimse.port") {
		t.Fatalf("error does not name the field: %q", errb.String())
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"bogus"}, {"echo"}, {"store", "127.0.0.1:1"}, {"echo", "nohostport"}, {"config"}} {
		var out, errb bytes.Buffer
		err := run(args, &out, &errb)
		if ee, ok := err.(exitError); !ok || ee.code != 2 || errb.Len() == 0 {
			t.Fatalf("%q: err = %v, stderr %q; want exit 2 with a message", args, err, errb.String())
		}
	}
}
