package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/commit"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dimse"
	"github.com/sonogate/sonogate/internal/testenv"
)

// commitNode starts a node on a fixed DIMSE port and data dir (so that a
// restart is the same gateway); stop it with stopNode.
func commitNode(t *testing.T, dir string, port int, mutate func(*config.Config)) *Node {
	t.Helper()
	cfg := config.Default()
	cfg.Node.DIMSEListen = fmt.Sprintf("127.0.0.1:%d", port)
	cfg.Node.HTTPListen = "127.0.0.1:0"
	cfg.Node.DataDir = dir
	cfg.Node.Catalog.DSN = filepath.Join(dir, "catalog.db")
	cfg.Routing.BaseBackoff = config.Duration(200 * time.Millisecond)
	cfg.Routing.MaxBackoff = config.Duration(time.Second)
	mutate(&cfg)
	n, err := New(context.Background(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	n.commit = commit.New(func() commit.Config {
		c := n.commitConfig()
		c.UnknownWait = time.Second
		c.BaseBackoff = 200 * time.Millisecond
		c.MaxBackoff = time.Second
		return c
	}())
	n.dimse.RegisterCommitment(n.commit)
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return n
}

func stopNode(n *Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.Shutdown(ctx)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// orthancStore uploads a file to Orthanc and returns its Orthanc ID.
func orthancUpload(t *testing.T, o *testenv.Orthanc, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(o.URL()+"/instances", "application/dicom", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.ID == "" {
		t.Fatalf("upload: %v %+v", err, r)
	}
	return r.ID
}

// orthancStoreCommit asks Orthanc to C-STORE to sonogate with storage
// commitment and returns the transaction UID.
func orthancStoreCommit(t *testing.T, o *testenv.Orthanc, modality string, ids ...string) string {
	body, _ := json.Marshal(map[string]any{"Resources": ids, "StorageCommitment": true, "Synchronous": true})
	resp, err := http.Post(o.URL()+"/modalities/"+modality+"/store", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r map[string]any
	json.NewDecoder(resp.Body).Decode(&r)
	uid, _ := r["StorageCommitmentTransactionUID"].(string)
	if resp.StatusCode != 200 || uid == "" {
		t.Fatalf("store with commitment: %d %v", resp.StatusCode, r)
	}
	return uid
}

func commitmentStatus(o *testenv.Orthanc, uid string) (string, []byte) {
	code, b, err := o.TryGet(context.Background(), "/storage-commitment/"+uid)
	if err != nil || code != 200 {
		return fmt.Sprint(code, err), b
	}
	var r struct{ Status string }
	json.Unmarshal(b, &r)
	return r.Status, b
}

func waitCommitment(t *testing.T, o *testenv.Orthanc, uid, want string, timeout time.Duration) []byte {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, b := commitmentStatus(o, uid)
		if st == want {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("storage commitment %s: status %s (%s), want %s", uid, st, b, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func usFile(t *testing.T) string {
	return filepath.Join(testenv.SharedTestdata(t, "dicom/ultrasound"), "Implicit-vr-us-palette_philips_clearvue.dcm")
}

// TestCommitmentOrthanc: Orthanc sends an instance to sonogate with storage
// commitment, releases, and receives the N-EVENT-REPORT on a new
// association from the AE it called (B12). Then a request for an unknown
// instance, from sonogate's own client waiting on its association, gets
// Event Type 2 with Failure Reason 0x0112.
func TestCommitmentOrthanc(t *testing.T) {
	port := testenv.FreePort(t)
	o := testenv.StartOrthanc(t, testenv.OrthancOptions{AET: "ORTHANC",
		Modalities: map[string]testenv.Modality{"sonogate": {AET: "SONOGATE", Host: "127.0.0.1", Port: port}}})
	n := commitNode(t, t.TempDir(), port, func(c *config.Config) {
		c.Node.AETitle = "SONOGATE"
		c.Peers = []config.Peer{{AETitle: "ORTHANC", Host: "127.0.0.1", Port: o.DicomPort(), Services: []string{"commit"}},
			{AETitle: "US01", Host: "127.0.0.1", Port: 9, Services: []string{"commit"}}}
	})
	defer stopNode(n)
	id := orthancUpload(t, o, usFile(t))
	uid := orthancStoreCommit(t, o, "sonogate", id)
	b := waitCommitment(t, o, uid, "Success", 30*time.Second)
	t.Logf("Orthanc: %s", b)
	waitReported(t, n.catalog, 0)

	// Unknown instance, reported on the requester's association.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := dimse.Dial(ctx, n.DIMSEAddr().String(), dimse.ClientConfig{CallingAE: "US01", CalledAE: "SONOGATE"},
		[]dimse.PresentationContextRequest{{AbstractSyntax: dimse.UIDStorageCommitmentPushModel, TransferSyntaxes: []string{dimse.UIDExplicitVRLittleEndian}}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	info, _ := commit.EncodeActionInformation(dimse.UIDExplicitVRLittleEndian, "2.25.77", []catalog.CommitmentItem{
		{SOPClassUID: "1.2.840.10008.5.1.4.1.1.6.1", SOPInstanceUID: "1.2.3.999"}})
	if rsp, err := a.Action(ctx, dimse.UIDStorageCommitmentPushModel, dimse.UIDStorageCommitmentPushModelInstance, 1, info); err != nil || rsp.Status != 0 {
		t.Fatal(rsp, err)
	}
	var ev *commit.EventInformation
	var evType uint16
	err = a.ReceiveEventReport(ctx, dimse.EventReportHandlerFunc(func(ctx context.Context, r *dimse.EventReportRequest) dimse.Response {
		evType = r.EventTypeID
		ev, _ = commit.ParseEventInformation(r.TransferSyntaxUID, r.EventInformation)
		return dimse.Response{}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if evType != 2 || ev == nil || ev.TransactionUID != "2.25.77" || len(ev.Failed) != 1 || ev.Failed[0].FailureReason != 0x0112 || len(ev.Committed) != 0 {
		t.Errorf("unknown instance: event %d %+v", evType, ev)
	}
}

func waitReported(t *testing.T, c *catalog.Catalog, pending int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := c.PendingCommitments(context.Background(), 0)
		if err == nil && len(p) == pending {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending commitments %d, want %d (%v)", len(p), pending, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCommitmentAfterDeliveryAndRestart: with commitment.after_delivery_to
// a stopped PACS, no report goes out; sonogate is shut down with the
// request pending, the PACS comes back, sonogate restarts from the same
// catalog, delivers and then reports Success to Orthanc.
func TestCommitmentAfterDeliveryAndRestart(t *testing.T) {
	port := testenv.FreePort(t)
	pacs := testenv.StartOrthanc(t, testenv.OrthancOptions{AET: "PACS"})
	o := testenv.StartOrthanc(t, testenv.OrthancOptions{AET: "ORTHANC",
		Modalities: map[string]testenv.Modality{"sonogate": {AET: "SONOGATE", Host: "127.0.0.1", Port: port}}})
	pacs.Stop()
	dir := t.TempDir()
	mutate := func(c *config.Config) {
		c.Node.AETitle = "SONOGATE"
		c.Peers = []config.Peer{{AETitle: "ORTHANC", Host: "127.0.0.1", Port: o.DicomPort(), Services: []string{"commit"}}}
		c.Destinations = []config.Destination{{Name: "pacs", DIMSE: &config.DIMSEDest{AETitle: "PACS", Host: "127.0.0.1", Port: pacs.DicomPort(), CallingAE: "SONOGATE"}}}
		c.Rules = []config.Rule{{Name: "all", Send: []string{"pacs"}}}
		c.Commitment.AfterDeliveryTo = "pacs"
	}
	n := commitNode(t, dir, port, mutate)
	id := orthancUpload(t, o, usFile(t))
	uid := orthancStoreCommit(t, o, "sonogate", id)
	time.Sleep(3 * time.Second)
	if st, b := commitmentStatus(o, uid); st != "Pending" {
		t.Fatalf("with the PACS down: status %s (%s), want Pending", st, b)
	}
	waitReported(t, n.catalog, 1)
	stopNode(n)

	pacs.Start(t)
	n = commitNode(t, dir, port, mutate)
	defer stopNode(n)
	pacs.WaitInstances(t, 1, 30*time.Second)
	b := waitCommitment(t, o, uid, "Success", 30*time.Second)
	t.Logf("Orthanc: %s", b)
	waitReported(t, n.catalog, 0)
}
