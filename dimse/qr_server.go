package dimse

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"
)

// operation is one long-running request (C-FIND, C-MOVE, C-GET) on a
// server association. Between its responses it polls the connection for
// a C-CANCEL-RQ (PS3.7 §9.3.2.3) without giving the upper-layer machine to
// another goroutine.
type operation struct {
	sa        *serverAssoc
	pc        presentationContext
	msgID     uint16
	ctx       context.Context
	cancel    context.CancelCauseFunc
	cancelled bool
	err       error // fatal: transport, protocol, release requested
}

func newOperation(ctx context.Context, sa *serverAssoc, pc presentationContext, msgID uint16) *operation {
	op := &operation{sa: sa, pc: pc, msgID: msgID}
	op.ctx, op.cancel = context.WithCancelCause(ctx)
	return op
}

// poll reads whatever the peer has sent meanwhile: a C-CANCEL-RQ for this
// operation cancels it; anything else ends the association.
func (op *operation) poll() {
	for op.err == nil && op.sa.m.Readable(0) {
		op.handle(op.sa.readCommand(op.sa.s.baseCtx))
	}
}

// handle processes one command read during the operation; it returns the
// command when it is a response the caller waits for.
func (op *operation) handle(id byte, cmd *Command, err error) *Command {
	if err != nil {
		op.err = err
		op.cancel(err)
		return nil
	}
	switch {
	case cmd.CommandField == CommandCCancelRQ:
		if cmd.HasDataSet() {
			op.err = fmt.Errorf("%w: C-CANCEL-RQ with a data set", errProtocol)
			op.cancel(op.err)
			return nil
		}
		if cmd.MessageIDBeingRespondedTo == op.msgID && !op.cancelled {
			op.cancelled = true
			op.sa.log.Info("C-CANCEL received", "message_id", op.msgID)
			op.cancel(ErrCancelled)
		}
		return nil
	case cmd.IsResponse():
		if cmd.HasDataSet() {
			if err := op.sa.newDataReader(op.ctx, id).drain(); err != nil {
				op.err = err
				op.cancel(err)
				return nil
			}
		}
		return cmd
	}
	// Another request while one is outstanding: we negotiated no
	// asynchronous operations window (PS3.7 D.3.3.3).
	op.err = fmt.Errorf("%w: request 0x%04X while message %d is in progress", errProtocol, cmd.CommandField, op.msgID)
	op.cancel(op.err)
	return nil
}

// readIdentifier reassembles the request's data set, at most
// MaxMessageSize bytes. tooBig reports a data set over the limit (drained).
func (sa *serverAssoc) readIdentifier(ctx context.Context, id byte, cmd *Command) (b []byte, tooBig bool, err error) {
	if !cmd.HasDataSet() {
		return nil, false, nil
	}
	dr := sa.newDataReader(ctx, id)
	max := sa.s.cfg.MaxMessageSize
	b, err = io.ReadAll(io.LimitReader(dr, max+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(b)) > max {
		return nil, true, dr.drain()
	}
	return b, false, nil
}

// serveFind handles C-FIND-RQ (PS3.7 §9.1.2, PS3.4 §C.4.1).
func serveFind(ctx context.Context, sa *serverAssoc, pc presentationContext, cmd *Command, h FindHandler) error {
	ident, tooBig, err := sa.readIdentifier(ctx, pc.id, cmd)
	if err != nil {
		return err
	}
	final := func(r Response) error {
		rsp := &Command{CommandField: CommandCFindRSP, MessageIDBeingRespondedTo: cmd.MessageID,
			AffectedSOPClassUID: cmd.AffectedSOPClassUID, CommandDataSetType: NoDataSet, Status: r.Status}
		if r.Status.IsFailure() {
			rsp.ErrorComment, rsp.OffendingElement = r.ErrorComment, r.OffendingElement
		}
		return sa.writeCommand(ctx, pc.id, rsp)
	}
	switch {
	case cmd.AffectedSOPClassUID != pc.abstractSyntax:
		return final(Response{Status: StatusSOPClassNotSupported, ErrorComment: "Affected SOP Class differs from presentation context"})
	case tooBig:
		return final(Response{Status: StatusOutOfResources, ErrorComment: "identifier too large"})
	case ident == nil:
		return final(Response{Status: StatusDataSetDoesNotMatchSOPClass, ErrorComment: "C-FIND-RQ without identifier"})
	}
	op := newOperation(ctx, sa, pc, cmd.MessageID)
	defer op.cancel(nil)
	req := &FindRequest{Assoc: sa.info, MessageID: cmd.MessageID, AffectedSOPClassUID: cmd.AffectedSOPClassUID,
		Priority: cmd.Priority, TransferSyntaxUID: pc.transferSyntax, Identifier: ident}
	matches := 0
	send := func(identifier []byte) error {
		if op.poll(); op.err != nil {
			return op.err
		}
		if op.cancelled {
			return ErrCancelled
		}
		err := sa.writeCommand(ctx, pc.id, &Command{CommandField: CommandCFindRSP, MessageIDBeingRespondedTo: cmd.MessageID,
			AffectedSOPClassUID: cmd.AffectedSOPClassUID, CommandDataSetType: 0x0000, Status: StatusPending})
		if err == nil {
			_, err = sa.writeData(ctx, pc.id, bytes.NewReader(identifier))
		}
		if err != nil {
			op.err = err
			op.cancel(err)
			return err
		}
		matches++
		return nil
	}
	start := time.Now()
	r := callFind(op.ctx, sa, h, req, send)
	if op.err != nil {
		return op.err
	}
	if op.poll(); op.err != nil {
		return op.err
	}
	if op.cancelled {
		r = Response{Status: StatusCancel}
	}
	sa.log.Info("C-FIND", "sop_class_uid", cmd.AffectedSOPClassUID, "matches", matches, "status", r.Status.String(),
		"duration", time.Since(start).Round(time.Millisecond))
	return final(r)
}

func callFind(ctx context.Context, sa *serverAssoc, h FindHandler, req *FindRequest, send func([]byte) error) (r Response) {
	defer func() {
		if p := recover(); p != nil {
			sa.log.Error("FindHandler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			r = Response{Status: statusHandlerFailure, ErrorComment: "internal error in query handler"}
		}
	}()
	return h.HandleCFind(ctx, req, send)
}

func callRetrieve(ctx context.Context, sa *serverAssoc, h RetrieveHandler, req *RetrieveRequest) (r RetrieveResult) {
	defer func() {
		if p := recover(); p != nil {
			sa.log.Error("RetrieveHandler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			r = RetrieveResult{Response: Response{Status: statusHandlerFailure, ErrorComment: "internal error in retrieve handler"}}
		}
	}()
	return h.HandleRetrieve(ctx, req)
}

// SubOperations are the counters of a C-MOVE or C-GET (PS3.7 §9.1.3/9.1.4).
type SubOperations struct {
	Remaining, Completed, Failed, Warning int
}

func u16p(n int) *uint16 {
	v := uint16(min(max(n, 0), 0xFFFF))
	return &v
}

// retrieveStatus is the final status of PS3.4 Tables C.4-2 and C.4-3.
// Warnings count as "failures or warnings" for C-GET only.
func retrieveStatus(field uint16, c SubOperations) Status {
	bad := c.Failed
	if field == CommandCGetRQ {
		bad += c.Warning
	}
	switch {
	case bad == 0:
		return StatusSuccess
	case c.Completed == 0 && c.Warning == 0:
		return StatusOutOfResourcesUnableToPerformSubOperations
	}
	return StatusCoercionOfDataElements // 0xB000: sub-operations complete, one or more failures
}

// serveRetrieve handles C-MOVE-RQ and C-GET-RQ (PS3.4 §C.4.2, §C.4.3).
func serveRetrieve(ctx context.Context, sa *serverAssoc, pc presentationContext, cmd *Command, qr *QueryRetrieve) error {
	ident, tooBig, err := sa.readIdentifier(ctx, pc.id, cmd)
	if err != nil {
		return err
	}
	rspField := cmd.CommandField | 0x8000
	respond := func(st Status, c *SubOperations, comment string, failedUIDs []string) error {
		rsp := &Command{CommandField: rspField, MessageIDBeingRespondedTo: cmd.MessageID,
			AffectedSOPClassUID: cmd.AffectedSOPClassUID, CommandDataSetType: NoDataSet, Status: st}
		if st.IsFailure() {
			rsp.ErrorComment = comment
		}
		if c != nil {
			if st.IsPending() || st.IsCancel() {
				rsp.RemainingSubOperations = u16p(c.Remaining)
			}
			rsp.CompletedSubOperations, rsp.FailedSubOperations, rsp.WarningSubOperations = u16p(c.Completed), u16p(c.Failed), u16p(c.Warning)
		}
		var data []byte
		if len(failedUIDs) > 0 && !st.IsPending() {
			data = failedUIDList(pc.transferSyntax, failedUIDs)
			rsp.CommandDataSetType = 0x0000
		}
		if err := sa.writeCommand(ctx, pc.id, rsp); err != nil {
			return err
		}
		if data != nil {
			_, err := sa.writeData(ctx, pc.id, bytes.NewReader(data))
			return err
		}
		return nil
	}
	switch {
	case cmd.AffectedSOPClassUID != pc.abstractSyntax:
		return respond(StatusSOPClassNotSupported, nil, "Affected SOP Class differs from presentation context", nil)
	case tooBig:
		return respond(StatusOutOfResourcesUnableToCalculateMatches, nil, "identifier too large", nil)
	case ident == nil:
		return respond(StatusDataSetDoesNotMatchSOPClass, nil, "request without identifier", nil)
	}
	op := newOperation(ctx, sa, pc, cmd.MessageID)
	defer op.cancel(nil)
	req := &RetrieveRequest{Assoc: sa.info, CommandField: cmd.CommandField, MessageID: cmd.MessageID,
		AffectedSOPClassUID: cmd.AffectedSOPClassUID, Priority: cmd.Priority, MoveDestination: cmd.MoveDestination,
		TransferSyntaxUID: pc.transferSyntax, Identifier: ident}
	res := callRetrieve(op.ctx, sa, qr.Retrieve, req)
	if res.Status != StatusSuccess {
		// A refusal: no sub-operations (A801 carries no counts, B18).
		sa.log.Info("retrieve refused", "command_field", fmt.Sprintf("0x%04X", cmd.CommandField),
			"move_destination", cmd.MoveDestination, "status", res.Status.String(), "comment", res.ErrorComment)
		return respond(res.Status, nil, res.ErrorComment, nil)
	}
	start := time.Now()
	c := SubOperations{Remaining: len(res.Instances)}
	var failedUIDs []string
	var sub subStorer
	if cmd.CommandField == CommandCMoveRQ {
		sub = newMoveStorer(sa, qr, res.Destination, res.Instances, cmd)
	} else {
		sub = &getStorer{op: op, sa: sa}
	}
	defer sub.close()
	for i, inst := range res.Instances {
		if op.poll(); op.err != nil {
			return op.err
		}
		if op.cancelled {
			break
		}
		st, serr := sub.store(op.ctx, inst)
		if op.err != nil {
			return op.err
		}
		c.Remaining--
		switch {
		case serr == nil && st.IsWarning():
			c.Warning++
		case serr == nil && st.IsSuccess():
			c.Completed++
		default:
			c.Failed++
			failedUIDs = append(failedUIDs, inst.SOPInstanceUID)
			sa.log.Info("retrieve sub-operation failed", "sop_instance_uid", inst.SOPInstanceUID, "status", st.String(), "err", serr)
		}
		if i < len(res.Instances)-1 {
			if op.poll(); op.err != nil {
				return op.err
			}
			if !op.cancelled {
				if err := respond(StatusPending, &c, "", nil); err != nil {
					return err
				}
			}
		}
	}
	if op.poll(); op.err != nil {
		return op.err
	}
	st := retrieveStatus(cmd.CommandField, c)
	if op.cancelled && c.Remaining > 0 {
		st = StatusCancel
	}
	sa.log.Info("retrieve", "command_field", fmt.Sprintf("0x%04X", cmd.CommandField), "move_destination", cmd.MoveDestination,
		"completed", c.Completed, "failed", c.Failed, "warning", c.Warning, "remaining", c.Remaining, "status", st.String(),
		"duration", time.Since(start).Round(time.Millisecond))
	if st.IsSuccess() {
		failedUIDs = nil
	}
	return respond(st, &c, "", failedUIDs)
}

// failedUIDList encodes a data set holding only Failed SOP Instance UID
// List (0008,0058) in Implicit or Explicit VR Little Endian.
func failedUIDList(ts string, uids []string) []byte {
	v := []byte(joinBackslash(uids))
	if len(v)%2 == 1 {
		v = append(v, 0)
	}
	b := binary.LittleEndian.AppendUint16(nil, 0x0008)
	b = binary.LittleEndian.AppendUint16(b, 0x0058)
	if ts == "1.2.840.10008.1.2" {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
	} else {
		b = append(b, 'U', 'I')
		b = binary.LittleEndian.AppendUint16(b, uint16(min(len(v), 0xFFFE)))
		if len(v) > 0xFFFE {
			v = v[:0xFFFE]
		}
	}
	return append(b, v...)
}

func joinBackslash(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte('\\')
		}
		b.WriteString(x)
	}
	return b.String()
}

// subStorer performs C-STORE sub-operations.
type subStorer interface {
	store(ctx context.Context, inst RetrieveInstance) (Status, error)
	close()
}

// moveStorer sends on one association to the move destination, opened
// lazily, proposing one context per (SOP class, transfer syntax) needed.
type moveStorer struct {
	sa    *serverAssoc
	qr    *QueryRetrieve
	dest  Destination
	insts []RetrieveInstance
	cmd   *Command
	a     *Association
	err   error // association could not be opened
}

func newMoveStorer(sa *serverAssoc, qr *QueryRetrieve, dest Destination, insts []RetrieveInstance, cmd *Command) *moveStorer {
	return &moveStorer{sa: sa, qr: qr, dest: dest, insts: insts, cmd: cmd}
}

func (m *moveStorer) open(ctx context.Context) error {
	if m.a != nil || m.err != nil {
		return m.err
	}
	seen := map[[2]string]bool{}
	var pcs []PresentationContextRequest
	for _, in := range m.insts {
		k := [2]string{in.SOPClassUID, in.TransferSyntaxUID}
		if seen[k] || len(pcs) == 128 {
			continue
		}
		seen[k] = true
		pcs = append(pcs, PresentationContextRequest{AbstractSyntax: in.SOPClassUID, TransferSyntaxes: []string{in.TransferSyntaxUID}})
	}
	m.a, m.err = Dial(ctx, m.dest.Addr, ClientConfig{CallingAE: m.sa.info.CalledAE, CalledAE: m.dest.AETitle,
		MaxPDULength: m.qr.MaxPDULength, DialTimeout: m.qr.DialTimeout, ResponseTimeout: m.qr.ResponseTimeout, Logger: m.sa.log}, pcs)
	if m.err != nil {
		m.sa.log.Warn("C-MOVE: cannot open association to destination", "move_destination", m.dest.AETitle, "addr", m.dest.Addr, "err", m.err)
	}
	return m.err
}

func (m *moveStorer) store(ctx context.Context, inst RetrieveInstance) (Status, error) {
	if err := m.open(ctx); err != nil {
		return StatusOutOfResourcesUnableToPerformSubOperations, err
	}
	rc, err := inst.Open()
	if err != nil {
		return StatusProcessingFailure, err
	}
	defer rc.Close()
	rsp, err := m.a.StoreWithOptions(ctx, StoreOptions{SOPClassUID: inst.SOPClassUID, SOPInstanceUID: inst.SOPInstanceUID,
		TransferSyntaxUID: inst.TransferSyntaxUID, Priority: m.cmd.Priority, MoveOriginatorAE: m.sa.info.CallingAE,
		MoveOriginatorMessageID: m.cmd.MessageID}, rc)
	if err != nil && errors.Is(err, ErrAssociationClosed) {
		m.err = err
	}
	return rsp.Status, err
}

func (m *moveStorer) close() {
	if m.a != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.a.Release(ctx); err != nil {
			m.a.Abort()
		}
	}
}

// getStorer sends on the requesting association itself (C-GET), on a
// context whose SOP class the requestor accepted the SCP role for and whose
// transfer syntax is the stored one (B09).
type getStorer struct {
	op    *operation
	sa    *serverAssoc
	msgID uint16
}

func (g *getStorer) context(inst RetrieveInstance) (byte, bool) {
	if !g.sa.scpRole[inst.SOPClassUID] {
		return 0, false
	}
	for id, pc := range g.sa.contexts {
		if pc.abstractSyntax == inst.SOPClassUID && pc.transferSyntax == inst.TransferSyntaxUID {
			return id, true
		}
	}
	return 0, false
}

func (g *getStorer) store(ctx context.Context, inst RetrieveInstance) (Status, error) {
	id, ok := g.context(inst)
	if !ok {
		return StatusSOPClassNotSupported, fmt.Errorf("%w: %s in %s with SCP role", ErrNoPresentationContext, inst.SOPClassUID, inst.TransferSyntaxUID)
	}
	rc, err := inst.Open()
	if err != nil {
		return StatusProcessingFailure, err
	}
	defer rc.Close()
	g.msgID++
	if g.msgID == 0 {
		g.msgID = 1
	}
	mid := g.msgID
	if err := g.sa.writeCommand(ctx, id, &Command{CommandField: CommandCStoreRQ, MessageID: mid, AffectedSOPClassUID: inst.SOPClassUID,
		AffectedSOPInstanceUID: inst.SOPInstanceUID, CommandDataSetType: 0x0000}); err != nil {
		g.op.err = err
		return 0, err
	}
	if _, err := g.sa.writeData(ctx, id, rc); err != nil {
		if ctx.Err() == nil && !isULError(err) {
			g.sa.m.Abort() // the source failed mid-message
		}
		g.op.err = err
		return 0, err
	}
	// Wait for the C-STORE-RSP, taking a C-CANCEL-RQ on the way.
	for {
		rsp := g.op.handle(g.sa.readCommand(g.sa.s.baseCtx))
		if g.op.err != nil {
			return 0, g.op.err
		}
		if rsp == nil {
			continue
		}
		if rsp.CommandField != CommandCStoreRSP || rsp.MessageIDBeingRespondedTo != mid {
			g.op.err = fmt.Errorf("%w: got 0x%04X for message %d while waiting for C-STORE-RSP %d", errProtocol, rsp.CommandField, rsp.MessageIDBeingRespondedTo, mid)
			return 0, g.op.err
		}
		if rsp.Status.IsFailure() {
			return rsp.Status, &StatusError{Status: rsp.Status, Comment: rsp.ErrorComment}
		}
		return rsp.Status, nil
	}
}

func (g *getStorer) close() {}
