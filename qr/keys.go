package qr

import (
	"fmt"
	"strings"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/dcm"
)

// ParseKey parses a query key as DCMTK's -k takes it: "TAG=VALUE" or
// "TAG" (a return key), where TAG is a dictionary keyword
// ("PatientName") or "gggg,eeee". Sequences are not supported.
func ParseKey(s string) (Key, error) {
	name, value, _ := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if name == "" {
		return Key{}, fmt.Errorf("query key %q: missing tag", s)
	}
	t, err := dcm.ParseTag(name)
	if err != nil {
		return Key{}, fmt.Errorf("query key %q: %w", s, err)
	}
	if t.Group() == 0x0000 || t.Group() == 0x0002 || t.Element() == 0 {
		return Key{}, fmt.Errorf("query key %q: %v cannot be part of an identifier", s, t)
	}
	vr := dcm.DictionaryVR(t)
	if vr == dcm.SQ {
		return Key{}, fmt.Errorf("query key %q: sequences are not supported", s)
	}
	if vr == "" || vr == "UN" {
		vr = dcm.LO
	}
	if len(value) > 1024 {
		return Key{}, fmt.Errorf("query key %q: value longer than 1024 bytes", name)
	}
	return Key{Tag: t, VR: vr, Value: value}, nil
}

// EncodeQuery encodes a request identifier for level in transfer syntax
// ts: the keys (a later key for the same tag replaces an earlier one),
// (0008,0052) and, when a value is not ASCII, Specific Character Set
// ISO_IR 192 (values are UTF-8).
func EncodeQuery(tsUID string, level catalog.Level, keys []Key) ([]byte, error) {
	m := map[dcm.Tag]Key{}
	ascii := true
	var order []dcm.Tag
	for _, k := range keys {
		if k.Tag == tagQueryRetrieveLevel || k.Tag == dcm.TagSpecificCharacterSet {
			continue
		}
		if _, ok := m[k.Tag]; !ok {
			order = append(order, k.Tag)
		}
		m[k.Tag] = k
		for i := 0; i < len(k.Value); i++ {
			ascii = ascii && k.Value[i] < 0x80
		}
	}
	var ks []Key
	for _, t := range order {
		ks = append(ks, m[t])
	}
	b, err := encodeIdentifier(tsUID, level, ks)
	if err != nil || !ascii {
		return b, err
	}
	// Plain ASCII needs no Specific Character Set: leave the default.
	return encodeIdentifierCharset(tsUID, level, ks, "")
}
