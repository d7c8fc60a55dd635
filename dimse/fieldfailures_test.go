package dimse

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sonogate/sonogate/dimse/pdu"
)

// rawSCU is a scripted association requestor speaking raw PDUs.
type rawSCU struct {
	t *testing.T
	c net.Conn
}

func dialRaw(t *testing.T, addr string, rq *pdu.AAssociateRQ) (*rawSCU, pdu.PDU) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &rawSCU{t, c}
	r.send(rq)
	return r, r.read()
}

func (r *rawSCU) send(p pdu.PDU) {
	r.t.Helper()
	if err := pdu.Write(r.c, p); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawSCU) read() pdu.PDU {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := pdu.Read(r.c, pdu.Limits{MaxPDataLength: 1 << 24})
	if err != nil {
		r.t.Fatalf("raw SCU read: %v", err)
	}
	return p
}

// readCommand reads one response command set (possibly fragmented).
func (r *rawSCU) readCommand() *Command {
	r.t.Helper()
	var buf []byte
	for {
		p := r.read()
		pd, ok := p.(*pdu.PDataTF)
		if !ok {
			r.t.Fatalf("got %v, want P-DATA-TF", p.Type())
		}
		for _, v := range pd.Items {
			buf = append(buf, v.Data...)
			if v.IsLast() {
				c, err := DecodeCommand(buf)
				if err != nil {
					r.t.Fatal(err)
				}
				return c
			}
		}
	}
}

func storeRQ(uid string) []byte {
	c := &Command{CommandField: CommandCStoreRQ, MessageID: 7, AffectedSOPClassUID: UIDUltrasoundImageStorage,
		AffectedSOPInstanceUID: uid, CommandDataSetType: 0}
	return c.Encode()
}

func rqWith(ui pdu.UserInformation, pcs ...pdu.PresentationContextRQ) *pdu.AAssociateRQ {
	if len(pcs) == 0 {
		pcs = []pdu.PresentationContextRQ{{ID: 1, AbstractSyntax: UIDUltrasoundImageStorage, TransferSyntaxes: []string{UIDExplicitVRLittleEndian}},
			{ID: 3, AbstractSyntax: UIDVerification, TransferSyntaxes: []string{UIDImplicitVRLittleEndian}}}
	}
	return &pdu.AAssociateRQ{ProtocolVersion: 1, CalledAETitle: "SONOGATE", CallingAETitle: "RAW",
		ApplicationContext: UIDDICOMApplicationContext, PresentationContexts: pcs, UserInfo: ui}
}

// B03: the last command PDV and the first data PDV share one P-DATA-TF;
// B04: message control headers with bits 2-7 set are read by bits 0-1 only.
// B01: the requestor announces Maximum Length 0 (no limit).
func TestB01B03B04PackedPDVsAndReservedBits(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	_, addr := startServer(t, ServerConfig{AETitle: "SONOGATE"}, rec)
	r, p := dialRaw(t, addr, rqWith(pdu.UserInformation{MaxLength: 0}))
	ac, ok := p.(*pdu.AAssociateAC)
	if !ok || ac.PresentationContexts[0].Result != 0 {
		t.Fatalf("association: %#v", p)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 2048) // 32 KiB
	r.send(&pdu.PDataTF{Items: []pdu.PDV{
		{ContextID: 1, Header: 0x03 | 0xFC, Data: storeRQ("1.2.3")}, // command, last, bits 2-7 set
		{ContextID: 1, Header: 0x04, Data: data[:16384]},            // data, not last, bit 2 set
	}})
	r.send(&pdu.PDataTF{Items: []pdu.PDV{{ContextID: 1, Header: 0x02 | 0x80, Data: data[16384:]}}})
	rsp := r.readCommand()
	if rsp.CommandField != CommandCStoreRSP || rsp.Status != StatusSuccess || rsp.MessageIDBeingRespondedTo != 7 {
		t.Fatalf("response %+v", rsp)
	}
	got := rec.all()
	if len(got) != 1 {
		t.Fatalf("received %d", len(got))
	}
	if b, _ := os.ReadFile(got[0].path); !bytes.Equal(b, data) {
		t.Fatal("data differs")
	}
	// With a peer maximum of 0 the server still answers (here: C-ECHO).
	r.send(&pdu.PDataTF{Items: []pdu.PDV{{ContextID: 3, Header: 3, Data: (&Command{CommandField: CommandCEchoRQ, MessageID: 8,
		AffectedSOPClassUID: UIDVerification, CommandDataSetType: NoDataSet}).Encode()}}})
	if rsp := r.readCommand(); rsp.CommandField != CommandCEchoRSP || rsp.Status != StatusSuccess {
		t.Fatalf("echo response %+v", rsp)
	}
	r.send(&pdu.AReleaseRQ{})
	if p := r.read(); p.Type() != pdu.TypeAReleaseRP {
		t.Fatalf("got %v, want A-RELEASE-RP", p.Type())
	}
}

// B06a: command fragments without the last bit past the cap abort the
// association (A-ABORT source 2).
func TestB06UnboundedCommandAborts(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, ServerConfig{AETitle: "SONOGATE"}, newRecorder(t))
	r, _ := dialRaw(t, addr, rqWith(pdu.UserInformation{MaxLength: 16384}))
	chunk := make([]byte, 16384)
	var got pdu.PDU
	for i := 0; i < MaxCommandLength/len(chunk)+2; i++ {
		if err := pdu.Write(r.c, &pdu.PDataTF{Items: []pdu.PDV{{ContextID: 1, Header: 0x01, Data: chunk}}}); err != nil {
			break
		}
	}
	got = r.read()
	if a, ok := got.(*pdu.AAbort); !ok || a.Source != 2 {
		t.Fatalf("got %#v, want A-ABORT source 2", got)
	}
}

// B06b: an A-ASSOCIATE-AC in Sta6 is answered by AA-8: A-ABORT source 2,
// reason 2 (unexpected PDU); the server survives.
func TestB06UnexpectedPDUInSta6(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, ServerConfig{AETitle: "SONOGATE"}, newRecorder(t))
	r, _ := dialRaw(t, addr, rqWith(pdu.UserInformation{MaxLength: 16384}))
	r.send(&pdu.AAssociateAC{ProtocolVersion: 1, ApplicationContext: UIDDICOMApplicationContext})
	a, ok := r.read().(*pdu.AAbort)
	if !ok || a.Source != 2 || a.Reason != 2 {
		t.Fatalf("got %#v, want A-ABORT 2/2", a)
	}
	r2, p := dialRaw(t, addr, rqWith(pdu.UserInformation{MaxLength: 16384}))
	if p.Type() != pdu.TypeAAssociateAC {
		t.Fatalf("server did not survive: %v", p.Type())
	}
	r2.send(&pdu.AReleaseRQ{})
	r2.read()
}

// B07: async window answered 1/1 when proposed, absent when not; role
// selection echoed; user identity answered only on request.
func TestNegotiationExtendedItems(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, ServerConfig{AETitle: "SONOGATE"}, newRecorder(t))
	ui := pdu.UserInformation{MaxLength: 16384, AsyncOperationsWindow: &pdu.AsyncOperationsWindow{MaxOperationsInvoked: 0, MaxOperationsPerformed: 0},
		RoleSelections: []pdu.RoleSelection{{SOPClassUID: UIDUltrasoundImageStorage, SCURole: 1, SCPRole: 1}},
		UserIdentityRQ: &pdu.UserIdentityRQ{IdentityType: 1, PositiveResponseRequested: true, PrimaryField: []byte("alice")}}
	r, p := dialRaw(t, addr, rqWith(ui,
		pdu.PresentationContextRQ{ID: 1, AbstractSyntax: UIDUltrasoundImageStorage, TransferSyntaxes: []string{"1.2.3.4.5", UIDJPEGBaseline8Bit, UIDExplicitVRLittleEndian}},
		pdu.PresentationContextRQ{ID: 3, AbstractSyntax: "1.2.3.999", TransferSyntaxes: []string{UIDExplicitVRLittleEndian}},
		pdu.PresentationContextRQ{ID: 5, AbstractSyntax: UIDVerification, TransferSyntaxes: []string{"1.2.3.4.5"}},
	))
	ac := p.(*pdu.AAssociateAC)
	wantCtx := []pdu.PresentationContextAC{{ID: 1, Result: 0, TransferSyntax: UIDJPEGBaseline8Bit},
		{ID: 3, Result: 3, TransferSyntax: UIDExplicitVRLittleEndian}, {ID: 5, Result: 4, TransferSyntax: "1.2.3.4.5"}}
	for i, w := range wantCtx {
		if ac.PresentationContexts[i] != w {
			t.Errorf("context %d: %+v, want %+v", i, ac.PresentationContexts[i], w)
		}
	}
	if w := ac.UserInfo.AsyncOperationsWindow; w == nil || w.MaxOperationsInvoked != 1 || w.MaxOperationsPerformed != 1 {
		t.Errorf("async window %+v, want 1/1", w)
	}
	if rs := ac.UserInfo.RoleSelections; len(rs) != 1 || rs[0].SCURole != 1 || rs[0].SCPRole != 0 {
		t.Errorf("role selection %+v", rs)
	}
	if ac.UserInfo.UserIdentityAC == nil {
		t.Error("no user identity response although requested")
	}
	if ac.UserInfo.MaxLength != DefaultMaxPDULength || ac.UserInfo.ImplementationClassUID != ImplementationClassUID {
		t.Errorf("user info %+v", ac.UserInfo)
	}
	r.send(&pdu.AReleaseRQ{})
	r.read()

	// Without the items: none in the answer.
	r, p = dialRaw(t, addr, rqWith(pdu.UserInformation{MaxLength: 16384, UserIdentityRQ: &pdu.UserIdentityRQ{IdentityType: 1, PrimaryField: []byte("bob")}}))
	ac = p.(*pdu.AAssociateAC)
	if ac.UserInfo.AsyncOperationsWindow != nil || ac.UserInfo.UserIdentityAC != nil || len(ac.UserInfo.RoleSelections) != 0 {
		t.Errorf("unrequested items answered: %+v", ac.UserInfo)
	}
	r.send(&pdu.AReleaseRQ{})
	r.read()
}

// B10: C-STORE whose Affected SOP Class differs from the context's
// abstract syntax; unknown operations get 0x0211.
func TestB10SOPClassMismatchAndUnknownCommand(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	_, addr := startServer(t, ServerConfig{AETitle: "SONOGATE"}, rec)
	r, _ := dialRaw(t, addr, rqWith(pdu.UserInformation{MaxLength: 16384}))
	send := func(c *Command, data []byte) *Command {
		r.send(&pdu.PDataTF{Items: []pdu.PDV{{ContextID: 1, Header: 3, Data: c.Encode()}}})
		if data != nil {
			r.send(&pdu.PDataTF{Items: []pdu.PDV{{ContextID: 1, Header: 2, Data: data}}})
		}
		return r.readCommand()
	}
	for _, c := range []struct {
		class string
		want  Status
	}{{UIDSecondaryCaptureImageStorage, StatusDataSetDoesNotMatchSOPClass}, {"1.2.3.999", StatusSOPClassNotSupported}} {
		rsp := send(&Command{CommandField: CommandCStoreRQ, MessageID: 1, AffectedSOPClassUID: c.class, AffectedSOPInstanceUID: "1.2", CommandDataSetType: 0}, []byte{1, 2})
		if rsp.Status != c.want || rsp.ErrorComment == "" {
			t.Errorf("class %s: status %v comment %q, want %v", c.class, rsp.Status, rsp.ErrorComment, c.want)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("handler called %d times for mismatched classes", n)
	}
	rsp := send(&Command{CommandField: CommandCFindRQ, MessageID: 9, AffectedSOPClassUID: UIDStudyRootQueryRetrieveInformationModelFind, CommandDataSetType: 0}, []byte{0, 0})
	if rsp.CommandField != CommandCFindRSP || rsp.Status != StatusUnrecognizedOperation || rsp.MessageIDBeingRespondedTo != 9 {
		t.Errorf("C-FIND response %+v", rsp)
	}
}

// fakeSCP accepts one association announcing maxLen and records the PDUs
// our client sends.
func fakeSCP(t *testing.T, maxLen uint32) (string, <-chan []pdu.PDU) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := make(chan []pdu.PDU, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var got []pdu.PDU
		defer func() { out <- got }()
		rq, err := pdu.Read(c, pdu.Limits{})
		if err != nil {
			return
		}
		q := rq.(*pdu.AAssociateRQ)
		pdu.Write(c, &pdu.AAssociateAC{ProtocolVersion: 1, ApplicationContext: q.ApplicationContext,
			PresentationContexts: []pdu.PresentationContextAC{{ID: 1, Result: 0, TransferSyntax: q.PresentationContexts[0].TransferSyntaxes[0]}},
			UserInfo:             pdu.UserInformation{MaxLength: maxLen}})
		for {
			p, err := pdu.Read(c, pdu.Limits{MaxPDataLength: 1 << 30})
			if err != nil {
				return
			}
			got = append(got, p)
			if pd, ok := p.(*pdu.PDataTF); ok && !pd.Items[0].IsCommand() && pd.Items[len(pd.Items)-1].IsLast() {
				rsp := &Command{CommandField: CommandCStoreRSP, MessageIDBeingRespondedTo: 1, CommandDataSetType: NoDataSet, Status: StatusSuccess}
				pdu.Write(c, &pdu.PDataTF{Items: []pdu.PDV{{ContextID: 1, Header: 3, Data: rsp.Encode()}}})
			}
			if p.Type() == pdu.TypeAReleaseRQ {
				pdu.Write(c, &pdu.AReleaseRP{})
				return
			}
		}
	}()
	return ln.Addr().String(), out
}

// B01/B02 on the wire: our client fragments to the peer's limit (16, 4097,
// 2^32-1, 0), every PDV even, no empty PDU, data set in a new PDU.
func TestB02ClientFragmentsToPeerMax(t *testing.T) {
	t.Parallel()
	for _, max := range []uint32{16, 4097, 0xFFFFFFFF, 0} {
		addr, out := fakeSCP(t, max)
		ctx := ctxTimeout(t, time.Minute)
		a, err := Dial(ctx, addr, ClientConfig{CallingAE: "SCU", CalledAE: "SCP"},
			[]PresentationContextRequest{{AbstractSyntax: UIDUltrasoundImageStorage, TransferSyntaxes: []string{UIDExplicitVRLittleEndian}}})
		if err != nil {
			t.Fatal(err)
		}
		size := 1 << 20
		if max == 16 {
			size = 8192
		}
		data := bytes.Repeat([]byte{7, 9}, size/2)
		if _, err := a.Store(ctx, UIDUltrasoundImageStorage, "1.2.3", UIDExplicitVRLittleEndian, bytes.NewReader(data)); err != nil {
			t.Fatalf("max %d: %v", max, err)
		}
		a.Release(ctx)
		pdus := <-out
		var got []byte
		sawCommandLast := false
		for _, p := range pdus {
			pd, ok := p.(*pdu.PDataTF)
			if !ok {
				continue
			}
			b, _ := pdu.Encode(pd)
			limit := uint64(max)
			if max == 0 {
				limit = DefaultMaxPDULength
			}
			if uint64(len(b)-6) > limit {
				t.Errorf("max %d: PDU length %d", max, len(b)-6)
			}
			if len(pd.Items) == 0 {
				t.Errorf("max %d: empty PDU", max)
			}
			for _, v := range pd.Items {
				if len(v.Data)%2 != 0 {
					t.Errorf("max %d: odd PDV %d", max, len(v.Data))
				}
				if v.IsCommand() {
					if v.IsLast() {
						sawCommandLast = true
					}
					if len(pd.Items) > 1 {
						t.Errorf("max %d: command shares a PDU", max)
					}
					continue
				}
				if !sawCommandLast {
					t.Errorf("max %d: data before the command ended", max)
				}
				got = append(got, v.Data...)
			}
		}
		if !bytes.Equal(got, data) {
			t.Errorf("max %d: data set reassembled to %d bytes", max, len(got))
		}
	}
}

// The handler returns early without reading and the association goes on;
// a peer abort mid data set ends only that association.
func TestPeerAbortMidDataSet(t *testing.T) {
	t.Parallel()
	readErr := make(chan error, 1)
	h := StoreHandlerFunc(func(_ context.Context, req *StoreRequest) StoreResponse {
		_, err := io.Copy(io.Discard, req.Data)
		readErr <- err
		return StoreResponse{Status: StatusOutOfResources}
	})
	_, addr := startServer(t, ServerConfig{AETitle: "SONOGATE"}, h)
	r, _ := dialRaw(t, addr, rqWith(pdu.UserInformation{MaxLength: 16384}))
	r.send(&pdu.PDataTF{Items: []pdu.PDV{{ContextID: 1, Header: 3, Data: storeRQ("1.2")}}})
	r.send(&pdu.PDataTF{Items: []pdu.PDV{{ContextID: 1, Header: 0, Data: make([]byte, 100)}}})
	r.send(&pdu.AAbort{})
	select {
	case err := <-readErr:
		if err == nil || !strings.Contains(err.Error(), "abort") {
			t.Fatalf("handler read error %v, want abort", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler not unblocked by abort")
	}
}
