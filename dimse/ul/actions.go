package ul

import (
	"errors"
	"net"
	"time"

	"github.com/sonogate/sonogate/dimse/pdu"
)

// dispatch looks up Table 9-10 for (ev, current state), runs the action and
// returns its indication. p is the received PDU for network events; cause
// is the error behind Evt15/17/18/19.
func (m *Machine) dispatch(ev Event, p pdu.PDU, cause error) (Indication, error) {
	from := m.state
	act := Lookup(ev, from)
	ind, err := m.run(act, ev, p, cause)
	if m.cfg.Trace != nil {
		m.cfg.Trace(ev, from, act, m.state)
	}
	if act != XX2 {
		m.log.Debug("ul transition", "event", ev.String(), "from", from.String(), "action", act.String(), "to", m.state.String())
	}
	return ind, err
}

func (m *Machine) startARTIM() { m.artim = time.Now().Add(m.cfg.artim()) }
func (m *Machine) stopARTIM()  { m.artim = time.Time{} }

func (m *Machine) closeTransport() {
	if m.conn != nil {
		m.conn.Close()
	}
}

// send writes one PDU. A write failure is a transport failure: the
// connection is closed, the machine goes to Sta1 and an *AbortError is
// returned (the A-P-ABORT indication of AA-4).
func (m *Machine) send(p pdu.PDU) error {
	if p == nil {
		return errors.New("ul: nothing to send")
	}
	var err error
	m.wbuf, err = pdu.Append(m.wbuf[:0], p)
	if err != nil {
		return err
	}
	if m.cfg.WriteTimeout > 0 {
		m.intrMu.Lock()
		if m.intr == nil {
			m.conn.SetWriteDeadline(time.Now().Add(m.cfg.WriteTimeout))
		}
		m.intrMu.Unlock()
	}
	_, err = m.conn.Write(m.wbuf)
	if cap(m.wbuf) > 1<<20 {
		m.wbuf = nil // do not pin a large buffer
	}
	if err != nil {
		m.closeTransport()
		m.stopARTIM()
		m.state = Sta1
		if ierr := m.takeInterrupt(); ierr != nil {
			err = ierr
		}
		return &AbortError{Err: err}
	}
	return nil
}

// abortReason maps the event that made the provider abort to the A-ABORT
// reason of PS3.8 Table 9-26.
func abortReason(ev Event, cause error) byte {
	if ev == Evt19 {
		if errors.Is(cause, pdu.ErrUnknownType) {
			return pdu.AbortReasonUnrecognizedPDU
		}
		return pdu.AbortReasonInvalidParameterValue
	}
	return pdu.AbortReasonUnexpectedPDU
}

// run performs one action of PS3.8 Tables 9-6..9-9 and sets the next state.
func (m *Machine) run(act Action, ev Event, p pdu.PDU, cause error) (Indication, error) {
	switch act {
	case AE1: // issue TRANSPORT CONNECT request
		m.state = Sta4
		return nil, nil
	case AE2: // send A-ASSOCIATE-RQ
		m.state = Sta5
		return nil, m.send(m.local)
	case AE3: // A-ASSOCIATE confirmation (accept)
		m.state = Sta6
		return AssociateConfirmation{AC: p.(*pdu.AAssociateAC)}, nil
	case AE4: // A-ASSOCIATE confirmation (reject), close transport
		m.closeTransport()
		m.state = Sta1
		rj := p.(*pdu.AAssociateRJ)
		return nil, &RejectError{Result: rj.Result, Source: rj.Source, Reason: rj.Reason}
	case AE5: // transport connection response, start ARTIM
		m.startARTIM()
		m.state = Sta2
		return nil, nil
	case AE6: // stop ARTIM; indicate, or reject when unacceptable to the provider
		m.stopARTIM()
		rq := p.(*pdu.AAssociateRQ)
		if rq.ProtocolVersion&pdu.ProtocolVersion == 0 {
			rj := &pdu.AAssociateRJ{Result: pdu.ResultRejectedPermanent, Source: pdu.SourceServiceProviderACSE, Reason: pdu.ReasonProtocolVersionNotSupported}
			m.state = Sta13
			if err := m.send(rj); err != nil {
				return nil, err
			}
			m.startARTIM()
			return nil, &RejectError{Result: rj.Result, Source: rj.Source, Reason: rj.Reason}
		}
		m.state = Sta3
		return AssociateIndication{RQ: rq}, nil
	case AE7: // send A-ASSOCIATE-AC
		m.state = Sta6
		return nil, m.send(m.local)
	case AE8: // send A-ASSOCIATE-RJ, start ARTIM
		m.state = Sta13
		if err := m.send(m.local); err != nil {
			return nil, err
		}
		m.startARTIM()
		return nil, nil
	case DT1: // send P-DATA-TF
		m.state = Sta6
		return nil, m.send(m.local)
	case DT2: // P-DATA indication
		m.state = Sta6
		return PDataIndication{PDU: p.(*pdu.PDataTF)}, nil
	case AR1: // send A-RELEASE-RQ
		m.state = Sta7
		return nil, m.send(m.local)
	case AR2: // A-RELEASE indication
		m.state = Sta8
		return ReleaseIndication{}, nil
	case AR3: // A-RELEASE confirmation, close transport
		m.closeTransport()
		m.state = Sta1
		return ReleaseConfirmation{}, nil
	case AR4: // send A-RELEASE-RP, start ARTIM
		m.state = Sta13
		if err := m.send(m.local); err != nil {
			return nil, err
		}
		m.startARTIM()
		return nil, nil
	case AR5: // stop ARTIM (transport closed by the peer after our RP or abort)
		m.stopARTIM()
		m.closeTransport()
		m.state = Sta1
		return nil, nil
	case AR6: // P-DATA indication while awaiting A-RELEASE-RP
		m.state = Sta7
		return PDataIndication{PDU: p.(*pdu.PDataTF)}, nil
	case AR7: // send P-DATA-TF after the peer asked for release
		m.state = Sta8
		return nil, m.send(m.local)
	case AR8: // release collision
		if m.requestor {
			m.state = Sta9
		} else {
			m.state = Sta10
		}
		return ReleaseIndication{Collision: true}, nil
	case AR9: // send A-RELEASE-RP (collision, requestor)
		m.state = Sta11
		return nil, m.send(m.local)
	case AR10: // A-RELEASE confirmation (collision, acceptor)
		m.state = Sta12
		return ReleaseConfirmation{}, nil
	case AA1: // send A-ABORT, (re)start ARTIM
		// The standard names the service-user source for AA-1. When the
		// local user asked (Evt15) we send its source/reason; when AA-1
		// answers a PDU that arrived in Sta2 before any A-ASSOCIATE-RQ, the
		// provider detected the error and we send source 2 (field-failure B06).
		src, rsn := m.abortSrc, m.abortRsn
		if ev != Evt15 {
			src, rsn = pdu.AbortSourceServiceProvider, abortReason(ev, cause)
		}
		m.state = Sta13
		m.userAbort = m.userAbort || ev == Evt15
		if err := m.send(&pdu.AAbort{Source: src, Reason: rsn}); err != nil {
			return nil, err
		}
		m.startARTIM()
		if ev != Evt15 || cause != nil {
			return nil, &AbortError{Source: src, Reason: rsn, Local: true, Err: cause}
		}
		return nil, nil
	case AA2: // stop ARTIM, close transport
		m.stopARTIM()
		m.closeTransport()
		m.state = Sta1
		if ev == Evt16 {
			a := p.(*pdu.AAbort)
			return nil, &AbortError{Source: a.Source, Reason: a.Reason}
		}
		return nil, nil
	case AA3: // A-ABORT (or A-P-ABORT) indication, close transport
		m.closeTransport()
		m.state = Sta1
		a := p.(*pdu.AAbort)
		return nil, &AbortError{Source: a.Source, Reason: a.Reason}
	case AA4: // A-P-ABORT indication (transport closed)
		m.stopARTIM()
		m.closeTransport()
		m.state = Sta1
		if cause == nil {
			cause = net.ErrClosed
		}
		return nil, &AbortError{Source: pdu.AbortSourceServiceProvider, Err: cause}
	case AA5: // stop ARTIM (transport closed in Sta2)
		m.stopARTIM()
		m.closeTransport()
		m.state = Sta1
		return nil, nil
	case AA6: // ignore PDU
		m.state = Sta13
		return nil, nil
	case AA7: // send A-ABORT
		m.state = Sta13
		return nil, m.send(&pdu.AAbort{Source: pdu.AbortSourceServiceProvider, Reason: abortReason(ev, cause)})
	case AA8: // send A-ABORT (provider), A-P-ABORT indication, start ARTIM
		rsn := abortReason(ev, cause)
		m.state = Sta13
		if err := m.send(&pdu.AAbort{Source: pdu.AbortSourceServiceProvider, Reason: rsn}); err != nil {
			return nil, err
		}
		m.startARTIM()
		if cause == nil {
			cause = errors.New("ul: unexpected " + p.Type().String() + " in " + ev.String())
		}
		return nil, &AbortError{Source: pdu.AbortSourceServiceProvider, Reason: rsn, Local: true, Err: cause}
	case XX1:
		return nil, ErrInvalidPrimitive
	case XX2:
		return nil, nil
	}
	return nil, errors.New("ul: undefined action")
}
