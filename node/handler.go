package node

import (
	"context"
	"errors"
	"log/slog"

	"github.com/sonogate/sonogate/dimse"
	"github.com/sonogate/sonogate/ingest"
)

// storeHandler is the C-STORE SCP: it answers Success only after the
// ingest path has made the instance durable and indexed it (PS3.4 B.2.3).
type storeHandler struct {
	in  *ingest.Ingester
	log *slog.Logger
}

func (h *storeHandler) HandleCStore(ctx context.Context, req *dimse.StoreRequest) dimse.StoreResponse {
	_, err := h.in.Ingest(ctx, ingest.Request{
		CallingAE:         req.Assoc.CallingAE,
		SOPClassUID:       req.AffectedSOPClassUID,
		SOPInstanceUID:    req.AffectedSOPInstanceUID,
		TransferSyntaxUID: req.TransferSyntaxUID,
		Data:              req.Data,
	})
	if err == nil {
		return dimse.StoreResponse{Status: dimse.StatusSuccess}
	}
	status, comment := storeStatus(err)
	h.log.Warn("C-STORE refused", "component", "dimse", "assoc_id", req.Assoc.ID, "calling_ae", req.Assoc.CallingAE,
		"sop_instance_uid", req.AffectedSOPInstanceUID, "status", status.String(), "err", err)
	return dimse.StoreResponse{Status: status, ErrorComment: comment}
}

// storeStatus maps an ingest failure to the C-STORE status of PS3.4
// Table B.2-1 and a comment of at most 64 characters.
func storeStatus(err error) (dimse.Status, string) {
	comment := "storage failed"
	var ie *ingest.Error
	if errors.As(err, &ie) {
		comment = ie.Comment
	}
	if len(comment) > 64 {
		comment = comment[:64]
	}
	switch {
	case errors.Is(err, ingest.ErrMismatch):
		return dimse.StatusDataSetDoesNotMatchSOPClass, comment
	case errors.Is(err, ingest.ErrCannotUnderstand):
		return dimse.StatusCannotUnderstand, comment
	}
	return dimse.StatusOutOfResources, comment
}
