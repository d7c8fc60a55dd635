package srgen

import (
	"os"
	"path/filepath"
)

// WriteAll writes every fixture as dir/<name>.dcm and returns the paths.
func WriteAll(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range Fixtures() {
		b, err := f.Doc.Encode()
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, f.Doc.Name+".dcm")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
