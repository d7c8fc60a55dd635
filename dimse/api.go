package dimse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
)

// AssociationInfo identifies an association to handlers and logs.
type AssociationInfo struct {
	ID         string
	CallingAE  string
	CalledAE   string
	RemoteAddr net.Addr
}

// StoreRequest is the C-STORE indication handed to a StoreHandler
// (PS3.7 §9.1.1, PS3.4 Annex B).
type StoreRequest struct {
	Assoc                  AssociationInfo
	MessageID              uint16
	AffectedSOPClassUID    string
	AffectedSOPInstanceUID string
	// TransferSyntaxUID is the transfer syntax of the presentation context
	// the data set arrived on.
	TransferSyntaxUID       string
	Priority                uint16
	MoveOriginatorAE        string
	MoveOriginatorMessageID uint16
	// Data yields the data set bytes exactly as received, streamed from the
	// P-DATA-TF PDUs; it is never held whole in memory. It is valid only
	// until HandleCStore returns and must not be used by other goroutines.
	Data io.Reader
}

// StoreResponse is the handler's answer; it becomes the C-STORE-RSP.
type StoreResponse struct {
	Status Status
	// ErrorComment becomes Error Comment (0000,0902) on non-success
	// statuses; it is cut to 64 characters.
	ErrorComment string
}

// StoreHandler handles C-STORE requests.
//
// HandleCStore is called on the association's goroutine, one request at a
// time per association. It may read req.Data fully, partly or not at all;
// the server drains what is left. A panic is recovered and answered with a
// failure status (0xC211) and the association carries on. Return Success
// only after the instance is safely stored (PS3.4 B.2.3).
type StoreHandler interface {
	HandleCStore(ctx context.Context, req *StoreRequest) StoreResponse
}

// StoreHandlerFunc adapts a function to StoreHandler.
type StoreHandlerFunc func(ctx context.Context, req *StoreRequest) StoreResponse

// HandleCStore calls f.
func (f StoreHandlerFunc) HandleCStore(ctx context.Context, req *StoreRequest) StoreResponse {
	return f(ctx, req)
}

// PresentationContextRequest is one presentation context an SCU proposes.
type PresentationContextRequest struct {
	AbstractSyntax   string
	TransferSyntaxes []string
}

// AssociateRejectError is an A-ASSOCIATE-RJ received by Dial (PS3.8 Table 9-21).
type AssociateRejectError struct {
	Result, Source, Reason byte
}

func (e *AssociateRejectError) Error() string {
	kind := "permanent"
	if e.Transient() {
		kind = "transient"
	}
	return fmt.Sprintf("dimse: association rejected (%s; result %d, source %d, reason %d: %s)", kind, e.Result, e.Source, e.Reason, e.reasonText())
}

// Transient reports whether the rejection is rejected-transient (result 2),
// so that retrying later may succeed.
func (e *AssociateRejectError) Transient() bool { return e.Result == 2 }

func (e *AssociateRejectError) reasonText() string {
	switch e.Source {
	case 1:
		switch e.Reason {
		case 1:
			return "no reason given"
		case 2:
			return "application context name not supported"
		case 3:
			return "calling AE title not recognized"
		case 7:
			return "called AE title not recognized"
		}
	case 2:
		switch e.Reason {
		case 1:
			return "no reason given"
		case 2:
			return "protocol version not supported"
		}
	case 3:
		switch e.Reason {
		case 1:
			return "temporary congestion"
		case 2:
			return "local limit exceeded"
		}
	}
	return "reserved"
}

// Errors returned by Association methods.
var (
	// ErrNoPresentationContext means no accepted presentation context has
	// the requested abstract syntax and transfer syntax.
	ErrNoPresentationContext = errors.New("dimse: no accepted presentation context for SOP class and transfer syntax")
	// ErrAssociationClosed means the association was released or aborted.
	ErrAssociationClosed = errors.New("dimse: association closed")
	// ErrServerClosed is returned by Serve after Shutdown or Close.
	ErrServerClosed = errors.New("dimse: server closed")
)
