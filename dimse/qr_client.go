package dimse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// QueryOptions are the parameters of a C-FIND, C-MOVE or C-GET request.
type QueryOptions struct {
	// SOPClassUID is the information model, e.g.
	// UIDStudyRootQueryRetrieveInformationModelFind.
	SOPClassUID string
	// TransferSyntaxUID selects the accepted context; empty takes the first
	// accepted one (see Accepted). The identifier must be encoded in it.
	TransferSyntaxUID string
	Priority          uint16
	MoveDestination   string // C-MOVE only
}

// RetrieveResponse is the final response of a C-MOVE or C-GET.
type RetrieveResponse struct {
	Response
	SubOperations
	// Identifier is the final response's data set, if any: it holds Failed
	// SOP Instance UID List (0008,0058) after failures.
	Identifier []byte
}

// cancelGrace bounds the wait for the final response after C-CANCEL-RQ.
const cancelGrace = 10 * time.Second

func (a *Association) queryContext(o QueryOptions) (byte, string, error) {
	for id, pc := range a.c.contexts {
		if pc.abstractSyntax == o.SOPClassUID && (o.TransferSyntaxUID == "" || pc.transferSyntax == o.TransferSyntaxUID) {
			return id, pc.transferSyntax, nil
		}
	}
	return 0, "", fmt.Errorf("%w: %s", ErrNoPresentationContext, o.SOPClassUID)
}

// QueryTransferSyntax returns the transfer syntax of the accepted context
// for o (the one an identifier for o must be encoded in).
func (a *Association) QueryTransferSyntax(o QueryOptions) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ts, err := a.queryContext(o)
	return ts, err
}

// exchange sends a request with identifier and reads messages until the
// final response, calling onPending for pending responses (with their data
// set, if any) and onStore for C-STORE-RQs (C-GET). When ctx ends first it
// sends C-CANCEL-RQ (PS3.7 §9.3.2.3) and keeps reading until the final
// response, at most cancelGrace, then aborts.
func (a *Association) exchange(ctx context.Context, field uint16, o QueryOptions, identifier []byte,
	onPending func(rsp *Command, data []byte) error, onStore func(id byte, cmd *Command) error) (*Command, []byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrAssociationClosed, a.closed)
	}
	id, _, err := a.queryContext(o)
	if err != nil {
		return nil, nil, err
	}
	mid := a.nextMessageID()
	ioCtx := context.WithoutCancel(ctx)
	cmd := &Command{CommandField: field, MessageID: mid, AffectedSOPClassUID: o.SOPClassUID, Priority: o.Priority,
		MoveDestination: o.MoveDestination, CommandDataSetType: 0x0000}
	if err := a.c.writeCommand(ctx, id, cmd); err != nil {
		return nil, nil, a.fail(err)
	}
	if _, err := a.c.writeData(ctx, id, bytesReader(identifier)); err != nil {
		return nil, nil, a.fail(err)
	}
	cancelSent := false
	var cancelAt time.Time
	last := time.Now()
	for {
		// Wait for the next PDU while watching ctx and the timeouts.
		sendCancel := func() error {
			cancelSent, cancelAt = true, time.Now()
			a.c.log.Info("sending C-CANCEL", "message_id", mid)
			return a.c.writeCommand(ioCtx, id, &Command{CommandField: CommandCCancelRQ, MessageIDBeingRespondedTo: mid, CommandDataSetType: NoDataSet})
		}
		if ctx.Err() != nil && !cancelSent {
			if err := sendCancel(); err != nil {
				return nil, nil, a.fail(err)
			}
		}
		for !a.c.m.Readable(100 * time.Millisecond) {
			switch {
			case ctx.Err() != nil && !cancelSent:
				if err := sendCancel(); err != nil {
					return nil, nil, a.fail(err)
				}
			case cancelSent && time.Since(cancelAt) > cancelGrace:
				a.c.m.Abort()
				return nil, nil, a.fail(fmt.Errorf("dimse: no final response after C-CANCEL: %w", ctx.Err()))
			case a.cfg.ResponseTimeout > 0 && time.Since(last) > a.cfg.ResponseTimeout:
				a.c.m.Abort()
				return nil, nil, a.fail(fmt.Errorf("dimse: no response within %s", a.cfg.ResponseTimeout))
			}
		}
		rid, rsp, err := a.c.readCommand(ioCtx)
		if err != nil {
			if errors.Is(err, errReleaseRequested) {
				err = fmt.Errorf("%w: peer requested release while a response was pending", errProtocol)
			}
			return nil, nil, a.fail(err)
		}
		last = time.Now()
		if rsp.CommandField == CommandCStoreRQ && onStore != nil {
			if err := onStore(rid, rsp); err != nil {
				return nil, nil, a.fail(err)
			}
			continue
		}
		if rsp.CommandField != field|0x8000 || rsp.MessageIDBeingRespondedTo != mid {
			return nil, nil, a.fail(fmt.Errorf("%w: got command 0x%04X for message %d, want 0x%04X for %d",
				errProtocol, rsp.CommandField, rsp.MessageIDBeingRespondedTo, field|0x8000, mid))
		}
		var data []byte
		if rsp.HasDataSet() {
			data, err = readAllLimited(a.c.newDataReader(ioCtx, rid), 16<<20)
			if err != nil {
				return nil, nil, a.fail(err)
			}
		}
		if rsp.Status.IsPending() {
			if onPending != nil && !cancelSent {
				if err := onPending(rsp, data); err != nil {
					return nil, nil, err
				}
			}
			continue
		}
		return rsp, data, nil
	}
}

func readAllLimited(r *dataReader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: response data set over %d bytes", errProtocol, max)
	}
	return b, nil
}

// Find sends C-FIND-RQ (PS3.7 §9.1.2) and calls fn with the identifier of
// every pending response as it arrives (encoded in the context's transfer
// syntax, see QueryTransferSyntax). Cancelling ctx sends C-CANCEL-RQ; the
// final status is then usually Cancel (0xFE00). An error from fn stops
// delivery; the association is aborted. A failure status is returned both
// in the response and as a *StatusError.
func (a *Association) Find(ctx context.Context, o QueryOptions, identifier []byte, fn func(identifier []byte) error) (Response, error) {
	rsp, _, err := a.exchange(ctx, CommandCFindRQ, o, identifier, func(_ *Command, data []byte) error {
		if fn == nil || data == nil {
			return nil
		}
		if err := fn(data); err != nil {
			a.c.m.Abort()
			a.fail(err)
			return err
		}
		return nil
	}, nil)
	if err != nil {
		return Response{}, err
	}
	r := Response{Status: rsp.Status, ErrorComment: rsp.ErrorComment, OffendingElement: rsp.OffendingElement}
	if rsp.Status.IsFailure() {
		return r, &StatusError{Status: rsp.Status, Comment: rsp.ErrorComment}
	}
	return r, nil
}

func subOps(c *Command) SubOperations {
	v := func(p *uint16) int {
		if p == nil {
			return 0
		}
		return int(*p)
	}
	return SubOperations{Remaining: v(c.RemainingSubOperations), Completed: v(c.CompletedSubOperations),
		Failed: v(c.FailedSubOperations), Warning: v(c.WarningSubOperations)}
}

func (a *Association) retrieve(ctx context.Context, field uint16, o QueryOptions, identifier []byte,
	progress func(SubOperations), onStore func(id byte, cmd *Command) error) (RetrieveResponse, error) {
	rsp, data, err := a.exchange(ctx, field, o, identifier, func(c *Command, _ []byte) error {
		if progress != nil {
			progress(subOps(c))
		}
		return nil
	}, onStore)
	if err != nil {
		return RetrieveResponse{}, err
	}
	r := RetrieveResponse{Response: Response{Status: rsp.Status, ErrorComment: rsp.ErrorComment, OffendingElement: rsp.OffendingElement},
		SubOperations: subOps(rsp), Identifier: data}
	if rsp.Status.IsFailure() {
		return r, &StatusError{Status: rsp.Status, Comment: rsp.ErrorComment}
	}
	return r, nil
}

// Move sends C-MOVE-RQ (PS3.7 §9.1.4) asking the peer to send the matching
// instances to o.MoveDestination; progress sees the counters of every
// pending response. Cancelling ctx sends C-CANCEL-RQ.
func (a *Association) Move(ctx context.Context, o QueryOptions, identifier []byte, progress func(SubOperations)) (RetrieveResponse, error) {
	if o.MoveDestination == "" {
		return RetrieveResponse{}, errors.New("dimse: C-MOVE needs a move destination")
	}
	return a.retrieve(ctx, CommandCMoveRQ, o, identifier, progress, nil)
}

// Get sends C-GET-RQ (PS3.7 §9.1.3). The peer sends the instances as
// C-STORE sub-operations on this association, which store handles one at a
// time (its StoreResponse answers each). The association must have been
// dialled with the storage SOP classes in ClientConfig.SCPRoles and their
// presentation contexts (B09). Cancelling ctx sends C-CANCEL-RQ.
func (a *Association) Get(ctx context.Context, o QueryOptions, identifier []byte, store StoreHandler, progress func(SubOperations)) (RetrieveResponse, error) {
	ioCtx := context.WithoutCancel(ctx)
	onStore := func(id byte, cmd *Command) error {
		if !cmd.HasDataSet() {
			return fmt.Errorf("%w: C-STORE-RQ without data set", errProtocol)
		}
		pc := a.c.contexts[id]
		dr := a.c.newDataReader(ioCtx, id)
		resp := StoreResponse{Status: StatusSOPClassNotSupported, ErrorComment: "SCP role not negotiated"}
		if a.scpRole[cmd.AffectedSOPClassUID] && cmd.AffectedSOPClassUID == pc.abstractSyntax && store != nil {
			resp = store.HandleCStore(ioCtx, &StoreRequest{MessageID: cmd.MessageID, AffectedSOPClassUID: cmd.AffectedSOPClassUID,
				AffectedSOPInstanceUID: cmd.AffectedSOPInstanceUID, TransferSyntaxUID: pc.transferSyntax, Priority: cmd.Priority,
				MoveOriginatorAE: cmd.MoveOriginatorAETitle, MoveOriginatorMessageID: cmd.MoveOriginatorMessageID, Data: dr})
		}
		if err := dr.drain(); err != nil {
			return err
		}
		rsp := &Command{CommandField: CommandCStoreRSP, MessageIDBeingRespondedTo: cmd.MessageID, AffectedSOPClassUID: cmd.AffectedSOPClassUID,
			AffectedSOPInstanceUID: cmd.AffectedSOPInstanceUID, CommandDataSetType: NoDataSet, Status: resp.Status}
		if !resp.Status.IsSuccess() {
			rsp.ErrorComment = resp.ErrorComment
		}
		return a.c.writeCommand(ioCtx, id, rsp)
	}
	return a.retrieve(ctx, CommandCGetRQ, o, identifier, progress, onStore)
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
