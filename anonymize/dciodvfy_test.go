package anonymize

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/internal/testenv"
)

var (
	dciodvfyValue = regexp.MustCompile(`= <[^>]*>`)
	dciodvfyUID   = regexp.MustCompile(`\b\d+(\.\d+){2,}\b|(UID) \d[\d.]*`)
)

// dciodvfyErrors runs dicom3tools' IOD verifier and returns its Error
// lines with attribute values and UIDs blanked (de-identification changes
// both).
func dciodvfyErrors(t *testing.T, path string) map[string]bool {
	t.Helper()
	out, _ := exec.Command("dciodvfy", path).CombinedOutput() // exit status counts errors
	errs := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Error") {
			l = dciodvfyValue.ReplaceAllString(strings.TrimSpace(l), "= <>")
			errs[dciodvfyUID.ReplaceAllString(l, "${2} <uid>")] = true // UIDs are mapped
		}
	}
	return errs
}

// TestOutputIntroducesNoIODErrors: every de-identified output of the
// ultrasound, SR and de-identification corpus passes dciodvfy with no
// error that its input did not already have.
func TestOutputIntroducesNoIODErrors(t *testing.T) {
	testenv.RequireTool(t, "dciodvfy")
	p := newProfile(t, config.Profile{Options: researchOptions})
	var files []string
	for _, dir := range []string{"dicom/ultrasound", "dicom/sr", "dicom/anonymization"} {
		m, _ := filepath.Glob(filepath.Join(testenv.SharedTestdata(t, dir), "*.dcm"))
		files = append(files, m...)
	}
	sort.Strings(files)
	checked := 0
	for _, src := range files {
		dst := filepath.Join(t.TempDir(), "out.dcm")
		_, err := p.AnonymizeFile(context.Background(), src, dst)
		var qe *QuarantineError
		if errors.As(err, &qe) {
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(src), err)
			continue
		}
		before, after := dciodvfyErrors(t, src), dciodvfyErrors(t, dst)
		var added []string
		for e := range after {
			if !before[e] {
				added = append(added, e)
			}
		}
		sort.Strings(added)
		if len(added) > 0 {
			t.Errorf("%s: de-identification added IOD errors:\n  %s", filepath.Base(src), strings.Join(added, "\n  "))
		}
		checked++
		os.Remove(dst)
	}
	if checked < 12 {
		t.Fatalf("only %d outputs checked", checked)
	}
	t.Logf("%d de-identified outputs verified with dciodvfy", checked)
}
