package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/dimse"
	"github.com/sonogate/sonogate/internal/testenv"
)

const secondaryCaptureStorage = "1.2.840.10008.5.1.4.1.1.7"

// malformedResult is what happened to one malformed file.
type malformedResult struct {
	path string
	info Instance
	// DCMTK storescu, proposing the file's own SOP class and transfer
	// syntax when the sonogate codec reads them, else its own choice (-R).
	dcmtk    Outcome
	dcmtkEnd string
	// A raw C-STORE of the bytes after the meta group with sonogate's
	// dimse client, when DCMTK got no C-STORE response: the data set goes
	// through the gateway's parser even when DCMTK cannot read the file or
	// the gateway does not negotiate its SOP class (then it is declared as
	// Secondary Capture, and must not be taken).
	raw               Outcome
	rawEnd            string
	rawClass, rawInst string
	rawTried          bool
}

// TestMalformed sends every file of the malformed corpus to one gateway,
// one association per file: the process never dies, each association is
// released or aborted (never hangs), a C-ECHO works after every file, and
// the catalog holds an instance for each Success and none for a failure
// (DESIGN.md §1 step 2: nothing half-indexed; field failures B36-B45).
func TestMalformed(t *testing.T) {
	t.Parallel()
	testenv.RequireTool(t, "storescu")
	testenv.RequireTool(t, "echoscu")
	dir := testenv.SharedTestdata(t, "dicom/malformed")
	sops, tss := acceptedByDefault(t)
	sg := StartSonogate(t, SonogateOptions{})
	paths := listFiles(t, dir)
	if len(paths) == 0 {
		t.Fatalf("%s is empty", dir)
	}

	var results []*malformedResult
	for _, p := range paths {
		r := &malformedResult{path: p}
		results = append(results, r)
		name := filepath.Base(p)
		in, err := ReadInstance(p)
		r.info = in
		var out map[string]Outcome
		var log string
		code := 0
		if err == nil && in.SOPClass != "" && in.SOPInst != "" && in.TS != "" {
			out, log = Storescu(t, sg.Addr(), "SONOGATE", []Instance{in})
		} else {
			out, log, code = StorescuPaths(t, sg.Addr(), "SONOGATE", []string{p}, "-R")
			if code == -1 {
				t.Errorf("%s: storescu timed out (association hung?)", name)
			}
		}
		r.dcmtk = outcomeOf(out, p)
		r.dcmtkEnd = associationEnd(log)

		if !r.dcmtk.Sent {
			r.rawTried = true
			r.rawClass, r.rawInst = in.SOPClass, in.SOPInst
			if !sops[r.rawClass] || r.rawClass == "" {
				r.rawClass = secondaryCaptureStorage
			}
			if r.rawInst == "" {
				r.rawInst = newUID(t)
			}
			ts := in.TS
			if !tss[ts] {
				ts = dcm.ExplicitVRLittleEndian.UID
			}
			r.raw, r.rawEnd = rawStore(t, sg.Addr(), r.rawClass, r.rawInst, ts, rawDataSet(t, p))
		}

		if !sg.Alive() {
			t.Fatalf("%s: sonogate died (%v); log:\n%s", name, sg.ExitErr(), tail(sg.Log(), 40))
		}
		if code, out := Echoscu(t, sg.Addr(), "SONOGATE"); code != 0 {
			t.Errorf("%s: C-ECHO after the file failed (exit %d): %s", name, code, out)
		}
		if strings.Contains(strings.ToLower(r.dcmtk.Err), "timeout") {
			t.Errorf("%s: no C-STORE response within storescu's DIMSE timeout: %s", name, r.dcmtk.Err)
		}
		if strings.HasPrefix(r.dcmtkEnd, "unclear") || r.rawEnd == "hung" {
			t.Errorf("%s: association did not end cleanly (storescu: %s; raw: %s)", name, r.dcmtkEnd, r.rawEnd)
		}
		// Declared as Secondary Capture while the data set's SOP Class UID
		// (0008,0016) says otherwise: the gateway must refuse (PS3.4
		// B.2.3, 0xA900 data set does not match SOP class).
		if r.rawTried && r.raw.Success() {
			if dsClass := dataSetSOPClass(p); dsClass != "" && dsClass != r.rawClass {
				t.Errorf("%s: data set of SOP class %s stored as %s (Success)", name, dsClass, r.rawClass)
			}
		}
		if r.dcmtk.Sent && !r.dcmtk.Success() && r.dcmtk.Comment == "" {
			t.Errorf("%s: refused with 0x%04X and no Error Comment", name, r.dcmtk.Status)
		}
		if r.raw.Sent && !r.raw.Success() && r.raw.Comment == "" {
			t.Errorf("%s: raw C-STORE refused with 0x%04X and no Error Comment", name, r.raw.Status)
		}
	}
	if strings.Contains(sg.Log(), "panic") {
		t.Errorf("the gateway logged a (recovered) panic:\n%s", grepLines(sg.Log(), "panic", 10))
	}

	// The durable state after a clean stop: an instance per Success,
	// none for a failure, no stray file.
	if err := sg.Stop(); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	cat := sg.OpenCatalog(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	success := map[string]bool{} // SOP Instance UID → some file stored under it
	failed := map[string]bool{}
	for _, r := range results {
		for _, x := range []struct {
			o   Outcome
			uid string
		}{{r.dcmtk, r.info.SOPInst}, {r.raw, r.rawInst}} {
			switch {
			case x.uid == "":
			case x.o.Success():
				success[x.uid] = true
			case x.o.Sent:
				failed[x.uid] = true
			}
		}
	}
	versions := 0
	for _, uid := range sortedKeys(success) {
		insts, err := cat.InstancesBySOP(ctx, "clinical", uid)
		if err != nil {
			t.Fatal(err)
		}
		if len(insts) == 0 {
			t.Errorf("%s: answered Success but not in the catalog", uid)
		}
		for _, in := range insts {
			if _, err := os.Stat(filepath.Join(sg.ObjectsDir(), in.RelPath)); err != nil {
				t.Errorf("%s: catalog row without its file: %v", uid, err)
			}
		}
		versions += len(insts)
	}
	for _, uid := range sortedKeys(failed) {
		if success[uid] {
			continue
		}
		insts, err := cat.InstancesBySOP(ctx, "clinical", uid)
		if err != nil {
			t.Fatal(err)
		}
		if len(insts) != 0 {
			t.Errorf("%s: refused, yet the catalog holds %d version(s) of it", uid, len(insts))
		}
	}
	if n := len(storeFiles(t, sg.ObjectsDir())); n != versions {
		t.Errorf("store holds %d instance files, the catalog %d versions of the stored UIDs", n, versions)
	}
	if sp := spoolFiles(t, sg.ObjectsDir()); len(sp) != 0 {
		t.Errorf("spool files left behind: %v", sp)
	}

	byPath := map[string]*malformedResult{}
	for _, r := range results {
		byPath[r.path] = r
	}
	t.Log(outcomeTable(fmt.Sprintf("malformed: %d files, %d stored UIDs, %d refused UIDs", len(results), len(success), len(failed)),
		paths, []string{"storescu", "association", "raw C-STORE", "raw declared as"}, func(p, col string) string {
			r := byPath[p]
			switch col {
			case "storescu":
				return r.dcmtk.String()
			case "association":
				return r.dcmtkEnd
			case "raw C-STORE":
				if !r.rawTried {
					return "-"
				}
				return r.raw.String() + " / " + r.rawEnd
			}
			if !r.rawTried {
				return "-"
			}
			if r.rawClass == secondaryCaptureStorage && r.info.SOPClass != secondaryCaptureStorage {
				return "Secondary Capture"
			}
			return "own SOP class"
		}))
}

// associationEnd reads how storescu's association ended from its log.
func associationEnd(log string) string {
	switch {
	case strings.Contains(log, "Association Request Failed") && strings.Contains(log, "missing presentation contexts"):
		return "not opened (nothing to propose)"
	case strings.Contains(log, "Association Rejected"), strings.Contains(log, "Association Request Failed"):
		return "rejected"
	case strings.Contains(log, "No Acceptable Presentation Contexts"):
		return "no context accepted"
	case strings.Contains(log, "Peer Aborted Association"), strings.Contains(log, "Peer aborted"):
		return "aborted by sonogate"
	case strings.Contains(log, "Aborting Association"):
		return "aborted by storescu"
	case strings.Contains(log, "Releasing Association"):
		return "released"
	}
	return "unclear: " + lastLogLine(log)
}

// lastLogLine is the last I:/W:/E:/F: line of a DCMTK log.
func lastLogLine(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := lines[i]; len(l) > 2 && strings.Contains("IWEF", l[:1]) && l[1] == ':' {
			return l
		}
	}
	return "(no log)"
}

// rawDataSet returns the bytes after the file's meta group, or the whole
// file when it has none the codec can find.
func rawDataSet(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := dcm.OpenFile(path); err == nil && f.DataOffset <= int64(len(b)) {
		return b[f.DataOffset:]
	}
	if len(b) > 132 && string(b[128:132]) == "DICM" {
		return b[132:]
	}
	return b
}

// rawStore sends one C-STORE with sonogate's dimse client, proposing just
// (sopClass, ts), and releases the association.
func rawStore(t testing.TB, addr, sopClass, sopInst, ts string, data []byte) (Outcome, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := dimse.Dial(ctx, addr, dimse.ClientConfig{CallingAE: "E2ERAW", CalledAE: "SONOGATE", DialTimeout: 10 * time.Second, ResponseTimeout: 45 * time.Second},
		[]dimse.PresentationContextRequest{{AbstractSyntax: sopClass, TransferSyntaxes: []string{ts}}})
	if err != nil {
		return Outcome{Status: -1, Err: "associate: " + err.Error()}, "rejected"
	}
	resp, err := a.Store(ctx, sopClass, sopInst, ts, bytes.NewReader(data))
	var se *dimse.StatusError
	if err != nil && !errors.As(err, &se) {
		a.Abort()
		end := "aborted"
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			end = "hung"
		case errors.Is(err, dimse.ErrNoPresentationContext):
			end = "no context"
		}
		return Outcome{Status: -1, Err: err.Error()}, end
	}
	o := Outcome{Sent: true, Status: int(resp.Status), Comment: resp.ErrorComment}
	if err := a.Release(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return o, "hung"
		}
		return o, "release failed: " + err.Error()
	}
	return o, "released"
}

// dataSetSOPClass reads (0008,0016) from the data set of a file (not its
// meta group), "" when absent or unreadable before it.
func dataSetSOPClass(path string) string {
	f, err := dcm.OpenFile(path)
	if err != nil {
		return ""
	}
	fh, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer fh.Close()
	if _, err := fh.Seek(f.DataOffset, io.SeekStart); err != nil {
		return ""
	}
	rd := dcm.NewReader(bufio.NewReader(fh), f.Syntax, dcm.Options{LoadLimit: 1 << 16})
	for {
		e, err := rd.Next()
		if err != nil {
			return ""
		}
		if e.Depth != 0 {
			continue
		}
		if e.Tag == dcm.TagSOPClassUID {
			return strings.TrimRight(string(e.Value), "\x00 ")
		}
		if e.Tag > dcm.TagSOPClassUID {
			return ""
		}
	}
}

func grepLines(s, sub string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
			if len(out) == n {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
