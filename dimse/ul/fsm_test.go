package ul

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sonogate/sonogate/dimse/pdu"
)

// The tests in this file drive every (state, event) cell of PS3.8 Table
// 9-10: a machine is brought into the state by real PDU exchanges with a
// scripted raw-PDU peer over loopback TCP, the event is triggered (a PDU
// from the peer, a local primitive, a transport close, an ARTIM expiry),
// and the test checks the action taken, the bytes the peer receives (or
// the closed connection) and the next state. Expected actions and next
// states come from the TSV files, not from the generated table.

func stdDir(t testing.TB) string {
	return filepath.Join("..", "..", "..", "shared", "standard")
}

func readTSV(t testing.TB, name string) [][]string {
	f, err := os.Open(filepath.Join(stdDir(t), name))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("standard tables: %v", err)
		}
		t.Skipf("SKIP: standard tables not found: %v", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = '\t'
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

type cellSpec struct {
	action string // "AE-1".. or "" when the standard leaves the cell empty
	next   string // as printed in ps38_transitions.tsv
}

func loadCells(t testing.TB) map[[2]int]cellSpec {
	cells := map[[2]int]cellSpec{}
	table := readTSV(t, "ps38_state_table.tsv")
	for _, row := range table[1:] {
		var ev int
		fmt.Sscanf(row[0], "Evt%d", &ev)
		for s := 1; s <= 13; s++ {
			a := ""
			if 1+s < len(row) {
				a = strings.TrimSpace(row[1+s])
			}
			cells[[2]int{ev, s}] = cellSpec{action: a}
		}
	}
	for _, row := range readTSV(t, "ps38_transitions.tsv")[1:] {
		var ev, s int
		fmt.Sscanf(row[0], "Evt%d", &ev)
		fmt.Sscanf(row[1], "Sta%d", &s)
		c := cells[[2]int{ev, s}]
		if c.action != row[2] {
			t.Fatalf("tsv mismatch at Evt%d/Sta%d", ev, s)
		}
		c.next = row[3]
		cells[[2]int{ev, s}] = c
	}
	return cells
}

func TestGeneratedTableMatchesStandard(t *testing.T) {
	t.Parallel()
	defined := 0
	for k, c := range loadCells(t) {
		got := Lookup(Event(k[0]), State(k[1]))
		if c.action == "" {
			if got != XX1 && got != XX2 {
				t.Errorf("Evt%d/Sta%d: empty cell mapped to %v", k[0], k[1], got)
			}
			continue
		}
		defined++
		if got.String() != c.action {
			t.Errorf("Evt%d/Sta%d: table has %v, standard %s", k[0], k[1], got, c.action)
		}
		if got.NextState() != c.next {
			t.Errorf("%v: next %q, transitions.tsv %q", got, got.NextState(), c.next)
		}
	}
	if defined != 123 {
		t.Errorf("%d defined cells, want 123", defined)
	}
}

// peer is the scripted far end: raw bytes in, PDUs out.
type peer struct {
	t testing.TB
	c net.Conn
}

func (p *peer) send(b []byte) {
	p.t.Helper()
	if _, err := p.c.Write(b); err != nil {
		p.t.Fatalf("peer write: %v", err)
	}
}

func (p *peer) sendPDU(x pdu.PDU) {
	p.t.Helper()
	b, err := pdu.Encode(x)
	if err != nil {
		p.t.Fatal(err)
	}
	p.send(b)
}

// read returns the next PDU, io.EOF when the machine closed the
// connection, or os.ErrDeadlineExceeded when nothing arrives within d.
func (p *peer) read(d time.Duration) (pdu.PDU, error) {
	p.c.SetReadDeadline(time.Now().Add(d))
	x, err := pdu.Read(p.c, pdu.Limits{})
	if err != nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reset")) {
		return nil, io.EOF
	}
	return x, err
}

func (p *peer) expect(typ pdu.Type) pdu.PDU {
	p.t.Helper()
	x, err := p.read(5 * time.Second)
	if err != nil {
		p.t.Fatalf("peer expected %v: %v", typ, err)
	}
	if x.Type() != typ {
		p.t.Fatalf("peer got %v, want %v", x.Type(), typ)
	}
	return x
}

func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-ch
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func testRQ() *pdu.AAssociateRQ {
	return &pdu.AAssociateRQ{ProtocolVersion: 1, CalledAETitle: "SCP", CallingAETitle: "SCU", ApplicationContext: "1.2.840.10008.3.1.1.1",
		PresentationContexts: []pdu.PresentationContextRQ{{ID: 1, AbstractSyntax: "1.2.840.10008.1.1", TransferSyntaxes: []string{"1.2.840.10008.1.2"}}},
		UserInfo:             pdu.UserInformation{MaxLength: 16384}}
}

func testAC() *pdu.AAssociateAC {
	return &pdu.AAssociateAC{ProtocolVersion: 1, CalledAETitle: "SCP", CallingAETitle: "SCU", ApplicationContext: "1.2.840.10008.3.1.1.1",
		PresentationContexts: []pdu.PresentationContextAC{{ID: 1, Result: 0, TransferSyntax: "1.2.840.10008.1.2"}},
		UserInfo:             pdu.UserInformation{MaxLength: 16384}}
}

func testPData() *pdu.PDataTF {
	return &pdu.PDataTF{Items: []pdu.PDV{{ContextID: 1, Header: 3, Data: []byte{0, 0, 0, 0}}}}
}

const testARTIM = 300 * time.Millisecond

// fixture is a machine in a given state and its peer (nil peer: no transport).
type fixture struct {
	m    *Machine
	p    *peer
	last [3]int // event, action, next state of the last transition
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{}
	f.m = newMachine(Config{ARTIMTimeout: testARTIM, Trace: func(ev Event, from State, act Action, to State) {
		f.last = [3]int{int(ev), int(act), int(to)}
	}})
	return f
}

func mustNext(t *testing.T, m *Machine, want State) {
	t.Helper()
	if _, err := m.Next(context.Background()); err != nil {
		t.Fatalf("setup: %v", err)
	}
	if m.state != want {
		t.Fatalf("setup reached %v, want %v", m.state, want)
	}
}

// reach brings a fresh machine into state s through real exchanges.
func reach(t *testing.T, s State) *fixture {
	t.Helper()
	f := newFixture(t)
	m := f.m
	acceptor := func() {
		a, b := tcpPair(t)
		m.attach(a)
		f.p = &peer{t, b}
		m.dispatch(Evt5, nil, nil)
	}
	requestor := func() {
		m.requestor = true
		m.local = testRQ()
		m.dispatch(Evt1, nil, nil)
		a, b := tcpPair(t)
		m.attach(a)
		f.p = &peer{t, b}
		m.local = testRQ()
		m.dispatch(Evt2, nil, nil)
		f.p.expect(pdu.TypeAAssociateRQ)
	}
	toSta3 := func() {
		acceptor()
		f.p.sendPDU(testRQ())
		mustNext(t, m, Sta3)
	}
	toSta6 := func() {
		toSta3()
		if err := m.Accept(context.Background(), testAC()); err != nil {
			t.Fatal(err)
		}
		f.p.expect(pdu.TypeAAssociateAC)
	}
	toSta6Requestor := func() {
		requestor()
		f.p.sendPDU(testAC())
		mustNext(t, m, Sta6)
	}
	switch s {
	case Sta1:
		m.requestor = true
	case Sta2:
		acceptor()
	case Sta3:
		toSta3()
	case Sta4:
		m.requestor = true
		m.local = testRQ()
		m.dispatch(Evt1, nil, nil)
	case Sta5:
		requestor()
	case Sta6:
		toSta6()
	case Sta7:
		toSta6()
		m.RequestRelease(context.Background())
		f.p.expect(pdu.TypeAReleaseRQ)
	case Sta8:
		toSta6()
		f.p.sendPDU(&pdu.AReleaseRQ{})
		mustNext(t, m, Sta8)
	case Sta9:
		toSta6Requestor()
		m.RequestRelease(context.Background())
		f.p.expect(pdu.TypeAReleaseRQ)
		f.p.sendPDU(&pdu.AReleaseRQ{})
		mustNext(t, m, Sta9)
	case Sta10:
		toSta6()
		m.RequestRelease(context.Background())
		f.p.expect(pdu.TypeAReleaseRQ)
		f.p.sendPDU(&pdu.AReleaseRQ{})
		mustNext(t, m, Sta10)
	case Sta11:
		toSta6Requestor()
		m.RequestRelease(context.Background())
		f.p.expect(pdu.TypeAReleaseRQ)
		f.p.sendPDU(&pdu.AReleaseRQ{})
		mustNext(t, m, Sta9)
		m.RespondRelease(context.Background())
		f.p.expect(pdu.TypeAReleaseRP)
	case Sta12:
		toSta6()
		m.RequestRelease(context.Background())
		f.p.expect(pdu.TypeAReleaseRQ)
		f.p.sendPDU(&pdu.AReleaseRQ{})
		mustNext(t, m, Sta10)
		f.p.sendPDU(&pdu.AReleaseRP{})
		mustNext(t, m, Sta12)
	case Sta13:
		toSta3()
		m.Reject(context.Background(), &pdu.AAssociateRJ{Result: 1, Source: 1, Reason: 1})
		f.p.expect(pdu.TypeAAssociateRJ)
	}
	if m.state != s {
		t.Fatalf("setup reached %v, want %v", m.state, s)
	}
	return f
}

var networkPDU = map[Event]func() pdu.PDU{
	Evt3:  func() pdu.PDU { return testAC() },
	Evt4:  func() pdu.PDU { return &pdu.AAssociateRJ{Result: 1, Source: 1, Reason: 1} },
	Evt6:  func() pdu.PDU { return testRQ() },
	Evt10: func() pdu.PDU { return testPData() },
	Evt12: func() pdu.PDU { return &pdu.AReleaseRQ{} },
	Evt13: func() pdu.PDU { return &pdu.AReleaseRP{} },
	Evt16: func() pdu.PDU { return &pdu.AAbort{Source: 0, Reason: 0} },
}

var localPDU = map[Event]func() pdu.PDU{
	Evt1:  func() pdu.PDU { return testRQ() },
	Evt2:  func() pdu.PDU { return testRQ() },
	Evt7:  func() pdu.PDU { return testAC() },
	Evt8:  func() pdu.PDU { return &pdu.AAssociateRJ{Result: 1, Source: 1, Reason: 1} },
	Evt9:  func() pdu.PDU { return testPData() },
	Evt11: func() pdu.PDU { return &pdu.AReleaseRQ{} },
	Evt14: func() pdu.PDU { return &pdu.AReleaseRP{} },
}

// trigger makes event ev happen to the machine in f.
func trigger(t *testing.T, f *fixture, ev Event) error {
	m := f.m
	connected := f.p != nil && m.conn != nil
	switch {
	case networkPDU[ev] != nil || ev == Evt19:
		if !connected { // Sta1/Sta4: no transport; the event cannot arrive
			var p pdu.PDU
			if ev != Evt19 {
				p = networkPDU[ev]()
			}
			_, err := m.dispatch(ev, p, nil)
			return err
		}
		if ev == Evt19 {
			f.p.send([]byte{0x0F, 0, 0, 0, 0, 4, 0, 0, 0, 0}) // unrecognized PDU type
		} else {
			f.p.sendPDU(networkPDU[ev]())
		}
		_, err := m.Next(context.Background())
		return err
	case ev == Evt17:
		if !connected {
			_, err := m.dispatch(ev, nil, io.EOF)
			return err
		}
		f.p.c.Close()
		_, err := m.Next(context.Background())
		return err
	case ev == Evt18:
		if !m.artim.IsZero() {
			_, err := m.Next(context.Background()) // waits for the real ARTIM expiry
			return err
		}
		_, err := m.dispatch(ev, nil, ErrARTIMExpired)
		return err
	case ev == Evt15:
		m.abortSrc, m.abortRsn = 0, 0
		_, err := m.dispatch(ev, nil, nil)
		return err
	case ev == Evt5:
		_, err := m.dispatch(ev, nil, nil)
		return err
	default:
		if connected {
			return m.primitive(context.Background(), ev, localPDU[ev]())
		}
		m.local = localPDU[ev]()
		_, err := m.dispatch(ev, nil, nil)
		return err
	}
}

// wire is what the peer should observe after an action.
func wire(action string, ev Event) (pdu.Type, bool /*closed*/) {
	switch action {
	case "AE-2":
		return pdu.TypeAAssociateRQ, false
	case "AE-7":
		return pdu.TypeAAssociateAC, false
	case "AE-8":
		return pdu.TypeAAssociateRJ, false
	case "DT-1", "AR-7":
		return pdu.TypePDataTF, false
	case "AR-1":
		return pdu.TypeAReleaseRQ, false
	case "AR-4", "AR-9":
		return pdu.TypeAReleaseRP, false
	case "AA-1", "AA-7", "AA-8":
		return pdu.TypeAAbort, false
	case "AE-4", "AR-3", "AA-2", "AA-3", "AA-4", "AA-5", "AR-5":
		return 0, true
	}
	return 0, false
}

func TestStateTableCells(t *testing.T) {
	t.Parallel()
	cells := loadCells(t)
	for ev := Evt1; ev <= Evt19; ev++ {
		for st := Sta1; st <= Sta13; st++ {
			spec := cells[[2]int{int(ev), int(st)}]
			t.Run(fmt.Sprintf("%v/%v", ev, st), func(t *testing.T) {
				t.Parallel()
				f := reach(t, st)
				if ev == Evt2 && st == Sta4 { // the transport connection completes
					a, b := tcpPair(t)
					f.m.attach(a)
					f.p = &peer{t, b}
				}
				f.last = [3]int{}
				err := trigger(t, f, ev)
				gotAct := Action(f.last[1])
				if Event(f.last[0]) != ev {
					t.Fatalf("last event %v, want %v (err %v)", Event(f.last[0]), ev, err)
				}
				if spec.action == "" {
					if gotAct != XX1 && gotAct != XX2 {
						t.Fatalf("empty cell ran %v", gotAct)
					}
					if f.m.state != st {
						t.Fatalf("empty cell changed state to %v", f.m.state)
					}
					if gotAct == XX1 && !errors.Is(err, ErrInvalidPrimitive) {
						t.Fatalf("XX-1 returned %v", err)
					}
				} else {
					if gotAct.String() != spec.action {
						t.Fatalf("action %v, want %s", gotAct, spec.action)
					}
					want := spec.next
					switch want {
					case "Sta3 or Sta13":
						want = "Sta3" // our A-ASSOCIATE-RQ has a valid protocol version
					case "Sta9 or Sta10":
						if f.m.requestor {
							want = "Sta9"
						} else {
							want = "Sta10"
						}
					}
					if f.m.state.String() != want {
						t.Fatalf("%s: next state %v, want %s", spec.action, f.m.state, want)
					}
				}
				if f.p == nil || f.m.conn == nil {
					return
				}
				typ, closed := wire(spec.action, ev)
				x, rerr := f.p.read(100 * time.Millisecond)
				switch {
				case ev == Evt17:
					// the peer closed its side itself
				case closed:
					if rerr != io.EOF {
						t.Fatalf("%s: peer should see the transport closed, got %v %v", spec.action, x, rerr)
					}
				case typ != 0:
					if rerr != nil || x.Type() != typ {
						t.Fatalf("%s: peer got %v, %v; want %v", spec.action, x, rerr, typ)
					}
					if a, ok := x.(*pdu.AAbort); ok {
						wantSrc, wantRsn := byte(2), byte(2)
						if ev == Evt15 {
							wantSrc, wantRsn = 0, 0
						} else if ev == Evt19 {
							wantRsn = 1
						}
						if a.Source != wantSrc || a.Reason != wantRsn {
							t.Fatalf("%s: A-ABORT source %d reason %d, want %d %d", spec.action, a.Source, a.Reason, wantSrc, wantRsn)
						}
					}
				default:
					if !errors.Is(rerr, os.ErrDeadlineExceeded) {
						t.Fatalf("%s: peer should receive nothing, got %v %v", spec.action, x, rerr)
					}
				}
			})
		}
	}
}
