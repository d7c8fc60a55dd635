package dimse

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/sonogate/sonogate/dimse/pdu"
)

// startRegistered is startServer with services registered before Serve.
func startRegistered(t *testing.T, cfg ServerConfig, register func(s *Server)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = testLogger(t)
	s := NewServer(cfg, nil)
	register(s)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return ln.Addr().String()
}

type commitFunc func(ctx context.Context, req *CommitmentRequest) Response

func (f commitFunc) HandleCommitment(ctx context.Context, req *CommitmentRequest) Response {
	return f(ctx, req)
}

func commitmentPCs() []PresentationContextRequest {
	return []PresentationContextRequest{{AbstractSyntax: UIDStorageCommitmentPushModel,
		TransferSyntaxes: []string{UIDExplicitVRLittleEndian, UIDImplicitVRLittleEndian}}}
}

func TestCommitmentCommandRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []*Command{
		{CommandField: CommandNActionRQ, MessageID: 7, RequestedSOPClassUID: UIDStorageCommitmentPushModel,
			RequestedSOPInstanceUID: UIDStorageCommitmentPushModelInstance, ActionTypeID: 1, HasActionTypeID: true, CommandDataSetType: 0},
		{CommandField: CommandNActionRSP, MessageIDBeingRespondedTo: 7, AffectedSOPClassUID: UIDStorageCommitmentPushModel,
			AffectedSOPInstanceUID: UIDStorageCommitmentPushModelInstance, ActionTypeID: 1, HasActionTypeID: true, CommandDataSetType: NoDataSet},
		{CommandField: CommandNEventReportRQ, MessageID: 9, AffectedSOPClassUID: UIDStorageCommitmentPushModel,
			AffectedSOPInstanceUID: UIDStorageCommitmentPushModelInstance, EventTypeID: 2, HasEventTypeID: true, CommandDataSetType: 0},
		{CommandField: CommandNEventReportRSP, MessageIDBeingRespondedTo: 9, AffectedSOPClassUID: UIDStorageCommitmentPushModel,
			EventTypeID: 2, HasEventTypeID: true, CommandDataSetType: NoDataSet, Status: StatusNoSuchEventType, ErrorComment: "x"},
	} {
		got, err := DecodeCommand(c.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if got.CommandField != c.CommandField || got.RequestedSOPClassUID != c.RequestedSOPClassUID ||
			got.RequestedSOPInstanceUID != c.RequestedSOPInstanceUID || got.AffectedSOPInstanceUID != c.AffectedSOPInstanceUID ||
			got.ActionTypeID != c.ActionTypeID || got.HasActionTypeID != c.HasActionTypeID ||
			got.EventTypeID != c.EventTypeID || got.HasEventTypeID != c.HasEventTypeID || got.Status != c.Status {
			t.Errorf("round trip 0x%04X: got %+v, want %+v", c.CommandField, got, c)
		}
	}
	// Action Type ID (0000,1008) US 1, byte for byte (PS3.7 Annex E).
	b := (&Command{CommandField: CommandNActionRQ, ActionTypeID: 1, HasActionTypeID: true, CommandDataSetType: NoDataSet}).Encode()
	if !bytes.Contains(b, []byte{0x00, 0x00, 0x08, 0x10, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00}) {
		t.Errorf("encoded N-ACTION-RQ lacks (0000,1008)=1: % X", b)
	}
	b = (&Command{CommandField: CommandNEventReportRQ, EventTypeID: 2, HasEventTypeID: true, CommandDataSetType: NoDataSet}).Encode()
	if !bytes.Contains(b, []byte{0x00, 0x00, 0x02, 0x10, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00}) {
		t.Errorf("encoded N-EVENT-REPORT-RQ lacks (0000,1002)=2: % X", b)
	}
}

// TestCommitmentSameAssociation: the requester keeps the association open
// and the report comes back on it (DCMTK-style requesters).
func TestCommitmentSameAssociation(t *testing.T) {
	t.Parallel()
	got := make(chan *CommitmentRequest, 1)
	sent := make(chan error, 1)
	addr := startRegistered(t, ServerConfig{AETitle: "GW"}, func(s *Server) {
		s.RegisterCommitment(commitFunc(func(ctx context.Context, req *CommitmentRequest) Response {
			got <- req
			go func() {
				rsp, err := req.Reporter.Send(context.Background(), EventReport{SOPClassUID: UIDStorageCommitmentPushModel,
					SOPInstanceUID: UIDStorageCommitmentPushModelInstance, EventTypeID: EventTypeCommitmentSuccess, EventInformation: []byte("EVENTDATA!")})
				if err == nil && !rsp.Status.IsSuccess() {
					err = &StatusError{Status: rsp.Status}
				}
				sent <- err
			}()
			return Response{Status: StatusSuccess}
		}))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := Dial(ctx, addr, ClientConfig{CallingAE: "US01", CalledAE: "GW"}, commitmentPCs())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Abort()
	if ts := a.Accepted(UIDStorageCommitmentPushModel); len(ts) != 1 || ts[0] != UIDExplicitVRLittleEndian {
		t.Fatalf("accepted %v, want Explicit VR LE", ts)
	}
	rsp, err := a.Action(ctx, UIDStorageCommitmentPushModel, UIDStorageCommitmentPushModelInstance, 1, []byte("ACTIONINFO"))
	if err != nil || rsp.Status != StatusSuccess {
		t.Fatalf("N-ACTION: %v %v", rsp, err)
	}
	req := <-got
	if string(req.ActionInformation) != "ACTIONINFO" || req.TransferSyntaxUID != UIDExplicitVRLittleEndian || req.Assoc.CallingAE != "US01" {
		t.Errorf("request %+v", req)
	}
	var ev *EventReportRequest
	err = a.ReceiveEventReport(ctx, EventReportHandlerFunc(func(ctx context.Context, r *EventReportRequest) Response {
		ev = r
		return Response{Status: StatusSuccess}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if ev.EventTypeID != 1 || string(ev.EventInformation) != "EVENTDATA!" || ev.AffectedSOPInstanceUID != UIDStorageCommitmentPushModelInstance {
		t.Errorf("event %+v", ev)
	}
	if err := <-sent; err != nil {
		t.Errorf("Send: %v", err)
	}
	if st, err := a.Echo(ctx); err == nil {
		t.Errorf("echo on association without Verification answered %v", st)
	}
}

// TestCommitmentReleasedBeforeReport: Orthanc-style requesters release at
// once; Send then reports ErrAssociationClosed so that the caller reports
// on a new association.
func TestCommitmentReleasedBeforeReport(t *testing.T) {
	t.Parallel()
	reporters := make(chan *Reporter, 1)
	addr := startRegistered(t, ServerConfig{AETitle: "GW"}, func(s *Server) {
		s.RegisterCommitment(commitFunc(func(ctx context.Context, req *CommitmentRequest) Response {
			reporters <- req.Reporter
			return Response{Status: StatusSuccess}
		}))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := Dial(ctx, addr, ClientConfig{CallingAE: "US01", CalledAE: "GW"}, commitmentPCs())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Action(ctx, UIDStorageCommitmentPushModel, UIDStorageCommitmentPushModelInstance, 1, []byte("XX")); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-reporters
	select {
	case <-r.Done():
	case <-ctx.Done():
		t.Fatal("Done not closed after release")
	}
	_, err = r.Send(ctx, EventReport{SOPClassUID: UIDStorageCommitmentPushModel, EventTypeID: 1})
	if !errors.Is(err, ErrAssociationClosed) {
		t.Errorf("Send after release: %v, want ErrAssociationClosed", err)
	}
}

func TestCommitmentNActionRefusals(t *testing.T) {
	t.Parallel()
	calls := 0
	addr := startRegistered(t, ServerConfig{AETitle: "GW"}, func(s *Server) {
		s.RegisterCommitment(commitFunc(func(ctx context.Context, req *CommitmentRequest) Response {
			calls++
			return Response{Status: StatusSuccess}
		}))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := Dial(ctx, addr, ClientConfig{CallingAE: "US01", CalledAE: "GW"}, commitmentPCs())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	for _, c := range []struct {
		name             string
		class, inst      string
		action           uint16
		info             []byte
		want             Status
		offendingElement uint32
	}{
		{"action type 2", UIDStorageCommitmentPushModel, UIDStorageCommitmentPushModelInstance, 2, []byte("XX"), StatusNoSuchActionType, 0x1008},
		{"other instance", UIDStorageCommitmentPushModel, "1.2.3.4", 1, []byte("XX"), StatusNoSuchSOPInstance, 0x1001},
		{"class conflict", UIDVerification, UIDStorageCommitmentPushModelInstance, 1, []byte("XX"), StatusClassInstanceConflict, 0x0003},
		{"other class", UIDVerification, "1.2.3", 1, []byte("XX"), StatusNoSuchSOPClass, 0x0003},
		{"no action information", UIDStorageCommitmentPushModel, UIDStorageCommitmentPushModelInstance, 1, nil, StatusInvalidArgumentValue, 0},
	} {
		// Action picks the context by SOP class: build the command by hand
		// so that a wrong Requested SOP Class goes on the commitment context.
		a.mu.Lock()
		id, _ := a.firstContext(UIDStorageCommitmentPushModel)
		mid := a.nextMessageID()
		cmd := &Command{CommandField: CommandNActionRQ, MessageID: mid, RequestedSOPClassUID: c.class,
			RequestedSOPInstanceUID: c.inst, ActionTypeID: c.action, HasActionTypeID: true, CommandDataSetType: NoDataSet}
		rsp, err := a.nMessage(ctx, id, cmd, c.info, CommandNActionRSP)
		a.mu.Unlock()
		var se *StatusError
		if rsp.Status != c.want || !errors.As(err, &se) || se.Status != c.want {
			t.Errorf("%s: status %v err %v, want %v", c.name, rsp.Status, err, c.want)
		}
		if c.offendingElement != 0 && (len(rsp.OffendingElement) == 0 || rsp.OffendingElement[0] != c.offendingElement) {
			t.Errorf("%s: offending element %X, want (0000,%04X)", c.name, rsp.OffendingElement, c.offendingElement)
		}
	}
	if calls != 0 {
		t.Errorf("handler called %d times for refused requests", calls)
	}
}

// TestCommitmentRoleNegotiation: a requester proposing the SCU role gets it
// (SCP refused); one proposing SCP=1 to a report receiver gets SCP (B12).
func TestCommitmentRoleNegotiation(t *testing.T) {
	t.Parallel()
	s := NewServer(ServerConfig{AETitle: "GW"}, nil)
	s.RegisterCommitment(commitFunc(func(context.Context, *CommitmentRequest) Response { return Response{} }))
	rq := &pdu.AAssociateRQ{CalledAETitle: "GW", CallingAETitle: "US01", ApplicationContext: UIDDICOMApplicationContext,
		PresentationContexts: []pdu.PresentationContextRQ{{ID: 1, AbstractSyntax: UIDStorageCommitmentPushModel,
			TransferSyntaxes: []string{UIDImplicitVRLittleEndian, "1.2.840.10008.1.2.4.50"}}},
		UserInfo: pdu.UserInformation{RoleSelections: []pdu.RoleSelection{{SOPClassUID: UIDStorageCommitmentPushModel, SCURole: 1, SCPRole: 1}}}}
	ac, ctxs, rj := s.policy.negotiate(rq)
	if rj != nil || ctxs[1].transferSyntax != UIDImplicitVRLittleEndian {
		t.Fatalf("rj %v contexts %v", rj, ctxs)
	}
	if rs := ac.UserInfo.RoleSelections; len(rs) != 1 || rs[0].SCURole != 1 || rs[0].SCPRole != 0 {
		t.Errorf("role reply %+v, want SCU=1 SCP=0", rs)
	}

	r := NewServer(ServerConfig{AETitle: "MOD"}, nil)
	r.RegisterEventReports(EventReportHandlerFunc(func(context.Context, *EventReportRequest) Response { return Response{} }), UIDStorageCommitmentPushModel)
	rq.UserInfo.RoleSelections = []pdu.RoleSelection{{SOPClassUID: UIDStorageCommitmentPushModel, SCURole: 0, SCPRole: 1}}
	rq.CalledAETitle = "MOD"
	ac, _, rj = r.policy.negotiate(rq)
	if rj != nil {
		t.Fatal(rj)
	}
	if rs := ac.UserInfo.RoleSelections; len(rs) != 1 || rs[0].SCURole != 0 || rs[0].SCPRole != 1 {
		t.Errorf("role reply %+v, want SCU=0 SCP=1", rs)
	}
}

// TestEventReportNewAssociation: the SCP dials the requester with Role
// Selection SCU=0/SCP=1 and sends N-EVENT-REPORT (B12).
func TestEventReportNewAssociation(t *testing.T) {
	t.Parallel()
	got := make(chan *EventReportRequest, 1)
	addr := startRegistered(t, ServerConfig{AETitle: "US01"}, func(s *Server) {
		s.RegisterEventReports(EventReportHandlerFunc(func(ctx context.Context, r *EventReportRequest) Response {
			got <- r
			if r.EventTypeID > 2 {
				return Response{Status: StatusNoSuchEventType}
			}
			return Response{Status: StatusSuccess}
		}), UIDStorageCommitmentPushModel)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := Dial(ctx, addr, ClientConfig{CallingAE: "GW", CalledAE: "US01", SCPRoles: []string{UIDStorageCommitmentPushModel}}, commitmentPCs())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	if !a.scpRole[UIDStorageCommitmentPushModel] {
		t.Error("SCP role not accepted")
	}
	rsp, err := a.EventReport(ctx, UIDStorageCommitmentPushModel, UIDStorageCommitmentPushModelInstance, 2, []byte("FAILED"))
	if err != nil || rsp.Status != StatusSuccess {
		t.Fatalf("EventReport: %v %v", rsp, err)
	}
	r := <-got
	if r.Assoc.CallingAE != "GW" || r.EventTypeID != 2 || string(r.EventInformation) != "FAILED" {
		t.Errorf("received %+v", r)
	}
	_, err = a.EventReport(ctx, UIDStorageCommitmentPushModel, UIDStorageCommitmentPushModelInstance, 9, nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != StatusNoSuchEventType {
		t.Errorf("event type 9: %v, want 0x0113", err)
	}
}
