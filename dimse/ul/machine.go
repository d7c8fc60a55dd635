package ul

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/sonogate/sonogate/dimse/pdu"
)

// Config holds the transport limits and timers of one association.
type Config struct {
	// Limits bounds the PDUs read from the peer.
	Limits pdu.Limits
	// ARTIMTimeout is the ARTIM timer (PS3.8 §9.1.5). Zero means 30s.
	ARTIMTimeout time.Duration
	// IdleTimeout bounds how long Sta6 waits for the next PDU; on expiry the
	// machine aborts the association. Zero means no limit.
	IdleTimeout time.Duration
	// WriteTimeout bounds each PDU write. Zero means no limit.
	WriteTimeout time.Duration
	// Logger receives debug transitions. Nil discards.
	Logger *slog.Logger
	// Trace, if set, is called after every transition (tests, metrics).
	Trace func(ev Event, from State, act Action, to State)
}

func (c *Config) artim() time.Duration {
	if c.ARTIMTimeout <= 0 {
		return 30 * time.Second
	}
	return c.ARTIMTimeout
}

// Machine is the upper-layer protocol machine of one association. It is
// owned by one goroutine at a time; methods must not be called concurrently.
type Machine struct {
	cfg  Config
	log  *slog.Logger
	conn net.Conn
	br   *bufio.Reader
	// pbuf holds the body of the last P-DATA-TF read: the PDV data handed
	// to the DIMSE layer alias it until the next read (see pdu.ReadInto).
	pbuf      []byte
	state     State
	requestor bool
	artim     time.Time // zero when ARTIM is stopped
	wbuf      []byte
	local     pdu.PDU // the PDU a local primitive asks to send
	abortSrc  byte    // source/reason for AA-1 when initiated locally
	abortRsn  byte
	// userAbort is set when this side sent A-ABORT for a local reason
	// (Evt15); Close then waits at most AbortGrace in Sta13.
	userAbort bool

	intrMu sync.Mutex
	intr   error // set when a context watched by watch() is done
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Requestor reports whether this side requested the association.
func (m *Machine) Requestor() bool { return m.requestor }

// Conn returns the transport connection (nil in Sta1 before AE-1).
func (m *Machine) Conn() net.Conn { return m.conn }

func newMachine(cfg Config) *Machine {
	m := &Machine{cfg: cfg, log: cfg.Logger, state: Sta1}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return m
}

func (m *Machine) attach(conn net.Conn) {
	m.conn = conn
	m.br = bufio.NewReaderSize(quickAckReader(conn), 64<<10)
}

// NewAcceptor starts the acceptor side on an accepted transport connection:
// Evt5 (transport connection indication) → AE-5 → Sta2, ARTIM started.
func NewAcceptor(conn net.Conn, cfg Config) *Machine {
	m := newMachine(cfg)
	m.attach(conn)
	m.dispatch(Evt5, nil, nil)
	return m
}

// Dialer opens the transport connection for AE-1.
type Dialer func(ctx context.Context) (net.Conn, error)

// Request runs the requestor side of association establishment: Evt1
// (AE-1 → Sta4), transport connect (Evt2, AE-2 sends rq → Sta5), then waits
// for the A-ASSOCIATE-AC (AE-3 → Sta6) or -RJ (AE-4 → *RejectError).
// On error the returned Machine is nil and the transport is closed.
func Request(ctx context.Context, dial Dialer, rq *pdu.AAssociateRQ, cfg Config) (*Machine, *pdu.AAssociateAC, error) {
	m := newMachine(cfg)
	m.requestor = true
	m.local = rq
	if _, err := m.dispatch(Evt1, nil, nil); err != nil {
		return nil, nil, err
	}
	conn, err := dial(ctx)
	if m.state != Sta4 { // aborted while connecting (Evt15 → AA-2)
		if conn != nil {
			conn.Close()
		}
		return nil, nil, &AbortError{Local: true, Err: context.Canceled}
	}
	if err != nil {
		_, aerr := m.dispatch(Evt17, nil, err)
		return nil, nil, aerr
	}
	m.attach(conn)
	m.local = rq
	if _, err := m.dispatch(Evt2, nil, nil); err != nil {
		return nil, nil, err
	}
	// Establishment is bounded by ARTIM too (PS3.8 §9.1.5 leaves Sta5
	// unbounded; a requestor must not hang forever on a silent acceptor).
	for m.state == Sta5 {
		ind, err := m.nextBounded(ctx, cfg.artim())
		if err != nil {
			m.Close()
			return nil, nil, err
		}
		if c, ok := ind.(AssociateConfirmation); ok {
			return m, c.AC, nil
		}
	}
	m.Close()
	return nil, nil, &AbortError{Local: true, Err: errors.New("ul: association not established")}
}

// Next reads the next PDU (or transport event, or ARTIM expiry) from the
// peer and runs the transition. It returns the indication for the local
// user, nil when the event needs no indication, or an error (*RejectError,
// *AbortError, ErrInvalidPrimitive).
func (m *Machine) Next(ctx context.Context) (Indication, error) {
	if m.state == Sta1 || m.conn == nil {
		return nil, &AbortError{Err: net.ErrClosed}
	}
	defer m.watch(ctx)()
	ev, p, cause := m.readEvent(0)
	return m.dispatch(ev, p, cause)
}

// nextBounded is Next with an extra read deadline (used in Sta5).
func (m *Machine) nextBounded(ctx context.Context, d time.Duration) (Indication, error) {
	defer m.watch(ctx)()
	ev, p, cause := m.readEvent(d)
	return m.dispatch(ev, p, cause)
}

// Accept issues the A-ASSOCIATE response primitive (accept): Evt7 → AE-7.
func (m *Machine) Accept(ctx context.Context, ac *pdu.AAssociateAC) error {
	return m.primitive(ctx, Evt7, ac)
}

// Reject issues the A-ASSOCIATE response primitive (reject): Evt8 → AE-8.
// The machine then waits in Sta13 for the peer to close; call Close.
func (m *Machine) Reject(ctx context.Context, rj *pdu.AAssociateRJ) error {
	return m.primitive(ctx, Evt8, rj)
}

// SendPData issues a P-DATA request primitive: Evt9 → DT-1 (Sta6) or AR-7 (Sta8).
func (m *Machine) SendPData(ctx context.Context, p *pdu.PDataTF) error {
	return m.primitive(ctx, Evt9, p)
}

// RequestRelease issues the A-RELEASE request primitive: Evt11 → AR-1 → Sta7.
func (m *Machine) RequestRelease(ctx context.Context) error {
	return m.primitive(ctx, Evt11, &pdu.AReleaseRQ{})
}

// RespondRelease issues the A-RELEASE response primitive: Evt14 → AR-4
// (Sta8 → Sta13) or AR-9 (Sta9 → Sta11).
func (m *Machine) RespondRelease(ctx context.Context) error {
	return m.primitive(ctx, Evt14, &pdu.AReleaseRP{})
}

// Abort issues the A-ABORT request primitive (Evt15) with source 0
// (service user), then waits for the peer to close the transport, at most
// the ARTIM timeout, and closes it.
func (m *Machine) Abort() error {
	return m.AbortWith(pdu.AbortSourceServiceUser, pdu.AbortReasonNotSpecified)
}

// AbortWith is Abort with an explicit A-ABORT source and reason; the DIMSE
// layer uses source 2 for protocol violations it detects above the PDU level.
func (m *Machine) AbortWith(source, reason byte) error {
	if m.state == Sta1 {
		return nil
	}
	m.abortSrc, m.abortRsn = source, reason
	_, err := m.dispatch(Evt15, nil, nil)
	m.closeWithin(AbortGrace)
	return err
}

// AbortGrace bounds how long Abort waits in Sta13 for the peer to close
// the transport before closing it itself. The standard allows the whole
// ARTIM period, but a peer busy elsewhere need not hold up the local user.
const AbortGrace = 500 * time.Millisecond

// closeWithin is Close with the Sta13 wait cut to at most d.
func (m *Machine) closeWithin(d time.Duration) error {
	if m.state == Sta13 {
		if t := time.Now().Add(d); m.artim.IsZero() || t.Before(m.artim) {
			m.artim = t
		}
	}
	return m.Close()
}

// Release requests release and waits for the confirmation (PS3.8 §7.2),
// answering a release collision as the standard's Sta9/Sta10 paths require.
func (m *Machine) Release(ctx context.Context) error {
	if err := m.RequestRelease(ctx); err != nil {
		return err
	}
	for m.state != Sta1 {
		ind, err := m.nextBounded(ctx, m.cfg.artim())
		if err != nil {
			m.Close()
			return err
		}
		switch ind.(type) {
		case ReleaseIndication: // collision
			if m.state == Sta9 {
				if err := m.RespondRelease(ctx); err != nil {
					return err
				}
			}
		case ReleaseConfirmation:
			if m.state == Sta12 { // acceptor side of a collision
				if err := m.RespondRelease(ctx); err != nil {
					return err
				}
				m.Close()
				return nil
			}
		}
	}
	return nil
}

// Close ends the association from the local side. In Sta13 it first waits
// (up to the ARTIM timeout) for the peer to close; in any other state but
// Sta1 it aborts first. It always closes the transport connection.
func (m *Machine) Close() error {
	if m.state != Sta1 && m.state != Sta13 && m.conn != nil {
		m.abortSrc, m.abortRsn = pdu.AbortSourceServiceUser, pdu.AbortReasonNotSpecified
		m.dispatch(Evt15, nil, nil)
		if t := time.Now().Add(AbortGrace); t.Before(m.artim) {
			m.artim = t
		}
	}
	if m.userAbort && m.state == Sta13 {
		if t := time.Now().Add(AbortGrace); t.Before(m.artim) {
			m.artim = t
		}
	}
	for m.state == Sta13 {
		ev, p, cause := m.readEvent(0)
		m.dispatch(ev, p, cause)
	}
	m.state = Sta1
	if m.conn != nil {
		return m.conn.Close()
	}
	return nil
}

// primitive runs a local primitive event that sends p.
func (m *Machine) primitive(ctx context.Context, ev Event, p pdu.PDU) error {
	if m.conn != nil {
		defer m.watch(ctx)()
	}
	m.local = p
	_, err := m.dispatch(ev, nil, nil)
	m.local = nil
	return err
}

// watch arranges for a done ctx to interrupt blocking I/O. The returned
// function must be called when the operation ends.
func (m *Machine) watch(ctx context.Context) func() {
	if ctx == nil || ctx.Done() == nil || m.conn == nil {
		return func() {}
	}
	stop := context.AfterFunc(ctx, func() {
		m.intrMu.Lock()
		m.intr = context.Cause(ctx)
		m.conn.SetDeadline(time.Unix(1, 0))
		m.intrMu.Unlock()
	})
	return func() {
		if !stop() {
			m.takeInterrupt()
		}
	}
}

// takeInterrupt returns and clears a pending context interruption,
// restoring the connection deadlines.
func (m *Machine) takeInterrupt() error {
	m.intrMu.Lock()
	defer m.intrMu.Unlock()
	err := m.intr
	if err != nil {
		m.intr = nil
		m.conn.SetDeadline(time.Time{})
	}
	return err
}

// readEvent reads one PDU and classifies it as a Table 9-10 event.
// extra, if positive, bounds the read in addition to ARTIM/idle.
func (m *Machine) readEvent(extra time.Duration) (Event, pdu.PDU, error) {
	var deadline time.Time
	idle := false
	switch {
	case !m.artim.IsZero():
		deadline = m.artim
	case m.state == Sta6 && m.cfg.IdleTimeout > 0:
		deadline = time.Now().Add(m.cfg.IdleTimeout)
		idle = true
	}
	if extra > 0 {
		if d := time.Now().Add(extra); deadline.IsZero() || d.Before(deadline) {
			deadline, idle = d, false
		}
	}
	m.intrMu.Lock()
	if m.intr == nil {
		m.conn.SetReadDeadline(deadline)
	}
	m.intrMu.Unlock()
	p, err := pdu.ReadInto(m.br, m.cfg.Limits, &m.pbuf)
	if err == nil {
		switch p.Type() {
		case pdu.TypeAAssociateAC:
			return Evt3, p, nil
		case pdu.TypeAAssociateRJ:
			return Evt4, p, nil
		case pdu.TypeAAssociateRQ:
			return Evt6, p, nil
		case pdu.TypePDataTF:
			return Evt10, p, nil
		case pdu.TypeAReleaseRQ:
			return Evt12, p, nil
		case pdu.TypeAReleaseRP:
			return Evt13, p, nil
		case pdu.TypeAAbort:
			return Evt16, p, nil
		}
	}
	if ierr := m.takeInterrupt(); ierr != nil {
		m.abortSrc, m.abortRsn = pdu.AbortSourceServiceUser, pdu.AbortReasonNotSpecified
		return Evt15, nil, ierr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		switch {
		case !m.artim.IsZero() && !time.Now().Before(m.artim):
			return Evt18, nil, ErrARTIMExpired
		case idle:
			m.abortSrc, m.abortRsn = pdu.AbortSourceServiceProvider, pdu.AbortReasonNotSpecified
			return Evt15, nil, ErrIdleTimeout
		default:
			m.abortSrc, m.abortRsn = pdu.AbortSourceServiceUser, pdu.AbortReasonNotSpecified
			return Evt15, nil, err
		}
	}
	if pdu.IsProtocolError(err) {
		return Evt19, nil, err
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return Evt17, nil, err
}
