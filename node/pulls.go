package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sonogate/sonogate/anonymize"
	"github.com/sonogate/sonogate/auth"
	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/dimse"
	"github.com/sonogate/sonogate/qr"
	"github.com/sonogate/sonogate/store"
)

// Research cohort backfill (issue 6 item 6): POST /api/research/pulls
// queries a PACS (C-FIND, Study Root, STUDY level), asks it to C-MOVE each
// study not yet in the research namespace to sonogate's own AE title (the
// instances arrive through the C-STORE SCP into the clinical namespace,
// reports extracted there), then de-identifies every instance of the study
// with the named profile into the research namespace. Progress is kept per
// study in the catalog, so a pull interrupted by a restart resumes without
// redoing finished studies.

// pullCriteria is the body of POST /api/research/pulls, stored verbatim
// (after validation and date normalisation) as the pull's criteria.
type pullCriteria struct {
	Source           string     `json:"source"`
	Profile          string     `json:"profile"`
	StudyDate        *dateRange `json:"study_date,omitempty"`
	Modality         string     `json:"modality,omitempty"`
	StudyDescription string     `json:"study_description,omitempty"`
	HasElastography  bool       `json:"has_elastography,omitempty"`
}

type dateRange struct {
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// pullCounts are the totals of a pull, summed over its studies.
type pullCounts struct {
	StudiesFound                 int `json:"studies_found"`
	StudiesProcessed             int `json:"studies_processed"`
	StudiesSkippedExisting       int `json:"studies_skipped_existing"`
	StudiesRetrieved             int `json:"studies_retrieved"`
	StudiesAlreadyLocal          int `json:"studies_already_local"`
	StudiesSkippedNoElastography int `json:"studies_skipped_no_elastography"`
	StudiesDeidentified          int `json:"studies_deidentified"`
	StudiesFailed                int `json:"studies_failed"`
	InstancesRetrieved           int `json:"instances_retrieved"`
	InstancesDeidentified        int `json:"instances_deidentified"`
	InstancesQuarantined         int `json:"instances_quarantined"`
}

type pullFailure struct {
	StudyInstanceUID string `json:"study_instance_uid"`
	Reason           string `json:"reason"`
}

type pullStudyJSON struct {
	StudyInstanceUID      string `json:"study_instance_uid"`
	State                 string `json:"state"`
	Retrieved             bool   `json:"retrieved"`
	ExpectedInstances     int    `json:"expected_instances"`
	InstancesRetrieved    int    `json:"instances_retrieved"`
	InstancesDeidentified int    `json:"instances_deidentified"`
	InstancesQuarantined  int    `json:"instances_quarantined"`
	Error                 string `json:"error,omitempty"`
}

// pullJSON is a pull as the API serves it. Study UIDs are the PACS's
// (clinical) UIDs: the API is for the admin scope only.
type pullJSON struct {
	ID         int64           `json:"id"`
	State      string          `json:"state"`
	Criteria   json.RawMessage `json:"criteria"`
	Error      string          `json:"error,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	pullCounts
	Failures []pullFailure   `json:"failures"`
	Studies  []pullStudyJSON `json:"studies,omitempty"`
}

func toPullJSON(p catalog.Pull, studies []catalog.PullStudy, withStudies bool) pullJSON {
	out := pullJSON{ID: p.ID, State: string(p.State), Criteria: json.RawMessage(p.Criteria), Error: p.Error,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, Failures: []pullFailure{}}
	if !p.FinishedAt.IsZero() {
		f := p.FinishedAt
		out.FinishedAt = &f
	}
	c := &out.pullCounts
	c.StudiesFound = len(studies)
	for _, s := range studies {
		if s.State != catalog.PullStudyPending && s.State != catalog.PullStudyRetrieved {
			c.StudiesProcessed++
		}
		switch s.State {
		case catalog.PullStudySkippedExisting:
			c.StudiesSkippedExisting++
		case catalog.PullStudySkippedNoElastography:
			c.StudiesSkippedNoElastography++
		case catalog.PullStudyDone:
			c.StudiesDeidentified++
		case catalog.PullStudyFailed:
			c.StudiesFailed++
		}
		if s.Retrieved {
			c.StudiesRetrieved++
		} else if s.State != catalog.PullStudyPending && s.State != catalog.PullStudySkippedExisting && s.State != catalog.PullStudyFailed {
			c.StudiesAlreadyLocal++
		}
		c.InstancesRetrieved += s.InstancesRetrieved
		c.InstancesDeidentified += s.InstancesDeidentified
		c.InstancesQuarantined += s.InstancesQuarantined
		if s.Error != "" {
			out.Failures = append(out.Failures, pullFailure{StudyInstanceUID: s.StudyInstanceUID, Reason: s.Error})
		}
		if withStudies {
			out.Studies = append(out.Studies, pullStudyJSON{StudyInstanceUID: s.StudyInstanceUID, State: s.State, Retrieved: s.Retrieved,
				ExpectedInstances: s.ExpectedInstances, InstancesRetrieved: s.InstancesRetrieved,
				InstancesDeidentified: s.InstancesDeidentified, InstancesQuarantined: s.InstancesQuarantined, Error: s.Error})
		}
	}
	return out
}

// registerPulls mounts the research pull API (admin scope).
func (n *Node) registerPulls(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/research/pulls", n.guard(auth.ScopeAdmin, n.createPull))
	mux.HandleFunc("GET /api/research/pulls", n.guard(auth.ScopeAdmin, n.listPulls))
	mux.HandleFunc("GET /api/research/pulls/{id}", n.guard(auth.ScopeAdmin, n.getPull))
}

// validate checks the criteria against the configuration and normalises
// dates to YYYYMMDD; the error names the offending field.
func (c *pullCriteria) validate(cfg config.Config) error {
	if c.Source == "" {
		return errors.New("source: required (the AE title of a configured peer)")
	}
	if _, ok := findPeer(cfg, c.Source); !ok {
		return fmt.Errorf("source: %q is not a configured peer (peers[].ae_title)", c.Source)
	}
	if c.Profile == "" {
		return errors.New("profile: required (the name of a configured profile)")
	}
	if _, ok := cfg.Profiles[c.Profile]; !ok {
		return fmt.Errorf("profile: %q is not a configured profile", c.Profile)
	}
	if d := c.StudyDate; d != nil {
		for _, f := range []struct {
			name string
			v    *string
		}{{"study_date.from", &d.From}, {"study_date.to", &d.To}} {
			if *f.v == "" {
				continue
			}
			if !isDate(*f.v) {
				return fmt.Errorf("%s: want a date YYYYMMDD or YYYY-MM-DD, got %q", f.name, *f.v)
			}
			*f.v = strings.ReplaceAll(*f.v, "-", "")
		}
		if d.From != "" && d.To != "" && d.From > d.To {
			return fmt.Errorf("study_date: from %s is after to %s", d.From, d.To)
		}
		if d.From == "" && d.To == "" {
			c.StudyDate = nil
		}
	}
	for _, f := range []struct{ name, v string }{{"modality", c.Modality}, {"study_description", c.StudyDescription}} {
		if len(f.v) > 64 || strings.ContainsAny(f.v, "\r\n") {
			return fmt.Errorf("%s: at most 64 characters on one line", f.name)
		}
	}
	return nil
}

func findPeer(cfg config.Config, ae string) (config.Peer, bool) {
	for _, p := range cfg.Peers {
		if p.AETitle == ae {
			return p, true
		}
	}
	return config.Peer{}, false
}

func (n *Node) createPull(w http.ResponseWriter, r *http.Request) {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	var c pullCriteria
	if err := dec.Decode(&c); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field != "":
			writeError(w, http.StatusBadRequest, te.Field+": want a JSON "+te.Type.Kind().String())
		default:
			writeError(w, http.StatusBadRequest, "body: "+strings.TrimPrefix(err.Error(), "json: "))
		}
		return
	}
	if err := c.validate(n.cfg); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := n.pulls.profile(c.Profile); err != nil {
		writeError(w, http.StatusBadRequest, "profile: "+err.Error())
		return
	}
	b, _ := json.Marshal(c)
	id, err := n.catalog.CreatePull(r.Context(), b)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "catalog unavailable")
		return
	}
	p, err := n.catalog.PullByID(r.Context(), id)
	n.pulls.kick()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "catalog unavailable")
		return
	}
	w.Header().Set("Location", "/api/research/pulls/"+strconv.FormatInt(id, 10))
	writeJSON(w, http.StatusAccepted, toPullJSON(*p, nil, false))
}

func (n *Node) getPull(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "pull id must be a positive number")
		return
	}
	p, err := n.catalog.PullByID(r.Context(), id)
	if errors.Is(err, catalog.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no such pull")
		return
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "catalog unavailable")
		return
	}
	studies, err := n.catalog.PullStudies(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "catalog unavailable")
		return
	}
	writeJSON(w, http.StatusOK, toPullJSON(*p, studies, true))
}

func (n *Node) listPulls(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r.URL.Query().Get("limit"), 100, 1000)
	if err != nil {
		writeError(w, http.StatusBadRequest, "limit: "+err.Error())
		return
	}
	var states []catalog.PullState
	if s := r.URL.Query().Get("state"); s != "" {
		st := catalog.PullState(s)
		if !slices.Contains([]catalog.PullState{catalog.PullQueued, catalog.PullRunning, catalog.PullDone, catalog.PullFailed}, st) {
			writeError(w, http.StatusBadRequest, "state: want queued, running, done or failed")
			return
		}
		states = append(states, st)
	}
	ps, err := n.catalog.Pulls(r.Context(), limit, states...)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "catalog unavailable")
		return
	}
	out := make([]pullJSON, 0, len(ps))
	for _, p := range ps {
		studies, err := n.catalog.PullStudies(r.Context(), p.ID)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "catalog unavailable")
			return
		}
		out = append(out, toPullJSON(p, studies, false))
	}
	writeJSON(w, http.StatusOK, out)
}

// pullWorker runs pulls one at a time, oldest first. It is started by
// Start and stopped by Shutdown; at start it resumes queued and running
// pulls left by a previous process.
type pullWorker struct {
	n      *Node
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	profiles map[string]*anonymize.Profile // built for pulls (destinations' own are in n.profiles)
}

func newPullWorker(n *Node) *pullWorker {
	return &pullWorker{n: n, wake: make(chan struct{}, 1), profiles: map[string]*anonymize.Profile{}}
}

// startPulls starts the pull worker; stopPulls stops it (an interrupted
// pull stays running in the catalog and resumes at the next start).
func (n *Node) startPulls(ctx context.Context) {
	w := n.pulls
	ctx, w.cancel = context.WithCancel(ctx)
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		w.run(ctx)
	}()
}

func (n *Node) stopPulls() {
	if w := n.pulls; w != nil && w.cancel != nil {
		w.cancel()
		<-w.done
	}
}

func (w *pullWorker) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// profile returns the named profile: the one a destination already uses,
// else one built (once) from the configuration.
func (w *pullWorker) profile(name string) (*anonymize.Profile, error) {
	if p := w.n.profiles[name]; p != nil {
		return p, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if p := w.profiles[name]; p != nil {
		return p, nil
	}
	pc, ok := w.n.cfg.Profiles[name]
	if !ok {
		return nil, fmt.Errorf("%q is not a configured profile", name)
	}
	p, err := anonymize.NewProfile(name, pc)
	if err != nil {
		return nil, err
	}
	p.SetLogger(w.n.log)
	p.SetPseudonymStore(pseudonymStore{w.n.catalog})
	w.profiles[name] = p
	return p, nil
}

// pullPoll is how often the worker looks for pulls without being woken.
const pullPoll = 30 * time.Second

func (w *pullWorker) run(ctx context.Context) {
	log := w.n.log.With("component", "pull")
	for {
		ps, err := w.n.catalog.Pulls(ctx, 1000, catalog.PullQueued, catalog.PullRunning)
		if err != nil && ctx.Err() == nil {
			log.Error("cannot list pulls", "err", err)
		}
		for i := len(ps) - 1; i >= 0 && ctx.Err() == nil; i-- { // oldest first
			w.process(ctx, ps[i])
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-time.After(pullPoll):
		}
	}
}

// process runs one pull to its end, or until ctx ends (it then stays
// running in the catalog and resumes later).
func (w *pullWorker) process(ctx context.Context, p catalog.Pull) {
	cat := w.n.catalog
	log := w.n.log.With("component", "pull", "pull", p.ID)
	fail := func(msg string) {
		log.Error("pull failed", "err", msg)
		if err := cat.SetPullState(context.WithoutCancel(ctx), p.ID, catalog.PullFailed, msg); err != nil {
			log.Error("cannot record pull state", "err", err)
		}
	}
	var c pullCriteria
	if err := json.Unmarshal(p.Criteria, &c); err != nil {
		fail("criteria unreadable: " + err.Error())
		return
	}
	peer, ok := findPeer(w.n.cfg, c.Source)
	if !ok {
		fail(fmt.Sprintf("source: %q is no longer a configured peer", c.Source))
		return
	}
	prof, err := w.profile(c.Profile)
	if err != nil {
		fail("profile: " + err.Error())
		return
	}
	if p.State != catalog.PullRunning {
		if err := cat.SetPullState(ctx, p.ID, catalog.PullRunning, ""); err != nil {
			log.Error("cannot record pull state", "err", err)
			return
		}
	}
	log.Info("pull running", "source", c.Source, "profile", c.Profile, "resumed", p.State == catalog.PullRunning)
	if !p.Listed {
		studies, err := w.find(ctx, peer, c)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			fail("C-FIND on " + peer.AETitle + ": " + err.Error())
			return
		}
		if err := cat.ListPullStudies(ctx, p.ID, studies); err != nil {
			log.Error("cannot record studies", "err", err)
			return
		}
		log.Info("studies found", "count", len(studies))
	}
	studies, err := cat.PullStudies(ctx, p.ID)
	if err != nil {
		log.Error("cannot read studies", "err", err)
		return
	}
	for _, s := range studies {
		if ctx.Err() != nil {
			return
		}
		if err := w.study(ctx, peer, prof, c, s); err != nil {
			if ctx.Err() == nil {
				log.Error("cannot record study progress", "err", err)
			}
			return
		}
	}
	if err := cat.SetPullState(ctx, p.ID, catalog.PullDone, ""); err != nil && ctx.Err() == nil {
		log.Error("cannot record pull state", "err", err)
	}
	log.Info("pull done")
}

// study takes one study of a pull from where its recorded progress stands
// to a final state. It returns only catalog errors (and ctx's): everything
// else is recorded as the study's failure.
func (w *pullWorker) study(ctx context.Context, peer config.Peer, prof *anonymize.Profile, c pullCriteria, s catalog.PullStudy) error {
	cat := w.n.catalog
	clinical, research := string(store.NamespaceClinical), string(store.NamespaceResearch)
	if s.State == catalog.PullStudyPending {
		// Never retrieve what the research namespace already holds.
		have, err := cat.CountInstances(ctx, research, prof.MapUID(s.StudyInstanceUID))
		if err != nil {
			return err
		}
		if have > 0 {
			s.State = catalog.PullStudySkippedExisting
			return cat.UpdatePullStudy(ctx, s)
		}
		local, err := cat.CountInstances(ctx, clinical, s.StudyInstanceUID)
		if err != nil {
			return err
		}
		if s.ExpectedInstances <= 0 || local < s.ExpectedInstances {
			rsp, err := w.move(ctx, peer, s.StudyInstanceUID)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.InstancesRetrieved = rsp.Completed + rsp.Warning
			switch {
			case err != nil:
				s.State, s.Error = catalog.PullStudyFailed, "C-MOVE: "+err.Error()
				return cat.UpdatePullStudy(ctx, s)
			case rsp.Failed > 0:
				s.Error = fmt.Sprintf("C-MOVE: %d of %d sub-operations failed (status %s)", rsp.Failed, rsp.Failed+s.InstancesRetrieved, rsp.Status)
			}
			s.Retrieved = true
			if err := w.awaitArrival(ctx, s.StudyInstanceUID, s.InstancesRetrieved); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.Error = strings.TrimPrefix(s.Error+"; "+err.Error(), "; ")
			}
		}
		s.State = catalog.PullStudyRetrieved
		if err := cat.UpdatePullStudy(ctx, s); err != nil {
			return err
		}
	}
	if s.State != catalog.PullStudyRetrieved {
		return nil
	}
	if c.HasElastography {
		reps, err := cat.Reports(ctx, catalog.ReportFilter{Namespace: clinical, StudyInstanceUID: s.StudyInstanceUID, Limit: 1})
		if err != nil {
			return err
		}
		if len(reps) == 0 {
			s.State = catalog.PullStudySkippedNoElastography
			return cat.UpdatePullStudy(ctx, s)
		}
	}
	insts, err := cat.InstancesOf(ctx, clinical, s.StudyInstanceUID, "", "")
	if err != nil {
		return err
	}
	if len(insts) == 0 {
		s.State = catalog.PullStudyFailed
		s.Error = strings.TrimPrefix(s.Error+"; no instance of the study arrived", "; ")
		return cat.UpdatePullStudy(ctx, s)
	}
	tmpDir := filepath.Join(w.n.cfg.Node.DataDir, "objects", "tmp")
	var errs []string
	s.InstancesDeidentified, s.InstancesQuarantined = 0, 0
	for _, in := range insts {
		_, _, err := deidentifyToResearch(ctx, prof, w.n.ingester, cat, tmpDir, w.n.store.Path(in.RelPath))
		var qe *anonymize.QuarantineError
		switch {
		case ctx.Err() != nil:
			return ctx.Err() // stays retrieved: redone (idempotently) on resume
		case errors.As(err, &qe):
			s.InstancesQuarantined++
			w.n.log.Warn("instance quarantined: not copied to research", "component", "pull", "pull", s.PullID,
				"sop_instance_uid", in.SOPInstanceUID, "reason", qe.Reason)
		case err != nil:
			errs = append(errs, in.SOPInstanceUID+": "+err.Error())
		default:
			s.InstancesDeidentified++
		}
	}
	s.State = catalog.PullStudyDone
	if len(errs) > 0 {
		s.State = catalog.PullStudyFailed
		if len(errs) > 3 {
			errs = append(errs[:3], fmt.Sprintf("and %d more", len(errs)-3))
		}
		s.Error = strings.TrimPrefix(s.Error+"; de-identification: "+strings.Join(errs, "; "), "; ")
	}
	return cat.UpdatePullStudy(ctx, s)
}

// moveArrivalWait bounds the wait, after a C-MOVE's final response, for
// its instances to be committed in the clinical namespace. A PACS that
// runs C-MOVE asynchronously (Orthanc with SynchronousCMove false) may
// answer before its last sub-operation's C-STORE has been acknowledged.
const moveArrivalWait = 60 * time.Second

// awaitArrival waits until the clinical namespace holds at least n
// instances of the study.
func (w *pullWorker) awaitArrival(ctx context.Context, study string, n int) error {
	deadline := time.Now().Add(moveArrivalWait)
	for {
		have, err := w.n.catalog.CountInstances(ctx, string(store.NamespaceClinical), study)
		if err != nil {
			return err
		}
		if have >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("C-MOVE reported %d instances sent, %d arrived within %s", n, have, moveArrivalWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var pullSyntaxes = []string{dcm.ExplicitVRLittleEndian.UID, dcm.ImplicitVRLittleEndian.UID}

// dialPeer opens an association with the source for one Study Root
// operation and returns the options to use on it.
func (w *pullWorker) dialPeer(ctx context.Context, peer config.Peer, sopClass string) (*dimse.Association, dimse.QueryOptions, error) {
	cfg := w.n.cfg
	o := dimse.QueryOptions{SOPClassUID: sopClass}
	a, err := dimse.Dial(ctx, net.JoinHostPort(peer.Host, strconv.Itoa(peer.Port)), dimse.ClientConfig{
		CallingAE: cfg.Node.AETitle, CalledAE: peer.AETitle, MaxPDULength: cfg.Node.MaxPDULength,
		DialTimeout: cfg.Node.Timeouts.Connect.Std(), ResponseTimeout: cfg.Node.Timeouts.Response.Std(), Logger: w.n.log,
	}, []dimse.PresentationContextRequest{{AbstractSyntax: sopClass, TransferSyntaxes: pullSyntaxes}})
	if err != nil {
		return nil, o, err
	}
	if o.TransferSyntaxUID, err = a.QueryTransferSyntax(o); err != nil {
		a.Abort()
		return nil, o, err
	}
	return a, o, nil
}

// find runs the STUDY-level C-FIND and returns the studies in the order
// the PACS answered, each once, with NumberOfStudyRelatedInstances when
// the PACS gives it.
func (w *pullWorker) find(ctx context.Context, peer config.Peer, c pullCriteria) ([]catalog.PullStudy, error) {
	keys := []string{"StudyInstanceUID", "NumberOfStudyRelatedInstances", "StudyDate", "ModalitiesInStudy", "StudyDescription"}
	if d := c.StudyDate; d != nil {
		keys[2] = "StudyDate=" + d.From + "-" + d.To
		if d.From == d.To {
			keys[2] = "StudyDate=" + d.From
		}
	}
	if c.Modality != "" {
		keys[3] = "ModalitiesInStudy=" + c.Modality
	}
	if c.StudyDescription != "" {
		keys[4] = "StudyDescription=" + c.StudyDescription
	}
	var qk []qr.Key
	for _, k := range keys {
		key, err := qr.ParseKey(k)
		if err != nil {
			return nil, err
		}
		qk = append(qk, key)
	}
	a, o, err := w.dialPeer(ctx, peer, dimse.UIDStudyRootQueryRetrieveInformationModelFind)
	if err != nil {
		return nil, err
	}
	ident, err := qr.EncodeQuery(o.TransferSyntaxUID, catalog.LevelStudy, qk)
	if err != nil {
		a.Abort()
		return nil, err
	}
	syn, _ := dcm.LookupTransferSyntax(o.TransferSyntaxUID)
	var out []catalog.PullStudy
	seen := map[string]bool{}
	_, err = a.Find(ctx, o, ident, func(b []byte) error {
		ds, err := dcm.Parse(bytes.NewReader(b), syn, dcm.Options{Size: int64(len(b))})
		if err != nil {
			return fmt.Errorf("response identifier unreadable: %w", err)
		}
		uid := strings.TrimSpace(ds.String(dcm.TagStudyInstanceUID))
		if uid == "" || seen[uid] {
			return nil
		}
		seen[uid] = true
		want := -1
		if v, ok := ds.Int(dcm.NewTag(0x0020, 0x1208)); ok && v >= 0 && v < 1<<31 {
			want = int(v)
		}
		out = append(out, catalog.PullStudy{StudyInstanceUID: uid, ExpectedInstances: want})
		return nil
	})
	if err != nil {
		if !errors.As(err, new(*dimse.StatusError)) {
			a.Abort()
			return nil, err
		}
		a.Release(context.WithoutCancel(ctx))
		return nil, err
	}
	a.Release(context.WithoutCancel(ctx))
	return out, nil
}

// move asks the source to send one study to sonogate's own AE title and
// waits for the final response: by then every sub-operation's C-STORE has
// been answered, so the instances are committed in the clinical namespace.
func (w *pullWorker) move(ctx context.Context, peer config.Peer, study string) (dimse.RetrieveResponse, error) {
	a, o, err := w.dialPeer(ctx, peer, dimse.UIDStudyRootQueryRetrieveInformationModelMove)
	if err != nil {
		return dimse.RetrieveResponse{}, err
	}
	o.MoveDestination = w.n.cfg.Node.AETitle
	key, err := qr.ParseKey("StudyInstanceUID=" + study)
	if err != nil {
		a.Abort()
		return dimse.RetrieveResponse{}, err
	}
	ident, err := qr.EncodeQuery(o.TransferSyntaxUID, catalog.LevelStudy, []qr.Key{key})
	if err != nil {
		a.Abort()
		return dimse.RetrieveResponse{}, err
	}
	rsp, err := a.Move(ctx, o, ident, nil)
	var se *dimse.StatusError
	if err != nil && !errors.As(err, &se) {
		a.Abort()
		return rsp, err
	}
	a.Release(context.WithoutCancel(ctx))
	if err == nil && rsp.Failed > 0 && rsp.Completed+rsp.Warning == 0 {
		err = fmt.Errorf("every sub-operation failed (status %s)", rsp.Status)
	}
	return rsp, err
}
