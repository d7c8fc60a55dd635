package catalog

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sonogate/sonogate/internal/testenv"
)

// A pull's studies, their progress and its state survive a reopen, in the
// order found; a second listing keeps the recorded progress.
func testPulls(t *testing.T, fresh dbFactory) {
	clk := newClock()
	cfg := fresh(t)
	c := openTest(t, cfg, clk)
	ctx := context.Background()
	id, err := c.CreatePull(ctx, []byte(`{"source":"PACS"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PullByID(ctx, id+100); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown pull: %v", err)
	}
	studies := []PullStudy{{StudyInstanceUID: "1.2.3", ExpectedInstances: 4}, {StudyInstanceUID: "1.2.1", ExpectedInstances: -1}}
	if err := c.ListPullStudies(ctx, id, studies); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPullState(ctx, id, PullRunning, ""); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdatePullStudy(ctx, PullStudy{PullID: id, StudyInstanceUID: "1.2.3", State: PullStudyDone, Retrieved: true,
		InstancesRetrieved: 4, InstancesDeidentified: 3, InstancesQuarantined: 1}); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdatePullStudy(ctx, PullStudy{PullID: id, StudyInstanceUID: "9.9"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown study: %v", err)
	}
	// Listing again (a resumed pull re-running its query) keeps progress.
	if err := c.ListPullStudies(ctx, id, studies); err != nil {
		t.Fatal(err)
	}
	c.Close()
	clk.Add(time.Minute)
	c = openTest(t, cfg, clk)
	p, err := c.PullByID(ctx, id)
	if err != nil || p.State != PullRunning || !p.Listed || string(p.Criteria) != `{"source":"PACS"}` || !p.FinishedAt.IsZero() {
		t.Fatalf("pull: %+v %v", p, err)
	}
	got, err := c.PullStudies(ctx, id)
	if err != nil || len(got) != 2 {
		t.Fatalf("studies: %+v %v", got, err)
	}
	if s := got[0]; s.StudyInstanceUID != "1.2.3" || s.State != PullStudyDone || !s.Retrieved || s.ExpectedInstances != 4 ||
		s.InstancesRetrieved != 4 || s.InstancesDeidentified != 3 || s.InstancesQuarantined != 1 {
		t.Fatalf("study 0: %+v", s)
	}
	if s := got[1]; s.StudyInstanceUID != "1.2.1" || s.State != PullStudyPending || s.Retrieved || s.ExpectedInstances != -1 {
		t.Fatalf("study 1: %+v", s)
	}
	id2, _ := c.CreatePull(ctx, []byte(`{}`))
	if err := c.SetPullState(ctx, id2, PullFailed, "source unreachable"); err != nil {
		t.Fatal(err)
	}
	open, err := c.Pulls(ctx, 10, PullQueued, PullRunning)
	if err != nil || len(open) != 1 || open[0].ID != id {
		t.Fatalf("open pulls: %+v %v", open, err)
	}
	all, err := c.Pulls(ctx, 10)
	if err != nil || len(all) != 2 || all[0].ID != id2 || all[0].Error != "source unreachable" || all[0].FinishedAt.IsZero() {
		t.Fatalf("all pulls: %+v %v", all, err)
	}
}

func TestPullsSQLite(t *testing.T) {
	t.Parallel()
	testPulls(t, sqliteDB)
}

func TestPullsPostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	testPulls(t, func(t *testing.T) Config { return Config{Driver: "postgres", DSN: pg.CreateDB(t, "pulls")} })
}
