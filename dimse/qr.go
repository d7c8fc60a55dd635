package dimse

import (
	"context"
	"errors"
	"io"
	"time"
)

// Query/Retrieve information models served by RegisterQueryRetrieve
// (PS3.4 §C.6.1 Patient Root, §C.6.2 Study Root).
var (
	QueryRetrieveFindSOPClasses = []string{UIDPatientRootQueryRetrieveInformationModelFind, UIDStudyRootQueryRetrieveInformationModelFind}
	QueryRetrieveMoveSOPClasses = []string{UIDPatientRootQueryRetrieveInformationModelMove, UIDStudyRootQueryRetrieveInformationModelMove}
	QueryRetrieveGetSOPClasses  = []string{UIDPatientRootQueryRetrieveInformationModelGet, UIDStudyRootQueryRetrieveInformationModelGet}
)

// ErrCancelled is the cause of an operation's context after the peer sent
// C-CANCEL-RQ for it (PS3.7 §9.3.2.3); a FindHandler's send function
// returns it from then on.
var ErrCancelled = errors.New("dimse: operation cancelled by C-CANCEL")

// FindRequest is the C-FIND indication (PS3.7 §9.1.2, PS3.4 §C.4.1).
type FindRequest struct {
	Assoc               AssociationInfo
	MessageID           uint16
	AffectedSOPClassUID string
	Priority            uint16
	// TransferSyntaxUID is that of the presentation context (Explicit or
	// Implicit VR Little Endian); Identifier is encoded in it, and so must
	// every identifier handed to send be.
	TransferSyntaxUID string
	Identifier        []byte
}

// Response is a handler's final status with its optional Error Comment
// (0000,0902, at most 64 characters) and Offending Element (0000,0901).
type Response struct {
	Status           Status
	ErrorComment     string
	OffendingElement []uint32
}

// FindHandler answers C-FIND requests.
//
// HandleCFind calls send once per match with the identifier of the match
// (encoded in req.TransferSyntaxUID); each call sends a Pending response
// at once, so results stream and are never collected. After the peer's
// C-CANCEL-RQ, ctx is cancelled with cause ErrCancelled, send returns
// ErrCancelled and the server answers Cancel (0xFE00) whatever the handler
// returns. Otherwise the returned status is the final response (Success,
// or a failure such as 0xA900, 0xC000, 0x0124). A panic becomes 0xC211.
type FindHandler interface {
	HandleCFind(ctx context.Context, req *FindRequest, send func(identifier []byte) error) Response
}

// RetrieveRequest is a C-MOVE (PS3.7 §9.1.4) or C-GET (§9.1.3) indication.
type RetrieveRequest struct {
	Assoc AssociationInfo
	// CommandField is CommandCMoveRQ or CommandCGetRQ.
	CommandField        uint16
	MessageID           uint16
	AffectedSOPClassUID string
	Priority            uint16
	// MoveDestination is the AE title to send to (C-MOVE only).
	MoveDestination   string
	TransferSyntaxUID string
	Identifier        []byte
}

// RetrieveInstance is one instance a retrieval sends as a C-STORE
// sub-operation, in the transfer syntax it is stored in.
type RetrieveInstance struct {
	SOPClassUID, SOPInstanceUID, TransferSyntaxUID string
	// Open returns the data set bytes (no preamble or meta group).
	Open func() (io.ReadCloser, error)
}

// Destination is where a C-MOVE sends its sub-operations.
type Destination struct {
	AETitle string
	Addr    string // host:port
}

// RetrieveResult is the handler's answer to a RetrieveRequest: either a
// refusal (Response.Status non-zero, e.g. 0xA801 Move Destination
// unknown, 0xA900, 0x0124) or the instances the server then sends, with
// counts, pending responses, cancel and the final status of PS3.4 §C.4.2
// and §C.4.3 handled by the server.
type RetrieveResult struct {
	Response
	// Destination is the resolved Move Destination (C-MOVE only).
	Destination Destination
	Instances   []RetrieveInstance
}

// RetrieveHandler resolves C-MOVE and C-GET identifiers into instances.
type RetrieveHandler interface {
	HandleRetrieve(ctx context.Context, req *RetrieveRequest) RetrieveResult
}

// QueryRetrieve configures the Query/Retrieve SCP (PS3.4 Annex C).
type QueryRetrieve struct {
	Find FindHandler // nil: C-FIND not served
	// Retrieve serves C-MOVE and, when Get is set, C-GET; nil serves neither.
	Retrieve RetrieveHandler
	Get      bool
	// SubOperations configures the associations C-MOVE opens to the move
	// destination (CallingAE is always the AE title the requester called,
	// B18). Zero timeouts mean the ClientConfig defaults.
	DialTimeout, ResponseTimeout time.Duration
	MaxPDULength                 uint32
}

// RegisterQueryRetrieve adds the Patient Root and Study Root C-FIND, C-MOVE
// and C-GET services to the server. It must be called before Serve.
// Registering C-GET accepts the SCP role for the storage SOP classes the
// server accepts (PS3.7 D.3.3.4), so that sub-operations can flow back.
func (s *Server) RegisterQueryRetrieve(qr QueryRetrieve) {
	add := func(uids []string, field uint16, f serviceFunc) {
		for _, u := range uids {
			s.policy.sopClasses[u] = true
			s.policy.leOnly[u] = true
		}
		s.services[field] = f
	}
	if qr.Find != nil {
		add(QueryRetrieveFindSOPClasses, CommandCFindRQ, func(ctx context.Context, sa *serverAssoc, pc presentationContext, cmd *Command) error {
			return serveFind(ctx, sa, pc, cmd, qr.Find)
		})
	}
	if qr.Retrieve != nil {
		add(QueryRetrieveMoveSOPClasses, CommandCMoveRQ, func(ctx context.Context, sa *serverAssoc, pc presentationContext, cmd *Command) error {
			return serveRetrieve(ctx, sa, pc, cmd, &qr)
		})
		if qr.Get {
			for u := range s.policy.sopClasses {
				if u != UIDVerification && !s.policy.leOnly[u] {
					s.policy.scpRole[u] = true
				}
			}
			add(QueryRetrieveGetSOPClasses, CommandCGetRQ, func(ctx context.Context, sa *serverAssoc, pc presentationContext, cmd *Command) error {
				return serveRetrieve(ctx, sa, pc, cmd, &qr)
			})
		}
	}
}
