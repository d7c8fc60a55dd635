package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/internal/testenv"
)

// fastRetry is the routing section of the outage tests: short backoff,
// enough attempts to outlast the outage.
const fastRetry = "routing: {base_backoff: 200ms, max_backoff: 2s, max_attempts: 1000}\n"

// TestGeneratedInstances checks the generator the outage tests rely on:
// DCMTK reads its output as valid Ultrasound Image Storage instances.
func TestGeneratedInstances(t *testing.T) {
	t.Parallel()
	testenv.RequireTool(t, "dcmdump")
	ins := GenerateUS(t, t.TempDir(), 4, 2)
	studies := map[string]bool{}
	for _, in := range ins {
		out, code := testenv.Run(t, "dcmdump", "-q", "+P", "0008,0018", "+P", "0020,000d", "+P", "0028,0004", "+P", "7fe0,0010", in.Path)
		if code != 0 {
			t.Fatalf("dcmdump %s: exit %d\n%s", in.Path, code, out)
		}
		for _, want := range []string{"[" + in.SOPInst + "]", "[MONOCHROME2]", "(7fe0,0010) OB", "# 4096,"} {
			if !strings.Contains(out, want) {
				t.Errorf("dcmdump of %s lacks %q:\n%s", filepath.Base(in.Path), want, out)
			}
		}
		// dcmdump -dc: the full dump must carry no parse warning or error.
		if out, _ := testenv.Run(t, "dcmdump", "-dc", in.Path); strings.Contains(out, "W: ") || strings.Contains(out, "E: ") {
			t.Errorf("dcmdump warns about %s:\n%s", filepath.Base(in.Path), out)
		}
		got, err := ReadInstance(in.Path)
		if err != nil || got.SOPInst != in.SOPInst || got.SOPClass != usImageStorage || got.TS != "1.2.840.10008.1.2.1" {
			t.Errorf("ReadInstance(%s) = %+v, %v", in.Path, got, err)
		}
		ds, _ := testenv.Run(t, "dcmdump", "-q", "+P", "0020,000d", in.Path)
		studies[strings.TrimSpace(ds)] = true
	}
	if len(studies) != 2 {
		t.Errorf("4 instances over 2 studies: got %d distinct Study Instance UIDs", len(studies))
	}
	if len(UIDSet(ins)) != 4 {
		t.Errorf("SOP Instance UIDs are not unique: %v", UIDSet(ins))
	}
}

// TestOutage sends 200 instances while the PACS is down: every one is
// answered Success (the gateway takes responsibility, PS3.4 B.2.3), the
// queue keeps them pending with backoff, and once Orthanc is back all 200
// arrive within a bounded time (field failure B16).
func TestOutage(t *testing.T) {
	t.Parallel()
	testenv.RequireTool(t, "storescu")
	orthanc := testenv.StartOrthanc(t, testenv.OrthancOptions{})
	orthanc.Stop()
	sg := StartSonogate(t, SonogateOptions{Config: exampleConfig(orthanc.DicomPort(), fastRetry)})
	ins := GenerateUS(t, t.TempDir(), 200, 2)

	sendStart := time.Now()
	out, log := Storescu(t, sg.Addr(), "SONOGATE", ins)
	t.Logf("storescu sent 200 instances in %s", time.Since(sendStart).Round(10*time.Millisecond))
	ok := 0
	for _, in := range ins {
		if o := out[in.Path]; o.Success() {
			ok++
		} else {
			t.Errorf("%s: %s", filepath.Base(in.Path), o)
		}
	}
	if ok != len(ins) {
		t.Fatalf("%d of %d instances answered Success during the outage; storescu log tail:\n%s", ok, len(ins), tail(log, 20))
	}

	// While Orthanc is down nothing is delivered, nothing is dead, and
	// the workers do retry (attempts and a network reason recorded).
	waitStart := time.Now()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c := sg.Queue(t, "").Counts("pacs")
		if c.Total() != 200 || c.Done != 0 || c.Dead != 0 {
			t.Fatalf("during the outage: %s, want 200 jobs, none done or dead", c)
		}
		jobs := sg.Jobs(t, "pacs", "pending")
		retried := 0
		for _, j := range jobs {
			if j.Attempts >= 2 && j.LastError != "" {
				retried++
			}
		}
		if retried == len(jobs) && len(jobs) == 200 {
			t.Logf("during the outage (%s): %s; e.g. job %d after %d attempts: %s", time.Since(waitStart).Round(10*time.Millisecond), c, jobs[0].ID, jobs[0].Attempts, jobs[0].LastError)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s of outage only %d of %d pending jobs were retried twice: %s", retried, len(jobs), c)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := orthanc.Running(); got {
		t.Fatal("Orthanc should be stopped")
	}

	restart := time.Now()
	orthanc.Start(t)
	c := sg.WaitQueueSettled(t, "pacs", 200, 90*time.Second)
	if c.Done != 200 || c.Dead != 0 {
		t.Fatalf("after the outage: %s, want 200 done", c)
	}
	if d := diffSets(orthanc.Instances(t), UIDSet(ins)); d != "" {
		t.Fatalf("Orthanc after the outage: %s", d)
	}
	t.Logf("all 200 instances in Orthanc %s after it came back", time.Since(restart).Round(100*time.Millisecond))
}

// TestCrash kills sonogate with SIGKILL while 100 acknowledged instances
// wait for the PACS, then restarts it on the same data directory: every
// instance is delivered, none is lost or left pending (PS3.4 B.2.3,
// DESIGN.md §1 step 3, field failure B16). Two moments for the kill:
//
//   - "orthanc stopped": the PACS refuses connections, the jobs are
//     pending with backoff (the scenario);
//   - "send in flight": the PACS port accepts TCP but never answers the
//     A-ASSOCIATE-RQ (a hung PACS), so jobs are claimed (inflight) when
//     the process dies.
func TestCrash(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"orthanc stopped", "send in flight"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			crashRun(t, mode == "send in flight")
		})
	}
}

func crashRun(t *testing.T, inflight bool) {
	orthanc := testenv.StartOrthanc(t, testenv.OrthancOptions{})
	orthanc.Stop()
	var hole *blackHole
	if inflight {
		hole = startBlackHole(t, orthanc.DicomPort())
	}
	sg := StartSonogate(t, SonogateOptions{Config: exampleConfig(orthanc.DicomPort(), fastRetry)})
	ins := GenerateUS(t, t.TempDir(), 100, 2)

	// The sonogate CLI is the sender here (storescu is in TestOutage).
	out, code := RunSonogate(t, 2*time.Minute, "store", "--aec", "SONOGATE", sg.Addr(), filepath.Dir(ins[0].Path))
	lines, summary := parseStoreOutput(out)
	if code != 0 || !strings.HasPrefix(summary, "100 sent, 0 failed") {
		t.Fatalf("sonogate store: exit %d, summary %q\n%s", code, summary, tail(out, 20))
	}
	for _, in := range ins {
		if l := lines[in.Path]; !l.ok || l.detail != "Success" {
			t.Errorf("%s: %+v", in.Path, l)
		}
	}

	deadline := time.Now().Add(20 * time.Second)
	for {
		c := sg.Queue(t, "").Counts("pacs")
		if c.Total() != 100 || c.Done != 0 || c.Dead != 0 {
			t.Fatalf("before the crash: %s, want 100 jobs, none done or dead", c)
		}
		if (!inflight && c.Pending == 100) || (inflight && c.Inflight > 0) {
			sg.Kill()
			t.Logf("SIGKILL with %s", c)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never reached the moment to kill: %s", c)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if sg.Alive() {
		t.Fatal("sonogate survived SIGKILL")
	}
	if err := sg.ExitErr(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("exit after SIGKILL: %v", err)
	}

	if hole != nil {
		hole.Close()
	}
	orthanc.Start(t)
	sg.Start(t)
	start := time.Now()
	deadline = time.Now().Add(60 * time.Second)
	var stuckSince time.Time
	var c QueueCounts
	for {
		c = sg.Queue(t, "").Counts("pacs")
		if c.Total() != 100 || c.Dead != 0 {
			t.Fatalf("after restart: %s, want 100 jobs, none dead", c)
		}
		if c.Done == 100 {
			t.Logf("after restart: %s in %s", c, time.Since(start).Round(100*time.Millisecond))
			break
		}
		// Only jobs the killed process had claimed are left: give them
		// 15 s more, then report them.
		if c.Pending == 0 && c.Inflight > 0 {
			if stuckSince.IsZero() {
				stuckSince = time.Now()
			} else if time.Since(stuckSince) > 15*time.Second {
				break
			}
		} else {
			stuckSince = time.Time{}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := orthanc.Instances(t)
	if c.Done != 100 {
		cat := sg.OpenCatalog(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stuck, err := cat.List(ctx, catalog.JobFilter{Destination: "pacs", State: catalog.JobInflight, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var detail []string
		for _, j := range stuck {
			detail = append(detail, fmt.Sprintf("job %d: %d attempts, lease until %s (%s from now), last error %q",
				j.ID, j.Attempts, j.LeaseUntil.Format(time.RFC3339), time.Until(j.LeaseUntil).Round(time.Second), j.LastError))
		}
		// PRODUCT BUG (routing/catalog): see the e2e report. Jobs claimed
		// by the killed process stay inflight until their 5-minute lease
		// (routing.QueueConfig.Lease, not configurable) expires, although
		// the restarted single-node gateway owns the SQLite catalog alone.
		t.Errorf("PRODUCT BUG: %d of 100 instances not delivered %s after the restart: %s; "+
			"jobs the killed process had claimed stay inflight until their lease expires:\n  %s",
			100-c.Done, time.Since(start).Round(time.Second), c, strings.Join(detail, "\n  "))
		if len(got) != int(c.Done) {
			t.Errorf("Orthanc holds %d instances, %d jobs are done", len(got), c.Done)
		}
		return
	}
	if d := diffSets(got, UIDSet(ins)); d != "" {
		t.Fatalf("Orthanc after crash and restart: %s", d)
	}
	q := sg.Queue(t, "destination=pacs")
	if c := q.Counts("pacs"); c.Done != 100 || c.Pending != 0 {
		t.Errorf("/api/queue after delivery: %s, want done=100 pending=0", c)
	}
}

// blackHole accepts TCP connections on a port and never answers: a hung
// peer.
type blackHole struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startBlackHole(t testing.TB, port int) *blackHole {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("black hole on %d: %v", port, err)
	}
	h := &blackHole{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			go io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(h.Close)
	return h
}

// Close stops listening and drops every connection.
func (h *blackHole) Close() {
	h.ln.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
	h.conns = nil
}
