package node

import (
	"encoding/json"
	"errors"
	"github.com/sonogate/sonogate/auth"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/web"
)

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", n.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{Registry: n.reg}))
	mux.HandleFunc("GET /api/queue", n.guard(auth.ScopeClinical, n.listQueue))
	mux.HandleFunc("POST /api/queue/{id}/retry", n.guard(auth.ScopeAdmin, n.retryJob))
	n.registerReports(mux)
	n.registerPulls(mux)
	mux.HandleFunc("GET /api/quarantine", n.guard(auth.ScopeClinical, n.listQuarantine))
	mux.HandleFunc("GET /api/pseudonyms", n.guard(auth.ScopeAdmin, n.listPseudonyms))
	n.dicomweb.Register(mux)
	web.Register(mux)
	return recoverer(mux, n)
}

// recoverer isolates a panic to the request that caused it.
func recoverer(h http.Handler, n *Node) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				n.log.Error("HTTP handler panic", "component", "http", "path", r.URL.Path, "panic", v)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		h.ServeHTTP(w, r)
	})
}

func (n *Node) readyz(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	ready := n.ready
	n.mu.Unlock()
	if !ready {
		http.Error(w, "not ready: starting or shutting down", http.StatusServiceUnavailable)
		return
	}
	if err := n.catalog.Ping(r.Context()); err != nil {
		http.Error(w, "not ready: catalog unreachable", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

type jobJSON struct {
	ID            int64     `json:"id"`
	InstanceID    int64     `json:"instance_id"`
	Destination   string    `json:"destination"`
	Rule          string    `json:"rule"`
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LastError     string    `json:"last_error,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func toJobJSON(j catalog.Job) jobJSON {
	return jobJSON{ID: j.ID, InstanceID: j.InstanceID, Destination: j.Destination, Rule: j.Rule, State: string(j.State),
		Attempts: j.Attempts, NextAttemptAt: j.NextAttemptAt, LastError: j.LastError, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt}
}

type destJSON struct {
	Destination   string           `json:"destination"`
	Counts        map[string]int64 `json:"counts"`
	OldestPending *time.Time       `json:"oldest_pending,omitempty"`
}

// listQueue serves GET /api/queue?destination=&state=&limit=&offset=:
// per-destination counts by state and the selected jobs.
func (n *Node) listQueue(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := catalog.JobFilter{Destination: q.Get("destination"), State: catalog.JobState(q.Get("state"))}
	switch f.State {
	case "", catalog.JobPending, catalog.JobInflight, catalog.JobDone, catalog.JobDead:
	default:
		writeError(w, http.StatusBadRequest, "state must be one of pending, inflight, done, dead")
		return
	}
	var err error
	if f.Limit, err = intParam(q.Get("limit"), 100, 1000); err != nil {
		writeError(w, http.StatusBadRequest, "limit: "+err.Error())
		return
	}
	if f.Offset, err = intParam(q.Get("offset"), 0, 1<<31-1); err != nil {
		writeError(w, http.StatusBadRequest, "offset: "+err.Error())
		return
	}
	stats, err := n.catalog.Stats(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "catalog unavailable")
		return
	}
	jobs, err := n.catalog.List(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "catalog unavailable")
		return
	}
	out := struct {
		Destinations []destJSON `json:"destinations"`
		Jobs         []jobJSON  `json:"jobs"`
	}{Destinations: []destJSON{}, Jobs: []jobJSON{}}
	for _, s := range stats {
		d := destJSON{Destination: s.Destination, Counts: map[string]int64{}}
		for k, v := range s.Counts {
			d.Counts[string(k)] = v
		}
		if !s.OldestPending.IsZero() {
			t := s.OldestPending
			d.OldestPending = &t
		}
		out.Destinations = append(out.Destinations, d)
	}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, toJobJSON(j))
	}
	writeJSON(w, http.StatusOK, out)
}

func intParam(s string, def, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > max {
		return 0, errors.New("must be a whole number from 0 to " + strconv.Itoa(max))
	}
	return v, nil
}

// retryJob serves POST /api/queue/{id}/retry (admin scope): a dead-letter
// job goes back to pending, due now, with its attempts reset.
func (n *Node) retryJob(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "job id must be a positive number")
		return
	}
	switch err := n.catalog.Requeue(r.Context(), id); {
	case errors.Is(err, catalog.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such job")
		return
	case errors.Is(err, catalog.ErrState):
		writeError(w, http.StatusConflict, "only a dead-letter job can be retried")
		return
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "catalog unavailable")
		return
	}
	n.queue.Kick()
	j, err := n.catalog.Job(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "catalog unavailable")
		return
	}
	writeJSON(w, http.StatusOK, toJobJSON(*j))
}
