package dimse

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sonogate/sonogate/internal/testenv"
)

// testLogger writes server logs to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startServer runs a Server on a loopback port; t.Cleanup closes it.
func startServer(t testing.TB, cfg ServerConfig, h StoreHandler) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	s := NewServer(cfg, h)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, ln.Addr().String()
}

// received is one C-STORE the recording handler saw.
type received struct {
	req  StoreRequest
	path string
	size int64
}

// recorder is a StoreHandler that writes each data set to a temp file.
type recorder struct {
	dir    string
	status Status
	mu     sync.Mutex
	got    []received
}

func newRecorder(t testing.TB) *recorder { return &recorder{dir: t.TempDir()} }

func (r *recorder) HandleCStore(ctx context.Context, req *StoreRequest) StoreResponse {
	f, err := os.CreateTemp(r.dir, "ds-*")
	if err != nil {
		return StoreResponse{Status: StatusOutOfResources, ErrorComment: err.Error()}
	}
	defer f.Close()
	n, err := io.Copy(f, req.Data)
	if err != nil {
		return StoreResponse{Status: StatusOutOfResources, ErrorComment: err.Error()}
	}
	r.mu.Lock()
	cp := *req
	cp.Data = nil
	r.got = append(r.got, received{req: cp, path: f.Name(), size: n})
	r.mu.Unlock()
	return StoreResponse{Status: r.status}
}

func (r *recorder) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// part10 is a parsed Part 10 test file: meta fields and the data set bytes.
type part10 struct {
	path                         string
	sopClass, sopInstance, tsUID string
	dataset                      []byte
}

// readPart10 parses the preamble and the group 0002 meta (explicit VR LE)
// itself, using (0002,0000) File Meta Information Group Length, and returns
// the data set that follows.
func readPart10(t testing.TB, path string) part10 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 144 || string(b[128:132]) != "DICM" {
		t.Fatalf("%s: not a Part 10 file", path)
	}
	p := 132
	if binary.LittleEndian.Uint16(b[p:]) != 2 || binary.LittleEndian.Uint16(b[p+2:]) != 0 || string(b[p+4:p+6]) != "UL" {
		t.Fatalf("%s: no (0002,0000) group length", path)
	}
	end := p + 12 + int(binary.LittleEndian.Uint32(b[p+8:]))
	out := part10{path: path, dataset: b[end:]}
	p += 12
	for p < end {
		el := binary.LittleEndian.Uint16(b[p+2:])
		vr := string(b[p+4 : p+6])
		var n, hdr int
		switch vr {
		case "OB", "OW", "OF", "SQ", "UT", "UN":
			n, hdr = int(binary.LittleEndian.Uint32(b[p+8:])), 12
		default:
			n, hdr = int(binary.LittleEndian.Uint16(b[p+6:])), 8
		}
		v := strings.TrimRight(string(b[p+hdr:p+hdr+n]), "\x00 ")
		switch el {
		case 0x0002:
			out.sopClass = v
		case 0x0003:
			out.sopInstance = v
		case 0x0010:
			out.tsUID = v
		}
		p += hdr + n
	}
	return out
}

func usFiles(t testing.TB) []string {
	t.Helper()
	dir := testenv.SharedTestdata(t, "dicom/ultrasound")
	files, err := filepath.Glob(filepath.Join(dir, "*.dcm"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in %s", dir)
	}
	// Some shared files are variants of one instance with the same SOP
	// Instance UID; keep the first of each so results can be matched by UID.
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		uid := readPart10(t, f).sopInstance
		if !seen[uid] {
			seen[uid] = true
			out = append(out, f)
		}
	}
	return out
}

func sameBytes(t testing.TB, name string, got string, want []byte) {
	t.Helper()
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s: received data set differs: %d bytes, want %d", name, len(b), len(want))
	}
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
