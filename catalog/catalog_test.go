package catalog

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sonogate/sonogate/internal/testenv"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

// dbFactory returns the Config of a fresh, empty database.
type dbFactory func(t *testing.T) Config

func sqliteDB(t *testing.T) Config {
	return Config{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "cat.db")}
}

func openTest(t *testing.T, cfg Config, clk *clock) *Catalog {
	t.Helper()
	cfg.Now = clk.Now
	c, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testInstance(uid, sha string) *Instance {
	return &Instance{
		Namespace:         "clinical",
		SOPInstanceUID:    uid,
		SOPClassUID:       "1.2.840.10008.5.1.4.1.1.6.1",
		StudyInstanceUID:  "1.2.3",
		SeriesInstanceUID: "1.2.3.4",
		PatientID:         "P1",
		PatientName:       "Doe^Jane",
		Modality:          "US",
		SeriesNumber:      2,
		InstanceNumber:    7,
		TransferSyntaxUID: "1.2.840.10008.1.2.1",
		NumberOfFrames:    30,
		Rows:              480,
		Columns:           640,
		RelPath:           "clinical/" + sha[:2] + "/" + sha[2:4] + "/" + sha + ".dcm",
		SHA256:            sha,
		Size:              12345,
		DataOffset:        300,
		CallingAE:         "US01",
		ReceivedAt:        time.Date(2026, 3, 1, 11, 0, 0, 123000, time.UTC),
	}
}

func sha(n int) string { return fmt.Sprintf("%064x", n) }

func testCommitOutcomes(t *testing.T, fresh dbFactory) {
	ctx := context.Background()
	clk := newClock()
	c := openTest(t, fresh(t), clk)
	jobs := []JobSpec{{Destination: "pacs", Rule: "all"}, {Destination: "research", Rule: "r"}, {Destination: "pacs", Rule: "dup"}}

	a := testInstance("1.2.3.4.5", sha(1))
	r1, err := c.CommitInstance(ctx, a, jobs)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Outcome != Inserted || r1.Version != 1 || r1.ID == 0 || a.ID != r1.ID {
		t.Fatalf("first commit = %+v (inst.ID %d), want Inserted v1", r1, a.ID)
	}
	// Identical resend: Duplicate, no new jobs.
	r2, err := c.CommitInstance(ctx, testInstance("1.2.3.4.5", sha(1)), jobs)
	if err != nil {
		t.Fatal(err)
	}
	if r2 != (CommitResult{ID: r1.ID, Outcome: Duplicate, Version: 1}) {
		t.Fatalf("resend = %+v, want Duplicate of %d", r2, r1.ID)
	}
	// Same UID, different bytes (B17): new version, jobs inserted.
	b := testInstance("1.2.3.4.5", sha(2))
	b.SeriesInstanceUID = "1.2.3.10"
	r3, err := c.CommitInstance(ctx, b, jobs)
	if err != nil {
		t.Fatal(err)
	}
	if r3.Outcome != NewVersion || r3.Version != 2 || r3.ID == r1.ID {
		t.Fatalf("different bytes = %+v, want NewVersion v2", r3)
	}
	// The same UID in another namespace is independent.
	rn := testInstance("1.2.3.4.5", sha(1))
	rn.Namespace = "research"
	r4, err := c.CommitInstance(ctx, rn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r4.Outcome != Inserted || r4.Version != 1 {
		t.Fatalf("research commit = %+v", r4)
	}

	vs, err := c.InstancesBySOP(ctx, "clinical", "1.2.3.4.5")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].Version != 1 || vs[1].Version != 2 || vs[1].SeriesInstanceUID != "1.2.3.10" || vs[0].SHA256 != sha(1) {
		t.Fatalf("versions = %+v", vs)
	}
	got, err := c.InstanceByID(ctx, r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *testInstance("1.2.3.4.5", sha(1))
	want.ID, want.Version = r1.ID, 1
	if *got != want {
		t.Errorf("InstanceByID =\n%+v\nwant\n%+v", *got, want)
	}
	if _, err := c.InstanceByID(ctx, 9999); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing id: %v, want ErrNotFound", err)
	}

	all, err := c.List(ctx, JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	// 2 destinations × (v1 + v2); duplicate destination "pacs" collapsed.
	if len(all) != 4 {
		t.Fatalf("jobs = %d, want 4: %+v", len(all), all)
	}
	for _, j := range all {
		if j.State != JobPending || j.Attempts != 0 || !j.NextAttemptAt.Equal(clk.Now()) {
			t.Errorf("job %+v: want pending, 0 attempts, due now", j)
		}
	}
	if all[0].Rule != "all" {
		t.Errorf("rule = %q, want first rule naming the destination", all[0].Rule)
	}
	dests, _ := c.Destinations(ctx)
	if fmt.Sprint(dests) != "[pacs research]" {
		t.Errorf("Destinations = %v", dests)
	}
}

func testCommitValidation(t *testing.T, fresh dbFactory) {
	c := openTest(t, fresh(t), newClock())
	in := testInstance("1.2", sha(1))
	in.SHA256 = ""
	if _, err := c.CommitInstance(context.Background(), in, nil); err == nil {
		t.Error("commit without sha256 succeeded")
	}
}

func testConcurrentCommitSameInstance(t *testing.T, fresh dbFactory) {
	ctx := context.Background()
	cfg := fresh(t)
	clk := newClock()
	c1 := openTest(t, cfg, clk)
	c2 := openTest(t, cfg, clk) // a second process on the same file
	const n = 8
	var wg sync.WaitGroup
	results := make([]CommitResult, 2*n)
	errs := make([]error, 2*n)
	for i := range 2 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := c1
			if i%2 == 1 {
				c = c2
			}
			results[i], errs[i] = c.CommitInstance(ctx, testInstance("9.9.9", sha(7)), []JobSpec{{Destination: "pacs"}})
		}()
	}
	wg.Wait()
	inserted := 0
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("commit %d: %v", i, errs[i])
		}
		switch results[i].Outcome {
		case Inserted:
			inserted++
		case Duplicate:
		default:
			t.Errorf("commit %d outcome %v", i, results[i].Outcome)
		}
	}
	if inserted != 1 {
		t.Errorf("inserted %d times, want 1", inserted)
	}
	vs, _ := c1.InstancesBySOP(ctx, "clinical", "9.9.9")
	jobs, _ := c1.List(ctx, JobFilter{Destination: "pacs"})
	if len(vs) != 1 || len(jobs) != 1 {
		t.Errorf("rows: %d instances, %d jobs; want 1 and 1", len(vs), len(jobs))
	}
}

func testClaimLeaseExpiry(t *testing.T, fresh dbFactory) {
	ctx := context.Background()
	clk := newClock()
	c := openTest(t, fresh(t), clk)
	for i := range 3 {
		if _, err := c.CommitInstance(ctx, testInstance(fmt.Sprintf("1.%d", i), sha(i)), []JobSpec{{Destination: "pacs"}, {Destination: "folder"}}); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)
	}
	now := clk.Now()
	got, err := c.ClaimDue(ctx, "pacs", 2, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Instance.SOPInstanceUID != "1.0" || got[1].Instance.SOPInstanceUID != "1.1" {
		t.Fatalf("claimed %+v, want 1.0 and 1.1 in order", got)
	}
	j := got[0].Job
	if j.State != JobInflight || j.Attempts != 1 || !j.LeaseUntil.Equal(now.Add(time.Minute)) || j.Destination != "pacs" {
		t.Errorf("claimed job = %+v", j)
	}
	if got[0].Instance.Rows != 480 || got[0].Instance.RelPath == "" {
		t.Errorf("claimed instance not filled: %+v", got[0].Instance)
	}
	// Only one left; inflight ones are not due.
	rest, _ := c.ClaimDue(ctx, "pacs", 10, now, time.Minute)
	if len(rest) != 1 || rest[0].Instance.SOPInstanceUID != "1.2" {
		t.Fatalf("second claim = %d jobs, want 1.2", len(rest))
	}
	// Nothing due before the lease expires.
	clk.Add(59 * time.Second)
	if none, _ := c.ClaimDue(ctx, "pacs", 10, clk.Now(), time.Minute); len(none) != 0 {
		t.Fatalf("claimed %d before lease expiry", len(none))
	}
	// Complete one, fail one with a later due time, let the third's lease lapse.
	if err := c.Complete(ctx, got[0].Job.ID); err != nil {
		t.Fatal(err)
	}
	next := clk.Now().Add(10 * time.Minute)
	if err := c.Fail(ctx, got[1].Job.ID, "a700 out of resources", next); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Second) // past now+lease of the first claims
	again, err := c.ClaimDue(ctx, "pacs", 10, clk.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// got[0] is done (not reclaimed); got[1] is pending until next; rest[0] lease expired.
	if len(again) != 1 || again[0].Job.ID != rest[0].Job.ID || again[0].Job.Attempts != 2 {
		t.Fatalf("after expiry claimed %+v, want only job %d with 2 attempts", again, rest[0].Job.ID)
	}
	// A stale worker completing the re-claimed job is still fine (at least once),
	// but completing a done job is a state error.
	if err := c.Complete(ctx, got[0].Job.ID); !errors.Is(err, ErrState) {
		t.Errorf("Complete(done) = %v, want ErrState", err)
	}
	if err := c.Complete(ctx, 424242); !errors.Is(err, ErrNotFound) {
		t.Errorf("Complete(missing) = %v, want ErrNotFound", err)
	}
	if err := c.Complete(ctx, again[0].Job.ID); err != nil {
		t.Fatal(err)
	}
	f, _ := c.Job(ctx, got[1].Job.ID)
	if f.State != JobPending || f.LastError != "a700 out of resources" || !f.NextAttemptAt.Equal(next) || f.Attempts != 1 {
		t.Errorf("failed job = %+v", f)
	}
	clk.Add(10 * time.Minute)
	due, _ := c.ClaimDue(ctx, "pacs", 10, clk.Now(), time.Minute)
	if len(due) != 1 || due[0].Job.ID != got[1].Job.ID || due[0].Job.Attempts != 2 {
		t.Fatalf("retry claim = %+v", due)
	}
	if err := c.Dead(ctx, due[0].Job.ID, "c000 cannot understand"); err != nil {
		t.Fatal(err)
	}
	dead, _ := c.List(ctx, JobFilter{State: JobDead})
	if len(dead) != 1 || dead[0].LastError != "c000 cannot understand" {
		t.Fatalf("dead = %+v", dead)
	}
	if err := c.Requeue(ctx, due[0].Job.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Requeue(ctx, due[0].Job.ID); !errors.Is(err, ErrState) {
		t.Errorf("second Requeue = %v, want ErrState", err)
	}
	rq, _ := c.Job(ctx, due[0].Job.ID)
	if rq.State != JobPending || rq.Attempts != 0 || !rq.NextAttemptAt.Equal(clk.Now()) {
		t.Errorf("requeued = %+v", rq)
	}
	// Claim and release: back to pending with the attempt given back.
	rel, _ := c.ClaimDue(ctx, "pacs", 1, clk.Now(), time.Minute)
	if len(rel) != 1 || rel[0].Job.Attempts != 1 {
		t.Fatalf("claim for release = %+v", rel)
	}
	if err := c.Release(ctx, rel[0].Job.ID); err != nil {
		t.Fatal(err)
	}
	rq, _ = c.Job(ctx, due[0].Job.ID)
	if rq.State != JobPending || rq.Attempts != 0 || !rq.NextAttemptAt.Equal(clk.Now()) {
		t.Errorf("requeued = %+v", rq)
	}

	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Destination != "folder" || st[1].Destination != "pacs" {
		t.Fatalf("stats = %+v", st)
	}
	if st[0].Counts[JobPending] != 3 || !st[0].OldestPending.Equal(newClock().Now()) {
		t.Errorf("folder stats = %+v", st[0])
	}
	p := st[1].Counts
	if p[JobDone] != 2 || p[JobPending] != 1 || p[JobInflight] != 0 || p[JobDead] != 0 {
		t.Errorf("pacs counts = %v", p)
	}
	if !st[1].OldestPending.Equal(newClock().Now().Add(time.Second)) { // job of 1.1, requeued
		t.Errorf("pacs oldest = %v", st[1].OldestPending)
	}
	page, _ := c.List(ctx, JobFilter{Destination: "folder", Limit: 2, Offset: 1})
	if len(page) != 2 || page[0].InstanceID != 2 {
		t.Errorf("page = %+v", page)
	}
}

func testClaimConcurrentNoDoubleClaim(t *testing.T, fresh dbFactory) {
	ctx := context.Background()
	cfg := fresh(t)
	clk := newClock()
	c1 := openTest(t, cfg, clk)
	c2 := openTest(t, cfg, clk)
	const n = 50
	for i := range n {
		if _, err := c1.CommitInstance(ctx, testInstance(fmt.Sprintf("2.%d", i), sha(100+i)), []JobSpec{{Destination: "pacs"}}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := c1
			if w%2 == 1 {
				c = c2
			}
			for {
				got, err := c.ClaimDue(ctx, "pacs", 3, clk.Now(), time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, g := range got {
					seen[g.Job.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("claimed %d distinct jobs, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("job %d claimed %d times", id, k)
		}
	}
}

func testRestartPersistence(t *testing.T, fresh dbFactory) {
	ctx := context.Background()
	cfg := fresh(t)
	clk := newClock()
	c, err := Open(ctx, withClock(cfg, clk))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CommitInstance(ctx, testInstance("3.1", sha(3)), []JobSpec{{Destination: "pacs"}})
	if err != nil {
		t.Fatal(err)
	}
	claimed, _ := c.ClaimDue(ctx, "pacs", 1, clk.Now(), 30*time.Second)
	if len(claimed) != 1 {
		t.Fatal("claim failed")
	}
	if err := c.Close(); err != nil { // "crash" while inflight
		t.Fatal(err)
	}
	c2, err := Open(ctx, withClock(cfg, clk)) // migrations are not re-applied
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	in, err := c2.InstanceByID(ctx, r.ID)
	if err != nil || in.SOPInstanceUID != "3.1" {
		t.Fatalf("after reopen: %v %v", in, err)
	}
	if again, _ := c2.CommitInstance(ctx, testInstance("3.1", sha(3)), []JobSpec{{Destination: "pacs"}}); again.Outcome != Duplicate {
		t.Errorf("resend after restart = %v, want Duplicate", again.Outcome)
	}
	if got, _ := c2.ClaimDue(ctx, "pacs", 1, clk.Now(), 30*time.Second); len(got) != 0 {
		t.Fatal("claimed a job whose lease has not expired")
	}
	clk.Add(31 * time.Second)
	got, err := c2.ClaimDue(ctx, "pacs", 1, clk.Now(), 30*time.Second)
	if err != nil || len(got) != 1 || got[0].Job.ID != claimed[0].Job.ID || got[0].Job.Attempts != 2 {
		t.Fatalf("after lease expiry: %+v %v", got, err)
	}
}

func withClock(cfg Config, clk *clock) Config {
	cfg.Now = clk.Now
	return cfg
}

var scenarios = []struct {
	name string
	fn   func(*testing.T, dbFactory)
}{
	{"CommitOutcomes", testCommitOutcomes},
	{"CommitValidation", testCommitValidation},
	{"ConcurrentCommitSameInstance", testConcurrentCommitSameInstance},
	{"ClaimLeaseExpiry", testClaimLeaseExpiry},
	{"ClaimConcurrentNoDoubleClaim", testClaimConcurrentNoDoubleClaim},
	{"RestartPersistence", testRestartPersistence},
	{"Reports", testReports},
	{"Pseudonyms", testPseudonyms},
	{"RecoverInflight", testRecoverInflight},
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.fn(t, sqliteDB)
		})
	}
}

// TestPostgres runs the same scenarios on a private PostgreSQL cluster, one
// database per scenario.
func TestPostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			n := 0
			sc.fn(t, func(t *testing.T) Config {
				n++
				return Config{Driver: "postgres", DSN: pg.CreateDB(t, fmt.Sprintf("s%d_%d", i, n))}
			})
		})
	}
}

func TestDollarPlaceholders(t *testing.T) {
	t.Parallel()
	got := dollarPlaceholders(`SELECT '?' , x FROM t WHERE a = ? AND b IN (?, ?)`)
	want := `SELECT '?' , x FROM t WHERE a = $1 AND b IN ($2, $3)`
	if got != want {
		t.Errorf("got %s", got)
	}
}

func TestTruncErr(t *testing.T) {
	t.Parallel()
	s := string(make([]byte, 1023)) + "é" + "tail"
	got := truncErr(s)
	if len(got) != 1023 {
		t.Errorf("len = %d, want 1023 (cut before the 2-byte rune)", len(got))
	}
}

func testRecoverInflight(t *testing.T, fresh dbFactory) {
	clk := newClock()
	cfg := fresh(t)
	c := openTest(t, cfg, clk)
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		if _, err := c.CommitInstance(ctx, testInstance(fmt.Sprintf("1.2.%d", i), sha(i)), []JobSpec{{Destination: "pacs"}}); err != nil {
			t.Fatal(err)
		}
	}
	claimed, err := c.ClaimDue(ctx, "pacs", 2, clk.Now(), 5*time.Minute)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claim: %v %v", len(claimed), err)
	}
	c.Close()
	// The process died; a new one opens the same catalog a moment later.
	clk.Add(time.Second)
	c2 := openTest(t, cfg, clk)
	n, err := c2.RecoverInflight(ctx)
	if err != nil || n != 2 {
		t.Fatalf("recovered %d, %v; want 2", n, err)
	}
	again, err := c2.ClaimDue(ctx, "pacs", 10, clk.Now(), 5*time.Minute)
	if err != nil || len(again) != 3 {
		t.Fatalf("after recovery %d claimable (%v), want all 3 at once", len(again), err)
	}
	for _, cj := range again {
		want := 1
		if cj.Job.ID == claimed[0].Job.ID || cj.Job.ID == claimed[1].Job.ID {
			want = 2 // the interrupted attempt still counts
		}
		if cj.Job.Attempts != want {
			t.Fatalf("job %d attempts %d, want %d", cj.Job.ID, cj.Job.Attempts, want)
		}
	}
}
