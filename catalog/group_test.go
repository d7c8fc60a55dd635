package catalog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestGroupCommit commits from many goroutines at once (the commits are
// merged into shared transactions) and checks that every caller got its
// own row, that resends of one instance inside a group are Duplicates, and
// that a commit after Close fails instead of hanging.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	cfg := sqliteDB(t)
	c := openTest(t, cfg, newClock())
	ctx := context.Background()
	const n = 200
	var wg sync.WaitGroup
	res := make([]CommitResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uid := fmt.Sprintf("1.2.3.%d", i%150) // 50 instances sent twice with the same bytes
			in := testInstance(uid, sha(i%150+1))
			res[i], errs[i] = c.CommitInstance(ctx, in, []JobSpec{{Destination: "pacs"}})
			if errs[i] == nil && in.ID != res[i].ID {
				errs[i] = fmt.Errorf("inst.ID %d, result %d", in.ID, res[i].ID)
			}
		}()
	}
	wg.Wait()
	ids := map[int64]int{}
	outcomes := map[Outcome]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("commit %d: %v", i, errs[i])
		}
		ids[res[i].ID]++
		outcomes[res[i].Outcome]++
	}
	if len(ids) != 150 || outcomes[Inserted] != 150 || outcomes[Duplicate] != 50 {
		t.Errorf("%d distinct rows, outcomes %v; want 150 rows, 150 inserted, 50 duplicates", len(ids), outcomes)
	}
	var rows, jobs int
	c.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM instances`).Scan(&rows)
	c.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs`).Scan(&jobs)
	if rows != 150 || jobs != 150 {
		t.Errorf("%d rows and %d jobs in the database, want 150 and 150", rows, jobs)
	}
	c.Close()
	if _, err := c.CommitInstance(ctx, testInstance("1.2.3.999", sha(999)), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("commit after Close: %v, want ErrClosed", err)
	}
}
