package dimse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// Storage Commitment Push Model (PS3.4 Annex J) over N-ACTION (PS3.7
// §10.1.4) and N-EVENT-REPORT (PS3.7 §10.1.1).

// Action and event types of the Storage Commitment Push Model.
const (
	// ActionTypeRequestStorageCommitment is the only Action Type ID of
	// the SOP class (PS3.4 J.3.2.1).
	ActionTypeRequestStorageCommitment uint16 = 1
	// EventTypeCommitmentSuccess reports that every referenced instance
	// is committed (PS3.4 J.3.3.1, Referenced SOP Sequence only).
	EventTypeCommitmentSuccess uint16 = 1
	// EventTypeCommitmentFailures reports that at least one instance
	// failed (Failed SOP Sequence present).
	EventTypeCommitmentFailures uint16 = 2
)

// CommitmentReportResponseTimeout bounds how long the server waits for the
// N-EVENT-REPORT-RSP to a report sent on an accepted association.
const CommitmentReportResponseTimeout = time.Minute

// CommitmentRequest is the N-ACTION indication of a Storage Commitment
// request (PS3.4 J.3.2). The server has already checked the Requested SOP
// Class and Instance (the well-known instance) and the Action Type ID.
type CommitmentRequest struct {
	Assoc     AssociationInfo
	MessageID uint16
	// TransferSyntaxUID is that of the presentation context;
	// ActionInformation (Transaction UID, Referenced SOP Sequence) is
	// encoded in it.
	TransferSyntaxUID string
	ActionInformation []byte
	// Reporter sends N-EVENT-REPORT-RQ on this association while the
	// requester keeps it open (PS3.4 J.3.3: the result may come on the
	// same association or on a new one).
	Reporter *Reporter
}

// CommitmentHandler handles Storage Commitment requests.
//
// HandleCommitment runs on the association's goroutine and must answer at
// once: Success means the request is accepted and its result will follow
// as an N-EVENT-REPORT (PS3.4 J.3.2.1.3); failures are e.g. 0x0110, 0x0115,
// 0x0124, 0x0213. It must not wait for req.Reporter.Send before returning
// (the N-ACTION-RSP has to go first); call Send from another goroutine.
// A panic becomes 0xC211.
type CommitmentHandler interface {
	HandleCommitment(ctx context.Context, req *CommitmentRequest) Response
}

// EventReport is one N-EVENT-REPORT-RQ to send (PS3.7 §10.1.1.1).
type EventReport struct {
	SOPClassUID, SOPInstanceUID string
	EventTypeID                 uint16
	// EventInformation is the data set, encoded in the transfer syntax of
	// the presentation context it goes on (Reporter.TransferSyntaxUID,
	// or Association.Accepted(SOPClassUID)[0]); nil sends none.
	EventInformation []byte
}

// EventReportRequest is an N-EVENT-REPORT indication received.
type EventReportRequest struct {
	Assoc                                       AssociationInfo
	MessageID                                   uint16
	AffectedSOPClassUID, AffectedSOPInstanceUID string
	EventTypeID                                 uint16
	TransferSyntaxUID                           string
	EventInformation                            []byte
}

// EventReportHandler handles N-EVENT-REPORT-RQ; the returned status is the
// N-EVENT-REPORT-RSP (0x0000, or e.g. 0x0113 No Such Event Type).
type EventReportHandler interface {
	HandleEventReport(ctx context.Context, req *EventReportRequest) Response
}

// EventReportHandlerFunc adapts a function to EventReportHandler.
type EventReportHandlerFunc func(ctx context.Context, req *EventReportRequest) Response

// HandleEventReport calls f.
func (f EventReportHandlerFunc) HandleEventReport(ctx context.Context, req *EventReportRequest) Response {
	return f(ctx, req)
}

// Reporter sends N-EVENT-REPORTs on an association accepted by the server,
// the one that carried the N-ACTION. The association's goroutine owns the
// connection; Send hands the report to it, and it goes out between the
// requester's operations.
type Reporter struct {
	pc     presentationContext
	outbox chan *outgoingReport
	done   chan struct{}
}

type outgoingReport struct {
	rep    EventReport
	result chan reportResult // buffered 1
}

type reportResult struct {
	rsp Response
	err error
}

// TransferSyntaxUID is the transfer syntax EventInformation must be
// encoded in.
func (r *Reporter) TransferSyntaxUID() string { return r.pc.transferSyntax }

// Done is closed when the association has ended.
func (r *Reporter) Done() <-chan struct{} { return r.done }

// Send sends rep on the association and returns the peer's response. It
// returns an error wrapping ErrAssociationClosed when the association ended
// before the report went out, and ctx's error when ctx ends first; in both
// cases the report was not sent and must go on a new association. Once
// handed over, Send waits for the response (at most
// CommitmentReportResponseTimeout) whatever ctx does.
func (r *Reporter) Send(ctx context.Context, rep EventReport) (Response, error) {
	o := &outgoingReport{rep: rep, result: make(chan reportResult, 1)}
	select {
	case r.outbox <- o:
	case <-r.done:
		return Response{}, fmt.Errorf("%w: requester released before the report", ErrAssociationClosed)
	case <-ctx.Done():
		return Response{}, ctx.Err()
	}
	select {
	case res := <-o.result:
		return res.rsp, res.err
	case <-r.done:
		select {
		case res := <-o.result:
			return res.rsp, res.err
		default:
			return Response{}, fmt.Errorf("%w: association ended while reporting", ErrAssociationClosed)
		}
	}
}

// RegisterCommitment adds the Storage Commitment Push Model SCP (PS3.4
// J.3) to the server: the SOP class is accepted on Explicit and Implicit
// VR Little Endian, a requester proposing the SCU role gets it (SCP role
// refused), and N-ACTION-RQ is answered through h. It must be called
// before Serve.
func (s *Server) RegisterCommitment(h CommitmentHandler) {
	s.policy.sopClasses[UIDStorageCommitmentPushModel] = true
	s.policy.leOnly[UIDStorageCommitmentPushModel] = true
	s.services[CommandNActionRQ] = func(ctx context.Context, sa *serverAssoc, pc presentationContext, cmd *Command) error {
		return serveCommitment(ctx, sa, pc, cmd, h)
	}
}

// RegisterEventReports makes the server receive N-EVENT-REPORT-RQ for
// sopClasses as the SCU of those classes (for example Storage Commitment
// results sent on a new association): the requestor may take the SCP role
// (SCU=0/SCP=1, PS3.7 D.3.3.4; B12: J.3.3.1.3). It must be called before
// Serve.
func (s *Server) RegisterEventReports(h EventReportHandler, sopClasses ...string) {
	for _, u := range sopClasses {
		s.policy.sopClasses[u] = true
		s.policy.leOnly[u] = true
		s.policy.scpRole[u] = true
	}
	s.services[CommandNEventReportRQ] = func(ctx context.Context, sa *serverAssoc, pc presentationContext, cmd *Command) error {
		return serveEventReport(ctx, sa, pc, cmd, h)
	}
}

// serveCommitment handles N-ACTION-RQ (PS3.7 §10.1.4, PS3.4 J.3.2).
func serveCommitment(ctx context.Context, sa *serverAssoc, pc presentationContext, cmd *Command, h CommitmentHandler) error {
	info, tooBig, err := sa.readIdentifier(ctx, pc.id, cmd)
	if err != nil {
		return err
	}
	respond := func(r Response) error {
		rsp := &Command{CommandField: CommandNActionRSP, MessageIDBeingRespondedTo: cmd.MessageID,
			AffectedSOPClassUID: cmd.RequestedSOPClassUID, AffectedSOPInstanceUID: cmd.RequestedSOPInstanceUID,
			CommandDataSetType: NoDataSet, Status: r.Status}
		if r.Status.IsSuccess() {
			rsp.ActionTypeID, rsp.HasActionTypeID = cmd.ActionTypeID, true
		} else {
			rsp.ErrorComment, rsp.OffendingElement = r.ErrorComment, r.OffendingElement
		}
		sa.log.Info("N-ACTION", "sop_class_uid", cmd.RequestedSOPClassUID, "action_type", cmd.ActionTypeID,
			"status", r.Status.String(), "comment", r.ErrorComment)
		return sa.writeCommand(ctx, pc.id, rsp)
	}
	const (
		elRequestedSOPClass    = 0x00000003
		elRequestedSOPInstance = 0x00001001
		elActionTypeID         = 0x00001008
	)
	switch {
	case pc.abstractSyntax != UIDStorageCommitmentPushModel:
		return respond(Response{Status: StatusSOPClassNotSupported, ErrorComment: "N-ACTION only for Storage Commitment"})
	case cmd.RequestedSOPClassUID != UIDStorageCommitmentPushModel && cmd.RequestedSOPInstanceUID == UIDStorageCommitmentPushModelInstance:
		return respond(Response{Status: StatusClassInstanceConflict, ErrorComment: "instance is not of the requested SOP class",
			OffendingElement: []uint32{elRequestedSOPClass, elRequestedSOPInstance}})
	case cmd.RequestedSOPClassUID != UIDStorageCommitmentPushModel:
		return respond(Response{Status: StatusNoSuchSOPClass, ErrorComment: "Requested SOP Class differs from context",
			OffendingElement: []uint32{elRequestedSOPClass}})
	case cmd.RequestedSOPInstanceUID != UIDStorageCommitmentPushModelInstance:
		return respond(Response{Status: StatusNoSuchSOPInstance, ErrorComment: "not the well-known instance 1.2.840.10008.1.20.1.1",
			OffendingElement: []uint32{elRequestedSOPInstance}})
	case !cmd.HasActionTypeID || cmd.ActionTypeID != ActionTypeRequestStorageCommitment:
		return respond(Response{Status: StatusNoSuchActionType, ErrorComment: "only Action Type ID 1 is defined",
			OffendingElement: []uint32{elActionTypeID}})
	case tooBig:
		return respond(Response{Status: StatusResourceLimitation, ErrorComment: "action information too large"})
	case len(info) == 0:
		return respond(Response{Status: StatusInvalidArgumentValue, ErrorComment: "N-ACTION-RQ without action information"})
	}
	if sa.reporter == nil {
		sa.reporter = &Reporter{pc: pc, outbox: make(chan *outgoingReport), done: make(chan struct{})}
	}
	req := &CommitmentRequest{Assoc: sa.info, MessageID: cmd.MessageID, TransferSyntaxUID: pc.transferSyntax,
		ActionInformation: info, Reporter: sa.reporter}
	return respond(callCommitment(ctx, sa, h, req))
}

func callCommitment(ctx context.Context, sa *serverAssoc, h CommitmentHandler, req *CommitmentRequest) (r Response) {
	defer func() {
		if p := recover(); p != nil {
			sa.log.Error("CommitmentHandler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			r = Response{Status: statusHandlerFailure, ErrorComment: "internal error in commitment handler"}
		}
	}()
	return h.HandleCommitment(ctx, req)
}

// serveEventReport handles N-EVENT-REPORT-RQ (PS3.7 §10.1.1).
func serveEventReport(ctx context.Context, sa *serverAssoc, pc presentationContext, cmd *Command, h EventReportHandler) error {
	info, tooBig, err := sa.readIdentifier(ctx, pc.id, cmd)
	if err != nil {
		return err
	}
	var r Response
	switch {
	case cmd.AffectedSOPClassUID != pc.abstractSyntax:
		r = Response{Status: StatusNoSuchSOPClass, ErrorComment: "Affected SOP Class differs from context"}
	case tooBig:
		r = Response{Status: StatusResourceLimitation, ErrorComment: "event information too large"}
	default:
		req := &EventReportRequest{Assoc: sa.info, MessageID: cmd.MessageID, AffectedSOPClassUID: cmd.AffectedSOPClassUID,
			AffectedSOPInstanceUID: cmd.AffectedSOPInstanceUID, EventTypeID: cmd.EventTypeID,
			TransferSyntaxUID: pc.transferSyntax, EventInformation: info}
		r = callEventReport(ctx, sa, h, req)
	}
	rsp := &Command{CommandField: CommandNEventReportRSP, MessageIDBeingRespondedTo: cmd.MessageID,
		AffectedSOPClassUID: cmd.AffectedSOPClassUID, AffectedSOPInstanceUID: cmd.AffectedSOPInstanceUID,
		CommandDataSetType: NoDataSet, Status: r.Status, EventTypeID: cmd.EventTypeID, HasEventTypeID: cmd.HasEventTypeID}
	if r.Status.IsFailure() {
		rsp.ErrorComment, rsp.OffendingElement = r.ErrorComment, r.OffendingElement
	}
	sa.log.Info("N-EVENT-REPORT received", "sop_class_uid", cmd.AffectedSOPClassUID, "event_type", cmd.EventTypeID, "status", r.Status.String())
	return sa.writeCommand(ctx, pc.id, rsp)
}

func callEventReport(ctx context.Context, sa *serverAssoc, h EventReportHandler, req *EventReportRequest) (r Response) {
	defer func() {
		if p := recover(); p != nil {
			sa.log.Error("EventReportHandler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			r = Response{Status: statusHandlerFailure, ErrorComment: "internal error in event report handler"}
		}
	}()
	return h.HandleEventReport(ctx, req)
}

// awaitNext waits, on an association with a Reporter, until the peer sends
// something or the idle timeout passes, sending queued reports meanwhile.
func (sa *serverAssoc) awaitNext(ctx context.Context) error {
	idle := sa.s.cfg.IdleTimeout
	until := time.Now().Add(idle)
	for time.Now().Before(until) {
		select {
		case o := <-sa.reporter.outbox:
			rsp, err := sa.sendEventReport(ctx, o.rep)
			o.result <- reportResult{rsp, err}
			if err != nil {
				return err
			}
			until = time.Now().Add(idle)
			continue
		default:
		}
		if ctx.Err() != nil || sa.m.Readable(50*time.Millisecond) {
			return nil
		}
	}
	return nil
}

// sendEventReport sends N-EVENT-REPORT-RQ on the Reporter's context and
// waits for its response. Requests the peer sends meanwhile are served.
func (sa *serverAssoc) sendEventReport(ctx context.Context, rep EventReport) (Response, error) {
	pc := sa.reporter.pc
	sa.msgID++
	if sa.msgID == 0 {
		sa.msgID = 1
	}
	mid := sa.msgID
	cmd := &Command{CommandField: CommandNEventReportRQ, MessageID: mid, AffectedSOPClassUID: rep.SOPClassUID,
		AffectedSOPInstanceUID: rep.SOPInstanceUID, EventTypeID: rep.EventTypeID, HasEventTypeID: true, CommandDataSetType: NoDataSet}
	if rep.EventInformation != nil {
		cmd.CommandDataSetType = 0x0000
	}
	if err := sa.writeCommand(ctx, pc.id, cmd); err != nil {
		return Response{}, err
	}
	if rep.EventInformation != nil {
		if _, err := sa.writeData(ctx, pc.id, bytes.NewReader(rep.EventInformation)); err != nil {
			return Response{}, err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, CommitmentReportResponseTimeout)
	defer cancel()
	for {
		id, c, err := sa.readCommand(rctx)
		if err != nil {
			if errors.Is(err, errReleaseRequested) {
				// The report went out but was not answered: the caller
				// must report again on a new association.
				return Response{}, fmt.Errorf("%w: requester released before answering the N-EVENT-REPORT", err)
			}
			return Response{}, err
		}
		if !c.IsResponse() {
			if err := sa.dispatch(ctx, id, c); err != nil {
				return Response{}, err
			}
			continue
		}
		if c.HasDataSet() {
			if err := sa.newDataReader(rctx, id).drain(); err != nil {
				return Response{}, err
			}
		}
		if c.CommandField != CommandNEventReportRSP || c.MessageIDBeingRespondedTo != mid {
			return Response{}, fmt.Errorf("%w: got command 0x%04X for message %d, want N-EVENT-REPORT-RSP for %d",
				errProtocol, c.CommandField, c.MessageIDBeingRespondedTo, mid)
		}
		sa.log.Info("N-EVENT-REPORT sent", "sop_class_uid", rep.SOPClassUID, "event_type", rep.EventTypeID, "status", c.Status.String())
		return Response{Status: c.Status, ErrorComment: c.ErrorComment, OffendingElement: c.OffendingElement}, nil
	}
}

// firstContext returns the first accepted context for abstractSyntax.
func (a *Association) firstContext(abstractSyntax string) (byte, bool) {
	ts := a.accept[abstractSyntax]
	if len(ts) == 0 {
		return 0, false
	}
	id, ok := a.byKey[[2]string{abstractSyntax, ts[0]}]
	return id, ok
}

// Action sends N-ACTION-RQ (PS3.7 §10.1.4) on the first accepted context
// for sopClass; info is the Action Information, encoded in that context's
// transfer syntax (Accepted(sopClass)[0]). A failure status is returned
// both in the response and as a *StatusError.
func (a *Association) Action(ctx context.Context, sopClass, sopInstance string, actionType uint16, info []byte) (Response, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed != nil {
		return Response{}, fmt.Errorf("%w: %v", ErrAssociationClosed, a.closed)
	}
	id, ok := a.firstContext(sopClass)
	if !ok {
		return Response{}, fmt.Errorf("%w: %s", ErrNoPresentationContext, sopClass)
	}
	mid := a.nextMessageID()
	cmd := &Command{CommandField: CommandNActionRQ, MessageID: mid, RequestedSOPClassUID: sopClass,
		RequestedSOPInstanceUID: sopInstance, ActionTypeID: actionType, HasActionTypeID: true, CommandDataSetType: NoDataSet}
	return a.nMessage(ctx, id, cmd, info, CommandNActionRSP)
}

// EventReport sends N-EVENT-REPORT-RQ (PS3.7 §10.1.1) as the performing
// DIMSE user, on the first accepted context for sopClass; dataset is the
// Event Information, encoded in Accepted(sopClass)[0]. For Storage
// Commitment results on a new association, dial with the SOP class in
// ClientConfig.SCPRoles (SCU=0/SCP=1, B12). When the acceptor explicitly
// refused our SCP role, EventReport refuses to send; when it answered no
// role item at all (default roles, PS3.7 D.3.3.4), it sends anyway, as
// requesters commonly expect. A failure status is returned both in the
// response and as a *StatusError.
func (a *Association) EventReport(ctx context.Context, sopClass, sopInstance string, eventType uint16, dataset []byte) (Response, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed != nil {
		return Response{}, fmt.Errorf("%w: %v", ErrAssociationClosed, a.closed)
	}
	id, ok := a.firstContext(sopClass)
	if !ok {
		return Response{}, fmt.Errorf("%w: %s", ErrNoPresentationContext, sopClass)
	}
	if refused, asked := a.roleRefused[sopClass]; asked && refused {
		return Response{}, fmt.Errorf("dimse: peer refused the SCP role for %s", sopClass)
	}
	mid := a.nextMessageID()
	cmd := &Command{CommandField: CommandNEventReportRQ, MessageID: mid, AffectedSOPClassUID: sopClass,
		AffectedSOPInstanceUID: sopInstance, EventTypeID: eventType, HasEventTypeID: true, CommandDataSetType: NoDataSet}
	return a.nMessage(ctx, id, cmd, dataset, CommandNEventReportRSP)
}

// nMessage sends an N- request with an optional data set and reads its
// response. The caller holds a.mu.
func (a *Association) nMessage(ctx context.Context, id byte, cmd *Command, data []byte, rspField uint16) (Response, error) {
	if data != nil {
		cmd.CommandDataSetType = 0x0000
	}
	if err := a.c.writeCommand(ctx, id, cmd); err != nil {
		return Response{}, a.fail(err)
	}
	if data != nil {
		if _, err := a.c.writeData(ctx, id, bytes.NewReader(data)); err != nil {
			return Response{}, a.fail(err)
		}
	}
	rsp, err := a.readResponse(ctx, rspField, cmd.MessageID)
	if err != nil {
		return Response{}, err
	}
	r := Response{Status: rsp.Status, ErrorComment: rsp.ErrorComment, OffendingElement: rsp.OffendingElement}
	if rsp.Status.IsFailure() {
		return r, &StatusError{Status: rsp.Status, Comment: rsp.ErrorComment}
	}
	return r, nil
}

// ReceiveEventReport waits for one N-EVENT-REPORT-RQ from the peer on this
// association (a Storage Commitment SCP reporting on the association that
// carried the N-ACTION, PS3.4 J.3.3), hands it to h and sends h's status
// back. ctx bounds the wait.
func (a *Association) ReceiveEventReport(ctx context.Context, h EventReportHandler) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed != nil {
		return fmt.Errorf("%w: %v", ErrAssociationClosed, a.closed)
	}
	id, cmd, err := a.c.readCommand(ctx)
	if err != nil {
		if errors.Is(err, errReleaseRequested) {
			// Answer the release: the peer will not report here.
			a.closed = ErrAssociationClosed
			rerr := a.c.m.RespondRelease(context.Background())
			a.c.m.Close()
			return errors.Join(fmt.Errorf("%w: peer released instead of reporting", ErrAssociationClosed), rerr)
		}
		return a.fail(err)
	}
	if cmd.CommandField != CommandNEventReportRQ {
		return a.fail(fmt.Errorf("%w: got command 0x%04X, want N-EVENT-REPORT-RQ", errProtocol, cmd.CommandField))
	}
	pc := a.c.contexts[id]
	var info []byte
	if cmd.HasDataSet() {
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(a.c.newDataReader(ctx, id)); err != nil {
			return a.fail(err)
		}
		info = buf.Bytes()
	}
	req := &EventReportRequest{Assoc: AssociationInfo{CallingAE: a.cfg.CallingAE, CalledAE: a.cfg.CalledAE},
		MessageID: cmd.MessageID, AffectedSOPClassUID: cmd.AffectedSOPClassUID, AffectedSOPInstanceUID: cmd.AffectedSOPInstanceUID,
		EventTypeID: cmd.EventTypeID, TransferSyntaxUID: pc.transferSyntax, EventInformation: info}
	r := h.HandleEventReport(ctx, req)
	rsp := &Command{CommandField: CommandNEventReportRSP, MessageIDBeingRespondedTo: cmd.MessageID,
		AffectedSOPClassUID: cmd.AffectedSOPClassUID, AffectedSOPInstanceUID: cmd.AffectedSOPInstanceUID,
		CommandDataSetType: NoDataSet, Status: r.Status, EventTypeID: cmd.EventTypeID, HasEventTypeID: cmd.HasEventTypeID}
	if r.Status.IsFailure() {
		rsp.ErrorComment = r.ErrorComment
	}
	if err := a.c.writeCommand(ctx, id, rsp); err != nil {
		return a.fail(err)
	}
	return nil
}
