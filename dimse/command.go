package dimse

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// CommandField values (0000,0100), PS3.7 §9.3 and §10.3.
const (
	CommandCStoreRQ        uint16 = 0x0001
	CommandCStoreRSP       uint16 = 0x8001
	CommandCGetRQ          uint16 = 0x0010
	CommandCGetRSP         uint16 = 0x8010
	CommandCFindRQ         uint16 = 0x0020
	CommandCFindRSP        uint16 = 0x8020
	CommandCMoveRQ         uint16 = 0x0021
	CommandCMoveRSP        uint16 = 0x8021
	CommandCEchoRQ         uint16 = 0x0030
	CommandCEchoRSP        uint16 = 0x8030
	CommandNEventReportRQ  uint16 = 0x0100
	CommandNEventReportRSP uint16 = 0x8100
	CommandNGetRQ          uint16 = 0x0110
	CommandNGetRSP         uint16 = 0x8110
	CommandNSetRQ          uint16 = 0x0120
	CommandNSetRSP         uint16 = 0x8120
	CommandNActionRQ       uint16 = 0x0130
	CommandNActionRSP      uint16 = 0x8130
	CommandNCreateRQ       uint16 = 0x0140
	CommandNCreateRSP      uint16 = 0x8140
	CommandNDeleteRQ       uint16 = 0x0150
	CommandNDeleteRSP      uint16 = 0x8150
	CommandCCancelRQ       uint16 = 0x0FFF
)

// Priority values (0000,0700).
const (
	PriorityMedium uint16 = 0x0000
	PriorityHigh   uint16 = 0x0001
	PriorityLow    uint16 = 0x0002
)

// CommandDataSetType (0000,0800) value meaning "no data set"; any other
// value means a data set follows (PS3.7 §9.3, E.1).
const NoDataSet uint16 = 0x0101

// Command element numbers in group 0000, PS3.7 Annex E.
const (
	tagCommandGroupLength        = 0x0000
	tagAffectedSOPClassUID       = 0x0002
	tagRequestedSOPClassUID      = 0x0003
	tagCommandField              = 0x0100
	tagMessageID                 = 0x0110
	tagMessageIDBeingRespondedTo = 0x0120
	tagMoveDestination           = 0x0600
	tagPriority                  = 0x0700
	tagCommandDataSetType        = 0x0800
	tagStatus                    = 0x0900
	tagOffendingElement          = 0x0901
	tagErrorComment              = 0x0902
	tagErrorID                   = 0x0903
	tagAffectedSOPInstanceUID    = 0x1000
	tagRequestedSOPInstanceUID   = 0x1001
	tagEventTypeID               = 0x1002
	tagActionTypeID              = 0x1008
	tagRemainingSubOperations    = 0x1020
	tagCompletedSubOperations    = 0x1021
	tagFailedSubOperations       = 0x1022
	tagWarningSubOperations      = 0x1023
	tagMoveOriginatorAETitle     = 0x1030
	tagMoveOriginatorMessageID   = 0x1031
)

// MaxErrorCommentLength is the LO limit of Error Comment (0000,0902).
const MaxErrorCommentLength = 64

// Command is a DIMSE command set (group 0000, Implicit VR Little Endian,
// PS3.7 §6.3 and Annex E). Optional elements are encoded when non-zero (or,
// for numbers, when their Has flag is set).
type Command struct {
	CommandField              uint16
	MessageID                 uint16 // requests
	MessageIDBeingRespondedTo uint16 // responses
	AffectedSOPClassUID       string
	RequestedSOPClassUID      string
	AffectedSOPInstanceUID    string
	RequestedSOPInstanceUID   string
	MoveDestination           string
	Priority                  uint16 // C-STORE/C-FIND/C-MOVE/C-GET requests
	CommandDataSetType        uint16
	Status                    Status // responses
	OffendingElement          []uint32
	ErrorComment              string
	ErrorID                   uint16
	HasErrorID                bool
	EventTypeID, ActionTypeID uint16
	HasEventTypeID            bool
	HasActionTypeID           bool
	// Sub-operation counts (C-MOVE/C-GET responses); nil = absent.
	RemainingSubOperations, CompletedSubOperations, FailedSubOperations, WarningSubOperations *uint16
	MoveOriginatorAETitle                                                                     string
	MoveOriginatorMessageID                                                                   uint16
	HasMoveOriginatorMessageID                                                                bool
}

// IsResponse reports whether the command field has the response bit set.
func (c *Command) IsResponse() bool { return c.CommandField&0x8000 != 0 }

// HasDataSet reports whether a data set follows the command.
func (c *Command) HasDataSet() bool { return c.CommandDataSetType != NoDataSet }

func hasPriority(cf uint16) bool {
	switch cf {
	case CommandCStoreRQ, CommandCFindRQ, CommandCMoveRQ, CommandCGetRQ:
		return true
	}
	return false
}

// Encode returns the command set with a computed CommandGroupLength.
func (c *Command) Encode() []byte {
	b := make([]byte, 12, 256) // (0000,0000) UL placeholder
	us := func(el uint16, v uint16) {
		b = appendElementHeader(b, el, 2)
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	str := func(el uint16, v string, pad byte) {
		if v == "" {
			return
		}
		n := len(v)
		b = appendElementHeader(b, el, uint32(n+n%2))
		b = append(b, v...)
		if n%2 == 1 {
			b = append(b, pad)
		}
	}
	str(tagAffectedSOPClassUID, c.AffectedSOPClassUID, 0)
	str(tagRequestedSOPClassUID, c.RequestedSOPClassUID, 0)
	us(tagCommandField, c.CommandField)
	// C-CANCEL-RQ carries Message ID Being Responded To, not a Message ID
	// (PS3.7 §9.3.2.3).
	if c.IsResponse() || c.CommandField == CommandCCancelRQ {
		us(tagMessageIDBeingRespondedTo, c.MessageIDBeingRespondedTo)
	} else {
		us(tagMessageID, c.MessageID)
	}
	str(tagMoveDestination, c.MoveDestination, ' ')
	if hasPriority(c.CommandField) {
		us(tagPriority, c.Priority)
	}
	us(tagCommandDataSetType, c.CommandDataSetType)
	if c.IsResponse() {
		us(tagStatus, uint16(c.Status))
	}
	if len(c.OffendingElement) > 0 {
		b = appendElementHeader(b, tagOffendingElement, uint32(4*len(c.OffendingElement)))
		for _, t := range c.OffendingElement {
			b = binary.LittleEndian.AppendUint16(b, uint16(t>>16))
			b = binary.LittleEndian.AppendUint16(b, uint16(t))
		}
	}
	str(tagErrorComment, truncateComment(c.ErrorComment), ' ')
	if c.HasErrorID {
		us(tagErrorID, c.ErrorID)
	}
	str(tagAffectedSOPInstanceUID, c.AffectedSOPInstanceUID, 0)
	str(tagRequestedSOPInstanceUID, c.RequestedSOPInstanceUID, 0)
	if c.HasEventTypeID {
		us(tagEventTypeID, c.EventTypeID)
	}
	if c.HasActionTypeID {
		us(tagActionTypeID, c.ActionTypeID)
	}
	for _, e := range []struct {
		el uint16
		v  *uint16
	}{{tagRemainingSubOperations, c.RemainingSubOperations}, {tagCompletedSubOperations, c.CompletedSubOperations},
		{tagFailedSubOperations, c.FailedSubOperations}, {tagWarningSubOperations, c.WarningSubOperations}} {
		if e.v != nil {
			us(e.el, *e.v)
		}
	}
	str(tagMoveOriginatorAETitle, c.MoveOriginatorAETitle, ' ')
	if c.HasMoveOriginatorMessageID {
		us(tagMoveOriginatorMessageID, c.MoveOriginatorMessageID)
	}
	// (0000,0000) CommandGroupLength: bytes after its own element.
	binary.LittleEndian.PutUint16(b[0:], 0)
	binary.LittleEndian.PutUint16(b[2:], tagCommandGroupLength)
	binary.LittleEndian.PutUint32(b[4:], 4)
	binary.LittleEndian.PutUint32(b[8:], uint32(len(b)-12))
	return b
}

func appendElementHeader(b []byte, el uint16, n uint32) []byte {
	b = binary.LittleEndian.AppendUint16(b, 0x0000)
	b = binary.LittleEndian.AppendUint16(b, el)
	return binary.LittleEndian.AppendUint32(b, n)
}

func truncateComment(s string) string {
	if len(s) <= MaxErrorCommentLength {
		return s
	}
	s = s[:MaxErrorCommentLength]
	// Do not cut a UTF-8 sequence in half.
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// ErrMalformedCommand is wrapped by DecodeCommand errors.
var ErrMalformedCommand = errors.New("dimse: malformed command set")

// DecodeCommand decodes a command set. Every element length is checked
// against the bytes that remain; unknown elements are skipped.
func DecodeCommand(b []byte) (*Command, error) {
	c := &Command{}
	var haveField, haveType bool
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("%w: truncated element header", ErrMalformedCommand)
		}
		group := binary.LittleEndian.Uint16(b)
		el := binary.LittleEndian.Uint16(b[2:])
		n := binary.LittleEndian.Uint32(b[4:])
		if group != 0 {
			return nil, fmt.Errorf("%w: element (%04X,%04X) outside group 0000", ErrMalformedCommand, group, el)
		}
		if uint64(n) > uint64(len(b)-8) {
			return nil, fmt.Errorf("%w: element (0000,%04X) length %d with %d bytes left", ErrMalformedCommand, el, n, len(b)-8)
		}
		v := b[8 : 8+n]
		b = b[8+n:]
		u16 := func() (uint16, error) {
			if len(v) != 2 {
				return 0, fmt.Errorf("%w: element (0000,%04X) US length %d", ErrMalformedCommand, el, len(v))
			}
			return binary.LittleEndian.Uint16(v), nil
		}
		var err error
		switch el {
		case tagAffectedSOPClassUID:
			c.AffectedSOPClassUID = trimValue(v)
		case tagRequestedSOPClassUID:
			c.RequestedSOPClassUID = trimValue(v)
		case tagCommandField:
			c.CommandField, err = u16()
			haveField = err == nil
		case tagMessageID:
			c.MessageID, err = u16()
		case tagMessageIDBeingRespondedTo:
			c.MessageIDBeingRespondedTo, err = u16()
		case tagMoveDestination:
			c.MoveDestination = trimValue(v)
		case tagPriority:
			c.Priority, err = u16()
		case tagCommandDataSetType:
			c.CommandDataSetType, err = u16()
			haveType = err == nil
		case tagStatus:
			var s uint16
			s, err = u16()
			c.Status = Status(s)
		case tagOffendingElement:
			if len(v)%4 != 0 {
				return nil, fmt.Errorf("%w: offending element length %d", ErrMalformedCommand, len(v))
			}
			for i := 0; i < len(v); i += 4 {
				c.OffendingElement = append(c.OffendingElement, uint32(binary.LittleEndian.Uint16(v[i:]))<<16|uint32(binary.LittleEndian.Uint16(v[i+2:])))
			}
		case tagErrorComment:
			c.ErrorComment = trimValue(v)
		case tagErrorID:
			c.ErrorID, err = u16()
			c.HasErrorID = err == nil
		case tagAffectedSOPInstanceUID:
			c.AffectedSOPInstanceUID = trimValue(v)
		case tagRequestedSOPInstanceUID:
			c.RequestedSOPInstanceUID = trimValue(v)
		case tagEventTypeID:
			c.EventTypeID, err = u16()
			c.HasEventTypeID = err == nil
		case tagActionTypeID:
			c.ActionTypeID, err = u16()
			c.HasActionTypeID = err == nil
		case tagRemainingSubOperations, tagCompletedSubOperations, tagFailedSubOperations, tagWarningSubOperations:
			var x uint16
			if x, err = u16(); err == nil {
				p := &x
				switch el {
				case tagRemainingSubOperations:
					c.RemainingSubOperations = p
				case tagCompletedSubOperations:
					c.CompletedSubOperations = p
				case tagFailedSubOperations:
					c.FailedSubOperations = p
				default:
					c.WarningSubOperations = p
				}
			}
		case tagMoveOriginatorAETitle:
			c.MoveOriginatorAETitle = trimValue(v)
		case tagMoveOriginatorMessageID:
			c.MoveOriginatorMessageID, err = u16()
			c.HasMoveOriginatorMessageID = err == nil
		}
		if err != nil {
			return nil, err
		}
	}
	if !haveField || !haveType {
		return nil, fmt.Errorf("%w: missing CommandField or CommandDataSetType", ErrMalformedCommand)
	}
	return c, nil
}

func trimValue(v []byte) string {
	return strings.TrimRight(strings.TrimLeft(string(v), " "), " \x00")
}
