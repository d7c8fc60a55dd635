package dcm

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// dumpEntry is one element line as dcmdump prints it and as we read it.
type dumpEntry struct {
	Tag    string // "gggg,eeee" lower-case hex
	VR     string
	Length string // decimal, or "u/l"
}

func (d dumpEntry) String() string { return fmt.Sprintf("(%s) %s %s", d.Tag, d.VR, d.Length) }

var (
	dumpLine    = regexp.MustCompile(`^\s*\(([0-9a-f]{4},[0-9a-f]{4})\) (\w\w|\?\?) .*#\s*(u/l|\d+),\s*\d+ [^#]+$`)
	recordStart = regexp.MustCompile(`^\s*\([0-9a-f]{4},[0-9a-f]{4}\) `)
)

// dcmdumpEntries runs dcmdump and returns the data set's element lines
// (not items or delimiters).
func dcmdumpEntries(t *testing.T, path string) ([]dumpEntry, bool) {
	out, err := exec.Command("dcmdump", "-q", "+E", path).Output()
	if err != nil {
		return nil, false
	}
	var res []dumpEntry
	// A text value may contain line breaks: a record starts at a line
	// that begins with a tag, and runs until the next one.
	var records []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "#") {
			continue // dcmdump's own comment lines
		}
		if recordStart.MatchString(l) || len(records) == 0 {
			records = append(records, l)
		} else {
			records[len(records)-1] += " " + l
		}
	}
	for _, l := range records {
		m := dumpLine.FindStringSubmatch(strings.TrimSpace(l))
		if m != nil && strings.HasPrefix(m[1], "0002,") && !strings.HasPrefix(l, " ") {
			// DCMTK attributes group 0002 to the meta information even
			// where a writer put it in the data set; so do we.
			continue
		}
		if m == nil || strings.HasPrefix(m[1], "fffe,") {
			continue
		}
		res = append(res, dumpEntry{m[1], m[2], m[3]})
	}
	return res, true
}

// ourEntries reads the file with our reader and lists the same.
func ourEntries(path string) ([]dumpEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	file, err := ReadFile(br)
	if err != nil {
		return nil, err
	}
	st, _ := f.Stat()
	size := st.Size() - file.DataOffset
	if file.Syntax.Deflated {
		size = 0
	}
	ds, err := Parse(br, file.Syntax, Options{Size: size, LoadLimit: 64})
	if err != nil {
		return nil, err
	}
	// DCMTK keeps the elements of each data set sorted by tag; list ours
	// the same way, level by level.
	var res []dumpEntry
	var walk func(d *Dataset)
	walk = func(d *Dataset) {
		els := append([]*Element(nil), d.Elements...)
		sort.SliceStable(els, func(i, j int) bool { return els[i].Tag < els[j].Tag })
		for _, e := range els {
			if e.Tag.Group() == 0x0002 && d.Parent == nil {
				continue
			}
			l := fmt.Sprint(e.Length)
			if e.Length == UndefinedLength {
				l = "u/l"
			}
			vr := string(e.VR)
			if e.Kind == KindSequence && !e.Encapsulated {
				vr = "SQ"
			}
			res = append(res, dumpEntry{fmt.Sprintf("%04x,%04x", e.Tag.Group(), e.Tag.Element()), vr, l})
			for _, it := range e.Items {
				walk(it)
			}
		}
	}
	walk(ds)
	return res, nil
}

// vrAgrees accepts DCMTK's names for context-dependent VRs ("xs" = US or
// SS, "ox" = OB or OW, "lt" = US, SS or OW) and the dictionary gaps of
// implicit VR, where neither reader sees a VR on the wire.
func vrAgrees(ours, theirs string, implicit bool) bool {
	if ours == theirs {
		return true
	}
	switch theirs {
	case "xs":
		return ours == "US" || ours == "SS"
	case "ox", "px":
		return ours == "OB" || ours == "OW"
	case "lt":
		return ours == "US" || ours == "SS" || ours == "OW"
	case "??":
		return ours == "UN"
	case "OB":
		return ours == "OW" // DCMTK reports encapsulated pixel data as OB whatever the wire says
	case "up":
		return ours == "UL"
	}
	if implicit && (ours == "US" || ours == "SS") && (theirs == "US" || theirs == "SS") {
		return true // implicit VR: DCMTK resolves "US or SS" from Pixel Representation
	}
	return implicit && (ours == "UN" || theirs == "UN")
}

// TestReaderAgreesWithDcmdump reads every shared test file that dcmdump
// parses and compares tag, VR and value length of every element.
func TestReaderAgreesWithDcmdump(t *testing.T) {
	requireTool(t, "dcmdump")
	root := sharedTestdata(t, "dicom")
	var files []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.HasSuffix(p, ".dcm") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 50 {
		t.Fatalf("only %d test files under %s", len(files), root)
	}
	compared := 0
	for _, p := range files {
		rel, _ := filepath.Rel(root, p)
		want, ok := dcmdumpEntries(t, p)
		if !ok {
			t.Logf("%s: dcmdump does not parse it; skipped", rel)
			continue
		}
		t.Run(rel, func(t *testing.T) {
			got, err := ourEntries(p)
			if err != nil {
				t.Fatalf("our reader failed where dcmdump did not: %v", err)
			}
			file, _ := OpenFile(p)
			implicit := !file.Syntax.Explicit
			n := min(len(got), len(want))
			for i := 0; i < n; i++ {
				g, w := got[i], want[i]
				if g.Tag != w.Tag || !lengthAgrees(g.Length, w.Length) || !vrAgrees(g.VR, w.VR, implicit) {
					t.Fatalf("element %d: ours %v, dcmdump %v", i, g, w)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("ours has %d elements, dcmdump %d (first extra: ours %v / dcmdump %v)", len(got), len(want), at(got, n), at(want, n))
			}
		})
		compared++
	}
	t.Logf("compared %d of %d files with dcmdump", compared, len(files))
}

func at(l []dumpEntry, i int) any {
	if i < len(l) {
		return l[i]
	}
	return "-"
}

// lengthAgrees allows DCMTK's padding of odd value lengths to even.
func lengthAgrees(ours, theirs string) bool {
	if ours == theirs {
		return true
	}
	var o, d int
	fmt.Sscan(ours, &o)
	fmt.Sscan(theirs, &d)
	return o%2 == 1 && d == o+1
}
