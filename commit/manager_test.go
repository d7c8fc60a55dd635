package commit

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/dimse"
)

const usImage = "1.2.840.10008.5.1.4.1.1.6.1"

func TestEventInformationRoundTrip(t *testing.T) {
	t.Parallel()
	for _, ts := range []string{dimse.UIDExplicitVRLittleEndian, dimse.UIDImplicitVRLittleEndian} {
		items := []catalog.CommitmentItem{{SOPClassUID: usImage, SOPInstanceUID: "1.2.3.1"}, {SOPClassUID: usImage, SOPInstanceUID: "1.2.3.2", FailureReason: 0x0112}}
		b, ev, err := EncodeEventInformation(ts, "1.2.9.9", "GW", items)
		if err != nil || ev != 2 {
			t.Fatal(err, ev)
		}
		got, err := ParseEventInformation(ts, b)
		if err != nil {
			t.Fatal(err)
		}
		if got.TransactionUID != "1.2.9.9" || got.RetrieveAE != "GW" || len(got.Committed) != 1 || got.Committed[0].SOPInstanceUID != "1.2.3.1" ||
			len(got.Failed) != 1 || got.Failed[0].FailureReason != 0x0112 || got.Failed[0].SOPClassUID != usImage {
			t.Errorf("%s: %+v", ts, got)
		}
		_, ev, _ = EncodeEventInformation(ts, "1.2.9.9", "", items[:1])
		if ev != 1 {
			t.Errorf("all committed: event type %d", ev)
		}
		a, err := EncodeActionInformation(ts, "1.2.9.9", items)
		if err != nil {
			t.Fatal(err)
		}
		tx, its, err := ParseActionInformation(ts, a)
		if err != nil || tx != "1.2.9.9" || len(its) != 2 || its[1].SOPInstanceUID != "1.2.3.2" {
			t.Errorf("action round trip: %v %v %v", tx, its, err)
		}
	}
	if _, _, err := ParseActionInformation(dimse.UIDExplicitVRLittleEndian, []byte{0x08, 0, 0x95, 0x11, 'U', 'I', 2, 0, '1', 0}); err == nil {
		t.Error("request without Referenced SOP Sequence accepted")
	}
}

// TestManagerWithOwnClient drives the SCP with sonogate's own client: a
// report on the same association, then one on a new association to the
// requester's listener (with the called AE as Calling AE, B12), with
// 0x0112 for an unknown instance and 0x0119 for a class mismatch.
func TestManagerWithOwnClient(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cat, err := catalog.OpenSQLite(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	for i, uid := range []string{"1.2.3.1", "1.2.3.2"} {
		in := &catalog.Instance{Namespace: "clinical", SOPInstanceUID: uid, SOPClassUID: usImage, StudyInstanceUID: "1.2.3", SeriesInstanceUID: "1.2.3.0",
			RelPath: "x", SHA256: string(rune('a'+i)) + "0000", TransferSyntaxUID: dimse.UIDExplicitVRLittleEndian}
		if _, err := cat.CommitInstance(ctx, in, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The requester's own listener for reports on a new association.
	reports := make(chan *dimse.EventReportRequest, 4)
	modLn, _ := net.Listen("tcp", "127.0.0.1:0")
	mod := dimse.NewServer(dimse.ServerConfig{AETitle: "US01"}, nil)
	mod.RegisterEventReports(dimse.EventReportHandlerFunc(func(ctx context.Context, r *dimse.EventReportRequest) dimse.Response {
		reports <- r
		return dimse.Response{}
	}), dimse.UIDStorageCommitmentPushModel)
	go mod.Serve(modLn)
	defer mod.Close()

	m := New(Config{Catalog: cat, UnknownWait: 300 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		Peers: []Peer{{AETitle: "US01", Host: "127.0.0.1", Port: modLn.Addr().(*net.TCPAddr).Port, Services: []string{"commit"}}}})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	defer func() { stop(); <-done }()

	gwLn, _ := net.Listen("tcp", "127.0.0.1:0")
	gw := dimse.NewServer(dimse.ServerConfig{AETitle: "GW"}, nil)
	gw.RegisterCommitment(m)
	go gw.Serve(gwLn)
	defer gw.Close()

	pcs := []dimse.PresentationContextRequest{{AbstractSyntax: dimse.UIDStorageCommitmentPushModel, TransferSyntaxes: []string{dimse.UIDImplicitVRLittleEndian}}}
	// 1. Same association: all committed → event type 1.
	a, err := dimse.Dial(ctx, gwLn.Addr().String(), dimse.ClientConfig{CallingAE: "US01", CalledAE: "GW"}, pcs)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := EncodeActionInformation(dimse.UIDImplicitVRLittleEndian, "2.25.1", []catalog.CommitmentItem{{SOPClassUID: usImage, SOPInstanceUID: "1.2.3.1"}, {SOPClassUID: usImage, SOPInstanceUID: "1.2.3.2"}})
	if _, err := a.Action(ctx, dimse.UIDStorageCommitmentPushModel, dimse.UIDStorageCommitmentPushModelInstance, 1, info); err != nil {
		t.Fatal(err)
	}
	var got *EventInformation
	var evType uint16
	if err := a.ReceiveEventReport(ctx, dimse.EventReportHandlerFunc(func(ctx context.Context, r *dimse.EventReportRequest) dimse.Response {
		evType = r.EventTypeID
		got, err = ParseEventInformation(r.TransferSyntaxUID, r.EventInformation)
		return dimse.Response{}
	})); err != nil {
		t.Fatal(err)
	}
	if evType != 1 || got.TransactionUID != "2.25.1" || len(got.Committed) != 2 || len(got.Failed) != 0 {
		t.Errorf("same association: event %d %+v", evType, got)
	}
	a.Release(ctx)

	// 2. Requester releases at once; failures reported on a new association.
	a, err = dimse.Dial(ctx, gwLn.Addr().String(), dimse.ClientConfig{CallingAE: "US01", CalledAE: "GW"}, pcs)
	if err != nil {
		t.Fatal(err)
	}
	info, _ = EncodeActionInformation(dimse.UIDImplicitVRLittleEndian, "2.25.2", []catalog.CommitmentItem{
		{SOPClassUID: usImage, SOPInstanceUID: "1.2.3.1"}, {SOPClassUID: usImage, SOPInstanceUID: "9.9.9"}, {SOPClassUID: "1.2.840.10008.5.1.4.1.1.7", SOPInstanceUID: "1.2.3.2"}})
	if _, err := a.Action(ctx, dimse.UIDStorageCommitmentPushModel, dimse.UIDStorageCommitmentPushModelInstance, 1, info); err != nil {
		t.Fatal(err)
	}
	a.Release(ctx)
	select {
	case r := <-reports:
		if r.Assoc.CallingAE != "GW" || r.EventTypeID != 2 {
			t.Errorf("report from %q event %d", r.Assoc.CallingAE, r.EventTypeID)
		}
		ev, err := ParseEventInformation(r.TransferSyntaxUID, r.EventInformation)
		if err != nil || ev.TransactionUID != "2.25.2" || len(ev.Committed) != 1 || len(ev.Failed) != 2 ||
			ev.Failed[0].SOPInstanceUID != "9.9.9" || ev.Failed[0].FailureReason != 0x0112 || ev.Failed[1].FailureReason != 0x0119 {
			t.Errorf("report %+v %v", ev, err)
		}
	case <-ctx.Done():
		t.Fatal("no report on a new association")
	}
	for {
		pend, _ := cat.PendingCommitments(ctx, 0)
		if len(pend) == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d commitments still pending", len(pend))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// 3. An AE not permitted "commit" is refused 0x0124.
	a, err = dimse.Dial(ctx, gwLn.Addr().String(), dimse.ClientConfig{CallingAE: "OTHER", CalledAE: "GW"}, pcs)
	if err != nil {
		t.Fatal(err)
	}
	rsp, _ := a.Action(ctx, dimse.UIDStorageCommitmentPushModel, dimse.UIDStorageCommitmentPushModelInstance, 1, info)
	if rsp.Status != dimse.StatusNotAuthorized {
		t.Errorf("unknown AE: %v", rsp.Status)
	}
	a.Release(ctx)
}
