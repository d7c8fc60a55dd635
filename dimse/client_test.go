package dimse

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sonogate/sonogate/internal/testenv"
)

// TestInteropClientToStoreSCP sends every shared US file with our client
// to DCMTK storescp (bit-preserving) and compares the stored data sets
// with the source files byte for byte.
func TestInteropClientToStoreSCP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := testenv.StartStoreSCP(t, "STORESCP", dir)
	files := usFiles(t)
	var pcs []PresentationContextRequest
	seen := map[[2]string]bool{}
	parts := make([]part10, len(files))
	for i, f := range files {
		p := readPart10(t, f)
		parts[i] = p
		k := [2]string{p.sopClass, p.tsUID}
		if !seen[k] {
			seen[k] = true
			pcs = append(pcs, PresentationContextRequest{AbstractSyntax: p.sopClass, TransferSyntaxes: []string{p.tsUID}})
		}
	}
	pcs = append(pcs, PresentationContextRequest{AbstractSyntax: UIDVerification, TransferSyntaxes: []string{UIDImplicitVRLittleEndian}})
	ctx := ctxTimeout(t, time.Minute)
	a, err := Dial(ctx, "127.0.0.1:"+itoa(port), ClientConfig{CallingAE: "SONOGATE", CalledAE: "STORESCP", ResponseTimeout: 30 * time.Second}, pcs)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := a.Echo(ctx); err != nil || st != StatusSuccess {
		t.Fatalf("Echo = %v, %v", st, err)
	}
	for _, p := range parts {
		resp, err := a.Store(ctx, p.sopClass, p.sopInstance, p.tsUID, bytes.NewReader(p.dataset))
		if err != nil || resp.Status != StatusSuccess {
			t.Fatalf("Store %s: %+v, %v", p.path, resp, err)
		}
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	got := map[string][]byte{}
	for _, f := range testenv.ReceivedFiles(t, dir) {
		p := readPart10(t, f)
		got[p.sopInstance] = p.dataset
		if p.tsUID == "" {
			t.Errorf("%s: no transfer syntax in meta", f)
		}
	}
	for _, p := range parts {
		if g, ok := got[p.sopInstance]; !ok {
			t.Errorf("%s: not stored by storescp", p.path)
		} else if !bytes.Equal(g, p.dataset) {
			t.Errorf("%s: storescp stored %d bytes, want %d identical bytes", p.path, len(g), len(p.dataset))
		}
	}
}

// TestClientServerStore runs our client against our server: a large
// streamed data set, small and odd peer limits, failure statuses.
func TestClientServerStore(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		serverMax uint32
		size      int
	}{
		{"unlimited-peer-B01", 0, 3 << 20},
		{"tiny-peer-B02", 16, 4096},
		{"odd-peer-B02", 4097, 1 << 20},
		{"max-uint32-peer-B02", 0xFFFFFFFF, 1 << 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder(t)
			srv, addr := startServer(t, ServerConfig{AETitle: "SONOGATE"}, rec)
			srv.policy.maxPDULength = c.serverMax // what the server announces
			if c.serverMax == 0xFFFFFFFF || c.serverMax == 0 {
				srv.policy.maxPDULength = c.serverMax
			}
			ctx := ctxTimeout(t, time.Minute)
			a, err := Dial(ctx, addr, ClientConfig{CallingAE: "SCU", CalledAE: "SONOGATE"},
				[]PresentationContextRequest{{AbstractSyntax: UIDUltrasoundImageStorage, TransferSyntaxes: []string{UIDExplicitVRLittleEndian}}})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Release(ctx)
			if got := a.PeerMaxPDULength(); got != c.serverMax {
				t.Fatalf("peer max %d, want %d", got, c.serverMax)
			}
			data := make([]byte, c.size)
			for i := range data {
				data[i] = byte(i * 7)
			}
			resp, err := a.Store(ctx, UIDUltrasoundImageStorage, "1.2.3.4", UIDExplicitVRLittleEndian, bytes.NewReader(data))
			if err != nil || resp.Status != StatusSuccess {
				t.Fatalf("Store: %+v %v", resp, err)
			}
			got := rec.all()
			if len(got) != 1 || got[0].size != int64(len(data)) {
				t.Fatalf("received %+v", got)
			}
			b, _ := os.ReadFile(got[0].path)
			if !bytes.Equal(b, data) {
				t.Fatal("data differs")
			}
			if _, err := a.Store(ctx, UIDUltrasoundImageStorage, "1.2.3.5", UIDJPEGBaseline8Bit, bytes.NewReader(data)); !errors.Is(err, ErrNoPresentationContext) {
				t.Fatalf("Store on unaccepted TS: %v, want ErrNoPresentationContext", err)
			}
		})
	}
}

func TestStoreFailureStatusesAndPanic(t *testing.T) {
	t.Parallel()
	calls := 0
	h := StoreHandlerFunc(func(ctx context.Context, req *StoreRequest) StoreResponse {
		calls++
		switch req.AffectedSOPInstanceUID {
		case "panic":
			io.CopyN(io.Discard, req.Data, 10)
			panic("boom")
		case "full":
			return StoreResponse{Status: StatusOutOfResources, ErrorComment: strings.Repeat("disk full ", 10)}
		}
		return StoreResponse{Status: StatusSuccess} // returns without reading: server drains
	})
	_, addr := startServer(t, ServerConfig{}, h)
	ctx := ctxTimeout(t, time.Minute)
	a, err := Dial(ctx, addr, ClientConfig{CallingAE: "SCU", CalledAE: "ANY"},
		[]PresentationContextRequest{{AbstractSyntax: UIDUltrasoundImageStorage, TransferSyntaxes: []string{UIDExplicitVRLittleEndian}}})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{1, 2}, 100000)
	resp, err := a.Store(ctx, UIDUltrasoundImageStorage, "panic", UIDExplicitVRLittleEndian, bytes.NewReader(data))
	var se *StatusError
	if !errors.As(err, &se) || resp.Status != 0xC211 || !resp.Status.IsFailure() || resp.ErrorComment == "" {
		t.Fatalf("panic: %+v %v", resp, err)
	}
	resp, err = a.Store(ctx, UIDUltrasoundImageStorage, "full", UIDExplicitVRLittleEndian, bytes.NewReader(data))
	if resp.Status != StatusOutOfResources || len(resp.ErrorComment) != MaxErrorCommentLength || !errors.As(err, &se) {
		t.Fatalf("full: %+v %v", resp, err)
	}
	resp, err = a.Store(ctx, UIDUltrasoundImageStorage, "ok", UIDExplicitVRLittleEndian, bytes.NewReader(data))
	if err != nil || resp.Status != StatusSuccess {
		t.Fatalf("after panic the association should carry on: %+v %v", resp, err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if calls != 3 {
		t.Fatalf("handler calls %d", calls)
	}
}

func TestDialRejections(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, ServerConfig{AETitle: "SONOGATE", AllowedCallingAEs: []string{"GOOD"}}, newRecorder(t))
	ctx := ctxTimeout(t, time.Minute)
	pcs := []PresentationContextRequest{{AbstractSyntax: UIDVerification, TransferSyntaxes: []string{UIDImplicitVRLittleEndian}}}
	cases := []struct {
		calling, called        string
		result, source, reason byte
	}{
		{"GOOD", "WRONG", 1, 1, 7},
		{"BAD", "SONOGATE", 1, 1, 3},
	}
	for _, c := range cases {
		_, err := Dial(ctx, addr, ClientConfig{CallingAE: c.calling, CalledAE: c.called}, pcs)
		var rj *AssociateRejectError
		if !errors.As(err, &rj) || rj.Result != c.result || rj.Source != c.source || rj.Reason != c.reason || rj.Transient() {
			t.Errorf("%s→%s: %v", c.calling, c.called, err)
		}
	}
	a, err := Dial(ctx, addr, ClientConfig{CallingAE: "GOOD", CalledAE: "SONOGATE"}, pcs)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := a.Echo(ctx); err != nil || !st.IsSuccess() {
		t.Fatalf("echo %v %v", st, err)
	}
	a.Release(ctx)
}

func TestMaxAssociationsTransientReject(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, ServerConfig{MaxAssociations: 1}, newRecorder(t))
	ctx := ctxTimeout(t, time.Minute)
	pcs := []PresentationContextRequest{{AbstractSyntax: UIDVerification, TransferSyntaxes: []string{UIDImplicitVRLittleEndian}}}
	a, err := Dial(ctx, addr, ClientConfig{CallingAE: "A", CalledAE: "B"}, pcs)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Dial(ctx, addr, ClientConfig{CallingAE: "A", CalledAE: "B"}, pcs)
	var rj *AssociateRejectError
	if !errors.As(err, &rj) || !rj.Transient() || rj.Source != 3 || rj.Reason != 2 {
		t.Fatalf("second association: %v, want transient reject source 3 reason 2", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestContextCancelAborts(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	h := StoreHandlerFunc(func(ctx context.Context, req *StoreRequest) StoreResponse {
		io.Copy(io.Discard, req.Data)
		<-block
		return StoreResponse{}
	})
	_, addr := startServer(t, ServerConfig{}, h)
	defer close(block)
	a, err := Dial(context.Background(), addr, ClientConfig{CallingAE: "A", CalledAE: "B"},
		[]PresentationContextRequest{{AbstractSyntax: UIDUltrasoundImageStorage, TransferSyntaxes: []string{UIDExplicitVRLittleEndian}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = a.Store(ctx, UIDUltrasoundImageStorage, "1.2", UIDExplicitVRLittleEndian, bytes.NewReader(make([]byte, 100)))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Store err %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	if _, err := a.Echo(context.Background()); !errors.Is(err, ErrAssociationClosed) {
		t.Fatalf("after abort: %v", err)
	}
}
