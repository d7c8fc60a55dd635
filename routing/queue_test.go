package routing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/dimse"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeDest returns the scripted errors in turn (nil once exhausted) and
// records the clock at each call.
type fakeDest struct {
	name  string
	clock *testClock
	mu    sync.Mutex
	errs  []error
	calls []time.Time
	paths []string
	block chan struct{} // if set, Send waits on it or ctx
}

func (f *fakeDest) Name() string { return f.name }
func (f *fakeDest) Send(ctx context.Context, inst *catalog.Instance, path string) error {
	f.mu.Lock()
	f.calls = append(f.calls, f.clock.Now())
	f.paths = append(f.paths, path)
	var err error
	if len(f.errs) > 0 {
		err, f.errs = f.errs[0], f.errs[1:]
	}
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}
func (f *fakeDest) Calls() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls...)
}

type fixture struct {
	cat   *catalog.Catalog
	clock *testClock
	path  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clk := &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	p := filepath.Join(t.TempDir(), "cat.db")
	cat, err := catalog.Open(context.Background(), catalog.Config{DSN: p, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return &fixture{cat: cat, clock: clk, path: p}
}

func (fx *fixture) commit(t *testing.T, uid string, dests ...string) {
	t.Helper()
	var specs []catalog.JobSpec
	for _, d := range dests {
		specs = append(specs, catalog.JobSpec{Destination: d, Rule: "r"})
	}
	sha := fmt.Sprintf("%064x", len(uid)*1000+int(uid[len(uid)-1]))
	_, err := fx.cat.CommitInstance(context.Background(), &catalog.Instance{
		Namespace: "clinical", SOPInstanceUID: uid, SHA256: sha, RelPath: "clinical/" + uid + ".dcm", Size: 100,
	}, specs)
	if err != nil {
		t.Fatal(err)
	}
}

func (fx *fixture) queue(t *testing.T, dests map[string]Destination, cfg QueueConfig, reg prometheus.Registerer) *Queue {
	t.Helper()
	cfg.Now = fx.clock.Now
	cfg.Resolve = func(rel string) string { return "/store/" + rel }
	if cfg.Rand == nil {
		cfg.Rand = func() float64 { return 0.5 }
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 5 * time.Millisecond
	}
	q, err := NewQueue(fx.cat, dests, cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func run(t *testing.T, q *Queue) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
}

// waitJob polls until cond holds for the only job of dest.
func waitJob(t *testing.T, cat *catalog.Catalog, dest string, what string, cond func(j catalog.Job) bool) catalog.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last []catalog.Job
	for time.Now().Before(deadline) {
		jobs, err := cat.List(context.Background(), catalog.JobFilter{Destination: dest})
		if err != nil {
			t.Fatal(err)
		}
		last = jobs
		if len(jobs) == 1 && cond(jobs[0]) {
			return jobs[0]
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; jobs: %+v", what, last)
	return catalog.Job{}
}

func a700() error { return &dimse.StatusError{Status: 0xA700, Comment: "out of resources"} }

func TestQueueRetriesWithBackoffThenSucceeds(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	d := &fakeDest{name: "pacs", clock: fx.clock, errs: []error{a700(), a700(), a700()}}
	reg := prometheus.NewRegistry()
	q := fx.queue(t, map[string]Destination{"pacs": d}, QueueConfig{BaseBackoff: time.Second, MaxBackoff: time.Minute, MaxAttempts: 5}, reg)
	t0 := fx.clock.Now()
	fx.commit(t, "1.1", "pacs")
	stop := run(t, q)
	defer stop()

	wantNext := t0
	for attempt, delay := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second} {
		j := waitJob(t, fx.cat, "pacs", fmt.Sprintf("failure %d", attempt+1), func(j catalog.Job) bool {
			return j.State == catalog.JobPending && j.Attempts == attempt+1
		})
		wantNext = wantNext.Add(delay)
		if !j.NextAttemptAt.Equal(wantNext) || !strings.Contains(j.LastError, "A700") {
			t.Fatalf("after attempt %d: next %v (want %v), err %q", attempt+1, j.NextAttemptAt, wantNext, j.LastError)
		}
		// Not due yet: no new call however long we wait in real time.
		time.Sleep(20 * time.Millisecond)
		if n := len(d.Calls()); n != attempt+1 {
			t.Fatalf("calls before due = %d, want %d", n, attempt+1)
		}
		fx.clock.Advance(delay)
	}
	j := waitJob(t, fx.cat, "pacs", "done", func(j catalog.Job) bool { return j.State == catalog.JobDone })
	if j.Attempts != 4 || j.LastError != "" {
		t.Errorf("done job = %+v", j)
	}
	calls := d.Calls()
	want := []time.Time{t0, t0.Add(500 * time.Millisecond), t0.Add(1500 * time.Millisecond), t0.Add(3500 * time.Millisecond)}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("calls at %v, want %v", calls, want)
	}
	if d.paths[0] != "/store/clinical/1.1.dcm" {
		t.Errorf("path = %s", d.paths[0])
	}
	if got := gauge(t, reg, "sonogate_routing_sent_total", "destination=pacs"); got != 1 {
		t.Errorf("sent_total = %v", got)
	}
	if got := gauge(t, reg, "sonogate_routing_retries_total", "destination=pacs"); got != 3 {
		t.Errorf("retries_total = %v", got)
	}
	for state, want := range map[string]float64{"done": 1, "pending": 0, "inflight": 0, "dead": 0} {
		if got := gauge(t, reg, "sonogate_routing_jobs", "destination=pacs,state="+state); got != want {
			t.Errorf("sonogate_routing_jobs{state=%s} = %v, want %v", state, got, want)
		}
	}
	if got := gauge(t, reg, "sonogate_routing_oldest_undelivered_seconds", "destination=pacs"); got != 0 {
		t.Errorf("oldest undelivered = %v, want 0", got)
	}
}

func TestQueuePermanentGoesDeadAtOnce(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	d := &fakeDest{name: "pacs", clock: fx.clock, errs: []error{&dimse.StatusError{Status: 0xC000}}}
	reg := prometheus.NewRegistry()
	q := fx.queue(t, map[string]Destination{"pacs": d}, QueueConfig{MaxAttempts: 5}, reg)
	fx.commit(t, "1.2", "pacs")
	stop := run(t, q)
	defer stop()
	j := waitJob(t, fx.cat, "pacs", "dead", func(j catalog.Job) bool { return j.State == catalog.JobDead })
	if j.Attempts != 1 || !strings.Contains(j.LastError, "permanent") || !strings.Contains(j.LastError, "C000") {
		t.Errorf("dead job = %+v", j)
	}
	if got := gauge(t, reg, "sonogate_routing_dead_letters_total", "destination=pacs"); got != 1 {
		t.Errorf("dead_letters_total = %v", got)
	}
	// Requeue (operator replay) delivers it.
	if err := fx.cat.Requeue(context.Background(), j.ID); err != nil {
		t.Fatal(err)
	}
	q.Kick()
	j = waitJob(t, fx.cat, "pacs", "done after requeue", func(j catalog.Job) bool { return j.State == catalog.JobDone })
	if j.Attempts != 1 || len(d.Calls()) != 2 {
		t.Errorf("after requeue: %+v, %d calls", j, len(d.Calls()))
	}
}

func TestQueueExhaustedGoesDead(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	d := &fakeDest{name: "pacs", clock: fx.clock, errs: []error{a700(), a700(), a700()}}
	q := fx.queue(t, map[string]Destination{"pacs": d}, QueueConfig{MaxAttempts: 9,
		Destinations: map[string]DestinationOptions{"pacs": {MaxAttempts: 2}},
		Rand:         func() float64 { return 0 }}, nil)
	fx.commit(t, "1.3", "pacs")
	stop := run(t, q)
	defer stop()
	j := waitJob(t, fx.cat, "pacs", "dead", func(j catalog.Job) bool { return j.State == catalog.JobDead })
	if j.Attempts != 2 || len(d.Calls()) != 2 || !strings.Contains(j.LastError, "attempt 2/2") {
		t.Errorf("dead job = %+v, calls %d", j, len(d.Calls()))
	}
}

func TestQueueKickWakesIdleWorkers(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	d := &fakeDest{name: "pacs", clock: fx.clock}
	q := fx.queue(t, map[string]Destination{"pacs": d}, QueueConfig{PollInterval: time.Hour}, nil)
	stop := run(t, q)
	defer stop()
	time.Sleep(50 * time.Millisecond) // workers are now idle for an hour
	fx.commit(t, "1.4", "pacs")
	q.Kick()
	waitJob(t, fx.cat, "pacs", "done after kick", func(j catalog.Job) bool { return j.State == catalog.JobDone })
}

func TestQueueManyJobsSeveralDestinations(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	a := &fakeDest{name: "a", clock: fx.clock}
	b := &fakeDest{name: "b", clock: fx.clock}
	for i := range 30 {
		fx.commit(t, fmt.Sprintf("2.%d", i), "a", "b")
	}
	q := fx.queue(t, map[string]Destination{"a": a, "b": b}, QueueConfig{Workers: 2,
		Destinations: map[string]DestinationOptions{"a": {Concurrency: 3}}}, nil)
	stop := run(t, q)
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, _ := fx.cat.Stats(context.Background())
		if len(st) == 2 && st[0].Counts[catalog.JobDone] == 30 && st[1].Counts[catalog.JobDone] == 30 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(a.Calls()) != 30 || len(b.Calls()) != 30 {
		t.Errorf("calls a=%d b=%d, want 30 each (no duplicates)", len(a.Calls()), len(b.Calls()))
	}
}

// TestQueueRestartAfterCrash: a process claimed jobs and died (its jobs stay
// inflight). A new queue must not send them before the lease expires, and
// must send them after.
func TestQueueRestartAfterCrash(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.commit(t, "3.1", "pacs")
	crashed, err := fx.cat.ClaimDue(context.Background(), "pacs", 10, fx.clock.Now(), time.Minute)
	if err != nil || len(crashed) != 1 {
		t.Fatalf("crashed claim: %v %v", crashed, err)
	}
	// Reopen the catalog as a restarted process would.
	fx.cat.Close()
	cat2, err := catalog.Open(context.Background(), catalog.Config{DSN: fx.path, Now: fx.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer cat2.Close()
	fx.cat = cat2
	d := &fakeDest{name: "pacs", clock: fx.clock}
	q := fx.queue(t, map[string]Destination{"pacs": d}, QueueConfig{Lease: time.Minute}, nil)
	stop := run(t, q)
	defer stop()
	time.Sleep(50 * time.Millisecond)
	if n := len(d.Calls()); n != 0 {
		t.Fatalf("sent %d jobs still leased by the crashed process", n)
	}
	fx.clock.Advance(time.Minute)
	j := waitJob(t, cat2, "pacs", "redone after lease expiry", func(j catalog.Job) bool { return j.State == catalog.JobDone })
	if j.Attempts != 2 || len(d.Calls()) != 1 {
		t.Errorf("job = %+v, calls %d", j, len(d.Calls()))
	}
}

// TestQueueShutdownReleasesInflight: cancelling Run during a send hands the
// job back as pending, attempt not counted, ready for the next process.
func TestQueueShutdownReleasesInflight(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	d := &fakeDest{name: "pacs", clock: fx.clock, block: make(chan struct{})}
	fx.commit(t, "4.1", "pacs")
	fx.commit(t, "4.2", "pacs")
	q := fx.queue(t, map[string]Destination{"pacs": d}, QueueConfig{BatchSize: 10}, nil)
	stop := run(t, q)
	deadline := time.Now().Add(5 * time.Second)
	for len(d.Calls()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stop()
	jobs, _ := fx.cat.List(context.Background(), catalog.JobFilter{})
	if len(jobs) != 2 {
		t.Fatalf("jobs = %d", len(jobs))
	}
	for _, j := range jobs {
		if j.State != catalog.JobPending || j.Attempts != 0 {
			t.Errorf("after shutdown job %d = %s attempts %d, want pending 0", j.ID, j.State, j.Attempts)
		}
	}
}

func TestFolderDestination(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	src := filepath.Join(t.TempDir(), "in.dcm")
	content := []byte("DICM-preamble-and-data")
	if err := os.WriteFile(src, content, 0o640); err != nil {
		t.Fatal(err)
	}
	f, err := NewFolder("export", root)
	if err != nil {
		t.Fatal(err)
	}
	inst := &catalog.Instance{StudyInstanceUID: "1.2.3", SOPInstanceUID: "1.2.3.4.5"}
	if err := f.Send(context.Background(), inst, src); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "1.2.3", "1.2.3.4.5.dcm"))
	if err != nil || string(got) != string(content) {
		t.Fatalf("exported %q, %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "1.2.3"))
	if len(entries) != 1 {
		t.Errorf("leftover files: %v", entries)
	}
	// Hostile UIDs cannot climb out of the root.
	evil := &catalog.Instance{StudyInstanceUID: "..", SOPInstanceUID: "../../x"}
	if err := f.Send(context.Background(), evil, src); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "_", ".._.._x.dcm")); err != nil {
		t.Errorf("sanitised path missing: %v", err)
	}
	// A missing source is a permanent failure.
	err = f.Send(context.Background(), inst, filepath.Join(root, "nope"))
	if err == nil || Classify(err) != Permanent {
		t.Errorf("missing source: %v (%v)", err, Classify(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Send(ctx, inst, src); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled send = %v", err)
	}
}

// gauge gathers reg and returns the value of the counter or gauge name whose
// labels, formatted "k=v,k=v" in label order, equal labels.
func gauge(t *testing.T, reg *prometheus.Registry, name, labels string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
			if strings.Join(ls, ",") != labels {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s{%s} not found", name, labels)
	return 0
}
