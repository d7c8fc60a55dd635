package pdu

import (
	"encoding/binary"
	"fmt"
)

// PDataTF is the P-DATA-TF PDU, PS3.8 §9.3.5: one or more PDV items.
type PDataTF struct {
	Items []PDV
}

// PDV is a presentation data value item, PS3.8 §9.3.5.1 and Annex E.
type PDV struct {
	ContextID byte
	// Header is the message control header, PS3.8 Annex E.2. Only bit 0
	// (command) and bit 1 (last fragment) carry meaning; bits 2-7 are sent
	// as zero and ignored on receipt.
	Header byte
	Data   []byte
}

// Message control header bits, PS3.8 Annex E.2.
const (
	HeaderCommand byte = 0x01
	HeaderLast    byte = 0x02
)

// PDVItemHeaderLength is the overhead of one PDV item: 4-byte item length,
// context ID and message control header.
const PDVItemHeaderLength = 6

// IsCommand reports whether the PDV carries command information (bit 0).
func (v PDV) IsCommand() bool { return v.Header&HeaderCommand != 0 }

// IsLast reports whether the PDV is the last fragment of its stream (bit 1).
func (v PDV) IsLast() bool { return v.Header&HeaderLast != 0 }

func (*PDataTF) Type() Type { return TypePDataTF }

func (p *PDataTF) appendBody(b []byte) ([]byte, error) {
	if len(p.Items) == 0 {
		return b, fmt.Errorf("pdu: P-DATA-TF without PDV items")
	}
	for _, v := range p.Items {
		n := uint64(len(v.Data)) + 2
		if n > 0xFFFFFFFF {
			return b, fmt.Errorf("pdu: PDV too long")
		}
		b = binary.BigEndian.AppendUint32(b, uint32(n))
		b = append(b, v.ContextID, v.Header&(HeaderCommand|HeaderLast))
		b = append(b, v.Data...)
	}
	return b, nil
}

// decodePDataTF splits body into PDV items. Data slices alias body.
func decodePDataTF(body []byte) (*PDataTF, error) {
	p := &PDataTF{}
	for len(body) > 0 {
		if len(body) < PDVItemHeaderLength {
			return nil, malformed("truncated PDV item header (%d bytes)", len(body))
		}
		n := binary.BigEndian.Uint32(body)
		if n < 2 || uint64(n) > uint64(len(body)-4) {
			return nil, malformed("PDV item length %d with %d bytes left", n, len(body)-4)
		}
		p.Items = append(p.Items, PDV{ContextID: body[4], Header: body[5], Data: body[6 : 4+n]})
		body = body[4+n:]
	}
	if len(p.Items) == 0 {
		return nil, malformed("P-DATA-TF without PDV items")
	}
	return p, nil
}
