package elastography

import (
	"errors"
	"fmt"
)

// ExtractFiles runs Extract over the files at paths, in order, and adds
// one image_only record per study that has elastography images
// (ElastographyImage) but produced no SR report. Files that cannot be
// read are reported in the joined error; the others are still processed.
func ExtractFiles(paths []string, cfg *Config) ([]Report, error) {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	var out []Report
	var errs []error
	type study struct {
		first  Source
		images []ImageRef
	}
	var studyOrder []string
	studies := map[string]*study{}
	reported := map[string]bool{}
	for _, p := range paths {
		ds, err := ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		src := SourceFromDataset(ds)
		if ref, ok := ElastographyImage(ds, cfg); ok {
			k := StudyKey(src)
			st := studies[k]
			if st == nil {
				st = &study{first: src}
				studies[k] = st
				studyOrder = append(studyOrder, k)
			}
			st.images = append(st.images, ref)
			continue
		}
		rs, err := Extract(ds, src, cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		if len(rs) > 0 {
			reported[StudyKey(src)] = true
		}
		out = append(out, rs...)
	}
	for _, k := range studyOrder {
		if !reported[k] {
			st := studies[k]
			out = append(out, ImageOnlyReport(st.first, st.images, cfg))
		}
	}
	return out, errors.Join(errs...)
}
