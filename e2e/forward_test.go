package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/internal/testenv"
)

// exampleConfig is the example configuration (the README
// quickstart, config/testdata/example.good.yaml) with the PACS port
// adapted; the listen addresses are overridden on the command line.
func exampleConfig(orthancPort int, extra string) string {
	return fmt.Sprintf(`node:
  ae_title: SONOGATE
  dimse_listen: 127.0.0.1:11112
  http_listen: 127.0.0.1:8080
  data_dir: ./sonogate-data
destinations:
  - name: pacs
    dimse: {ae_title: ORTHANC, host: 127.0.0.1, port: %d}
rules:
  - name: everything-to-pacs
    match: {}
    send: [pacs]
%s`, orthancPort, extra)
}

// sendCorpus sends every corpus folder to the gateway with storescu (one
// association per folder, each file in its own transfer syntax) and
// returns the files it answered Success for.
func sendCorpus(t testing.TB, sg *Sonogate, corpus map[string][]corpusFile) []corpusFile {
	t.Helper()
	var ok []corpusFile
	for _, d := range corpusDirs {
		ins := make([]Instance, len(corpus[d]))
		for i, f := range corpus[d] {
			ins[i] = f.Instance
		}
		out, _ := Storescu(t, sg.Addr(), "SONOGATE", ins)
		for _, f := range corpus[d] {
			if o := out[f.Path]; o.Success() {
				ok = append(ok, f)
			} else if o.Sent {
				t.Errorf("%s: sonogate answered %s", f.Path, o)
			}
		}
	}
	if len(ok) == 0 {
		t.Fatal("sonogate accepted no corpus file")
	}
	return ok
}

// distinctVersions counts the distinct (SOP Instance UID, data set)
// pairs: each is one catalog version and one routing job per rule.
func distinctVersions(fs []corpusFile) int {
	m := map[string]bool{}
	for _, f := range fs {
		m[f.SOPInst+"/"+f.DataSHA] = true
	}
	return len(m)
}

// TestForwardToOrthanc runs the example configuration against a real
// Orthanc: every instance sonogate accepted reaches Orthanc (the UID sets
// are equal), and the queue API accounts for every job.
func TestForwardToOrthanc(t *testing.T) {
	t.Parallel()
	testenv.RequireTool(t, "storescu")
	corpus := loadCorpus(t)
	orthanc := testenv.StartOrthanc(t, testenv.OrthancOptions{})
	sg := StartSonogate(t, SonogateOptions{
		Config:         exampleConfig(orthanc.DicomPort(), "routing: {base_backoff: 200ms, max_backoff: 2s}\n"),
		DefaultDataDir: true,
	})

	accepted := sendCorpus(t, sg, corpus)
	acceptedUIDs := make([]Instance, len(accepted))
	for i, f := range accepted {
		acceptedUIDs[i] = f.Instance
	}
	wantUIDs := UIDSet(acceptedUIDs)
	jobs := int64(distinctVersions(accepted))

	counts := sg.WaitQueueSettled(t, "pacs", jobs, 2*time.Minute)
	t.Logf("queue of pacs after the corpus: %s (%d files accepted, %d distinct UIDs)", counts, len(accepted), len(wantUIDs))

	dead := sg.Jobs(t, "pacs", "dead")
	cat := sg.OpenCatalog(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	deadUIDs := map[string]catalog.Instance{}
	for _, j := range dead {
		in, err := cat.InstanceByID(ctx, j.InstanceID)
		if err != nil {
			t.Fatalf("dead job %d: instance %d: %v", j.ID, j.InstanceID, err)
		}
		deadUIDs[in.SOPInstanceUID] = *in
		t.Logf("dead letter: job %d, %s (%s in %s) after %d attempts: %s", j.ID, in.SOPInstanceUID, in.SOPClassUID, in.TransferSyntaxUID, j.Attempts, j.LastError)
		if strings.TrimSpace(j.LastError) == "" {
			t.Errorf("dead job %d has no reason", j.ID)
		}
	}

	t.Run("orthanc has every accepted instance", func(t *testing.T) {
		want := make([]string, 0, len(wantUIDs))
		for _, u := range wantUIDs {
			if _, isDead := deadUIDs[u]; !isDead {
				want = append(want, u)
			}
		}
		got := orthanc.Instances(t)
		if d := diffSets(got, want); d != "" {
			t.Fatalf("Orthanc's SOP Instance UIDs differ from those sonogate accepted (minus %d dead letters): %s", len(deadUIDs), d)
		}
		if counts.Done+counts.Dead != jobs || counts.Done == 0 {
			t.Errorf("queue: %s, want %d jobs done or dead", counts, jobs)
		}
		t.Logf("Orthanc holds %d instances = the %d UIDs sonogate accepted, %d dead letters", len(got), len(wantUIDs), len(deadUIDs))
	})

	t.Run("dead letters are refusals DCMTK gets too", func(t *testing.T) {
		// A dead letter is only right when Orthanc itself refuses the
		// instance: the same file sent directly by storescu must fail.
		for uid := range deadUIDs {
			for _, f := range accepted {
				if f.SOPInst != uid {
					continue
				}
				out, _ := Storescu(t, orthanc.DicomAddr(), orthanc.AET(), []Instance{f.Instance})
				if o := out[f.Path]; o.Success() {
					t.Errorf("%s (%s): dead letter in sonogate, but storescu delivers it to Orthanc directly", filepath.Base(f.Path), uid)
				} else {
					t.Logf("%s: storescu to Orthanc directly: %s", filepath.Base(f.Path), o)
				}
			}
		}
	})

	if len(dead) > 0 {
		t.Run("retry re-queues a dead letter", func(t *testing.T) {
			retryDeadLetter(t, sg, "pacs", dead[0])
		})
	} else {
		t.Log("Orthanc took every instance, no dead letter: TestDeadLetterRetry covers refusals and retry")
	}
}

// TestDeadLetterRetry forwards the ultrasound folder to an Orthanc that
// accepts only the uncompressed transfer syntaxes (a PACS without
// JPEG/RLE/J2K or big endian support). sonogate does not transcode (DESIGN.md §3), so
// each compressed instance is a permanent refusal: it goes to the dead
// letter state at once with a reason, the uncompressed ones are
// delivered, and POST /api/queue/{id}/retry puts a dead job back to
// pending; it is tried again and, still refused, is dead again.
func TestDeadLetterRetry(t *testing.T) {
	t.Parallel()
	testenv.RequireTool(t, "storescu")
	corpus := loadCorpus(t)
	uncompressed := []string{"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}
	orthanc := testenv.StartOrthanc(t, testenv.OrthancOptions{
		Extra: map[string]any{"AcceptedTransferSyntaxes": uncompressed},
	})
	sg := StartSonogate(t, SonogateOptions{
		Config: exampleConfig(orthanc.DicomPort(), "routing: {base_backoff: 200ms, max_backoff: 2s, max_attempts: 1000}\n"),
	})
	var us []Instance
	for _, f := range corpus["ultrasound"] {
		us = append(us, f.Instance)
	}
	out, _ := Storescu(t, sg.Addr(), "SONOGATE", us)
	var accepted []corpusFile
	for _, f := range corpus["ultrasound"] {
		if out[f.Path].Success() {
			accepted = append(accepted, f)
		} else {
			t.Errorf("%s: sonogate answered %s", f.Path, out[f.Path])
		}
	}
	counts := sg.WaitQueueSettled(t, "pacs", int64(distinctVersions(accepted)), time.Minute)

	isUncompressed := map[string]bool{}
	for _, u := range uncompressed {
		isUncompressed[u] = true
	}
	var wantDelivered []Instance
	wantDead := map[string]bool{}     // SOP Instance UIDs
	deadVersions := map[string]bool{} // UID/data set: one job each
	for _, f := range accepted {
		if isUncompressed[f.TS] {
			wantDelivered = append(wantDelivered, f.Instance)
		} else {
			wantDead[f.SOPInst] = true
			deadVersions[f.SOPInst+"/"+f.DataSHA] = true
		}
	}
	if len(wantDead) == 0 || len(wantDelivered) == 0 {
		t.Fatalf("the ultrasound folder should hold both compressed and uncompressed files (%d, %d)", len(wantDead), len(wantDelivered))
	}
	if d := diffSets(orthanc.Instances(t), UIDSet(wantDelivered)); d != "" {
		t.Errorf("Orthanc (uncompressed only) holds other instances than the uncompressed ones: %s", d)
	}
	dead := sg.Jobs(t, "pacs", "dead")
	if int64(len(dead)) != counts.Dead || counts.Dead != int64(len(deadVersions)) {
		t.Errorf("dead letters: %d listed, counts %s, want %d (one per version of a compressed or big endian instance)", len(dead), counts, len(deadVersions))
	}
	cat := sg.OpenCatalog(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, j := range dead {
		in, err := cat.InstanceByID(ctx, j.InstanceID)
		if err != nil {
			t.Fatalf("dead job %d: %v", j.ID, err)
		}
		if !wantDead[in.SOPInstanceUID] {
			t.Errorf("job %d for %s (%s) is dead: %s", j.ID, in.SOPInstanceUID, in.TransferSyntaxUID, j.LastError)
		}
		// A permanent refusal is not retried: one attempt, and the reason
		// names the transfer syntax that Orthanc did not accept.
		if j.Attempts != 1 || !strings.Contains(j.LastError, in.TransferSyntaxUID) {
			t.Errorf("dead job %d (%s): %d attempts, reason %q; want 1 attempt and a reason naming %s",
				j.ID, in.SOPInstanceUID, j.Attempts, j.LastError, in.TransferSyntaxUID)
		}
	}
	// The refusal is Orthanc's: storescu gets no further with one of them.
	for _, f := range accepted {
		if wantDead[f.SOPInst] {
			o, _ := Storescu(t, orthanc.DicomAddr(), orthanc.AET(), []Instance{f.Instance})
			if o[f.Path].Success() {
				t.Errorf("%s: storescu delivers it to the uncompressed-only Orthanc", f.Path)
			}
			break
		}
	}
	if len(dead) > 0 {
		retryDeadLetter(t, sg, "pacs", dead[0])
	}
}

// retryDeadLetter posts /api/queue/{id}/retry for a dead job and checks
// that it goes back to pending with its attempts reset, is tried again
// and, the destination still refusing it, returns to the dead letter
// state with the same reason.
func retryDeadLetter(t *testing.T, sg *Sonogate, dest string, j QueueJob) {
	t.Helper()
	code, body, err := httpPost(fmt.Sprintf("%s/api/queue/%d/retry", sg.URL(), j.ID))
	if err != nil || code != http.StatusOK {
		t.Fatalf("POST retry %d: %d %v %s", j.ID, code, err, body)
	}
	var got QueueJob
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("retry answer %s: %v", body, err)
	}
	if got.ID != j.ID || got.State != "pending" || got.Attempts != 0 {
		t.Errorf("retry answered %+v, want job %d pending with 0 attempts", got, j.ID)
	}
	// An unknown job is not found.
	if code, body, _ := httpPost(fmt.Sprintf("%s/api/queue/%d/retry", sg.URL(), 1<<40)); code != http.StatusNotFound {
		t.Errorf("retry of an unknown job: %d %s, want 404", code, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var cur *QueueJob
		for _, x := range sg.Jobs(t, dest, "") {
			if x.ID == j.ID {
				x := x
				cur = &x
			}
		}
		if cur == nil {
			t.Fatalf("job %d vanished from /api/queue", j.ID)
		}
		if cur.State == "dead" && cur.Attempts >= 1 {
			if cur.LastError != j.LastError {
				t.Errorf("dead again with %q, first time %q", cur.LastError, j.LastError)
			}
			t.Logf("job %d: retried, dead again after %d attempt(s): %s", j.ID, cur.Attempts, cur.LastError)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d not dead again after retry: %+v", j.ID, *cur)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Only a dead job can be retried: a done one is a conflict.
	if done := sg.Jobs(t, dest, "done"); len(done) > 0 {
		if code, body, _ := httpPost(fmt.Sprintf("%s/api/queue/%d/retry", sg.URL(), done[0].ID)); code != http.StatusConflict {
			t.Errorf("retry of done job %d: %d %s, want 409", done[0].ID, code, body)
		}
	}
}
