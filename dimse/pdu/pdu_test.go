package pdu

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Exact encodings of the fixed-size PDUs (PS3.8 Tables 9-21, 9-24, 9-25, 9-26).
func TestFixedPDUBytes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		p    PDU
		want string
	}{
		{&AAssociateRJ{Result: 2, Source: 3, Reason: 2}, "03 00 00000004 00 02 03 02"},
		{&AReleaseRQ{}, "05 00 00000004 00000000"},
		{&AReleaseRP{}, "06 00 00000004 00000000"},
		{&AAbort{Source: 2, Reason: 2}, "07 00 00000004 0000 02 02"},
		{&PDataTF{Items: []PDV{{ContextID: 1, Header: 0x03, Data: []byte{0xAA, 0xBB}}, {ContextID: 1, Header: 0x00, Data: []byte{0xCC, 0xDD}}}},
			"04 00 00000010 00000004 01 03 AABB 00000004 01 00 CCDD"},
	}
	for _, c := range cases {
		got, err := Encode(c.p)
		if err != nil {
			t.Fatal(err)
		}
		if want := unhex(t, c.want); !bytes.Equal(got, want) {
			t.Errorf("%v: got % X want % X", c.p.Type(), got, want)
		}
		back, err := Read(bytes.NewReader(got), Limits{})
		if err != nil {
			t.Fatalf("%v: %v", c.p.Type(), err)
		}
		if !reflect.DeepEqual(back, c.p) {
			t.Errorf("%v: round trip got %#v want %#v", c.p.Type(), back, c.p)
		}
	}
}

func sampleRQ() *AAssociateRQ {
	return &AAssociateRQ{
		ProtocolVersion:    1,
		CalledAETitle:      "SONOGATE",
		CallingAETitle:     "ECHOSCU",
		ApplicationContext: "1.2.840.10008.3.1.1.1",
		PresentationContexts: []PresentationContextRQ{
			{ID: 1, AbstractSyntax: "1.2.840.10008.1.1", TransferSyntaxes: []string{"1.2.840.10008.1.2"}},
			{ID: 3, AbstractSyntax: "1.2.840.10008.5.1.4.1.1.6.1", TransferSyntaxes: []string{"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.1"}},
		},
		UserInfo: UserInformation{
			MaxLength:                 16384,
			ImplementationClassUID:    "1.2.3.4",
			ImplementationVersionName: "SONO_1",
			AsyncOperationsWindow:     &AsyncOperationsWindow{MaxOperationsInvoked: 0, MaxOperationsPerformed: 1},
			RoleSelections:            []RoleSelection{{SOPClassUID: "1.2.840.10008.5.1.4.1.1.6.1", SCURole: 0, SCPRole: 1}},
			SOPClassExtended:          []SOPClassExtendedNegotiation{{SOPClassUID: "1.2.840.10008.5.1.4.1.2.2.1", ServiceClassAppInfo: []byte{1, 1}}},
			SOPClassCommonExtended: []SOPClassCommonExtendedNegotiation{{SOPClassUID: "1.2.840.10008.5.1.4.1.1.88.22",
				ServiceClassUID: "1.2.840.10008.4.2", RelatedGeneralSOPClassUIDs: []string{"1.2.840.10008.5.1.4.1.1.88.11", "1.2"}}},
			UserIdentityRQ: &UserIdentityRQ{IdentityType: 2, PositiveResponseRequested: true, PrimaryField: []byte("user"), SecondaryField: []byte("pw")},
		},
	}
}

func TestAssociateRQRoundTrip(t *testing.T) {
	t.Parallel()
	rq := sampleRQ()
	b, err := Encode(rq)
	if err != nil {
		t.Fatal(err)
	}
	// Fixed header: type 01, length, version 0001, AE titles space padded.
	if b[0] != 0x01 || !bytes.Equal(b[6:8], []byte{0, 1}) {
		t.Fatalf("header % X", b[:8])
	}
	if got := string(b[10:26]); got != "SONOGATE        " {
		t.Fatalf("called AE field %q", got)
	}
	if got := string(b[26:42]); got != "ECHOSCU         " {
		t.Fatalf("calling AE field %q", got)
	}
	// Application context item starts at 6+68.
	if want := unhex(t, "10 00 0015"); !bytes.Equal(b[74:78], want) {
		t.Fatalf("application context header % X", b[74:78])
	}
	back, err := Read(bytes.NewReader(b), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rq) {
		t.Fatalf("round trip\n got %#v\nwant %#v", back, rq)
	}
}

func TestUserInfoExactBytes(t *testing.T) {
	t.Parallel()
	u := UserInformation{MaxLength: 0, AsyncOperationsWindow: &AsyncOperationsWindow{1, 1},
		RoleSelections: []RoleSelection{{SOPClassUID: "1.2", SCURole: 1, SCPRole: 0}}}
	b, err := u.append(nil, false)
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "50 00 001B  51 00 0004 00000000  53 00 0004 0001 0001  54 00 0007 0003 312E32 01 00")
	if !bytes.Equal(b, want) {
		t.Fatalf("got % X\nwant % X", b, want)
	}
	ac := UserInformation{MaxLength: 1, UserIdentityAC: &UserIdentityAC{ServerResponse: []byte("ok")}}
	b, _ = ac.append(nil, false)
	want = unhex(t, "50 00 0010  51 00 0004 00000001  59 00 0004 0002 6F6B")
	if !bytes.Equal(b, want) {
		t.Fatalf("AC got % X\nwant % X", b, want)
	}
}

func TestAssociateACRoundTrip(t *testing.T) {
	t.Parallel()
	ac := &AAssociateAC{ProtocolVersion: 1, CalledAETitle: "A", CallingAETitle: "B", ApplicationContext: "1.2.840.10008.3.1.1.1",
		PresentationContexts: []PresentationContextAC{{ID: 1, Result: 0, TransferSyntax: "1.2.840.10008.1.2"}, {ID: 3, Result: 3, TransferSyntax: ""}},
		UserInfo:             UserInformation{MaxLength: 0, ImplementationClassUID: "1.2.3", UserIdentityAC: &UserIdentityAC{ServerResponse: []byte{}}}}
	b, err := Encode(ac)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Read(bytes.NewReader(b), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ac) {
		t.Fatalf("round trip\n got %#v\nwant %#v", back, ac)
	}
}

func TestUnknownSubItemsSkippedAndPaddingTrimmed(t *testing.T) {
	t.Parallel()
	rq := sampleRQ()
	b, _ := Encode(rq)
	// Append an unknown item 0x77 and patch the PDU length.
	b = append(b, 0x77, 0, 0, 2, 0xDE, 0xAD)
	n := len(b) - 6
	b[2], b[3], b[4], b[5] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	back, err := Read(bytes.NewReader(b), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rq) {
		t.Fatalf("unknown item changed the result")
	}
	// A UID padded with a NUL byte decodes without it.
	p, err := Decode(TypeAAssociateAC, append(make([]byte, 68), unhex(t, "10 00 0004 312E3200")...))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.(*AAssociateAC).ApplicationContext; got != "1.2" {
		t.Fatalf("application context %q", got)
	}
}

func TestLimitsCheckedBeforeAllocation(t *testing.T) {
	t.Parallel()
	// P-DATA-TF declaring 4 GiB-1 and carrying nothing: must fail on the limit, not on EOF.
	_, err := Read(bytes.NewReader(unhex(t, "04 00 FFFFFFFF")), Limits{MaxPDataLength: 16384})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	_, err = Read(bytes.NewReader(unhex(t, "01 00 00100000")), Limits{MaxOtherLength: 1024})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	_, err = Read(bytes.NewReader(unhex(t, "0F 00 00000004 00000000")), Limits{})
	if !errors.Is(err, ErrUnknownType) || !IsProtocolError(err) {
		t.Fatalf("err = %v, want ErrUnknownType", err)
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"04 00 00000006 00000005 0103", // PDV length beyond PDU
		"04 00 00000006 00000001 0103", // PDV length < 2
		"04 00 00000000",               // no PDV
		"07 00 00000003 000002",        // short A-ABORT
		"05 00 00000005 0000000000",    // long A-RELEASE-RQ
		"01 00 00000004 00010000",      // short A-ASSOCIATE-RQ
	} {
		_, err := Read(bytes.NewReader(unhex(t, s)), Limits{})
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", s, err)
		}
	}
}

// B04: header bits 2-7 are ignored on receipt.
func TestPDVHeaderReservedBitsIgnored(t *testing.T) {
	t.Parallel()
	p, err := Read(bytes.NewReader(unhex(t, "04 00 00000008 00000004 01 83 0102")), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	v := p.(*PDataTF).Items[0]
	if !v.IsCommand() || !v.IsLast() {
		t.Fatalf("header 0x83: command=%v last=%v", v.IsCommand(), v.IsLast())
	}
	v.Header = 0x04
	if v.IsCommand() || v.IsLast() {
		t.Fatalf("header 0x04 read as command/last")
	}
}

func TestDecodeCapturedEchoSCU(t *testing.T) {
	t.Parallel()
	b := mustRead(t, "testdata/echoscu-associate-rq.bin")
	p, err := Read(bytes.NewReader(b), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	rq := p.(*AAssociateRQ)
	if rq.CalledAETitle != "SONOGATE" || rq.CallingAETitle != "ECHOSCU" || rq.ApplicationContext != "1.2.840.10008.3.1.1.1" {
		t.Fatalf("fixed fields %+v", rq)
	}
	if len(rq.PresentationContexts) != 1 || rq.PresentationContexts[0].AbstractSyntax != "1.2.840.10008.1.1" ||
		rq.PresentationContexts[0].TransferSyntaxes[0] != "1.2.840.10008.1.2" {
		t.Fatalf("contexts %+v", rq.PresentationContexts)
	}
	if rq.UserInfo.MaxLength != 16384 || rq.UserInfo.ImplementationClassUID == "" {
		t.Fatalf("user info %+v", rq.UserInfo)
	}
}

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
