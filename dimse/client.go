package dimse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/sonogate/sonogate/dimse/pdu"
	"github.com/sonogate/sonogate/dimse/ul"
)

// ClientConfig configures Dial.
type ClientConfig struct {
	CallingAE, CalledAE string
	// MaxPDULength is the Maximum Length Received we announce. Zero means
	// DefaultMaxPDULength.
	MaxPDULength uint32
	// DialTimeout bounds the TCP connect; zero means 30s. Association
	// establishment is further bounded by the ARTIM timeout (30s).
	DialTimeout time.Duration
	// ResponseTimeout bounds the wait for each DIMSE response; zero means
	// no limit beyond the call's context.
	ResponseTimeout time.Duration
	// SCPRoles lists SOP classes for which we propose to act as SCP on this
	// association (Role Selection SCU=0, SCP=1, PS3.7 D.3.3.4): storage SOP
	// classes for C-GET, Storage Commitment for N-EVENT-REPORT (B09, B12).
	SCPRoles []string
	Logger   *slog.Logger
}

// Association is an SCU association. Operations are synchronous (no
// asynchronous operations window is proposed, PS3.7 D.3.3.3): methods may
// be called from several goroutines but run one at a time.
type Association struct {
	mu     sync.Mutex
	c      *conn
	cfg    ClientConfig
	msgID  uint16
	closed error
	byKey  map[[2]string]byte // (abstract syntax, transfer syntax) → context ID
	accept map[string][]string
	// scpRole holds the SOP classes for which the acceptor accepted our
	// SCP role; roleRefused those whose role item it answered with SCP=0.
	scpRole     map[string]bool
	roleRefused map[string]bool
}

// Dial connects to addr and negotiates an association proposing pcs, one
// presentation context each (IDs 1, 3, 5, ...). A rejection is returned as
// *AssociateRejectError.
func Dial(ctx context.Context, addr string, cfg ClientConfig, pcs []PresentationContextRequest) (*Association, error) {
	if len(pcs) == 0 || len(pcs) > 128 {
		return nil, fmt.Errorf("dimse: %d presentation contexts proposed, want 1..128", len(pcs))
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "dimse", "called_ae", cfg.CalledAE, "addr", addr)
	max := cfg.MaxPDULength
	if max == 0 {
		max = DefaultMaxPDULength
	}
	rq := &pdu.AAssociateRQ{
		ProtocolVersion:    pdu.ProtocolVersion,
		CalledAETitle:      cfg.CalledAE,
		CallingAETitle:     cfg.CallingAE,
		ApplicationContext: UIDDICOMApplicationContext,
		UserInfo: pdu.UserInformation{
			MaxLength:                 max,
			ImplementationClassUID:    ImplementationClassUID,
			ImplementationVersionName: ImplementationVersionName,
		},
	}
	for _, uid := range cfg.SCPRoles {
		rq.UserInfo.RoleSelections = append(rq.UserInfo.RoleSelections, pdu.RoleSelection{SOPClassUID: uid, SCURole: 0, SCPRole: 1})
	}
	proposed := map[byte]PresentationContextRequest{}
	for i, pc := range pcs {
		id := byte(2*i + 1)
		proposed[id] = pc
		rq.PresentationContexts = append(rq.PresentationContexts, pdu.PresentationContextRQ{ID: id, AbstractSyntax: pc.AbstractSyntax, TransferSyntaxes: pc.TransferSyntaxes})
	}
	dialTimeout := cfg.DialTimeout
	if dialTimeout <= 0 {
		dialTimeout = 30 * time.Second
	}
	dial := func(ctx context.Context) (net.Conn, error) {
		d := net.Dialer{Timeout: dialTimeout}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		return c, nil
	}
	m, ac, err := ul.Request(ctx, dial, rq, ul.Config{
		Limits:       pdu.Limits{MaxPDataLength: max + pdu.PDVItemHeaderLength},
		WriteTimeout: 2 * time.Minute,
		Logger:       log,
	})
	if err != nil {
		var rj *ul.RejectError
		if errors.As(err, &rj) {
			return nil, &AssociateRejectError{Result: rj.Result, Source: rj.Source, Reason: rj.Reason}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dimse: dial %s: %w", addr, ctx.Err())
		}
		return nil, fmt.Errorf("dimse: dial %s: %w", addr, err)
	}
	a := &Association{cfg: cfg, byKey: map[[2]string]byte{}, accept: map[string][]string{}, scpRole: map[string]bool{}, roleRefused: map[string]bool{}}
	for _, r := range ac.UserInfo.RoleSelections {
		if r.SCPRole == 1 {
			a.scpRole[r.SOPClassUID] = true
		}
		a.roleRefused[r.SOPClassUID] = r.SCPRole != 1
	}
	contexts := map[byte]presentationContext{}
	for _, r := range ac.PresentationContexts {
		p, ok := proposed[r.ID]
		if !ok || r.Result != pdu.ContextAcceptance {
			continue
		}
		contexts[r.ID] = presentationContext{id: r.ID, abstractSyntax: p.AbstractSyntax, transferSyntax: r.TransferSyntax}
		a.byKey[[2]string{p.AbstractSyntax, r.TransferSyntax}] = r.ID
		a.accept[p.AbstractSyntax] = append(a.accept[p.AbstractSyntax], r.TransferSyntax)
	}
	a.c = &conn{m: m, log: log, contexts: contexts, peerMax: ac.UserInfo.MaxLength}
	log.Debug("association established", "accepted", len(contexts), "peer_max_pdu", ac.UserInfo.MaxLength)
	return a, nil
}

// Accepted returns the transfer syntaxes accepted for abstractSyntax.
func (a *Association) Accepted(abstractSyntax string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.accept[abstractSyntax]...)
}

// PeerMaxPDULength is the Maximum Length Received the peer announced (0 = no limit).
func (a *Association) PeerMaxPDULength() uint32 { return a.c.peerMax }

func (a *Association) nextMessageID() uint16 {
	a.msgID++
	if a.msgID == 0 {
		a.msgID = 1
	}
	return a.msgID
}

// fail records that the association is unusable after err.
func (a *Association) fail(err error) error {
	if a.closed == nil {
		a.closed = err
	}
	var ae *ul.AbortError
	switch {
	case errors.Is(err, errProtocol):
		a.c.m.AbortWith(pdu.AbortSourceServiceProvider, pdu.AbortReasonNotSpecified)
	case errors.As(err, &ae) && ae.Local:
		// We sent the A-ABORT (cancelled context, timeout): do not hold
		// the caller for the whole ARTIM period.
		a.c.m.AbortWith(ae.Source, ae.Reason)
	default:
		a.c.m.Close()
	}
	return err
}

// Echo sends C-ECHO-RQ on the Verification context and returns the
// response status (PS3.7 §9.1.5).
func (a *Association) Echo(ctx context.Context) (Status, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed != nil {
		return 0, fmt.Errorf("%w: %v", ErrAssociationClosed, a.closed)
	}
	var id byte
	found := false
	for _, pc := range a.c.contexts {
		if pc.abstractSyntax == UIDVerification {
			id, found = pc.id, true
			break
		}
	}
	if !found {
		return 0, ErrNoPresentationContext
	}
	mid := a.nextMessageID()
	if err := a.c.writeCommand(ctx, id, &Command{CommandField: CommandCEchoRQ, MessageID: mid,
		AffectedSOPClassUID: UIDVerification, CommandDataSetType: NoDataSet}); err != nil {
		return 0, a.fail(err)
	}
	rsp, err := a.readResponse(ctx, CommandCEchoRSP, mid)
	if err != nil {
		return 0, err
	}
	return rsp.Status, nil
}

// Store sends C-STORE-RQ with the data set read from data, on an accepted
// context with exactly (sopClass, transferSyntax); data must already be in
// that transfer syntax. It fragments to the peer's maximum PDU length and
// streams: memory does not grow with the data set. A failure status is
// returned both in the response and as a *StatusError.
func (a *Association) Store(ctx context.Context, sopClass, sopInstance, transferSyntax string, data io.Reader) (StoreResponse, error) {
	return a.StoreWithOptions(ctx, StoreOptions{SOPClassUID: sopClass, SOPInstanceUID: sopInstance, TransferSyntaxUID: transferSyntax}, data)
}

// StoreOptions are the parameters of a C-STORE-RQ.
type StoreOptions struct {
	SOPClassUID, SOPInstanceUID, TransferSyntaxUID string
	Priority                                       uint16
	// MoveOriginatorAE and MoveOriginatorMessageID are set when the store is
	// a C-MOVE sub-operation (PS3.7 §9.1.1.1.1).
	MoveOriginatorAE        string
	MoveOriginatorMessageID uint16
}

// StoreWithOptions is Store with priority and Move Originator fields.
func (a *Association) StoreWithOptions(ctx context.Context, o StoreOptions, data io.Reader) (StoreResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed != nil {
		return StoreResponse{}, fmt.Errorf("%w: %v", ErrAssociationClosed, a.closed)
	}
	id, ok := a.byKey[[2]string{o.SOPClassUID, o.TransferSyntaxUID}]
	if !ok {
		return StoreResponse{}, fmt.Errorf("%w: %s in %s", ErrNoPresentationContext, o.SOPClassUID, o.TransferSyntaxUID)
	}
	mid := a.nextMessageID()
	cmd := &Command{CommandField: CommandCStoreRQ, MessageID: mid, AffectedSOPClassUID: o.SOPClassUID,
		AffectedSOPInstanceUID: o.SOPInstanceUID, Priority: o.Priority, CommandDataSetType: 0x0000,
		MoveOriginatorAETitle: o.MoveOriginatorAE}
	if o.MoveOriginatorAE != "" {
		cmd.MoveOriginatorMessageID, cmd.HasMoveOriginatorMessageID = o.MoveOriginatorMessageID, true
	}
	if err := a.c.writeCommand(ctx, id, cmd); err != nil {
		return StoreResponse{}, a.fail(err)
	}
	if _, err := a.c.writeData(ctx, id, data); err != nil {
		if ctx.Err() == nil && !isULError(err) {
			// The source failed mid-stream: the message cannot be
			// completed, so the association must be aborted.
			a.c.m.Abort()
		}
		return StoreResponse{}, a.fail(fmt.Errorf("dimse: C-STORE data: %w", err))
	}
	rsp, err := a.readResponse(ctx, CommandCStoreRSP, mid)
	if err != nil {
		return StoreResponse{}, err
	}
	resp := StoreResponse{Status: rsp.Status, ErrorComment: rsp.ErrorComment}
	if rsp.Status.IsFailure() {
		return resp, &StatusError{Status: rsp.Status, Comment: rsp.ErrorComment}
	}
	return resp, nil
}

func isULError(err error) bool {
	var ae *ul.AbortError
	return errors.As(err, &ae) || errors.Is(err, ul.ErrInvalidPrimitive)
}

// readResponse waits for the response to message mid.
func (a *Association) readResponse(ctx context.Context, field, mid uint16) (*Command, error) {
	if a.cfg.ResponseTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.cfg.ResponseTimeout)
		defer cancel()
	}
	id, rsp, err := a.c.readCommand(ctx)
	if err != nil {
		if errors.Is(err, errReleaseRequested) {
			err = fmt.Errorf("%w: peer requested release while a response was pending", errProtocol)
		}
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("dimse: waiting for response: %w: %w", ctx.Err(), err)
		}
		return nil, a.fail(err)
	}
	if rsp.HasDataSet() {
		if err := a.c.newDataReader(ctx, id).drain(); err != nil {
			return nil, a.fail(err)
		}
	}
	if rsp.CommandField != field || rsp.MessageIDBeingRespondedTo != mid {
		return nil, a.fail(fmt.Errorf("%w: got command 0x%04X for message %d, want 0x%04X for %d",
			errProtocol, rsp.CommandField, rsp.MessageIDBeingRespondedTo, field, mid))
	}
	return rsp, nil
}

// Release releases the association (A-RELEASE, PS3.8 §7.2) and closes the
// connection.
func (a *Association) Release(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed != nil {
		return fmt.Errorf("%w: %v", ErrAssociationClosed, a.closed)
	}
	a.closed = ErrAssociationClosed
	err := a.c.m.Release(ctx)
	a.c.m.Close()
	return err
}

// Abort aborts the association (A-ABORT, source service user) and closes
// the connection. It does not wait for an operation in progress on
// another goroutine to notice; that operation fails.
func (a *Association) Abort() error {
	if !a.mu.TryLock() {
		// An operation is running: closing the transport interrupts it.
		return a.c.m.Conn().Close()
	}
	defer a.mu.Unlock()
	if a.closed != nil {
		return nil
	}
	a.closed = ErrAssociationClosed
	return a.c.m.Abort()
}
