package dimse

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sonogate/sonogate/internal/testenv"
)

// smallFile returns the smallest shared US file.
func smallFile(t testing.TB) string {
	t.Helper()
	var best string
	var size int64 = 1 << 62
	for _, f := range usFiles(t) {
		if st, err := os.Stat(f); err == nil && st.Size() < size {
			best, size = f, st.Size()
		}
	}
	return best
}

// runNagleStorescu runs storescu with Nagle's algorithm left on
// (TCP_NODELAY=0 in its environment) sending file n times in one association.
func runNagleStorescu(t testing.TB, addr, file string, n int) (string, error) {
	bin := testenv.RequireTool(t, "storescu")
	h, p := hostPort(t, addr)
	dir := t.TempDir()
	args := []string{"-aet", "NAGLE", "-aec", "SONOGATE", h, p}
	opt, ok := storescuProposal[readPart10(t, file).tsUID]
	if ok {
		args = append([]string{opt}, args...)
	}
	for i := range n {
		link := filepath.Join(dir, itoa(i)+".dcm")
		if err := os.Symlink(file, link); err != nil {
			t.Fatal(err)
		}
		args = append(args, link)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "TCP_NODELAY=") {
			env = append(env, e)
		}
	}
	cmd.Env = append(env, "TCP_NODELAY=0")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// A DCMTK client with Nagle's algorithm on completes ~50 small stores
// (TCP_QUICKACK keeps it from waiting on our delayed ACKs; timing is
// measured by BenchmarkNagleStoreSCU, not asserted here).
func TestInteropNagleStoreSCU(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	_, addr := startServer(t, ServerConfig{AETitle: "SONOGATE"}, rec)
	out, err := runNagleStorescu(t, addr, smallFile(t), 50)
	if err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	if n := len(rec.all()); n != 50 {
		t.Fatalf("received %d instances, want 50", n)
	}
}

// BenchmarkNagleStoreSCU measures small C-STOREs per second from a
// Nagle-on storescu (300 files per association).
func BenchmarkNagleStoreSCU(b *testing.B) {
	srv := newRecorder(b)
	_, addr := startServer(b, ServerConfig{AETitle: "SONOGATE", Logger: discardLogger()}, srv)
	file := smallFile(b)
	const files = 300
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if out, err := runNagleStorescu(b, addr, file, files); err != nil {
			b.Fatalf("storescu: %v\n%s", err, out)
		}
	}
	b.ReportMetric(float64(files*b.N)/time.Since(start).Seconds(), "files/s")
}
