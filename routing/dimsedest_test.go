package routing

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dimse"
)

const (
	usImageStorage  = "1.2.840.10008.5.1.4.1.1.6.1"
	explicitVRLE    = "1.2.840.10008.1.2.1"
	unknownSOPClass = "1.2.3.4.5.6.7.8.9"
)

type received struct {
	assocID, callingAE, sopClass, sopInstance, ts string
	data                                          []byte
}

type recordingSCP struct {
	mu     sync.Mutex
	got    []received
	status map[string]dimse.Status // by SOP Instance UID
}

func (r *recordingSCP) HandleCStore(ctx context.Context, req *dimse.StoreRequest) dimse.StoreResponse {
	data, err := io.ReadAll(req.Data)
	if err != nil {
		return dimse.StoreResponse{Status: 0xA700}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, received{req.Assoc.ID, req.Assoc.CallingAE, req.AffectedSOPClassUID, req.AffectedSOPInstanceUID, req.TransferSyntaxUID, data})
	return dimse.StoreResponse{Status: r.status[req.AffectedSOPInstanceUID]}
}

func (r *recordingSCP) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func startSCP(t *testing.T, h dimse.StoreHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := dimse.NewServer(dimse.ServerConfig{AETitle: "PACS"}, h)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// writePart10 writes prefix+data and returns the instance pointing at it.
func writePart10(t *testing.T, dir, uid string, data []byte) (*catalog.Instance, string) {
	t.Helper()
	prefix := append(make([]byte, 128), "DICM-and-some-meta-bytes"...)
	path := filepath.Join(dir, uid+".dcm")
	if err := os.WriteFile(path, append(prefix, data...), 0o640); err != nil {
		t.Fatal(err)
	}
	return &catalog.Instance{SOPInstanceUID: uid, SOPClassUID: usImageStorage, TransferSyntaxUID: explicitVRLE,
		DataOffset: int64(len(prefix))}, path
}

func TestDIMSEDestination(t *testing.T) {
	t.Parallel()
	scp := &recordingSCP{status: map[string]dimse.Status{"9.2": 0xA700, "9.3": 0xB000}}
	addr := startSCP(t, scp)
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	dst, err := NewDestination(config.Destination{Name: "pacs", DIMSE: &config.DIMSEDest{AETitle: "PACS", Host: host, Port: p}}, "SONOGATE", nil)
	if err != nil {
		t.Fatal(err)
	}
	d := dst.(*DIMSE)
	d.cfg.IdleTimeout = 300 * time.Millisecond
	defer d.Close()
	ctx := context.Background()
	dir := t.TempDir()

	big := make([]byte, 3<<20+6) // several PDUs; data sets are even-length (PS3.5 §7.1.1)
	rand.Read(big)
	inst1, path1 := writePart10(t, dir, "9.1", big)
	if err := d.Send(ctx, inst1, path1); err != nil {
		t.Fatal(err)
	}
	// A700 is a failure status: retryable, and the association survives.
	inst2, path2 := writePart10(t, dir, "9.2", []byte("small data set\x00"))
	err = d.Send(ctx, inst2, path2)
	var se *dimse.StatusError
	if !errors.As(err, &se) || se.Status != 0xA700 || Classify(err) != Retry {
		t.Fatalf("A700 send = %v (class %v)", err, Classify(err))
	}
	// B000 is a warning: delivered.
	inst3, path3 := writePart10(t, dir, "9.3", []byte("warn"))
	if err := d.Send(ctx, inst3, path3); err != nil {
		t.Fatalf("warning status send = %v, want nil", err)
	}
	got := scp.received()
	if len(got) != 3 {
		t.Fatalf("SCP received %d, want 3", len(got))
	}
	if !bytes.Equal(got[0].data, big) {
		t.Errorf("data set differs: got %d bytes, want %d (original bytes from DataOffset)", len(got[0].data), len(big))
	}
	if got[0].sopClass != usImageStorage || got[0].ts != explicitVRLE || got[0].sopInstance != "9.1" || got[0].callingAE != "SONOGATE" {
		t.Errorf("received %+v", got[0])
	}
	if got[0].assocID != got[1].assocID || got[1].assocID != got[2].assocID {
		t.Errorf("association not reused: %s %s %s", got[0].assocID, got[1].assocID, got[2].assocID)
	}
	// After the idle timeout the association is released; the next send opens a new one.
	time.Sleep(600 * time.Millisecond)
	d.mu.Lock()
	idle := len(d.idle)
	d.mu.Unlock()
	if idle != 0 {
		t.Errorf("%d idle associations after idle timeout", idle)
	}
	if err := d.Send(ctx, inst1, path1); err != nil {
		t.Fatal(err)
	}
	if got := scp.received(); got[3].assocID == got[0].assocID {
		t.Error("expected a new association after the idle timeout")
	}
	// A SOP class the peer does not accept fails permanently, with no transcoding.
	bad, badPath := writePart10(t, dir, "9.4", []byte("x"))
	bad.SOPClassUID = unknownSOPClass
	err = d.Send(ctx, bad, badPath)
	if err == nil || Classify(err) != Permanent {
		t.Fatalf("unsupported SOP class: %v (class %v)", err, Classify(err))
	}
	// The association still carries US afterwards (a new one proposing both).
	if err := d.Send(ctx, inst3, path3); err != nil {
		t.Fatal(err)
	}
	// A missing file fails permanently without dialling.
	if err := d.Send(ctx, inst1, filepath.Join(dir, "gone.dcm")); Classify(err) != Permanent {
		t.Errorf("missing file: %v", err)
	}
}

func TestDIMSEDestinationRefused(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	d, err := NewDIMSE(DIMSEConfig{Name: "down", Addr: addr, CalledAE: "PACS", CallingAE: "SG", DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	inst, path := writePart10(t, t.TempDir(), "8.1", []byte("data"))
	err = d.Send(context.Background(), inst, path)
	if err == nil || Classify(err) != Retry {
		t.Errorf("send to closed port = %v (class %v), want retryable", err, Classify(err))
	}
	// Wrong called AE: the SCP rejects permanently (source 1, reason 7).
	addr2 := startSCP(t, &recordingSCP{})
	d2, _ := NewDIMSE(DIMSEConfig{Name: "wrongae", Addr: addr2, CalledAE: "NOTPACS", CallingAE: "SG"})
	err = d2.Send(context.Background(), inst, path)
	var rj *dimse.AssociateRejectError
	if !errors.As(err, &rj) || Classify(err) != Permanent {
		t.Errorf("wrong called AE = %v (class %v), want permanent reject", err, Classify(err))
	}
}
