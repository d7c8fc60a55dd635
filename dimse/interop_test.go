package dimse

import (
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sonogate/sonogate/internal/testenv"
)

func hostPort(t testing.TB, addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func TestInteropEchoSCU(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, ServerConfig{AETitle: "SONOGATE"}, newRecorder(t))
	h, p := hostPort(t, addr)
	out, code := testenv.Run(t, "echoscu", "-v", "-aet", "ECHOSCU", "-aec", "SONOGATE", h, p)
	if code != 0 {
		t.Fatalf("echoscu exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, "Received Echo Response (Success)") {
		t.Fatalf("echoscu output lacks success:\n%s", out)
	}
	// Wrong called AE: rejected permanent, source 1, reason 7.
	out, code = testenv.Run(t, "echoscu", "-v", "-aet", "ECHOSCU", "-aec", "OTHER", h, p)
	if code == 0 || !strings.Contains(out, "Called AE Title Not Recognized") {
		t.Fatalf("echoscu to wrong AE: exit %d\n%s", code, out)
	}
}

// storescuProposal maps a file's transfer syntax to the storescu option
// that proposes it, so every file travels in its own encoding.
var storescuProposal = map[string]string{
	"1.2.840.10008.1.2":      "-xi",
	"1.2.840.10008.1.2.1":    "-xe",
	"1.2.840.10008.1.2.2":    "-xb",
	"1.2.840.10008.1.2.4.50": "-xy",
	"1.2.840.10008.1.2.4.70": "-xs",
	"1.2.840.10008.1.2.4.91": "-xw",
	"1.2.840.10008.1.2.4.90": "-xv",
	"1.2.840.10008.1.2.5":    "-xr",
}

// groupByTS groups the shared US files by the storescu option for their
// transfer syntax (files with no option are left out).
func groupByTS(t *testing.T) map[string][]string {
	groups := map[string][]string{}
	for _, f := range usFiles(t) {
		if opt, ok := storescuProposal[readPart10(t, f).tsUID]; ok {
			groups[opt] = append(groups[opt], f)
		}
	}
	return groups
}

// reference sends the same files with the same tool to DCMTK storescp in
// bit-preserving mode and returns the data sets it received by SOP
// Instance UID: DCMTK senders re-encode data sets (they drop trailing
// padding, for example), so this is what "exactly as received" means.
func reference(t *testing.T, tool string, args func(host, port string) []string) map[string][]byte {
	dir := t.TempDir()
	port := testenv.StartStoreSCP(t, "REFSCP", dir)
	out, code := testenv.RunTimeout(t, 2*time.Minute, tool, args("127.0.0.1", itoa(port))...)
	if code != 0 && tool != "dcmsend" {
		t.Fatalf("%s to storescp: exit %d\n%s", tool, code, out)
	}
	ref := map[string][]byte{}
	for _, f := range testenv.ReceivedFiles(t, dir) {
		p := readPart10(t, f)
		ref[p.sopInstance] = p.dataset
	}
	return ref
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestInteropStoreSCU(t *testing.T) {
	t.Parallel()
	groups := groupByTS(t)
	opts := make([]string, 0, len(groups))
	for o := range groups {
		opts = append(opts, o)
	}
	sort.Strings(opts)
	for _, opt := range opts {
		files := groups[opt]
		t.Run(opt, func(t *testing.T) {
			t.Parallel()
			args := func(h, p string) []string {
				return append([]string{"-v", "-R", opt, "-aet", "STORESCU", "-aec", "SONOGATE", h, p}, files...)
			}
			rec := newRecorder(t)
			_, addr := startServer(t, ServerConfig{AETitle: "SONOGATE"}, rec)
			out, code := testenv.RunTimeout(t, 2*time.Minute, "storescu", args(hostPort(t, addr))...)
			if code != 0 {
				t.Fatalf("storescu exit %d:\n%s", code, out)
			}
			checkReceived(t, rec, files, reference(t, "storescu", args))
		})
	}
}

func TestInteropDcmsend(t *testing.T) {
	t.Parallel()
	files := usFiles(t)
	args := func(h, p string) []string {
		return append([]string{"-v", "--no-halt", "-aet", "DCMSEND", "-aec", "SONOGATE", h, p}, files...)
	}
	rec := newRecorder(t)
	_, addr := startServer(t, ServerConfig{AETitle: "SONOGATE", MaxPDULength: 16384}, rec)
	out, _ := testenv.RunTimeout(t, 2*time.Minute, "dcmsend", args(hostPort(t, addr))...)
	// dcmsend refuses some shared files itself (an invalid SOP Instance
	// UID, for example); compare what it accepted to send.
	var sent []string
	for _, f := range files {
		if !strings.Contains(out, "cannot add DICOM file to the transfer list: "+f) {
			sent = append(sent, f)
		}
	}
	checkReceived(t, rec, sent, reference(t, "dcmsend", args))
}

// checkReceived checks every received instance: SOP class, transfer
// syntax of its context, and data set bytes equal to what DCMTK storescp
// received bit-preserving from the same sender (ref) and, when the sender
// did not re-encode it, to the source file's data set.
func checkReceived(t *testing.T, rec *recorder, files []string, ref map[string][]byte) {
	t.Helper()
	want := map[string]part10{}
	for _, f := range files {
		p := readPart10(t, f)
		want[p.sopInstance] = p
	}
	got := rec.all()
	if len(got) != len(want) {
		t.Fatalf("received %d instances, want %d", len(got), len(want))
	}
	identical := 0
	for _, g := range got {
		w, ok := want[g.req.AffectedSOPInstanceUID]
		if !ok {
			t.Errorf("unexpected instance %s", g.req.AffectedSOPInstanceUID)
			continue
		}
		if g.req.AffectedSOPClassUID != w.sopClass {
			t.Errorf("%s: SOP class %s, want %s", w.path, g.req.AffectedSOPClassUID, w.sopClass)
		}
		b, err := os.ReadFile(g.path)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := ref[w.sopInstance]
		if !ok {
			t.Errorf("%s: storescp did not receive it", w.path)
			continue
		}
		if string(b) != string(r) {
			t.Errorf("%s: data set differs from what storescp received: %d bytes, want %d", w.path, len(b), len(r))
		}
		if g.req.TransferSyntaxUID == w.tsUID && string(r) == string(w.dataset) {
			identical++
			if string(b) != string(w.dataset) {
				t.Errorf("%s: data set differs from the file's", w.path)
			}
		}
	}
	t.Logf("%d instances received, %d byte-identical to the source file's data set", len(got), identical)
}
