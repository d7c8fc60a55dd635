package dimse

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// slowFind sends a match every 10 ms until cancelled.
type slowFind struct{ sawCancel chan error }

func (h *slowFind) HandleCFind(ctx context.Context, req *FindRequest, send func([]byte) error) Response {
	for i := 0; i < 100; i++ {
		if err := send(req.Identifier); err != nil {
			h.sawCancel <- err
			return Response{Status: StatusCannotUnderstand}
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.sawCancel <- nil
	return Response{Status: StatusSuccess}
}

func TestFindCancel(t *testing.T) {
	s, addr := startServer(t, ServerConfig{}, nil)
	h := &slowFind{sawCancel: make(chan error, 1)}
	s.RegisterQueryRetrieve(QueryRetrieve{Find: h})
	ctx := context.Background()
	a, err := Dial(ctx, addr, ClientConfig{CallingAE: "SCU", CalledAE: "ANY"}, []PresentationContextRequest{
		{AbstractSyntax: UIDStudyRootQueryRetrieveInformationModelFind, TransferSyntaxes: []string{"1.2.840.10008.1.2"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	ident := []byte{0x08, 0x00, 0x52, 0x00, 6, 0, 0, 0, 'S', 'T', 'U', 'D', 'Y', ' '}
	cctx, cancel := context.WithCancel(ctx)
	n := 0
	rsp, err := a.Find(cctx, QueryOptions{SOPClassUID: UIDStudyRootQueryRetrieveInformationModelFind}, ident, func(b []byte) error {
		if !bytes.Equal(b, ident) {
			t.Errorf("identifier %x", b)
		}
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if err != nil || rsp.Status != StatusCancel {
		t.Fatalf("Find = %v, %v; want Cancel", rsp.Status, err)
	}
	if herr := <-h.sawCancel; !errors.Is(herr, ErrCancelled) {
		t.Errorf("handler saw %v, want ErrCancelled", herr)
	}
	// The association is still usable afterwards.
	rsp, err = a.Find(ctx, QueryOptions{SOPClassUID: UIDStudyRootQueryRetrieveInformationModelFind}, ident, func([]byte) error { return nil })
	if err != nil || rsp.Status != StatusSuccess {
		t.Fatalf("second Find = %v, %v", rsp.Status, err)
	}
}

type fixedRetrieve struct{ insts []RetrieveInstance }

func (h fixedRetrieve) HandleRetrieve(ctx context.Context, req *RetrieveRequest) RetrieveResult {
	if req.CommandField == CommandCMoveRQ && req.MoveDestination != "KNOWN" {
		return RetrieveResult{Response: Response{Status: StatusMoveDestinationUnknown}}
	}
	return RetrieveResult{Instances: h.insts}
}

// TestGetWithoutSCPRole is B09: storage contexts proposed without the SCP
// role give failed sub-operations, A702 and the Failed SOP Instance UID List.
func TestGetWithoutSCPRole(t *testing.T) {
	s, addr := startServer(t, ServerConfig{}, nil)
	data := func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("\x08\x00\x18\x00\x02\x00\x00\x001\x00")), nil
	}
	s.RegisterQueryRetrieve(QueryRetrieve{Retrieve: fixedRetrieve{insts: []RetrieveInstance{
		{SOPClassUID: UIDUltrasoundMultiFrameImageStorage, SOPInstanceUID: "1.2.3", TransferSyntaxUID: "1.2.840.10008.1.2", Open: data},
		{SOPClassUID: UIDUltrasoundMultiFrameImageStorage, SOPInstanceUID: "1.2.4", TransferSyntaxUID: "1.2.840.10008.1.2", Open: data},
	}}, Get: true})
	ctx := context.Background()
	for _, roles := range [][]string{nil, {UIDUltrasoundMultiFrameImageStorage}} {
		a, err := Dial(ctx, addr, ClientConfig{CallingAE: "SCU", CalledAE: "ANY", SCPRoles: roles}, []PresentationContextRequest{
			{AbstractSyntax: UIDStudyRootQueryRetrieveInformationModelGet, TransferSyntaxes: []string{"1.2.840.10008.1.2"}},
			{AbstractSyntax: UIDStudyRootQueryRetrieveInformationModelMove, TransferSyntaxes: []string{"1.2.840.10008.1.2"}},
			{AbstractSyntax: UIDUltrasoundMultiFrameImageStorage, TransferSyntaxes: []string{"1.2.840.10008.1.2"}}})
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		store := StoreHandlerFunc(func(_ context.Context, req *StoreRequest) StoreResponse {
			got++
			io.Copy(io.Discard, req.Data)
			return StoreResponse{Status: StatusSuccess}
		})
		rsp, err := a.Get(ctx, QueryOptions{SOPClassUID: UIDStudyRootQueryRetrieveInformationModelGet}, []byte{}, store, nil)
		if roles == nil {
			if rsp.Status != StatusOutOfResourcesUnableToPerformSubOperations || rsp.Failed != 2 || got != 0 ||
				!bytes.Contains(rsp.Identifier, []byte(`1.2.3\1.2.4`)) {
				t.Errorf("without role: %+v, %v, stored %d", rsp, err, got)
			}
		} else if err != nil || rsp.Status != StatusSuccess || rsp.Completed != 2 || got != 2 {
			t.Errorf("with role: %+v, %v, stored %d", rsp, err, got)
		}
		mr, err := a.Move(ctx, QueryOptions{SOPClassUID: UIDStudyRootQueryRetrieveInformationModelMove, MoveDestination: "NOPE"}, []byte{}, nil)
		var se *StatusError
		if mr.Status != StatusMoveDestinationUnknown || !errors.As(err, &se) || mr.Completed+mr.Failed != 0 {
			t.Errorf("move to NOPE: %+v, %v", mr, err)
		}
		a.Release(ctx)
	}
}
