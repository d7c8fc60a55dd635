package ul

import (
	"errors"
	"fmt"

	"github.com/sonogate/sonogate/dimse/pdu"
)

// State is a PS3.8 upper-layer state (Sta1..Sta13).
type State uint8

// Event is a PS3.8 Table 9-10 event (Evt1..Evt19).
type Event uint8

// Action is a PS3.8 action (AE-n, DT-n, AR-n, AA-n) or XX-1/XX-2.
type Action uint8

func (s State) String() string {
	if s >= Sta1 && s <= Sta13 {
		return fmt.Sprintf("Sta%d", uint8(s))
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

func (e Event) String() string {
	if e >= Evt1 && e <= Evt19 {
		return fmt.Sprintf("Evt%d", uint8(e))
	}
	return fmt.Sprintf("Event(%d)", uint8(e))
}

// Definition returns the state's definition from PS3.8 Tables 9-1..9-5.
func (s State) Definition() string {
	if s >= Sta1 && s <= Sta13 {
		return stateDefinitions[s]
	}
	return ""
}

// Name returns the event's row label in PS3.8 Table 9-10.
func (e Event) Name() string {
	if e >= Evt1 && e <= Evt19 {
		return eventNames[e]
	}
	return ""
}

func (a Action) String() string {
	if int(a) < len(actionNames) && actionNames[a] != "" {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// NextState returns the next state the standard documents for a, such as
// "Sta6", "Sta3 or Sta13", or "unchanged" for XX-1/XX-2.
func (a Action) NextState() string {
	if int(a) < len(actionNextStates) {
		return actionNextStates[a]
	}
	return ""
}

// Lookup returns the action of Table 9-10 for event e in state s.
func Lookup(e Event, s State) Action {
	if e < Evt1 || e > Evt19 || s < Sta1 || s > Sta13 {
		return XX2
	}
	return transitionTable[e][s]
}

// Indication is what the machine reports to the local user after an event:
// one of AssociateIndication, AssociateConfirmation, PDataIndication,
// ReleaseIndication, ReleaseConfirmation. Rejections and aborts are errors.
type Indication interface{ indication() }

// AssociateIndication is the A-ASSOCIATE indication (AE-6 → Sta3).
type AssociateIndication struct{ RQ *pdu.AAssociateRQ }

// AssociateConfirmation is the accepting A-ASSOCIATE confirmation (AE-3 → Sta6).
type AssociateConfirmation struct{ AC *pdu.AAssociateAC }

// PDataIndication is the P-DATA indication (DT-2, AR-6).
type PDataIndication struct{ PDU *pdu.PDataTF }

// ReleaseIndication is the A-RELEASE indication (AR-2; AR-8 when Collision).
type ReleaseIndication struct{ Collision bool }

// ReleaseConfirmation is the A-RELEASE confirmation (AR-3, AR-10).
type ReleaseConfirmation struct{}

func (AssociateIndication) indication()   {}
func (AssociateConfirmation) indication() {}
func (PDataIndication) indication()       {}
func (ReleaseIndication) indication()     {}
func (ReleaseConfirmation) indication()   {}

// ErrInvalidPrimitive is returned when the local user issues a primitive
// that the current state does not allow (XX-1).
var ErrInvalidPrimitive = errors.New("ul: primitive not valid in the current state")

// ErrARTIMExpired is the cause recorded when the ARTIM timer expires (Evt18).
var ErrARTIMExpired = errors.New("ul: ARTIM timer expired")

// ErrIdleTimeout is the cause of a local abort after the idle timeout.
var ErrIdleTimeout = errors.New("ul: idle timeout")

// RejectError is an A-ASSOCIATE-RJ received from the peer (AE-4) or sent
// by this provider (AE-6 with an unacceptable request).
type RejectError struct {
	Result, Source, Reason byte
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("ul: association rejected (result %d, source %d, reason %d)", e.Result, e.Source, e.Reason)
}

// AbortError reports the end of an association by A-ABORT or loss of the
// transport connection.
type AbortError struct {
	// Source and Reason are the A-ABORT fields (PS3.8 Table 9-26).
	Source, Reason byte
	// Local is true when this side sent the A-ABORT; false when it was
	// received (A-ABORT indication) or the transport failed (A-P-ABORT).
	Local bool
	// Err is the underlying cause: a transport error, a PDU decoding
	// error, ErrARTIMExpired, or a context error.
	Err error
}

func (e *AbortError) Error() string {
	who := "peer"
	if e.Local {
		who = "local"
	}
	if !e.Local && e.Err != nil && e.Source == 2 && e.Reason == 0 {
		// An A-P-ABORT: the transport failed (refused, reset, closed).
		return fmt.Sprintf("ul: transport failed (A-P-ABORT): %v", e.Err)
	}
	if e.Err != nil {
		return fmt.Sprintf("ul: association aborted (%s, source %d, reason %d): %v", who, e.Source, e.Reason, e.Err)
	}
	return fmt.Sprintf("ul: association aborted (%s, source %d, reason %d)", who, e.Source, e.Reason)
}

func (e *AbortError) Unwrap() error { return e.Err }
