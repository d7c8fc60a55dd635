package dimse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonogate/sonogate/dimse/pdu"
	"github.com/sonogate/sonogate/dimse/ul"
)

// ServerConfig configures a Server. Zero values take the defaults noted.
type ServerConfig struct {
	// AETitle is the called AE title the server answers to; an
	// A-ASSOCIATE-RQ for another title is rejected (source 1, reason 7).
	// Empty accepts any called AE title.
	AETitle string
	// AdditionalAETitles are further called AE titles the server answers
	// to (for example a research AE title that selects another namespace);
	// handlers see the one called in AssociationInfo.CalledAE.
	AdditionalAETitles []string
	// MaxAssociations limits concurrent associations; beyond it requests
	// are rejected transient (result 2, source 3, reason 2 local limit
	// exceeded). Zero means 64.
	MaxAssociations int
	// MaxPDULength is the Maximum Length Received we announce and accept.
	// Zero means DefaultMaxPDULength (1 MiB).
	MaxPDULength uint32
	// ARTIMTimeout bounds association establishment and close (PS3.8
	// §9.1.5). Zero means 30s.
	ARTIMTimeout time.Duration
	// IdleTimeout aborts an established association that sends nothing
	// for this long. Zero means 5 minutes.
	IdleTimeout time.Duration
	// AllowedCallingAEs lists the calling AE titles accepted; empty
	// accepts any (source 1, reason 3 otherwise).
	AllowedCallingAEs []string
	// SOPClasses and TransferSyntaxes accepted; nil means the defaults
	// generated from us_sop_and_ts.tsv. TransferSyntaxes is in order of
	// preference.
	SOPClasses       []string
	TransferSyntaxes []string
	// MaxMessageSize caps data sets of non-C-STORE messages that are
	// reassembled in memory (future C-FIND identifiers). Zero means 1 MiB.
	MaxMessageSize int64
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
}

// Server is a DIMSE SCP (C-ECHO, C-STORE) in the style of net/http.Server.
type Server struct {
	cfg    ServerConfig
	store  StoreHandler
	log    *slog.Logger
	policy acceptorPolicy
	met    *metrics

	// services dispatches request commands by CommandField; C-FIND,
	// C-MOVE, C-GET and N-ACTION slot in here.
	services map[uint16]serviceFunc

	baseCtx context.Context
	cancel  context.CancelFunc
	nextID  atomic.Uint64
	active  atomic.Int64

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]*assocState
	closed    bool
	wg        sync.WaitGroup
}

// assocState is what Shutdown needs to know about a live association.
type assocState struct {
	busy atomic.Bool // inside an operation
}

// serviceFunc performs one DIMSE operation whose request command has
// arrived on context pc. It sends the response(s).
type serviceFunc func(ctx context.Context, sa *serverAssoc, pc presentationContext, cmd *Command) error

// NewServer returns a server that hands C-STORE requests to store. C-ECHO
// is answered by the server itself.
func NewServer(cfg ServerConfig, store StoreHandler) *Server {
	if cfg.MaxAssociations <= 0 {
		cfg.MaxAssociations = 64
	}
	if cfg.MaxPDULength == 0 {
		cfg.MaxPDULength = DefaultMaxPDULength
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = 1 << 20
	}
	if cfg.SOPClasses == nil {
		cfg.SOPClasses = DefaultSOPClasses()
	}
	if cfg.TransferSyntaxes == nil {
		cfg.TransferSyntaxes = DefaultTransferSyntaxes()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, store: store, log: log.With("component", "dimse"),
		listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]*assocState{}}
	s.policy = acceptorPolicy{aeTitle: cfg.AETitle, aeTitles: cfg.AdditionalAETitles, allowedCalling: cfg.AllowedCallingAEs,
		leOnly: map[string]bool{}, scpRole: map[string]bool{},
		sopClasses: map[string]bool{}, transferSyntaxes: cfg.TransferSyntaxes, maxPDULength: cfg.MaxPDULength}
	for _, uid := range cfg.SOPClasses {
		s.policy.sopClasses[uid] = true
	}
	s.met = newMetrics(cfg.Registerer)
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	s.services = map[uint16]serviceFunc{
		CommandCEchoRQ:  serveEcho,
		CommandCStoreRQ: s.serveStore,
	}
	return s
}

// Serve accepts connections on ln and serves each association on its own
// goroutine. It returns ErrServerClosed after Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		st := &assocState{}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return ErrServerClosed
		}
		s.conns[c] = st
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c, st)
	}
}

// Close closes the listeners and every association's connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	var err error
	for ln := range s.listeners {
		if e := ln.Close(); e != nil && err == nil {
			err = e
		}
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return err
}

// Shutdown stops accepting, lets associations finish the operation in
// progress and close on their own (release), and when ctx is done aborts
// those still open. It returns ctx.Err() if the deadline forced aborts.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			s.cancel()
			return nil
		case <-ctx.Done():
			s.cancel() // interrupts reads: associations abort (A-ABORT)
			<-done
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// serverAssoc is one association accepted by the server.
type serverAssoc struct {
	*conn
	s    *Server
	info AssociationInfo
	log  *slog.Logger
	// scpRole holds the SOP classes for which the requestor accepted the
	// SCP role (C-GET sub-operations go only on their contexts).
	scpRole map[string]bool
	// reporter is set once a Storage Commitment N-ACTION was accepted:
	// its N-EVENT-REPORTs go out between the requester's operations.
	reporter *Reporter
	msgID    uint16 // of requests we send (N-EVENT-REPORT)
}

func (s *Server) serveConn(c net.Conn, st *assocState) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	id := strconv.FormatUint(s.nextID.Add(1), 10)
	log := s.log.With("assoc_id", id, "remote", c.RemoteAddr().String())
	defer func() {
		if r := recover(); r != nil {
			log.Error("association goroutine panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	m := ul.NewAcceptor(c, ul.Config{
		Limits:       pdu.Limits{MaxPDataLength: s.cfg.MaxPDULength + pdu.PDVItemHeaderLength},
		ARTIMTimeout: s.cfg.ARTIMTimeout,
		IdleTimeout:  s.cfg.IdleTimeout,
		WriteTimeout: 2 * time.Minute,
		Logger:       log,
	})
	ctx := s.baseCtx
	ind, err := m.Next(ctx)
	if err != nil {
		log.Info("association not requested", "err", err)
		m.Close()
		return
	}
	ai, ok := ind.(ul.AssociateIndication)
	if !ok {
		m.Close()
		return
	}
	rq := ai.RQ
	info := AssociationInfo{ID: id, CallingAE: rq.CallingAETitle, CalledAE: rq.CalledAETitle, RemoteAddr: c.RemoteAddr()}
	log = log.With("calling_ae", rq.CallingAETitle, "called_ae", rq.CalledAETitle)

	n := s.active.Add(1)
	defer s.active.Add(-1)
	var ac *pdu.AAssociateAC
	var contexts map[byte]presentationContext
	var rj *pdu.AAssociateRJ
	if n > int64(s.cfg.MaxAssociations) {
		rj = &pdu.AAssociateRJ{Result: pdu.ResultRejectedTransient, Source: pdu.SourceServiceProviderPresentation, Reason: pdu.ReasonLocalLimitExceeded}
	} else {
		ac, contexts, rj = s.policy.negotiate(rq)
	}
	if rj != nil {
		log.Warn("association rejected", "result", rj.Result, "source", rj.Source, "reason", rj.Reason)
		s.met.rejected()
		if err := m.Reject(ctx, rj); err == nil {
			m.Close()
		}
		return
	}
	if err := m.Accept(ctx, ac); err != nil {
		log.Info("sending A-ASSOCIATE-AC failed", "err", err)
		return
	}
	log.Info("association accepted", "contexts", len(contexts), "peer_max_pdu", rq.UserInfo.MaxLength)
	s.met.opened()
	defer s.met.closed()
	sa := &serverAssoc{
		conn: &conn{m: m, log: log, contexts: contexts, peerMax: rq.UserInfo.MaxLength, onBytes: s.met.bytes},
		s:    s, info: info, log: log, scpRole: map[string]bool{},
	}
	for _, r := range ac.UserInfo.RoleSelections {
		if r.SCPRole == 1 {
			sa.scpRole[r.SOPClassUID] = true
		}
	}
	sa.loop(ctx, st)
}

// loop reads request messages until release or abort (PS3.7 §7.5: one
// operation at a time; requests that arrive early are queued by TCP).
func (sa *serverAssoc) loop(ctx context.Context, st *assocState) {
	defer func() {
		if sa.reporter != nil {
			close(sa.reporter.done)
		}
	}()
	for {
		if sa.reporter != nil {
			if err := sa.awaitNext(ctx); err != nil {
				sa.end(ctx, err)
				return
			}
		}
		id, cmd, err := sa.readCommand(ctx)
		if err != nil {
			sa.end(ctx, err)
			return
		}
		st.busy.Store(true)
		err = sa.dispatch(ctx, id, cmd)
		st.busy.Store(false)
		if err != nil {
			sa.end(ctx, err)
			return
		}
	}
}

// end finishes the association after the message loop stops.
func (sa *serverAssoc) end(ctx context.Context, err error) {
	var ae *ul.AbortError
	switch {
	case errors.Is(err, errReleaseRequested):
		if rerr := sa.m.RespondRelease(context.Background()); rerr == nil {
			sa.log.Info("association released")
		}
		sa.m.Close()
	case errors.Is(err, errProtocol):
		sa.log.Warn("aborting association: DIMSE protocol violation", "err", err)
		sa.m.AbortWith(pdu.AbortSourceServiceProvider, pdu.AbortReasonNotSpecified)
		sa.s.met.aborted()
	case errors.As(err, &ae):
		if ae.Local {
			sa.log.Warn("association aborted", "err", err)
		} else {
			sa.log.Info("association ended by peer", "err", err)
		}
		sa.s.met.aborted()
		sa.m.Close()
	default:
		if ctx.Err() != nil {
			sa.log.Info("server closing: aborting association")
		} else {
			sa.log.Warn("association ended", "err", err)
		}
		sa.s.met.aborted()
		sa.m.Close()
	}
}

// dispatch runs the service for one request command.
func (sa *serverAssoc) dispatch(ctx context.Context, id byte, cmd *Command) error {
	pc := sa.contexts[id]
	sa.s.met.message(cmd.CommandField)
	if cmd.IsResponse() {
		return fmt.Errorf("%w: unexpected response command 0x%04X", errProtocol, cmd.CommandField)
	}
	if cmd.CommandField == CommandCCancelRQ {
		return nil // nothing is pending between our operations
	}
	if f, ok := sa.s.services[cmd.CommandField]; ok {
		return f(ctx, sa, pc, cmd)
	}
	// Unknown or unimplemented operation: drain any data set and answer
	// Unrecognized Operation (PS3.7 C.5.26).
	if cmd.HasDataSet() {
		if err := sa.newDataReader(ctx, id).drain(); err != nil {
			return err
		}
	}
	sa.log.Info("unsupported DIMSE operation", "command_field", fmt.Sprintf("0x%04X", cmd.CommandField))
	return sa.writeCommand(ctx, id, &Command{
		CommandField:              cmd.CommandField | 0x8000,
		MessageIDBeingRespondedTo: cmd.MessageID,
		AffectedSOPClassUID:       cmd.AffectedSOPClassUID,
		CommandDataSetType:        NoDataSet,
		Status:                    StatusUnrecognizedOperation,
	})
}

// serveEcho answers C-ECHO-RQ (PS3.7 §9.1.5, PS3.4 Annex A).
func serveEcho(ctx context.Context, sa *serverAssoc, pc presentationContext, cmd *Command) error {
	if cmd.HasDataSet() {
		if err := sa.newDataReader(ctx, pc.id).drain(); err != nil {
			return err
		}
	}
	st := StatusSuccess
	if pc.abstractSyntax != UIDVerification {
		st = StatusSOPClassNotSupported
	}
	return sa.writeCommand(ctx, pc.id, &Command{
		CommandField:              CommandCEchoRSP,
		MessageIDBeingRespondedTo: cmd.MessageID,
		AffectedSOPClassUID:       UIDVerification,
		CommandDataSetType:        NoDataSet,
		Status:                    st,
	})
}

// statusHandlerFailure answers a StoreHandler panic: a Cxxx "cannot
// understand" code as pynetdicom uses for an exception in a handler.
const statusHandlerFailure Status = 0xC211

// serveStore handles C-STORE-RQ (PS3.7 §9.1.1, PS3.4 Annex B).
func (s *Server) serveStore(ctx context.Context, sa *serverAssoc, pc presentationContext, cmd *Command) error {
	if !cmd.HasDataSet() {
		return fmt.Errorf("%w: C-STORE-RQ without data set", errProtocol)
	}
	dr := sa.newDataReader(ctx, pc.id)
	var resp StoreResponse
	switch {
	case cmd.AffectedSOPClassUID != pc.abstractSyntax && !s.policy.sopClasses[cmd.AffectedSOPClassUID]:
		resp = StoreResponse{Status: StatusSOPClassNotSupported, ErrorComment: "SOP class not supported"}
	case cmd.AffectedSOPClassUID != pc.abstractSyntax:
		// B10: the request's SOP class differs from the context's
		// abstract syntax (PS3.7 §9.1.1.1.2 requires them to match).
		resp = StoreResponse{Status: StatusDataSetDoesNotMatchSOPClass, ErrorComment: "Affected SOP Class differs from presentation context"}
	case s.store == nil:
		resp = StoreResponse{Status: StatusOutOfResources, ErrorComment: "no storage configured"}
	default:
		req := &StoreRequest{
			Assoc:                   sa.info,
			MessageID:               cmd.MessageID,
			AffectedSOPClassUID:     cmd.AffectedSOPClassUID,
			AffectedSOPInstanceUID:  cmd.AffectedSOPInstanceUID,
			TransferSyntaxUID:       pc.transferSyntax,
			Priority:                cmd.Priority,
			MoveOriginatorAE:        cmd.MoveOriginatorAETitle,
			MoveOriginatorMessageID: cmd.MoveOriginatorMessageID,
			Data:                    dr,
		}
		resp = s.callStore(ctx, sa.log, req)
	}
	// Drain what the handler left; a transport or protocol error here ends
	// the association without a response.
	if err := dr.drain(); err != nil {
		return err
	}
	if dr.err != nil {
		return dr.err
	}
	rsp := &Command{
		CommandField:              CommandCStoreRSP,
		MessageIDBeingRespondedTo: cmd.MessageID,
		AffectedSOPClassUID:       cmd.AffectedSOPClassUID,
		AffectedSOPInstanceUID:    cmd.AffectedSOPInstanceUID,
		CommandDataSetType:        NoDataSet,
		Status:                    resp.Status,
	}
	if !resp.Status.IsSuccess() {
		rsp.ErrorComment = resp.ErrorComment
	}
	sa.log.Info("C-STORE", "sop_class_uid", cmd.AffectedSOPClassUID, "sop_instance_uid", cmd.AffectedSOPInstanceUID,
		"transfer_syntax", pc.transferSyntax, "bytes", dr.n, "status", resp.Status.String())
	return sa.writeCommand(ctx, pc.id, rsp)
}

// callStore runs the handler, turning a panic into a failure status.
func (s *Server) callStore(ctx context.Context, log *slog.Logger, req *StoreRequest) (resp StoreResponse) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("StoreHandler panicked", "panic", fmt.Sprint(r), "sop_instance_uid", req.AffectedSOPInstanceUID, "stack", string(debug.Stack()))
			resp = StoreResponse{Status: statusHandlerFailure, ErrorComment: "internal error in storage handler"}
		}
	}()
	return s.store.HandleCStore(ctx, req)
}
