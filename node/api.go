package node

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sonogate/sonogate/auth"
	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/elastography"
	"github.com/sonogate/sonogate/store"
)

// guard authenticates the caller, checks its scope and writes an audit
// entry (who, what, when) for every API request.
func (n *Node) guard(scope string, fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		p, ok := n.auth.Authenticate(r)
		sw := &statusRecorder{ResponseWriter: w}
		defer func() {
			n.audit.Info("api access", "who", p.Name, "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path,
				"status", sw.status, "duration_ms", time.Since(start).Milliseconds(), "started", start.UTC().Format(time.RFC3339Nano))
		}()
		switch {
		case !ok:
			auth.Unauthorized(sw)
		case !p.Has(scope):
			writeError(sw, http.StatusForbidden, "the token's scopes do not include "+scope)
		default:
			fn(sw, r)
		}
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// reportJSON is one stored report as the API serves it: the catalog's keys
// beside the normalized record (elastography.md §5).
type reportJSON struct {
	ID               int64           `json:"id"`
	SOPInstanceUID   string          `json:"sop_instance_uid"`
	StudyInstanceUID string          `json:"study_instance_uid"`
	PatientID        string          `json:"patient_id"`
	StudyDate        string          `json:"study_date"`
	Report           json.RawMessage `json:"report"`
}

// registerReports mounts the elastography report API for a namespace:
// /api/elastography/reports (clinical scope) and
// /research/api/elastography/reports (research scope; de-identified
// instances only, so pseudonyms and mapped UIDs).
func (n *Node) registerReports(mux *http.ServeMux) {
	for _, m := range []struct {
		prefix, scope string
		ns            store.Namespace
	}{{"/api", auth.ScopeClinical, store.NamespaceClinical}, {"/research/api", auth.ScopeResearch, store.NamespaceResearch}} {
		ns := m.ns
		mux.HandleFunc("GET "+m.prefix+"/elastography/reports", n.guard(m.scope, func(w http.ResponseWriter, r *http.Request) { n.listReports(w, r, ns) }))
		mux.HandleFunc("GET "+m.prefix+"/elastography/reports/{id}", n.guard(m.scope, func(w http.ResponseWriter, r *http.Request) { n.getReport(w, r, ns, false) }))
		mux.HandleFunc("GET "+m.prefix+"/elastography/reports/{id}/fhir", n.guard(m.scope, func(w http.ResponseWriter, r *http.Request) { n.getReport(w, r, ns, true) }))
	}
}

func (n *Node) listReports(w http.ResponseWriter, r *http.Request, ns store.Namespace) {
	q := r.URL.Query()
	f := catalog.ReportFilter{Namespace: string(ns), PatientID: q.Get("patient_id"), StudyInstanceUID: q.Get("study_uid"),
		DateFrom: q.Get("from"), DateTo: q.Get("to"), Method: q.Get("method")}
	for _, d := range []struct{ name, v string }{{"from", f.DateFrom}, {"to", f.DateTo}} {
		if d.v != "" && !isDate(d.v) {
			writeError(w, http.StatusBadRequest, d.name+": want a date YYYYMMDD or YYYY-MM-DD")
			return
		}
	}
	f.DateFrom, f.DateTo = strings.ReplaceAll(f.DateFrom, "-", ""), strings.ReplaceAll(f.DateTo, "-", "")
	if v := q.Get("reliable"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "reliable: want true or false")
			return
		}
		f.Reliable = &b
	}
	var err error
	if f.Limit, err = intParam(q.Get("limit"), 100, 10000); err != nil {
		writeError(w, http.StatusBadRequest, "limit: "+err.Error())
		return
	}
	if f.Offset, err = intParam(q.Get("offset"), 0, 1<<31-1); err != nil {
		writeError(w, http.StatusBadRequest, "offset: "+err.Error())
		return
	}
	reps, err := n.catalog.Reports(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "catalog unavailable")
		return
	}
	if q.Get("format") == "csv" || (q.Get("format") == "" && strings.Contains(r.Header.Get("Accept"), "text/csv")) {
		writeReportsCSV(w, reps)
		return
	}
	if f := q.Get("format"); f != "" && f != "json" && f != "csv" {
		writeError(w, http.StatusBadRequest, "format: want json or csv")
		return
	}
	out := make([]reportJSON, 0, len(reps))
	for _, rp := range reps {
		out = append(out, toReportJSON(rp))
	}
	writeJSON(w, http.StatusOK, out)
}

func toReportJSON(rp catalog.Report) reportJSON {
	return reportJSON{ID: rp.ID, SOPInstanceUID: rp.SOPInstanceUID, StudyInstanceUID: rp.StudyInstanceUID,
		PatientID: rp.PatientID, StudyDate: rp.StudyDate, Report: json.RawMessage(rp.Body)}
}

// writeReportsCSV writes one row per report: the catalog keys, then the
// columns of elastography.CSVHeader.
func writeReportsCSV(w http.ResponseWriter, reps []catalog.Report) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	cw := csv.NewWriter(w)
	cw.Write(append([]string{"report_id", "patient_id", "study_date"}, elastography.CSVHeader...))
	for _, rp := range reps {
		var er elastography.Report
		if err := json.Unmarshal(rp.Body, &er); err != nil {
			continue
		}
		cw.Write(append([]string{strconv.FormatInt(rp.ID, 10), rp.PatientID, rp.StudyDate}, elastography.CSVRow(er)...))
	}
	cw.Flush()
}

func (n *Node) getReport(w http.ResponseWriter, r *http.Request, ns store.Namespace, fhir bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "report id must be a positive number")
		return
	}
	rp, err := n.catalog.ReportByID(r.Context(), id)
	if errors.Is(err, catalog.ErrNotFound) || (err == nil && rp.Namespace != string(ns)) {
		writeError(w, http.StatusNotFound, "no such report")
		return
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "catalog unavailable")
		return
	}
	if !fhir {
		writeJSON(w, http.StatusOK, toReportJSON(*rp))
		return
	}
	var er elastography.Report
	if err := json.Unmarshal(rp.Body, &er); err != nil {
		writeError(w, http.StatusInternalServerError, "stored report unreadable")
		return
	}
	er.Patient.ID = rp.PatientID
	b, err := elastography.FHIRObservation(er)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "report cannot be expressed as a FHIR Observation: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.Write(b)
}

func isDate(s string) bool {
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 8 {
		return false
	}
	_, err := time.Parse("20060102", s)
	return err == nil
}

// elastographyExtractor adapts the elastography package to ingest: every
// SR (and US image) is examined; reports are stored with the instance.
type elastographyExtractor struct{ cfg *elastography.Config }

func (x elastographyExtractor) Extract(ds *dcm.Dataset, inst *catalog.Instance) ([]catalog.Report, error) {
	if !elastography.IsCandidate(inst.SOPClassUID, inst.Modality) {
		return nil, nil
	}
	src := elastography.SourceFromDataset(ds)
	reps, err := elastography.Extract(ds, src, x.cfg)
	if err != nil {
		return nil, err
	}
	if len(reps) == 0 {
		if ref, ok := elastography.ElastographyImage(ds, x.cfg); ok {
			reps = []elastography.Report{elastography.ImageOnlyReport(src, []elastography.ImageRef{ref}, x.cfg)}
		}
	}
	out := make([]catalog.Report, 0, len(reps))
	for _, rp := range reps {
		body, err := json.Marshal(rp)
		if err != nil {
			return nil, err
		}
		out = append(out, catalog.Report{Method: rp.Method, Site: rp.Site.Name, Kind: rp.Source.Kind, Reliable: rp.QC.Reliable, Body: body})
	}
	return out, nil
}

// quarantineJSON is one instance that de-identification refused to send.
type quarantineJSON struct {
	JobID          int64     `json:"job_id"`
	InstanceID     int64     `json:"instance_id"`
	SOPInstanceUID string    `json:"sop_instance_uid"`
	Destination    string    `json:"destination"`
	Reason         string    `json:"reason"`
	Since          time.Time `json:"since"`
}

// listQuarantine serves GET /api/quarantine: instances held back because
// they may still identify the patient (burned-in text that could not be
// cleaned), with the reason.
func (n *Node) listQuarantine(w http.ResponseWriter, r *http.Request) {
	out := []quarantineJSON{}
	for off := 0; ; off += 1000 {
		jobs, err := n.catalog.List(r.Context(), catalog.JobFilter{State: catalog.JobDead, Limit: 1000, Offset: off})
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "catalog unavailable")
			return
		}
		for _, j := range jobs {
			if !strings.HasPrefix(j.LastError, quarantinePrefix) {
				continue
			}
			q := quarantineJSON{JobID: j.ID, InstanceID: j.InstanceID, Destination: j.Destination,
				Reason: strings.TrimPrefix(j.LastError, quarantinePrefix), Since: j.UpdatedAt}
			if inst, err := n.catalog.InstanceByID(r.Context(), j.InstanceID); err == nil {
				q.SOPInstanceUID = inst.SOPInstanceUID
			}
			out = append(out, q)
		}
		if len(jobs) < 1000 {
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// listPseudonyms serves GET /api/pseudonyms?profile= (admin scope only):
// the re-identification table, as JSON or CSV.
func (n *Node) listPseudonyms(w http.ResponseWriter, r *http.Request) {
	ps, err := n.catalog.Pseudonyms(r.Context(), r.URL.Query().Get("profile"))
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "catalog unavailable")
		return
	}
	if r.URL.Query().Get("format") == "csv" || strings.Contains(r.Header.Get("Accept"), "text/csv") {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		WritePseudonymsCSV(w, ps)
		return
	}
	type entry struct {
		Profile    string    `json:"profile"`
		RealID     string    `json:"real_patient_id"`
		RealName   string    `json:"real_patient_name"`
		PseudoID   string    `json:"pseudonym_id"`
		PseudoName string    `json:"pseudonym_name"`
		CreatedAt  time.Time `json:"created_at"`
	}
	out := make([]entry, 0, len(ps))
	for _, p := range ps {
		out = append(out, entry{p.Profile, p.RealID, p.RealName, p.PseudoID, p.PseudoName, p.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
}

// WritePseudonymsCSV writes the re-identification table as CSV.
func WritePseudonymsCSV(w io.Writer, ps []catalog.PseudonymEntry) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"profile", "real_patient_id", "real_patient_name", "pseudonym_id", "pseudonym_name", "created_at"})
	for _, p := range ps {
		cw.Write([]string{p.Profile, p.RealID, p.RealName, p.PseudoID, p.PseudoName, p.CreatedAt.UTC().Format(time.RFC3339)})
	}
	cw.Flush()
	return cw.Error()
}
