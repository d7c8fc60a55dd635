package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/routing"
	"github.com/sonogate/sonogate/store"
)

// Request describes one arriving instance. The UIDs are those the sender
// declared (C-STORE Affected SOP Class/Instance UID, the accepted
// presentation context's transfer syntax).
type Request struct {
	CallingAE         string
	SOPClassUID       string
	SOPInstanceUID    string
	TransferSyntaxUID string
	Data              io.Reader // the data set bytes exactly as received
	// Namespace is where the instance is stored and indexed; "" means
	// store.NamespaceClinical. Only de-identified instances may go to
	// store.NamespaceResearch.
	Namespace store.Namespace
	// Validate, when set, is called once Data has been read to its end and
	// spooled, before anything is committed. An error refuses the instance
	// as not understood ("data set truncated or malformed"): STOW-RS uses it
	// for a structural parse of the whole data set done while it streams.
	Validate func() error
}

// Result reports what was committed.
type Result struct {
	InstanceID int64
	Outcome    catalog.Outcome
	Version    int
	Jobs       int
	Reports    int
	RelPath    string
}

// Failure classes, each mapped by the front ends to a DIMSE status or an
// HTTP status (PS3.4 B.2.3, PS3.18 §10.5.3).
var (
	// ErrResources: the gateway could not store (disk, database): retryable,
	// C-STORE 0xA700, HTTP 503.
	ErrResources = errors.New("out of resources")
	// ErrCannotUnderstand: the data set cannot be parsed: C-STORE 0xC000, HTTP 400.
	ErrCannotUnderstand = errors.New("cannot understand")
	// ErrMismatch: the data set does not match the declared SOP class or
	// instance: C-STORE 0xA900, HTTP 409.
	ErrMismatch = errors.New("data set does not match")
)

// Error carries a failure class and a short operator-facing comment.
type Error struct {
	Class   error
	Comment string // short, no PHI
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%v: %s: %v", e.Class, e.Comment, e.Err)
	}
	return fmt.Sprintf("%v: %s", e.Class, e.Comment)
}

func (e *Error) Unwrap() []error { return []error{e.Class, e.Err} }

// Kicker is woken after a commit that queued jobs (routing.Queue).
type Kicker interface{ Kick() }

// Config wires an Ingester.
type Config struct {
	Store    *store.Store
	Catalog  *catalog.Catalog
	Matcher  *routing.Matcher
	Queue    Kicker // may be nil
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// MaxHeaderValue bounds the values kept while parsing the header.
	MaxHeaderValue int64
	// Extractor, when set, derives reports (elastography) from each
	// instance; they are committed in the same transaction as the instance.
	Extractor Extractor
}

// Extractor derives measurement reports from an instance's header (for an
// SR document, its whole content). An error is logged and the instance is
// stored without reports: extraction never refuses an instance.
type Extractor interface {
	Extract(ds *dcm.Dataset, inst *catalog.Instance) ([]catalog.Report, error)
}

// Ingester commits arriving instances.
type Ingester struct {
	cfg     Config
	log     *slog.Logger
	stored  *prometheus.CounterVec
	bytes   prometheus.Counter
	latency prometheus.Histogram
}

// New returns an Ingester.
func New(cfg Config) *Ingester {
	in := &Ingester{cfg: cfg, log: cfg.Logger}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	in.log = in.log.With("component", "ingest")
	in.stored = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sonogate_instances_received_total", Help: "Instances received, by outcome (inserted, duplicate, new_version, failed)."}, []string{"outcome"})
	in.bytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "sonogate_instance_bytes_received_total", Help: "Bytes of instances committed to the store."})
	in.latency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sonogate_store_commit_seconds", Help: "Time from the first data byte to the catalog commit.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)})
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(in.stored, in.bytes, in.latency)
	}
	return in
}

// Ingest spools, parses, stores and indexes one instance. It returns only
// once the instance is durable and indexed, or an *Error.
func (in *Ingester) Ingest(ctx context.Context, req Request) (Result, error) {
	start := time.Now()
	res, err := in.ingest(ctx, req)
	if err != nil {
		in.stored.WithLabelValues("failed").Inc()
		return res, err
	}
	in.latency.Observe(time.Since(start).Seconds())
	in.stored.WithLabelValues(outcomeLabel(res.Outcome)).Inc()
	return res, nil
}

func outcomeLabel(o catalog.Outcome) string {
	switch o {
	case catalog.Duplicate:
		return "duplicate"
	case catalog.NewVersion:
		return "new_version"
	}
	return "inserted"
}

func (in *Ingester) ingest(ctx context.Context, req Request) (Result, error) {
	ts, ok := dcm.LookupTransferSyntax(req.TransferSyntaxUID)
	if !ok {
		return Result{}, &Error{Class: ErrCannotUnderstand, Comment: "unknown transfer syntax"}
	}
	prefix := dcm.EncodeFileMeta(dcm.FileMeta{
		MediaStorageSOPClassUID:      req.SOPClassUID,
		MediaStorageSOPInstanceUID:   req.SOPInstanceUID,
		TransferSyntaxUID:            ts.UID,
		SourceApplicationEntityTitle: req.CallingAE,
	})
	sp, err := in.cfg.Store.Spool(prefix, req.Data)
	if err != nil {
		return Result{}, &Error{Class: ErrResources, Comment: "cannot write instance", Err: err}
	}
	committed := false
	defer func() {
		if !committed {
			in.cfg.Store.Discard(sp)
		}
	}()
	if req.Validate != nil {
		if err := req.Validate(); err != nil {
			return Result{}, &Error{Class: ErrCannotUnderstand, Comment: "data set truncated or malformed", Err: err}
		}
	}
	ds, err := in.parseHeader(sp, ts)
	if err != nil {
		return Result{}, &Error{Class: ErrCannotUnderstand, Comment: "data set cannot be parsed", Err: err}
	}
	inst := Attributes(ds)
	if inst.SOPClassUID != "" && inst.SOPClassUID != req.SOPClassUID {
		return Result{}, &Error{Class: ErrMismatch, Comment: "SOP Class UID differs from the request"}
	}
	if inst.SOPInstanceUID != "" && inst.SOPInstanceUID != req.SOPInstanceUID {
		return Result{}, &Error{Class: ErrMismatch, Comment: "SOP Instance UID differs from the request"}
	}
	inst.SOPClassUID, inst.SOPInstanceUID = req.SOPClassUID, req.SOPInstanceUID
	if inst.StudyInstanceUID == "" || inst.SeriesInstanceUID == "" {
		return Result{}, &Error{Class: ErrCannotUnderstand, Comment: "missing Study or Series Instance UID"}
	}
	ns := req.Namespace
	if ns == "" {
		ns = store.NamespaceClinical
	}
	inst.Namespace = string(ns)
	inst.TransferSyntaxUID = ts.UID
	inst.SHA256, inst.Size, inst.DataOffset = sp.SHA256, sp.Size, sp.DataOffset
	inst.CallingAE = req.CallingAE
	inst.ReceivedAt = time.Now().UTC()

	// Routing rules apply to what arrives from outside (the clinical
	// namespace); research copies are made by routing itself.
	var jobs []catalog.JobSpec
	if in.cfg.Matcher != nil && ns == store.NamespaceClinical {
		jobs = in.cfg.Matcher.Match(DatasetAttributes{ds}, req.CallingAE)
	}
	rel, err := in.cfg.Store.Commit(sp, ns)
	if err != nil {
		return Result{}, &Error{Class: ErrResources, Comment: "cannot commit instance file", Err: err}
	}
	committed = true
	inst.RelPath = rel
	var reports []catalog.Report
	if in.cfg.Extractor != nil {
		if reports, err = in.cfg.Extractor.Extract(ds, &inst); err != nil {
			in.log.Warn("report extraction failed; instance stored without reports", "sop_instance_uid", inst.SOPInstanceUID, "err", err)
			reports = nil
		}
	}
	cr, err := in.cfg.Catalog.CommitInstanceReports(ctx, &inst, jobs, reports)
	if err != nil {
		return Result{}, &Error{Class: ErrResources, Comment: "cannot index instance", Err: err}
	}
	res := Result{InstanceID: cr.ID, Outcome: cr.Outcome, Version: cr.Version, RelPath: rel}
	if cr.Outcome != catalog.Duplicate {
		res.Jobs = len(jobs)
		res.Reports = len(reports)
		in.bytes.Add(float64(sp.Size))
	}
	switch cr.Outcome {
	case catalog.NewVersion:
		in.log.Warn("same SOP Instance UID with different bytes kept as a new version",
			"sop_instance_uid", inst.SOPInstanceUID, "version", cr.Version, "calling_ae", req.CallingAE)
	case catalog.Duplicate:
		in.log.Debug("identical resend", "sop_instance_uid", inst.SOPInstanceUID)
	}
	if res.Jobs > 0 && in.cfg.Queue != nil {
		in.cfg.Queue.Kick()
	}
	return res, nil
}

func (in *Ingester) parseHeader(sp *store.Spooled, ts dcm.TransferSyntax) (*dcm.Dataset, error) {
	r := sp.HeaderReader()
	defer r.Close()
	lim := in.cfg.MaxHeaderValue
	if lim == 0 {
		lim = 1 << 20
	}
	return dcm.ParseHeader(r, ts, dcm.Options{Size: sp.Size - sp.DataOffset, LoadLimit: lim})
}

// Attributes fills the indexed attributes of an instance from its header.
func Attributes(ds *dcm.Dataset) catalog.Instance {
	num := func(t dcm.Tag) int {
		n, _ := strconv.Atoi(strings.TrimSpace(ds.String(t)))
		return n
	}
	return catalog.Instance{
		SOPInstanceUID:         ds.String(dcm.TagSOPInstanceUID),
		SOPClassUID:            ds.String(dcm.TagSOPClassUID),
		StudyInstanceUID:       ds.String(dcm.TagStudyInstanceUID),
		SeriesInstanceUID:      ds.String(dcm.TagSeriesInstanceUID),
		PatientID:              ds.String(dcm.TagPatientID),
		PatientName:            ds.String(dcm.TagPatientName),
		PatientBirthDate:       ds.String(dcm.TagPatientBirthDate),
		PatientSex:             ds.String(dcm.TagPatientSex),
		StudyDate:              ds.String(dcm.TagStudyDate),
		StudyTime:              ds.String(dcm.TagStudyTime),
		AccessionNumber:        ds.String(dcm.TagAccessionNumber),
		StudyDescription:       ds.String(dcm.TagStudyDescription),
		StudyID:                ds.String(dcm.TagStudyID),
		ReferringPhysicianName: ds.String(dcm.TagReferringPhysicianName),
		Modality:               ds.String(dcm.TagModality),
		SeriesNumber:           num(dcm.TagSeriesNumber),
		SeriesDescription:      ds.String(dcm.TagSeriesDescription),
		InstanceNumber:         num(dcm.TagInstanceNumber),
		SpecificCharacterSet:   strings.Join(ds.Strings(dcm.TagSpecificCharacterSet), `\`),
		Manufacturer:           ds.String(dcm.TagManufacturer),
		ManufacturerModelName:  ds.String(dcm.TagManufacturerModelName),
		NumberOfFrames:         num(dcm.TagNumberOfFrames),
		Rows:                   num(dcm.TagRows),
		Columns:                num(dcm.TagColumns),
	}
}

// DatasetAttributes exposes a header to the routing rules: all values of
// a top-level element, backslash-joined, decoded to UTF-8.
type DatasetAttributes struct{ DS *dcm.Dataset }

// Value implements routing.Attributes.
func (a DatasetAttributes) Value(t uint32) (string, bool) {
	e := a.DS.Find(dcm.Tag(t))
	if e == nil {
		return "", false
	}
	return strings.Join(a.DS.DecodeStrings(e), `\`), true
}
