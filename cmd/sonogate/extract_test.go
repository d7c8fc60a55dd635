package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const elastoTestdata = "../../elastography/testdata"

// TestExtractReproducesGoldens runs `sonogate extract` on every fixture
// and compares its JSON with the golden report byte for byte.
func TestExtractReproducesGoldens(t *testing.T) {
	goldens, err := filepath.Glob(filepath.Join(elastoTestdata, "*.json"))
	if err != nil || len(goldens) < 10 {
		t.Fatalf("found %d goldens (%v)", len(goldens), err)
	}
	for _, g := range goldens {
		dcm := strings.TrimSuffix(g, ".json") + ".dcm"
		var out, errb bytes.Buffer
		if err := run([]string{"extract", "--config", filepath.Join(elastoTestdata, "demo-vendor.yaml"), dcm}, &out, &errb); err != nil {
			t.Fatalf("%s: %v\n%s", dcm, err, errb.String())
		}
		want, _ := os.ReadFile(g)
		if !bytes.Equal(out.Bytes(), want) {
			t.Errorf("%s: output differs from %s:\n%s", dcm, g, out.String())
		}
	}
}

func TestExtractCSVDirectory(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run([]string{"extract", "--format", "csv", "--config", filepath.Join(elastoTestdata, "demo-vendor.yaml"), elastoTestdata}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// 11 elastography fixtures give 13 reports (two_sites and
	// two_sessions give two each, walker_all_types none), plus one
	// image_only record: 14 rows and the header.
	if len(rows) != 15 {
		t.Fatalf("%d CSV rows, want 15:\n%s", len(rows), out.String())
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var reliable *[]string
	for _, r := range rows[1:] {
		if r[col["median_kpa"]] == "7.12" && r[col["median_mps"]] == "1.54" {
			reliable = &r
		}
	}
	if reliable == nil {
		t.Fatal("no row of the reliable ElastPQ exam")
	}
	r := *reliable
	for k, want := range map[string]string{"n_valid": "10", "reliable": "true", "staging_category": "rule_out_cACLD_if_no_other_signs",
		"staging_disclaimer": "not clinical advice", "vendor_technique": "ElastPQ", "iqr_over_median_pct_kpa": "11.6"} {
		if r[col[k]] != want {
			t.Errorf("%s = %q, want %q", k, r[col[k]], want)
		}
	}
}

func TestExtractUsage(t *testing.T) {
	for _, args := range [][]string{{"extract"}, {"extract", "--format", "xml", "x.dcm"}} {
		var out, errb bytes.Buffer
		err := run(args, &out, &errb)
		if ee, ok := err.(exitError); !ok || ee.code != 2 || errb.Len() == 0 {
			t.Fatalf("%q: err = %v, stderr %q; want exit 2 with a message", args, err, errb.String())
		}
	}
	var out, errb bytes.Buffer
	err := run([]string{"extract", filepath.Join(t.TempDir(), "missing.dcm")}, &out, &errb)
	if ee, ok := err.(exitError); !ok || ee.code != 1 {
		t.Fatalf("missing file: err = %v, want exit 1", err)
	}
}
