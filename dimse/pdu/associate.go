package pdu

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Item types inside A-ASSOCIATE PDUs, PS3.8 §9.3.2-9.3.3 and Annex D.
const (
	ItemApplicationContext     = 0x10
	ItemPresentationContextRQ  = 0x20
	ItemPresentationContextAC  = 0x21
	ItemAbstractSyntax         = 0x30
	ItemTransferSyntax         = 0x40
	ItemUserInformation        = 0x50
	ItemMaximumLength          = 0x51
	ItemImplementationClassUID = 0x52
	ItemAsyncOperationsWindow  = 0x53
	ItemRoleSelection          = 0x54
	ItemImplementationVersion  = 0x55
	ItemSOPClassExtended       = 0x56
	ItemSOPClassCommonExtended = 0x57
	ItemUserIdentityRQ         = 0x58
	ItemUserIdentityAC         = 0x59
)

// ProtocolVersion is the only protocol version defined by PS3.8 §9.3.2 (bit 0).
const ProtocolVersion uint16 = 0x0001

// AAssociateRQ is the A-ASSOCIATE-RQ PDU, PS3.8 §9.3.2 (Table 9-11).
type AAssociateRQ struct {
	ProtocolVersion      uint16
	CalledAETitle        string
	CallingAETitle       string
	ApplicationContext   string
	PresentationContexts []PresentationContextRQ
	UserInfo             UserInformation
}

// AAssociateAC is the A-ASSOCIATE-AC PDU, PS3.8 §9.3.3 (Table 9-17). The AE
// title fields are echoed from the request and not checked on receipt.
type AAssociateAC struct {
	ProtocolVersion      uint16
	CalledAETitle        string
	CallingAETitle       string
	ApplicationContext   string
	PresentationContexts []PresentationContextAC
	UserInfo             UserInformation
}

// PresentationContextRQ is a presentation context item in an
// A-ASSOCIATE-RQ, PS3.8 §9.3.2.2.
type PresentationContextRQ struct {
	ID               byte // odd, 1..255
	AbstractSyntax   string
	TransferSyntaxes []string
}

// PresentationContextAC is a presentation context item in an
// A-ASSOCIATE-AC, PS3.8 §9.3.3.2.
type PresentationContextAC struct {
	ID             byte
	Result         byte // one of the Result* constants below
	TransferSyntax string
}

// Presentation context result/reason values, PS3.8 Table 9-18.
const (
	ContextAcceptance                   = 0
	ContextUserRejection                = 1
	ContextProviderRejectionNoReason    = 2
	ContextAbstractSyntaxNotSupported   = 3
	ContextTransferSyntaxesNotSupported = 4
)

func (*AAssociateRQ) Type() Type { return TypeAAssociateRQ }
func (*AAssociateAC) Type() Type { return TypeAAssociateAC }

func appendAssocHeader(b []byte, version uint16, called, calling string) []byte {
	if version == 0 {
		version = ProtocolVersion
	}
	b = binary.BigEndian.AppendUint16(b, version)
	b = append(b, 0, 0)
	b = appendAE(b, called)
	b = appendAE(b, calling)
	return append(b, make([]byte, 32)...)
}

func appendAE(b []byte, ae string) []byte {
	var f [16]byte
	for i := range f {
		f[i] = ' '
	}
	copy(f[:], ae)
	return append(b, f[:]...)
}

// beginItem appends an item header with a placeholder length and returns the
// offset to pass to endItem.
func beginItem(b []byte, typ byte) ([]byte, int) {
	return append(b, typ, 0, 0, 0), len(b)
}

func endItem(b []byte, at int) ([]byte, error) {
	n := len(b) - at - 4
	if n > 0xFFFF {
		return b, fmt.Errorf("pdu: item 0x%02X too long (%d)", b[at], n)
	}
	binary.BigEndian.PutUint16(b[at+2:], uint16(n))
	return b, nil
}

func appendUIDItem(b []byte, typ byte, uid string) ([]byte, error) {
	b, at := beginItem(b, typ)
	b = append(b, uid...)
	return endItem(b, at)
}

func (p *AAssociateRQ) appendBody(b []byte) ([]byte, error) {
	b = appendAssocHeader(b, p.ProtocolVersion, p.CalledAETitle, p.CallingAETitle)
	b, err := appendUIDItem(b, ItemApplicationContext, p.ApplicationContext)
	if err != nil {
		return b, err
	}
	for _, pc := range p.PresentationContexts {
		var at int
		b, at = beginItem(b, ItemPresentationContextRQ)
		b = append(b, pc.ID, 0, 0, 0)
		if b, err = appendUIDItem(b, ItemAbstractSyntax, pc.AbstractSyntax); err != nil {
			return b, err
		}
		for _, ts := range pc.TransferSyntaxes {
			if b, err = appendUIDItem(b, ItemTransferSyntax, ts); err != nil {
				return b, err
			}
		}
		if b, err = endItem(b, at); err != nil {
			return b, err
		}
	}
	return p.UserInfo.append(b, true)
}

func (p *AAssociateAC) appendBody(b []byte) ([]byte, error) {
	b = appendAssocHeader(b, p.ProtocolVersion, p.CalledAETitle, p.CallingAETitle)
	b, err := appendUIDItem(b, ItemApplicationContext, p.ApplicationContext)
	if err != nil {
		return b, err
	}
	for _, pc := range p.PresentationContexts {
		var at int
		b, at = beginItem(b, ItemPresentationContextAC)
		b = append(b, pc.ID, 0, pc.Result, 0)
		if b, err = appendUIDItem(b, ItemTransferSyntax, pc.TransferSyntax); err != nil {
			return b, err
		}
		if b, err = endItem(b, at); err != nil {
			return b, err
		}
	}
	return p.UserInfo.append(b, false)
}

// item is one decoded item: its type and value (aliasing the PDU body).
type item struct {
	typ   byte
	value []byte
}

// splitItems splits b into items with 2-byte lengths (PS3.8 §9.3.2 items
// and Annex D sub-items share this layout).
func splitItems(b []byte) ([]item, error) {
	var out []item
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, malformed("truncated item header (%d bytes)", len(b))
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n > len(b)-4 {
			return nil, malformed("item 0x%02X length %d with %d bytes left", b[0], n, len(b)-4)
		}
		out = append(out, item{typ: b[0], value: b[4 : 4+n]})
		b = b[4+n:]
	}
	return out, nil
}

// trimUID removes trailing NUL padding and surrounding spaces from a UID.
func trimUID(b []byte) string {
	return strings.Trim(string(b), " \x00")
}

func trimAE(b []byte) string {
	return strings.TrimSpace(strings.TrimRight(string(b), "\x00"))
}

// assocCommon is the fixed part shared by RQ and AC.
func decodeAssocFixed(body []byte) (version uint16, called, calling string, rest []byte, err error) {
	if len(body) < 68 {
		return 0, "", "", nil, malformed("A-ASSOCIATE body %d bytes, want >= 68", len(body))
	}
	return binary.BigEndian.Uint16(body), trimAE(body[4:20]), trimAE(body[20:36]), body[68:], nil
}

func decodeAssociateRQ(body []byte) (*AAssociateRQ, error) {
	v, called, calling, rest, err := decodeAssocFixed(body)
	if err != nil {
		return nil, err
	}
	p := &AAssociateRQ{ProtocolVersion: v, CalledAETitle: called, CallingAETitle: calling}
	items, err := splitItems(rest)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		switch it.typ {
		case ItemApplicationContext:
			p.ApplicationContext = trimUID(it.value)
		case ItemPresentationContextRQ:
			if len(it.value) < 4 {
				return nil, malformed("presentation context item length %d", len(it.value))
			}
			pc := PresentationContextRQ{ID: it.value[0]}
			subs, err := splitItems(it.value[4:])
			if err != nil {
				return nil, err
			}
			for _, s := range subs {
				switch s.typ {
				case ItemAbstractSyntax:
					pc.AbstractSyntax = trimUID(s.value)
				case ItemTransferSyntax:
					pc.TransferSyntaxes = append(pc.TransferSyntaxes, trimUID(s.value))
				}
			}
			p.PresentationContexts = append(p.PresentationContexts, pc)
		case ItemUserInformation:
			if err := p.UserInfo.decode(it.value); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

func decodeAssociateAC(body []byte) (*AAssociateAC, error) {
	v, called, calling, rest, err := decodeAssocFixed(body)
	if err != nil {
		return nil, err
	}
	p := &AAssociateAC{ProtocolVersion: v, CalledAETitle: called, CallingAETitle: calling}
	items, err := splitItems(rest)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		switch it.typ {
		case ItemApplicationContext:
			p.ApplicationContext = trimUID(it.value)
		case ItemPresentationContextAC:
			if len(it.value) < 4 {
				return nil, malformed("presentation context item length %d", len(it.value))
			}
			pc := PresentationContextAC{ID: it.value[0], Result: it.value[2]}
			subs, err := splitItems(it.value[4:])
			if err != nil {
				return nil, err
			}
			for _, s := range subs {
				if s.typ == ItemTransferSyntax {
					pc.TransferSyntax = trimUID(s.value)
				}
			}
			p.PresentationContexts = append(p.PresentationContexts, pc)
		case ItemUserInformation:
			if err := p.UserInfo.decode(it.value); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}
