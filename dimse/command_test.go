package dimse

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
)

// C-ECHO-RQ as PS3.7 Annex E encodes it (implicit VR LE, group length first).
func TestCommandEncodeExactBytes(t *testing.T) {
	t.Parallel()
	c := &Command{CommandField: CommandCEchoRQ, MessageID: 1, AffectedSOPClassUID: UIDVerification, CommandDataSetType: NoDataSet}
	want, _ := hex.DecodeString(strings.Join(strings.Fields(`
		0000 0000 04000000 38000000
		0000 0200 12000000 312e322e3834302e31303030382e312e3100
		0000 0001 02000000 3000
		0000 1001 02000000 0100
		0000 0008 02000000 0101`), ""))
	if got := c.Encode(); !bytes.Equal(got, want) {
		t.Fatalf("got  % x\nwant % x", got, want)
	}
}

func TestCommandRoundTrip(t *testing.T) {
	t.Parallel()
	three := uint16(3)
	cases := []*Command{
		{CommandField: CommandCStoreRQ, MessageID: 5, AffectedSOPClassUID: UIDUltrasoundImageStorage, AffectedSOPInstanceUID: "1.2.3.45",
			Priority: PriorityHigh, CommandDataSetType: 0, MoveOriginatorAETitle: "MOVER", MoveOriginatorMessageID: 77, HasMoveOriginatorMessageID: true},
		{CommandField: CommandCStoreRSP, MessageIDBeingRespondedTo: 5, AffectedSOPClassUID: UIDUltrasoundImageStorage, AffectedSOPInstanceUID: "1.2.3.45",
			CommandDataSetType: NoDataSet, Status: StatusOutOfResources, ErrorComment: "disk full", OffendingElement: []uint32{0x00080016}},
		{CommandField: CommandCMoveRSP, MessageIDBeingRespondedTo: 1, CommandDataSetType: NoDataSet, Status: StatusPending,
			RemainingSubOperations: &three, CompletedSubOperations: &three, ErrorID: 4, HasErrorID: true},
	}
	for _, c := range cases {
		b := c.Encode()
		if len(b)%2 != 0 {
			t.Errorf("odd command length %d", len(b))
		}
		got, err := DecodeCommand(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip\n got %+v\nwant %+v", got, c)
		}
	}
}

func TestErrorCommentTruncated(t *testing.T) {
	t.Parallel()
	c := &Command{CommandField: CommandCStoreRSP, CommandDataSetType: NoDataSet, Status: StatusCannotUnderstand, ErrorComment: strings.Repeat("é", 40)}
	got, err := DecodeCommand(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.ErrorComment) > MaxErrorCommentLength || got.ErrorComment != strings.Repeat("é", 32) {
		t.Fatalf("comment %q (%d bytes)", got.ErrorComment, len(got.ErrorComment))
	}
}

func TestDecodeCommandRejects(t *testing.T) {
	t.Parallel()
	for name, b := range map[string][]byte{
		"length past end": {0, 0, 0, 1, 0xFF, 0, 0, 0, 1, 2},
		"other group":     {8, 0, 0x16, 0, 0, 0, 0, 0},
		"no field":        {0, 0, 0, 8, 2, 0, 0, 0, 1, 1},
		"bad US length":   {0, 0, 0, 1, 3, 0, 0, 0, 1, 0, 0, 0},
		"short header":    {0, 0, 0},
	} {
		if _, err := DecodeCommand(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add((&Command{CommandField: CommandCEchoRQ, MessageID: 1, AffectedSOPClassUID: UIDVerification, CommandDataSetType: NoDataSet}).Encode())
	f.Add((&Command{CommandField: CommandCStoreRQ, MessageID: 5, AffectedSOPClassUID: UIDUltrasoundImageStorage, AffectedSOPInstanceUID: "1.2",
		MoveOriginatorAETitle: "X", HasMoveOriginatorMessageID: true}).Encode())
	f.Add((&Command{CommandField: CommandCStoreRSP, Status: 0xA700, ErrorComment: "x", OffendingElement: []uint32{1}, CommandDataSetType: NoDataSet}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		again, err := DecodeCommand(c.Encode())
		if err != nil {
			t.Fatalf("re-encoded command does not decode: %v", err)
		}
		if again.CommandField != c.CommandField || again.CommandDataSetType != c.CommandDataSetType {
			t.Fatalf("round trip changed %+v to %+v", c, again)
		}
	})
}

func TestStatusCategories(t *testing.T) {
	t.Parallel()
	cases := []struct {
		s                                       Status
		success, warning, failure, pend, cancel bool
	}{
		{StatusSuccess, true, false, false, false, false},
		{0x0001, false, true, false, false, false},
		{0xB000, false, true, false, false, false},
		{0xB007, false, true, false, false, false},
		{0x0107, false, true, false, false, false},
		{StatusOutOfResources, false, false, true, false, false},
		{0xA7FF, false, false, true, false, false},
		{StatusDataSetDoesNotMatchSOPClass, false, false, true, false, false},
		{StatusCannotUnderstand, false, false, true, false, false},
		{0xC211, false, false, true, false, false},
		{0x0122, false, false, true, false, false},
		{0x0211, false, false, true, false, false},
		{0xFF00, false, false, false, true, false},
		{0xFF01, false, false, false, true, false},
		{0xFE00, false, false, false, false, true},
		{0x0300, false, false, true, false, false},
	}
	for _, c := range cases {
		if c.s.IsSuccess() != c.success || c.s.IsWarning() != c.warning || c.s.IsFailure() != c.failure || c.s.IsPending() != c.pend || c.s.IsCancel() != c.cancel {
			t.Errorf("%v: wrong category", c.s)
		}
	}
	if StatusSOPClassNotSupported != 0x0122 || StatusNoSuchSOPInstance != 0x0112 {
		t.Fatal("0x0122 / 0x0112 mixed up")
	}
	if got := StatusSOPClassNotSupported.String(); got != "0x0122 Refused: SOP Class Not Supported" {
		t.Errorf("String() = %q", got)
	}
}
