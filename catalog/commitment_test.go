package catalog

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sonogate/sonogate/internal/testenv"
)

func testCommitments(t *testing.T, fresh dbFactory) {
	ctx := context.Background()
	clk := newClock()
	cfg := fresh(t)
	c := openTest(t, cfg, clk)
	cm := &Commitment{TransactionUID: "1.2.9.1", RequesterAE: "US01", CalledAE: "GW", Items: []CommitmentItem{
		{SOPClassUID: "1.2.840.10008.5.1.4.1.1.6.1", SOPInstanceUID: "1.2.3.4.5"},
		{SOPClassUID: "1.2.840.10008.5.1.4.1.1.6.1", SOPInstanceUID: "1.2.3.4.6"},
	}}
	created, err := c.AddCommitment(ctx, cm)
	if err != nil || !created || cm.ID == 0 {
		t.Fatalf("add: %v %v %d", created, err, cm.ID)
	}
	// A resend of the same request is not a second commitment.
	again := &Commitment{TransactionUID: "1.2.9.1", RequesterAE: "US01", CalledAE: "GW"}
	created, err = c.AddCommitment(ctx, again)
	if err != nil || created || again.ID != cm.ID || len(again.Items) != 2 {
		t.Fatalf("resend: created %v err %v id %d items %d", created, err, again.ID, len(again.Items))
	}
	// The same Transaction UID from another requester is another request.
	other := &Commitment{TransactionUID: "1.2.9.1", RequesterAE: "US02", CalledAE: "GW"}
	if created, err := c.AddCommitment(ctx, other); err != nil || !created || other.ID == cm.ID {
		t.Fatalf("other requester: %v %v", created, err)
	}

	// Survives a reopen (restart).
	c.Close()
	c = openTest(t, cfg, clk)
	pend, err := c.PendingCommitments(ctx, 0)
	if err != nil || len(pend) != 2 {
		t.Fatalf("pending: %v %d", err, len(pend))
	}
	p := pend[0]
	if p.TransactionUID != "1.2.9.1" || p.RequesterAE != "US01" || p.CalledAE != "GW" || p.State != CommitmentPending ||
		!p.CreatedAt.Equal(clk.Now()) || len(p.Items) != 2 || p.Items[1].SOPInstanceUID != "1.2.3.4.6" {
		t.Errorf("pending[0] = %+v", p)
	}
	next := clk.Now().Add(time.Minute)
	if err := c.CommitmentRetry(ctx, p.ID, "connection refused", next); err != nil {
		t.Fatal(err)
	}
	got, err := c.CommitmentByID(ctx, p.ID)
	if err != nil || got.Attempts != 1 || got.LastError != "connection refused" || !got.NextAttemptAt.Equal(next) {
		t.Fatalf("after retry: %+v %v", got, err)
	}
	items := []CommitmentItem{p.Items[0], p.Items[1]}
	items[1].FailureReason = 0x0112
	clk.Add(time.Second)
	if err := c.CommitmentReported(ctx, p.ID, 2, items); err != nil {
		t.Fatal(err)
	}
	got, _ = c.CommitmentByID(ctx, p.ID)
	if got.State != CommitmentReported || got.EventType != 2 || !got.ReportedAt.Equal(clk.Now()) ||
		got.Items[0].FailureReason != 0 || got.Items[1].FailureReason != 0x0112 || got.LastError != "" {
		t.Errorf("reported: %+v", got)
	}
	if err := c.CommitmentReported(ctx, p.ID, 1, nil); !errors.Is(err, ErrState) {
		t.Errorf("second report: %v, want ErrState", err)
	}
	if pend, _ := c.PendingCommitments(ctx, 0); len(pend) != 1 || pend[0].RequesterAE != "US02" {
		t.Errorf("pending after report: %+v", pend)
	}
	if _, err := c.CommitmentByID(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}

	// Delivery states of an instance's jobs to one destination.
	if _, err := c.CommitInstance(ctx, testInstance("1.2.3.4.5", "aa11"+fmt.Sprint(1234567890)), []JobSpec{{Destination: "pacs"}, {Destination: "archive"}}); err != nil {
		t.Fatal(err)
	}
	if st, err := c.DeliveryStates(ctx, "clinical", "1.2.3.4.5", "pacs"); err != nil || len(st) != 1 || st[0] != JobPending {
		t.Fatalf("states %v %v", st, err)
	}
	jobs, err := c.ClaimDue(ctx, "pacs", 10, clk.Now(), time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatal(err, len(jobs))
	}
	if err := c.Complete(ctx, jobs[0].Job.ID); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.DeliveryStates(ctx, "clinical", "1.2.3.4.5", "pacs"); len(st) != 1 || st[0] != JobDone {
		t.Errorf("after complete: %v", st)
	}
	if st, _ := c.DeliveryStates(ctx, "clinical", "1.2.3.4.5", "archive"); len(st) != 1 || st[0] != JobPending {
		t.Errorf("archive: %v", st)
	}
	if st, _ := c.DeliveryStates(ctx, "research", "1.2.3.4.5", "pacs"); len(st) != 0 {
		t.Errorf("other namespace: %v", st)
	}
}

func TestCommitmentsSQLite(t *testing.T) {
	t.Parallel()
	testCommitments(t, sqliteDB)
}

func TestCommitmentsPostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	testCommitments(t, func(t *testing.T) Config {
		return Config{Driver: "postgres", DSN: pg.CreateDB(t, "commitments")}
	})
}
