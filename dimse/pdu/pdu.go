package pdu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Type is the PDU-type field (first byte) of a PDU, PS3.8 §9.3.1.
type Type byte

// PDU types, PS3.8 Table 9-11 .. 9-26.
const (
	TypeAAssociateRQ Type = 0x01
	TypeAAssociateAC Type = 0x02
	TypeAAssociateRJ Type = 0x03
	TypePDataTF      Type = 0x04
	TypeAReleaseRQ   Type = 0x05
	TypeAReleaseRP   Type = 0x06
	TypeAAbort       Type = 0x07
)

func (t Type) String() string {
	switch t {
	case TypeAAssociateRQ:
		return "A-ASSOCIATE-RQ"
	case TypeAAssociateAC:
		return "A-ASSOCIATE-AC"
	case TypeAAssociateRJ:
		return "A-ASSOCIATE-RJ"
	case TypePDataTF:
		return "P-DATA-TF"
	case TypeAReleaseRQ:
		return "A-RELEASE-RQ"
	case TypeAReleaseRP:
		return "A-RELEASE-RP"
	case TypeAAbort:
		return "A-ABORT"
	}
	return fmt.Sprintf("PDU-type-0x%02X", byte(t))
}

// HeaderLength is the size of the fixed PDU header: type, reserved, 4-byte length.
const HeaderLength = 6

// PDU is one upper-layer protocol data unit.
type PDU interface {
	Type() Type
	// appendBody appends the PDU's variable field (everything after the 6-byte header).
	appendBody(b []byte) ([]byte, error)
}

// Errors returned by Read. Callers map them to PS3.8 Evt19 (unrecognized or
// invalid PDU) unless they wrap an I/O error.
var (
	ErrTooLarge    = errors.New("pdu: declared length exceeds limit")
	ErrUnknownType = errors.New("pdu: unrecognized PDU type")
	ErrMalformed   = errors.New("pdu: malformed PDU")
)

// IsProtocolError reports whether err from Read means the peer sent bytes that
// are not a valid PDU (as opposed to a transport error).
func IsProtocolError(err error) bool {
	return errors.Is(err, ErrTooLarge) || errors.Is(err, ErrUnknownType) || errors.Is(err, ErrMalformed)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// Limits bounds what Read accepts.
type Limits struct {
	// MaxPDataLength caps the PDU-length of a P-DATA-TF PDU. Zero means
	// DefaultMaxPDataLength.
	MaxPDataLength uint32
	// MaxOtherLength caps the PDU-length of every other PDU type. Zero means
	// DefaultMaxOtherLength.
	MaxOtherLength uint32
}

// Default limits used when a Limits field is zero.
const (
	DefaultMaxPDataLength = 4 << 20
	DefaultMaxOtherLength = 256 << 10
)

func (l Limits) max(t Type) uint32 {
	if t == TypePDataTF {
		if l.MaxPDataLength == 0 {
			return DefaultMaxPDataLength
		}
		return l.MaxPDataLength
	}
	if l.MaxOtherLength == 0 {
		return DefaultMaxOtherLength
	}
	return l.MaxOtherLength
}

// Read reads one PDU from r. The declared length is checked against lim
// before any buffer is allocated.
func Read(r io.Reader, lim Limits) (PDU, error) {
	return ReadInto(r, lim, nil)
}

// ReadInto is Read that reads the body of a P-DATA-TF into *buf (growing
// it, never past the limit), so that a receiver reuses one buffer for
// every P-DATA-TF of an association instead of allocating one per PDU.
// The PDV data of the returned P-DATA-TF alias *buf: they are valid only
// until the next ReadInto with the same buf. buf nil allocates.
func ReadInto(r io.Reader, lim Limits, buf *[]byte) (PDU, error) {
	var hdr [HeaderLength]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	t := Type(hdr[0])
	n := binary.BigEndian.Uint32(hdr[2:])
	switch t {
	case TypeAAssociateRQ, TypeAAssociateAC, TypeAAssociateRJ, TypePDataTF,
		TypeAReleaseRQ, TypeAReleaseRP, TypeAAbort:
	default:
		return nil, fmt.Errorf("%w 0x%02X (length %d)", ErrUnknownType, hdr[0], n)
	}
	if max := lim.max(t); n > max {
		return nil, fmt.Errorf("%w: %v length %d > %d", ErrTooLarge, t, n, max)
	}
	var body []byte
	if buf != nil && t == TypePDataTF {
		if uint32(cap(*buf)) < n {
			*buf = make([]byte, n)
		}
		body = (*buf)[:n]
	} else {
		body = make([]byte, n)
	}
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return Decode(t, body)
}

// Decode decodes the variable field of a PDU of type t.
func Decode(t Type, body []byte) (PDU, error) {
	switch t {
	case TypeAAssociateRQ:
		return decodeAssociateRQ(body)
	case TypeAAssociateAC:
		return decodeAssociateAC(body)
	case TypeAAssociateRJ:
		if len(body) != 4 {
			return nil, malformed("A-ASSOCIATE-RJ length %d, want 4", len(body))
		}
		return &AAssociateRJ{Result: body[1], Source: body[2], Reason: body[3]}, nil
	case TypePDataTF:
		return decodePDataTF(body)
	case TypeAReleaseRQ:
		if len(body) != 4 {
			return nil, malformed("A-RELEASE-RQ length %d, want 4", len(body))
		}
		return &AReleaseRQ{}, nil
	case TypeAReleaseRP:
		if len(body) != 4 {
			return nil, malformed("A-RELEASE-RP length %d, want 4", len(body))
		}
		return &AReleaseRP{}, nil
	case TypeAAbort:
		if len(body) != 4 {
			return nil, malformed("A-ABORT length %d, want 4", len(body))
		}
		return &AAbort{Source: body[2], Reason: body[3]}, nil
	}
	return nil, fmt.Errorf("%w 0x%02X", ErrUnknownType, byte(t))
}

// Append appends the complete encoding of p (header included) to b.
func Append(b []byte, p PDU) ([]byte, error) {
	start := len(b)
	b = append(b, byte(p.Type()), 0, 0, 0, 0, 0)
	b, err := p.appendBody(b)
	if err != nil {
		return b[:start], err
	}
	n := len(b) - start - HeaderLength
	if uint64(n) > 0xFFFFFFFF {
		return b[:start], fmt.Errorf("pdu: %v body too long (%d)", p.Type(), n)
	}
	binary.BigEndian.PutUint32(b[start+2:], uint32(n))
	return b, nil
}

// Encode returns the complete encoding of p.
func Encode(p PDU) ([]byte, error) { return Append(nil, p) }

// Write encodes p and writes it to w in one Write call.
func Write(w io.Writer, p PDU) error {
	b, err := Encode(p)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// AAssociateRJ is the A-ASSOCIATE-RJ PDU, PS3.8 §9.3.4 (Table 9-21).
type AAssociateRJ struct {
	Result byte // 1 rejected-permanent, 2 rejected-transient
	Source byte // 1 service-user, 2 service-provider (ACSE), 3 service-provider (presentation)
	Reason byte // meaning depends on Source
}

// A-ASSOCIATE-RJ field values, PS3.8 Table 9-21.
const (
	ResultRejectedPermanent = 1
	ResultRejectedTransient = 2

	SourceServiceUser                 = 1
	SourceServiceProviderACSE         = 2
	SourceServiceProviderPresentation = 3

	// Source 1 reasons.
	ReasonNoReasonGiven                  = 1
	ReasonApplicationContextNotSupported = 2
	ReasonCallingAETitleNotRecognized    = 3
	ReasonCalledAETitleNotRecognized     = 7
	// Source 2 reasons.
	ReasonACSENoReasonGiven           = 1
	ReasonProtocolVersionNotSupported = 2
	// Source 3 reasons.
	ReasonTemporaryCongestion = 1
	ReasonLocalLimitExceeded  = 2
)

func (*AAssociateRJ) Type() Type { return TypeAAssociateRJ }
func (p *AAssociateRJ) appendBody(b []byte) ([]byte, error) {
	return append(b, 0, p.Result, p.Source, p.Reason), nil
}

// AReleaseRQ is the A-RELEASE-RQ PDU, PS3.8 §9.3.6.
type AReleaseRQ struct{}

func (*AReleaseRQ) Type() Type                          { return TypeAReleaseRQ }
func (*AReleaseRQ) appendBody(b []byte) ([]byte, error) { return append(b, 0, 0, 0, 0), nil }

// AReleaseRP is the A-RELEASE-RP PDU, PS3.8 §9.3.7.
type AReleaseRP struct{}

func (*AReleaseRP) Type() Type                          { return TypeAReleaseRP }
func (*AReleaseRP) appendBody(b []byte) ([]byte, error) { return append(b, 0, 0, 0, 0), nil }

// AAbort is the A-ABORT PDU, PS3.8 §9.3.8 (Table 9-26).
type AAbort struct {
	Source byte // 0 service-user, 2 service-provider
	Reason byte // for source 2, one of the AbortReason constants; else 0
}

// A-ABORT source and reason values, PS3.8 Table 9-26.
const (
	AbortSourceServiceUser     = 0
	AbortSourceServiceProvider = 2

	AbortReasonNotSpecified          = 0
	AbortReasonUnrecognizedPDU       = 1
	AbortReasonUnexpectedPDU         = 2
	AbortReasonUnrecognizedParameter = 4
	AbortReasonUnexpectedParameter   = 5
	AbortReasonInvalidParameterValue = 6
)

func (*AAbort) Type() Type { return TypeAAbort }
func (p *AAbort) appendBody(b []byte) ([]byte, error) {
	return append(b, 0, 0, p.Source, p.Reason), nil
}
