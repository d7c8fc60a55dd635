package pdu

import (
	"encoding/binary"
	"fmt"
)

// UserInformation is the user information item (0x50), PS3.8 §9.3.2.3 and
// Annex D, with the extended negotiation sub-items of PS3.7 Annex D.3.3.
// Unknown sub-items are skipped on decode.
type UserInformation struct {
	// MaxLength is the Maximum Length Received (sub-item 0x51, PS3.8 D.1):
	// the largest P-DATA-TF variable field the sender of this PDU accepts.
	// Zero means no limit. It is always encoded; an absent sub-item decodes
	// as zero.
	MaxLength                 uint32
	ImplementationClassUID    string                              // 0x52
	ImplementationVersionName string                              // 0x55, omitted when empty
	AsyncOperationsWindow     *AsyncOperationsWindow              // 0x53, nil = absent
	RoleSelections            []RoleSelection                     // 0x54
	SOPClassExtended          []SOPClassExtendedNegotiation       // 0x56
	SOPClassCommonExtended    []SOPClassCommonExtendedNegotiation // 0x57 (RQ only)
	UserIdentityRQ            *UserIdentityRQ                     // 0x58 (RQ only)
	UserIdentityAC            *UserIdentityAC                     // 0x59 (AC only)
}

// AsyncOperationsWindow is sub-item 0x53, PS3.7 D.3.3.3. Zero means unlimited.
type AsyncOperationsWindow struct {
	MaxOperationsInvoked   uint16
	MaxOperationsPerformed uint16
}

// RoleSelection is sub-item 0x54, PS3.7 D.3.3.4.
type RoleSelection struct {
	SOPClassUID string
	SCURole     byte
	SCPRole     byte
}

// SOPClassExtendedNegotiation is sub-item 0x56, PS3.7 D.3.3.5.
type SOPClassExtendedNegotiation struct {
	SOPClassUID         string
	ServiceClassAppInfo []byte
}

// SOPClassCommonExtendedNegotiation is sub-item 0x57, PS3.7 D.3.3.6.
type SOPClassCommonExtendedNegotiation struct {
	SOPClassUID                string
	ServiceClassUID            string
	RelatedGeneralSOPClassUIDs []string
}

// UserIdentityRQ is sub-item 0x58, PS3.7 D.3.3.7.1.
type UserIdentityRQ struct {
	IdentityType              byte // 1 username, 2 username+passcode, 3 Kerberos, 4 SAML, 5 JWT
	PositiveResponseRequested bool
	PrimaryField              []byte
	SecondaryField            []byte
}

// UserIdentityAC is sub-item 0x59, PS3.7 D.3.3.7.2.
type UserIdentityAC struct {
	ServerResponse []byte
}

func appendLenBytes(b, v []byte) ([]byte, error) {
	if len(v) > 0xFFFF {
		return b, fmt.Errorf("pdu: sub-item field too long (%d)", len(v))
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...), nil
}

func (u *UserInformation) append(b []byte, rq bool) ([]byte, error) {
	b, at := beginItem(b, ItemUserInformation)
	var err error
	{
		b2, sub := beginItem(b, ItemMaximumLength)
		b = binary.BigEndian.AppendUint32(b2, u.MaxLength)
		b, _ = endItem(b, sub)
	}
	if u.ImplementationClassUID != "" {
		if b, err = appendUIDItem(b, ItemImplementationClassUID, u.ImplementationClassUID); err != nil {
			return b, err
		}
	}
	if w := u.AsyncOperationsWindow; w != nil {
		b2, sub := beginItem(b, ItemAsyncOperationsWindow)
		b2 = binary.BigEndian.AppendUint16(b2, w.MaxOperationsInvoked)
		b2 = binary.BigEndian.AppendUint16(b2, w.MaxOperationsPerformed)
		b, _ = endItem(b2, sub)
	}
	for _, r := range u.RoleSelections {
		b2, sub := beginItem(b, ItemRoleSelection)
		if b2, err = appendLenBytes(b2, []byte(r.SOPClassUID)); err != nil {
			return b, err
		}
		b2 = append(b2, r.SCURole, r.SCPRole)
		if b, err = endItem(b2, sub); err != nil {
			return b, err
		}
	}
	if u.ImplementationVersionName != "" {
		if b, err = appendUIDItem(b, ItemImplementationVersion, u.ImplementationVersionName); err != nil {
			return b, err
		}
	}
	for _, e := range u.SOPClassExtended {
		b2, sub := beginItem(b, ItemSOPClassExtended)
		if b2, err = appendLenBytes(b2, []byte(e.SOPClassUID)); err != nil {
			return b, err
		}
		b2 = append(b2, e.ServiceClassAppInfo...)
		if b, err = endItem(b2, sub); err != nil {
			return b, err
		}
	}
	if rq {
		for _, e := range u.SOPClassCommonExtended {
			b2, sub := beginItem(b, ItemSOPClassCommonExtended)
			if b2, err = appendLenBytes(b2, []byte(e.SOPClassUID)); err != nil {
				return b, err
			}
			if b2, err = appendLenBytes(b2, []byte(e.ServiceClassUID)); err != nil {
				return b, err
			}
			var rel []byte
			for _, uid := range e.RelatedGeneralSOPClassUIDs {
				if rel, err = appendLenBytes(rel, []byte(uid)); err != nil {
					return b, err
				}
			}
			if b2, err = appendLenBytes(b2, rel); err != nil {
				return b, err
			}
			if b, err = endItem(b2, sub); err != nil {
				return b, err
			}
		}
		if id := u.UserIdentityRQ; id != nil {
			b2, sub := beginItem(b, ItemUserIdentityRQ)
			pos := byte(0)
			if id.PositiveResponseRequested {
				pos = 1
			}
			b2 = append(b2, id.IdentityType, pos)
			if b2, err = appendLenBytes(b2, id.PrimaryField); err != nil {
				return b, err
			}
			if b2, err = appendLenBytes(b2, id.SecondaryField); err != nil {
				return b, err
			}
			if b, err = endItem(b2, sub); err != nil {
				return b, err
			}
		}
	} else if id := u.UserIdentityAC; id != nil {
		b2, sub := beginItem(b, ItemUserIdentityAC)
		if b2, err = appendLenBytes(b2, id.ServerResponse); err != nil {
			return b, err
		}
		if b, err = endItem(b2, sub); err != nil {
			return b, err
		}
	}
	return endItem(b, at)
}

// lenField reads a 2-byte length-prefixed field from b.
func lenField(b []byte) (field, rest []byte, err error) {
	if len(b) < 2 {
		return nil, nil, malformed("truncated length field")
	}
	n := int(binary.BigEndian.Uint16(b))
	if n > len(b)-2 {
		return nil, nil, malformed("field length %d with %d bytes left", n, len(b)-2)
	}
	return b[2 : 2+n], b[2+n:], nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func (u *UserInformation) decode(v []byte) error {
	subs, err := splitItems(v)
	if err != nil {
		return err
	}
	for _, s := range subs {
		switch s.typ {
		case ItemMaximumLength:
			if len(s.value) != 4 {
				return malformed("maximum length sub-item length %d", len(s.value))
			}
			u.MaxLength = binary.BigEndian.Uint32(s.value)
		case ItemImplementationClassUID:
			u.ImplementationClassUID = trimUID(s.value)
		case ItemImplementationVersion:
			u.ImplementationVersionName = trimAE(s.value)
		case ItemAsyncOperationsWindow:
			if len(s.value) != 4 {
				return malformed("async operations window sub-item length %d", len(s.value))
			}
			u.AsyncOperationsWindow = &AsyncOperationsWindow{
				MaxOperationsInvoked:   binary.BigEndian.Uint16(s.value),
				MaxOperationsPerformed: binary.BigEndian.Uint16(s.value[2:]),
			}
		case ItemRoleSelection:
			uid, rest, err := lenField(s.value)
			if err != nil {
				return err
			}
			if len(rest) != 2 {
				return malformed("role selection sub-item trailing %d bytes", len(rest))
			}
			u.RoleSelections = append(u.RoleSelections, RoleSelection{SOPClassUID: trimUID(uid), SCURole: rest[0], SCPRole: rest[1]})
		case ItemSOPClassExtended:
			uid, rest, err := lenField(s.value)
			if err != nil {
				return err
			}
			u.SOPClassExtended = append(u.SOPClassExtended, SOPClassExtendedNegotiation{SOPClassUID: trimUID(uid), ServiceClassAppInfo: clone(rest)})
		case ItemSOPClassCommonExtended:
			uid, rest, err := lenField(s.value)
			if err != nil {
				return err
			}
			svc, rest, err := lenField(rest)
			if err != nil {
				return err
			}
			rel, _, err := lenField(rest)
			if err != nil {
				return err
			}
			e := SOPClassCommonExtendedNegotiation{SOPClassUID: trimUID(uid), ServiceClassUID: trimUID(svc)}
			for len(rel) > 0 {
				var r []byte
				if r, rel, err = lenField(rel); err != nil {
					return err
				}
				e.RelatedGeneralSOPClassUIDs = append(e.RelatedGeneralSOPClassUIDs, trimUID(r))
			}
			u.SOPClassCommonExtended = append(u.SOPClassCommonExtended, e)
		case ItemUserIdentityRQ:
			if len(s.value) < 2 {
				return malformed("user identity sub-item length %d", len(s.value))
			}
			id := &UserIdentityRQ{IdentityType: s.value[0], PositiveResponseRequested: s.value[1] == 1}
			p, rest, err := lenField(s.value[2:])
			if err != nil {
				return err
			}
			sec, _, err := lenField(rest)
			if err != nil {
				return err
			}
			id.PrimaryField, id.SecondaryField = clone(p), clone(sec)
			u.UserIdentityRQ = id
		case ItemUserIdentityAC:
			r, _, err := lenField(s.value)
			if err != nil {
				return err
			}
			u.UserIdentityAC = &UserIdentityAC{ServerResponse: clone(r)}
		}
	}
	return nil
}
