package elastography

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzExtract: extraction never panics on any data set the codec accepts.
func FuzzExtract(f *testing.F) {
	m, _ := filepath.Glob("testdata/*.dcm")
	for _, p := range m {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	cfg := testConfig(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := ReadDataset(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		rs, err := Extract(ds, Source{}, cfg)
		for _, r := range rs {
			if _, err := FHIRObservation(r); err != nil {
				t.Fatal(err)
			}
		}
		_ = err
	})
}
