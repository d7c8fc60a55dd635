package commit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dimse"
)

// Peer is a remote AE that may request storage commitment ("commit" in
// Services) and where its reports go (the configuration's peers).
type Peer = config.Peer

// Config configures a Manager. Zero durations take the defaults noted.
type Config struct {
	Catalog *catalog.Catalog
	Peers   []Peer
	// AfterDeliveryTo names a destination: an instance is committed only
	// once its job to it is done. Empty: committed once stored here.
	AfterDeliveryTo string
	// Namespace maps the called AE title to the catalog namespace; nil
	// means "clinical".
	Namespace func(calledAE string) string
	// UnknownWait is how long an instance not (yet) stored may take to
	// arrive before it fails with 0x0112. Default 1 minute.
	UnknownWait time.Duration
	// DeliveryTimeout bounds the wait for AfterDeliveryTo (0x0110 after
	// it). Default 24 hours.
	DeliveryTimeout time.Duration
	// PollInterval is how often pending requests are re-examined.
	// Default 1s.
	PollInterval time.Duration
	// BaseBackoff and MaxBackoff space report attempts to an unreachable
	// requester. Defaults 2s and 5 minutes.
	BaseBackoff, MaxBackoff time.Duration
	// HandOverWait bounds how long a report waits for the association that
	// carried the N-ACTION to take it before a new association is used.
	// Default 10s.
	HandOverWait                 time.Duration
	DialTimeout, ResponseTimeout time.Duration
	MaxPDULength                 uint32
	Logger                       *slog.Logger
}

// Manager is the Storage Commitment SCP: a dimse.CommitmentHandler and the
// loop (Run) that decides and reports pending requests.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	peers map[string]Peer
	wake  chan struct{}

	mu        sync.Mutex
	reporters map[int64]*dimse.Reporter
	active    map[int64]bool
	wg        sync.WaitGroup
}

// New returns a Manager; call Run to process requests.
func New(cfg Config) *Manager {
	if cfg.UnknownWait <= 0 {
		cfg.UnknownWait = time.Minute
	}
	if cfg.DeliveryTimeout <= 0 {
		cfg.DeliveryTimeout = 24 * time.Hour
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = 2 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.HandOverWait <= 0 {
		cfg.HandOverWait = 10 * time.Second
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = time.Minute
	}
	if cfg.Namespace == nil {
		cfg.Namespace = func(string) string { return "clinical" }
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg, log: log.With("component", "commit"), peers: map[string]Peer{}, wake: make(chan struct{}, 1),
		reporters: map[int64]*dimse.Reporter{}, active: map[int64]bool{}}
	for _, p := range cfg.Peers {
		m.peers[p.AETitle] = p
	}
	return m
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// HandleCommitment accepts a Storage Commitment request: the requester
// must be a peer permitted "commit" (else 0x0124), the Action Information
// must be valid (else 0x0115), and the request is persisted before
// Success is answered (else 0x0110).
func (m *Manager) HandleCommitment(ctx context.Context, req *dimse.CommitmentRequest) dimse.Response {
	log := m.log.With("assoc_id", req.Assoc.ID, "calling_ae", req.Assoc.CallingAE)
	p, ok := m.peers[req.Assoc.CallingAE]
	if !ok || !slices.Contains(p.Services, "commit") {
		log.Warn("storage commitment refused: calling AE not permitted")
		return dimse.Response{Status: dimse.StatusNotAuthorized, ErrorComment: "calling AE may not request storage commitment"}
	}
	tx, items, err := ParseActionInformation(req.TransferSyntaxUID, req.ActionInformation)
	if err != nil {
		log.Warn("storage commitment request invalid", "err", err)
		return dimse.Response{Status: dimse.StatusInvalidArgumentValue, ErrorComment: err.Error()}
	}
	cm := &catalog.Commitment{TransactionUID: tx, RequesterAE: req.Assoc.CallingAE, CalledAE: req.Assoc.CalledAE, Items: items}
	created, err := m.cfg.Catalog.AddCommitment(ctx, cm)
	if err != nil {
		log.Error("storage commitment not recorded", "err", err)
		return dimse.Response{Status: dimse.StatusProcessingFailure, ErrorComment: "cannot record the request"}
	}
	m.mu.Lock()
	m.reporters[cm.ID] = req.Reporter
	m.mu.Unlock()
	log.Info("storage commitment requested", "transaction_uid", tx, "instances", len(items), "resend", !created)
	m.poke()
	return dimse.Response{Status: dimse.StatusSuccess}
}

// Run examines pending requests every PollInterval (and at once after each
// new request) until ctx ends, then waits for reports in progress.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.PollInterval)
	defer t.Stop()
	defer m.wg.Wait()
	for {
		m.tick(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-m.wake:
		}
	}
}

func (m *Manager) tick(ctx context.Context) {
	pend, err := m.cfg.Catalog.PendingCommitments(ctx, 1000)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Error("listing pending commitments", "err", err)
		}
		return
	}
	now := time.Now()
	for i := range pend {
		cm := pend[i]
		m.mu.Lock()
		busy := m.active[cm.ID]
		m.mu.Unlock()
		if busy || cm.NextAttemptAt.After(now) {
			continue
		}
		items, done := m.decide(ctx, &cm, now)
		if !done {
			continue
		}
		m.mu.Lock()
		m.active[cm.ID] = true
		m.mu.Unlock()
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.report(ctx, &cm, items)
			m.mu.Lock()
			delete(m.active, cm.ID)
			m.mu.Unlock()
		}()
	}
}

// decide returns the items with their failure reasons once every one is
// decided.
func (m *Manager) decide(ctx context.Context, cm *catalog.Commitment, now time.Time) ([]catalog.CommitmentItem, bool) {
	ns := m.cfg.Namespace(cm.CalledAE)
	age := now.Sub(cm.CreatedAt)
	out := make([]catalog.CommitmentItem, len(cm.Items))
	for i, it := range cm.Items {
		it.FailureReason = 0
		insts, err := m.cfg.Catalog.InstancesBySOP(ctx, ns, it.SOPInstanceUID)
		if err != nil {
			m.log.Error("commitment: instance lookup", "err", err)
			return nil, false
		}
		switch {
		case len(insts) == 0:
			if age < m.cfg.UnknownWait {
				return nil, false
			}
			it.FailureReason = FailureNoSuchObjectInstance
		case insts[len(insts)-1].SOPClassUID != it.SOPClassUID:
			it.FailureReason = FailureClassInstanceConflict
		case m.cfg.AfterDeliveryTo != "":
			states, err := m.cfg.Catalog.DeliveryStates(ctx, ns, it.SOPInstanceUID, m.cfg.AfterDeliveryTo)
			if err != nil {
				m.log.Error("commitment: delivery lookup", "err", err)
				return nil, false
			}
			switch {
			case slices.Contains(states, catalog.JobDone):
			case len(states) == 0 || !slices.ContainsFunc(states, func(s catalog.JobState) bool { return s != catalog.JobDead }):
				it.FailureReason = FailureProcessing // never routed there, or dead letter
			case age < m.cfg.DeliveryTimeout:
				return nil, false
			default:
				it.FailureReason = FailureProcessing
			}
		}
		out[i] = it
	}
	return out, true
}

// report sends the result on the N-ACTION's association if it is still
// open, otherwise on a new association, and records the outcome.
func (m *Manager) report(ctx context.Context, cm *catalog.Commitment, items []catalog.CommitmentItem) {
	log := m.log.With("transaction_uid", cm.TransactionUID, "requester_ae", cm.RequesterAE)
	m.mu.Lock()
	rep := m.reporters[cm.ID]
	m.mu.Unlock()
	var ev uint16
	var err error
	sent := false
	if rep != nil {
		select {
		case <-rep.Done():
		default:
			ev, sent, err = m.reportSame(ctx, rep, cm, items)
			if err != nil {
				log.Info("report on the requester's association failed; using a new association", "err", err)
			}
		}
	}
	if !sent {
		ev, err = m.reportNew(ctx, cm, items)
		sent = err == nil
	}
	if !sent {
		if ctx.Err() != nil {
			return
		}
		next := time.Now().Add(m.backoff(cm.Attempts))
		log.Warn("storage commitment report not delivered; will retry", "err", err, "attempt", cm.Attempts+1, "next", next)
		if rerr := m.cfg.Catalog.CommitmentRetry(context.WithoutCancel(ctx), cm.ID, err.Error(), next); rerr != nil {
			log.Error("recording report retry", "err", rerr)
		}
		return
	}
	if err := m.cfg.Catalog.CommitmentReported(context.WithoutCancel(ctx), cm.ID, ev, items); err != nil {
		log.Error("recording report", "err", err)
	}
	m.mu.Lock()
	delete(m.reporters, cm.ID)
	m.mu.Unlock()
	failed := 0
	for _, it := range items {
		if it.FailureReason != 0 {
			failed++
		}
	}
	log.Info("storage commitment reported", "event_type", ev, "instances", len(items), "failed", failed)
}

func (m *Manager) backoff(attempts int) time.Duration {
	d := m.cfg.BaseBackoff
	for i := 0; i < attempts && d < m.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, m.cfg.MaxBackoff)
}

func (m *Manager) reportSame(ctx context.Context, rep *dimse.Reporter, cm *catalog.Commitment, items []catalog.CommitmentItem) (uint16, bool, error) {
	info, ev, err := EncodeEventInformation(rep.TransferSyntaxUID(), cm.TransactionUID, cm.CalledAE, items)
	if err != nil {
		return 0, false, err
	}
	hctx, cancel := context.WithTimeout(ctx, m.cfg.HandOverWait)
	defer cancel()
	rsp, err := rep.Send(hctx, dimse.EventReport{SOPClassUID: dimse.UIDStorageCommitmentPushModel,
		SOPInstanceUID: dimse.UIDStorageCommitmentPushModelInstance, EventTypeID: ev, EventInformation: info})
	if err != nil {
		return 0, false, err
	}
	if rsp.Status.IsFailure() {
		return 0, false, &dimse.StatusError{Status: rsp.Status, Comment: rsp.ErrorComment}
	}
	return ev, true, nil
}

// reportNew dials the requester's peer with the called AE as Calling AE
// and Role Selection SCU=0/SCP=1 (B12).
func (m *Manager) reportNew(ctx context.Context, cm *catalog.Commitment, items []catalog.CommitmentItem) (uint16, error) {
	p, ok := m.peers[cm.RequesterAE]
	if !ok || p.Host == "" || p.Port == 0 {
		return 0, fmt.Errorf("commit: requester %q is not a peer with host and port", cm.RequesterAE)
	}
	addr := net.JoinHostPort(p.Host, strconv.Itoa(p.Port))
	a, err := dimse.Dial(ctx, addr, dimse.ClientConfig{CallingAE: cm.CalledAE, CalledAE: cm.RequesterAE,
		MaxPDULength: m.cfg.MaxPDULength, DialTimeout: m.cfg.DialTimeout, ResponseTimeout: m.cfg.ResponseTimeout,
		SCPRoles: []string{dimse.UIDStorageCommitmentPushModel}, Logger: m.log},
		[]dimse.PresentationContextRequest{{AbstractSyntax: dimse.UIDStorageCommitmentPushModel,
			TransferSyntaxes: []string{dimse.UIDExplicitVRLittleEndian, dimse.UIDImplicitVRLittleEndian}}})
	if err != nil {
		return 0, err
	}
	ts := a.Accepted(dimse.UIDStorageCommitmentPushModel)
	if len(ts) == 0 {
		a.Release(ctx)
		return 0, errors.New("commit: requester did not accept the Storage Commitment context")
	}
	info, ev, err := EncodeEventInformation(ts[0], cm.TransactionUID, cm.CalledAE, items)
	if err != nil {
		a.Abort()
		return 0, err
	}
	_, err = a.EventReport(ctx, dimse.UIDStorageCommitmentPushModel, dimse.UIDStorageCommitmentPushModelInstance, ev, info)
	if err != nil {
		a.Abort()
		return 0, err
	}
	if err := a.Release(ctx); err != nil {
		m.log.Info("release after report", "err", err)
	}
	return ev, nil
}
