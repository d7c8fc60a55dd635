package catalog

import (
	"context"
	"testing"
	"time"
)

// TestLazyTxRestoresFullSync: after the routing bookkeeping transactions,
// which run with synchronous=NORMAL, the writer connection (which also
// commits instances) is back at synchronous=FULL, and the claim and the
// completion took effect.
func TestLazyTxRestoresFullSync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := openTest(t, sqliteDB(t), newClock())
	if _, err := c.CommitInstance(ctx, testInstance("1.2.3.9", sha(9)), []JobSpec{{Destination: "pacs"}}); err != nil {
		t.Fatal(err)
	}
	sync := func() int {
		t.Helper()
		var v int
		if err := c.w.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := sync(); v != 2 {
		t.Fatalf("synchronous = %d before, want 2 (FULL)", v)
	}
	jobs, err := c.ClaimDue(ctx, "pacs", 16, c.now().Add(time.Second), time.Minute)
	if err != nil || len(jobs) != 1 || jobs[0].Instance.SOPInstanceUID != "1.2.3.9" {
		t.Fatalf("ClaimDue = %+v, %v; want the one job with its instance", jobs, err)
	}
	if v := sync(); v != 2 {
		t.Errorf("synchronous = %d after ClaimDue, want 2 (FULL)", v)
	}
	if n, err := c.CompleteMany(ctx, []int64{jobs[0].Job.ID}); err != nil || n != 1 {
		t.Fatalf("CompleteMany = %d, %v; want 1", n, err)
	}
	if v := sync(); v != 2 {
		t.Errorf("synchronous = %d after CompleteMany, want 2 (FULL)", v)
	}
	st, err := c.Stats(ctx)
	if err != nil || len(st) != 1 || st[0].Counts[JobDone] != 1 {
		t.Errorf("stats = %+v, %v; want one done job", st, err)
	}
}
