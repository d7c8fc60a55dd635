package dicomweb

import (
	"github.com/sonogate/sonogate/auth"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/ingest"
	"github.com/sonogate/sonogate/store"
)

// Token scopes (config.Token.Scopes).
const (
	ScopeClinical = auth.ScopeClinical // clinical and research namespaces, store included
	ScopeResearch = auth.ScopeResearch // research namespace only, read-only
	ScopeAdmin    = auth.ScopeAdmin    // everything
)

// Mount points of the two namespaces.
const (
	ClinicalPrefix = "/dicom-web"
	ResearchPrefix = "/research/dicom-web"
)

// Config wires a Server.
type Config struct {
	Catalog  *catalog.Catalog
	Store    *store.Store
	Ingester *ingest.Ingester // nil: STOW-RS answers 503
	Auth     config.Auth
	Logger   *slog.Logger
	// Registerer receives the request metrics; nil: no metrics.
	Registerer prometheus.Registerer
	// MaxRequestBytes bounds a STOW-RS request body [4 GiB].
	MaxRequestBytes int64
	// TempDir holds STOW-RS parts while they are checked [os.TempDir()].
	TempDir string
	// StoreParallel is how many parts of one STOW-RS request are checked
	// and ingested at once [8]. The body is still read in order; parallel
	// ingests let the file system and the catalog (group commit) make
	// several parts durable with one flush.
	StoreParallel int
}

// Server serves QIDO-RS, WADO-RS and STOW-RS. Create it with New and
// mount it with Register. It is safe for concurrent use.
type Server struct {
	cfg      Config
	log      *slog.Logger
	audit    *slog.Logger
	auth     *auth.Authenticator
	requests *prometheus.CounterVec
}

// New returns a Server. When no tokens are configured it logs (at Warn) that
// DICOMweb is open to loopback clients only.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.audit = s.log.With("component", "audit")
	s.log = s.log.With("component", "dicomweb")
	if s.cfg.MaxRequestBytes <= 0 {
		s.cfg.MaxRequestBytes = 4 << 30
	}
	if s.cfg.TempDir == "" {
		s.cfg.TempDir = os.TempDir()
	}
	if s.cfg.StoreParallel <= 0 {
		s.cfg.StoreParallel = 8
	}
	s.auth = auth.New(cfg.Auth, s.log)
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sonogate_dicomweb_requests_total",
		Help: "DICOMweb requests by service (qido, wado, stow) and HTTP status code."}, []string{"service", "code"})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(s.requests)
	}
	return s
}

// Register mounts every DICOMweb route on mux, under ClinicalPrefix for the
// clinical namespace and ResearchPrefix for the research namespace (which
// has no STOW-RS).
func (s *Server) Register(mux *http.ServeMux) {
	for _, m := range []struct {
		prefix string
		ns     store.Namespace
	}{{ClinicalPrefix, store.NamespaceClinical}, {ResearchPrefix, store.NamespaceResearch}} {
		p, ns := m.prefix, m.ns
		h := func(pattern, service string, fn func(w http.ResponseWriter, r *http.Request, c *reqCtx)) {
			mux.Handle("GET "+p+pattern, s.guard(p, ns, service, fn))
		}
		// QIDO-RS (PS3.18 §10.6).
		h("/studies", "qido", s.searchStudies)
		h("/series", "qido", s.searchSeries)
		h("/instances", "qido", s.searchInstances)
		h("/studies/{study}/series", "qido", s.searchSeries)
		h("/studies/{study}/instances", "qido", s.searchInstances)
		h("/studies/{study}/series/{series}/instances", "qido", s.searchInstances)
		// WADO-RS (PS3.18 §10.4).
		h("/studies/{study}", "wado", s.retrieve)
		h("/studies/{study}/series/{series}", "wado", s.retrieve)
		h("/studies/{study}/series/{series}/instances/{sop}", "wado", s.retrieve)
		h("/studies/{study}/metadata", "wado", s.metadata)
		h("/studies/{study}/series/{series}/metadata", "wado", s.metadata)
		h("/studies/{study}/series/{series}/instances/{sop}/metadata", "wado", s.metadata)
		h("/studies/{study}/series/{series}/instances/{sop}/frames/{frames}", "wado", s.frames)
		h("/studies/{study}/series/{series}/instances/{sop}/bulkdata/{spec}", "wado", s.bulkdata)
		if ns == store.NamespaceClinical {
			// STOW-RS (PS3.18 §10.5).
			mux.Handle("POST "+p+"/studies", s.guard(p, ns, "stow", s.stow))
			mux.Handle("POST "+p+"/studies/{study}", s.guard(p, ns, "stow", s.stow))
		}
	}
}

// reqCtx is what a handler knows about the request beyond *http.Request.
type reqCtx struct {
	prefix string
	ns     store.Namespace
	who    string
}

// base is the absolute URL of the namespace root, for Retrieve URLs.
func (c *reqCtx) base(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + c.prefix
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// guard authenticates, authorises and audits one request.
func (s *Server) guard(prefix string, ns store.Namespace, service string, fn func(http.ResponseWriter, *http.Request, *reqCtx)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		p, ok := s.auth.Authenticate(r)
		who, scopes := p.Name, p.Scopes
		defer func() {
			keys := make([]string, 0, len(r.URL.Query()))
			for k := range r.URL.Query() {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			s.audit.Info("dicomweb access", "who", who, "remote", r.RemoteAddr, "method", r.Method,
				"path", r.URL.Path, "query_keys", keys, "namespace", string(ns), "service", service,
				"status", sw.status, "bytes", sw.bytes, "duration_ms", time.Since(start).Milliseconds(),
				"started", start.UTC().Format(time.RFC3339Nano))
			s.requests.WithLabelValues(service, strconv.Itoa(sw.status)).Inc()
		}()
		switch {
		case !ok:
			auth.Unauthorized(sw)
			return
		case !allowed(scopes, ns, service):
			httpError(sw, http.StatusForbidden, "the token's scopes do not reach this namespace or service")
			return
		}
		fn(sw, r, &reqCtx{prefix: prefix, ns: ns, who: who})
	})
}

func allowed(scopes []string, ns store.Namespace, service string) bool {
	if slices.Contains(scopes, ScopeAdmin) {
		return true
	}
	if slices.Contains(scopes, ScopeClinical) {
		return true
	}
	return ns == store.NamespaceResearch && service != "stow" && slices.Contains(scopes, ScopeResearch)
}

// httpError answers with a short plain-text reason.
func httpError(w http.ResponseWriter, code int, reason string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write([]byte(reason + "\n"))
}
