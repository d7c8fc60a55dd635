package node

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/dimse"
	"github.com/sonogate/sonogate/internal/testenv"
)

// TestSTOWDestinationSurvivesOrthancRestart routes everything a node
// receives to Orthanc's STOW-RS endpoint while Orthanc is down: the C-STOREs
// succeed (the node has taken responsibility), the STOW-RS jobs fail and wait
// in the queue, and once Orthanc is back every instance arrives.
func TestSTOWDestinationSurvivesOrthancRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Orthanc")
	}
	o := testenv.StartOrthanc(t, testenv.OrthancOptions{DicomWeb: true})
	o.Stop()

	n := startNode(t, func(c *config.Config) {
		c.Destinations = []config.Destination{{
			Name: "orthanc-web", MaxAttempts: 1000,
			STOW: &config.STOWDest{URL: o.DicomWebURL() + "/studies"},
		}}
		c.Rules = []config.Rule{{Name: "all", Send: []string{"orthanc-web"}}}
		c.Routing.Workers = 2
		c.Routing.BaseBackoff = config.Duration(100 * time.Millisecond)
		c.Routing.MaxBackoff = config.Duration(500 * time.Millisecond)
	})

	files, _ := filepath.Glob(filepath.Join(testenv.SharedTestdata(t, "dicom/ultrasound"), "*.dcm"))
	sent := map[string]bool{}
	for _, f := range files {
		if st := storeFile(t, n, f); st != dimse.StatusSuccess {
			t.Fatalf("C-STORE %s: %v", filepath.Base(f), st)
		}
		m, err := dcm.OpenFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sent[m.Meta.MediaStorageSOPInstanceUID] = true
	}
	if len(sent) < 10 {
		t.Fatalf("only %d instances sent", len(sent))
	}

	// While Orthanc is down every job fails and is retried, none is lost or
	// dead-lettered.
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		jobs, err := n.Catalog().List(ctx, catalog.JobFilter{Destination: "orthanc-web", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		retried := 0
		for _, j := range jobs {
			if j.State == catalog.JobDone || j.State == catalog.JobDead {
				t.Fatalf("job %d is %s while Orthanc is down (%s)", j.ID, j.State, j.LastError)
			}
			if j.Attempts >= 2 && j.LastError != "" {
				retried++
			}
		}
		if len(jobs) < len(sent) {
			t.Fatalf("%d jobs for %d instances", len(jobs), len(sent))
		}
		if retried == len(jobs) {
			t.Logf("%d jobs failed at least twice while Orthanc was down, e.g. %q", retried, jobs[0].LastError)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d jobs retried after 30 s", retried, len(jobs))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if o.Running() {
		t.Fatal("Orthanc is running")
	}

	o.Start(t)
	t.Cleanup(func() {
		if t.Failed() {
			jobs, _ := n.Catalog().List(ctx, catalog.JobFilter{Destination: "orthanc-web", Limit: 1000})
			for _, j := range jobs {
				t.Logf("job %d: %s attempts %d next %s: %s", j.ID, j.State, j.Attempts, j.NextAttemptAt.Format(time.RFC3339Nano), j.LastError)
			}
		}
	})
	got := o.WaitInstances(t, len(sent), 90*time.Second)
	var want []string
	for u := range sent {
		want = append(want, u)
	}
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Orthanc holds\n%v\nwant\n%v", got, want)
	}
	// And the queue agrees: every job delivered.
	deadline = time.Now().Add(30 * time.Second)
	for {
		st, err := n.Catalog().Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st) == 1 && st[0].Counts[catalog.JobDone] >= int64(len(sent)) &&
			st[0].Counts[catalog.JobPending]+st[0].Counts[catalog.JobInflight]+st[0].Counts[catalog.JobDead] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue after restart: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
