package commit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/dcm"
)

// Attributes of the Storage Commitment Module (PS3.4 Tables J.3-1, J.3-2).
const (
	tagRetrieveAETitle          = dcm.Tag(0x00080054)
	tagReferencedSOPClassUID    = dcm.Tag(0x00081150)
	tagReferencedSOPInstanceUID = dcm.Tag(0x00081155)
	tagTransactionUID           = dcm.Tag(0x00081195)
	tagFailureReason            = dcm.Tag(0x00081197)
	tagFailedSOPSequence        = dcm.Tag(0x00081198)
	tagReferencedSOPSequence    = dcm.Tag(0x00081199)
)

// Failure Reasons (0008,1197), PS3.3 C.14.1.1.
const (
	FailureProcessing            uint16 = 0x0110
	FailureNoSuchObjectInstance  uint16 = 0x0112
	FailureResourceLimitation    uint16 = 0x0213
	FailureReferencedSOPClass    uint16 = 0x0122
	FailureClassInstanceConflict uint16 = 0x0119
	FailureDuplicateTransaction  uint16 = 0x0131
)

// ErrInvalidRequest wraps the reasons an Action Information data set is
// refused (N-ACTION-RSP 0x0115 Invalid Argument Value).
var ErrInvalidRequest = errors.New("commit: invalid storage commitment request")

func transferSyntax(uid string) (dcm.TransferSyntax, error) {
	ts, ok := dcm.LookupTransferSyntax(uid)
	if !ok || ts.Encapsulated || ts.Deflated {
		return dcm.TransferSyntax{}, fmt.Errorf("commit: transfer syntax %q not usable for commitment messages", uid)
	}
	return ts, nil
}

// ParseActionInformation decodes the N-ACTION-RQ data set of PS3.4 Table
// J.3-1: Transaction UID (0008,1195) and Referenced SOP Sequence
// (0008,1199) items with (0008,1150) and (0008,1155), all required.
func ParseActionInformation(tsUID string, b []byte) (transactionUID string, items []catalog.CommitmentItem, err error) {
	ts, err := transferSyntax(tsUID)
	if err != nil {
		return "", nil, err
	}
	ds, err := dcm.Parse(bytes.NewReader(b), ts, dcm.Options{Size: int64(len(b)), MaxDepth: 8})
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	transactionUID = ds.String(tagTransactionUID)
	if transactionUID == "" {
		return "", nil, fmt.Errorf("%w: no Transaction UID (0008,1195)", ErrInvalidRequest)
	}
	seq := ds.Sequence(tagReferencedSOPSequence)
	if len(seq) == 0 {
		return "", nil, fmt.Errorf("%w: empty Referenced SOP Sequence (0008,1199)", ErrInvalidRequest)
	}
	for i, it := range seq {
		c := catalog.CommitmentItem{SOPClassUID: it.String(tagReferencedSOPClassUID), SOPInstanceUID: it.String(tagReferencedSOPInstanceUID)}
		if c.SOPClassUID == "" || c.SOPInstanceUID == "" {
			return "", nil, fmt.Errorf("%w: Referenced SOP Sequence item %d lacks (0008,1150) or (0008,1155)", ErrInvalidRequest, i+1)
		}
		items = append(items, c)
	}
	return transactionUID, items, nil
}

// EncodeActionInformation encodes an N-ACTION-RQ data set (the requester
// side, for tools and tests).
func EncodeActionInformation(tsUID, transactionUID string, items []catalog.CommitmentItem) ([]byte, error) {
	ts, err := transferSyntax(tsUID)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := dcm.NewWriter(&buf, ts)
	w.WriteString(tagTransactionUID, dcm.UI, transactionUID)
	writeItems(w, tagReferencedSOPSequence, items, false)
	return buf.Bytes(), w.Err()
}

func writeItems(w *dcm.Writer, seq dcm.Tag, items []catalog.CommitmentItem, reasons bool) {
	w.WriteHeader(seq, dcm.SQ, dcm.UndefinedLength)
	for _, it := range items {
		w.WriteHeader(dcm.TagItem, "", dcm.UndefinedLength)
		w.WriteString(tagReferencedSOPClassUID, dcm.UI, it.SOPClassUID)
		w.WriteString(tagReferencedSOPInstanceUID, dcm.UI, it.SOPInstanceUID)
		if reasons {
			w.WriteValue(tagFailureReason, dcm.US, binary.LittleEndian.AppendUint16(nil, it.FailureReason))
		}
		w.WriteHeader(dcm.TagItemDelimitationItem, "", 0)
	}
	w.WriteHeader(dcm.TagSequenceDelimitationItem, "", 0)
}

// EncodeEventInformation encodes the N-EVENT-REPORT-RQ data set of PS3.4
// Table J.3-2 for items whose FailureReason is set (0 = committed) and
// returns it with its Event Type ID: 1 when every item is committed
// (Referenced SOP Sequence only), else 2 (Failed SOP Sequence, and the
// Referenced SOP Sequence when some are committed). retrieveAE, if set,
// is sent as Retrieve AE Title (0008,0054).
func EncodeEventInformation(tsUID, transactionUID, retrieveAE string, items []catalog.CommitmentItem) ([]byte, uint16, error) {
	ts, err := transferSyntax(tsUID)
	if err != nil {
		return nil, 0, err
	}
	if ts.BigEndian {
		return nil, 0, fmt.Errorf("commit: big endian transfer syntax not supported")
	}
	var ok, failed []catalog.CommitmentItem
	for _, it := range items {
		if it.FailureReason == 0 {
			ok = append(ok, it)
		} else {
			failed = append(failed, it)
		}
	}
	var buf bytes.Buffer
	w := dcm.NewWriter(&buf, ts)
	if retrieveAE != "" {
		w.WriteString(tagRetrieveAETitle, dcm.AE, retrieveAE)
	}
	w.WriteString(tagTransactionUID, dcm.UI, transactionUID)
	ev := uint16(1)
	if len(failed) > 0 {
		ev = 2
		writeItems(w, tagFailedSOPSequence, failed, true)
	}
	if len(ok) > 0 {
		writeItems(w, tagReferencedSOPSequence, ok, false)
	}
	return buf.Bytes(), ev, w.Err()
}

// EventInformation is a decoded N-EVENT-REPORT-RQ data set.
type EventInformation struct {
	TransactionUID string
	RetrieveAE     string
	Committed      []catalog.CommitmentItem
	Failed         []catalog.CommitmentItem // with FailureReason
}

// ParseEventInformation decodes an N-EVENT-REPORT-RQ data set (the
// requester side, for tools and tests).
func ParseEventInformation(tsUID string, b []byte) (*EventInformation, error) {
	ts, err := transferSyntax(tsUID)
	if err != nil {
		return nil, err
	}
	ds, err := dcm.Parse(bytes.NewReader(b), ts, dcm.Options{Size: int64(len(b)), MaxDepth: 8})
	if err != nil {
		return nil, err
	}
	ev := &EventInformation{TransactionUID: ds.String(tagTransactionUID), RetrieveAE: ds.String(tagRetrieveAETitle)}
	for _, it := range ds.Sequence(tagReferencedSOPSequence) {
		ev.Committed = append(ev.Committed, catalog.CommitmentItem{SOPClassUID: it.String(tagReferencedSOPClassUID), SOPInstanceUID: it.String(tagReferencedSOPInstanceUID)})
	}
	for _, it := range ds.Sequence(tagFailedSOPSequence) {
		c := catalog.CommitmentItem{SOPClassUID: it.String(tagReferencedSOPClassUID), SOPInstanceUID: it.String(tagReferencedSOPInstanceUID)}
		if e := it.Find(tagFailureReason); e != nil && len(e.Value) >= 2 {
			c.FailureReason = binary.LittleEndian.Uint16(e.Value)
		}
		ev.Failed = append(ev.Failed, c)
	}
	return ev, nil
}
