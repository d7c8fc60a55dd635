package dimse

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Shutdown lets the operation in progress finish, then aborts associations
// still open at the deadline; Serve returns ErrServerClosed.
func TestShutdownDrainsToDeadline(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	h := StoreHandlerFunc(func(ctx context.Context, req *StoreRequest) StoreResponse {
		io.Copy(io.Discard, req.Data)
		close(started)
		<-release
		return StoreResponse{Status: StatusSuccess}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(ServerConfig{Logger: testLogger(t)}, h)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	ctx := ctxTimeout(t, time.Minute)
	a, err := Dial(ctx, ln.Addr().String(), ClientConfig{CallingAE: "A", CalledAE: "B"},
		[]PresentationContextRequest{{AbstractSyntax: UIDUltrasoundImageStorage, TransferSyntaxes: []string{UIDExplicitVRLittleEndian}}})
	if err != nil {
		t.Fatal(err)
	}
	stored := make(chan error, 1)
	go func() {
		_, err := a.Store(ctx, UIDUltrasoundImageStorage, "1.2", UIDExplicitVRLittleEndian, bytes.NewReader(make([]byte, 64)))
		stored <- err
	}()
	<-started
	sctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(sctx) }()
	time.Sleep(50 * time.Millisecond)
	close(release) // the operation in progress completes during the drain
	if err := <-stored; err != nil {
		t.Fatalf("store during shutdown: %v", err)
	}
	// The idle association is still open; the deadline aborts it.
	if err := <-shut; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve = %v", err)
	}
	if _, err := a.Echo(ctx); err == nil {
		t.Fatal("association still usable after shutdown")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("listener still accepting")
	}
}

func TestShutdownIdleServerReturnsNil(t *testing.T) {
	t.Parallel()
	s, addr := startServer(t, ServerConfig{}, newRecorder(t))
	ctx := ctxTimeout(t, time.Minute)
	a, err := Dial(ctx, addr, ClientConfig{CallingAE: "A", CalledAE: "B"},
		[]PresentationContextRequest{{AbstractSyntax: UIDVerification, TransferSyntaxes: []string{UIDImplicitVRLittleEndian}}})
	if err != nil {
		t.Fatal(err)
	}
	a.Release(ctx)
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	_, addr := startServer(t, ServerConfig{AETitle: "SONOGATE", Registerer: reg}, newRecorder(t))
	ctx := ctxTimeout(t, time.Minute)
	a, err := Dial(ctx, addr, ClientConfig{CallingAE: "A", CalledAE: "SONOGATE"},
		[]PresentationContextRequest{{AbstractSyntax: UIDUltrasoundImageStorage, TransferSyntaxes: []string{UIDExplicitVRLittleEndian}},
			{AbstractSyntax: UIDVerification, TransferSyntaxes: []string{UIDImplicitVRLittleEndian}}})
	if err != nil {
		t.Fatal(err)
	}
	a.Echo(ctx)
	a.Store(ctx, UIDUltrasoundImageStorage, "1.2", UIDExplicitVRLittleEndian, bytes.NewReader(make([]byte, 1000)))
	a.Release(ctx)
	if _, err := Dial(ctx, addr, ClientConfig{CallingAE: "A", CalledAE: "WRONG"}, []PresentationContextRequest{{AbstractSyntax: UIDVerification, TransferSyntaxes: []string{UIDImplicitVRLittleEndian}}}); err == nil {
		t.Fatal("wrong AE accepted")
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "/" + l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[key] = m.GetGauge().GetValue()
			}
		}
	}
	want := map[string]float64{
		"sonogate_dimse_associations_total/accepted":        1,
		"sonogate_dimse_associations_total/rejected":        1,
		"sonogate_dimse_messages_received_total/C-ECHO-RQ":  1,
		"sonogate_dimse_messages_received_total/C-STORE-RQ": 1,
		"sonogate_dimse_associations_active":                0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	// Command sets of C-ECHO-RQ and C-STORE-RQ plus the 1000-byte data set.
	if n := got["sonogate_dimse_received_bytes_total"]; n < 1000 || n > 1400 {
		t.Errorf("received bytes %v", n)
	}
}
