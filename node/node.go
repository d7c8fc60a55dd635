package node

import (
	"context"
	"errors"
	"fmt"
	"github.com/sonogate/sonogate/anonymize"
	"github.com/sonogate/sonogate/auth"
	"github.com/sonogate/sonogate/elastography"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/commit"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dicomweb"
	"github.com/sonogate/sonogate/dimse"
	"github.com/sonogate/sonogate/ingest"
	"github.com/sonogate/sonogate/routing"
	"github.com/sonogate/sonogate/store"
)

// Node is a running gateway.
type Node struct {
	cfg      config.Config
	log      *slog.Logger
	reg      *prometheus.Registry
	store    *store.Store
	catalog  *catalog.Catalog
	queue    *routing.Queue
	ingester *ingest.Ingester
	dimse    *dimse.Server
	commit   *commit.Manager
	dicomweb *dicomweb.Server
	auth     *auth.Authenticator
	audit    *slog.Logger
	http     *http.Server
	profiles map[string]*anonymize.Profile // built for destinations, by name
	pulls    *pullWorker

	dimseLn, httpLn net.Listener
	cancel          context.CancelFunc
	wg              sync.WaitGroup
	ready           bool
	mu              sync.Mutex
}

// New opens storage and builds every component; nothing listens yet.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if err := os.MkdirAll(cfg.Node.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	st, err := store.OpenOptions(filepath.Join(cfg.Node.DataDir, "objects"), store.Options{Prealloc: spoolPrealloc})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	n.store = st
	cc := catalog.Config{Driver: cfg.Node.Catalog.Driver, DSN: cfg.Node.Catalog.DSN}
	cat, err := catalog.Open(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	n.catalog = cat
	if cc.Driver == "" || cc.Driver == "sqlite" {
		// The SQLite catalog belongs to this process alone: what a killed
		// predecessor had claimed is resumed now, not when its lease ends.
		if k, err := cat.RecoverInflight(ctx); err != nil {
			cat.Close()
			return nil, err
		} else if k > 0 {
			log.Warn("resumed deliveries interrupted by the previous process", "component", "routing", "jobs", k)
		}
	}

	dests := make(map[string]routing.Destination, len(cfg.Destinations))
	var deids []*deidDestination
	profiles := map[string]*anonymize.Profile{}
	for _, d := range cfg.Destinations {
		dst, err := buildDestination(cfg, d, log)
		if err != nil {
			cat.Close()
			return nil, fmt.Errorf("destination %q: %w", d.Name, err)
		}
		if d.Profile != "" {
			p := profiles[d.Profile]
			if p == nil {
				if p, err = anonymize.NewProfile(d.Profile, cfg.Profiles[d.Profile]); err != nil {
					cat.Close()
					return nil, fmt.Errorf("destination %q: profile %q: %w", d.Name, d.Profile, err)
				}
				p.SetLogger(log)
				p.SetPseudonymStore(pseudonymStore{cat})
				profiles[d.Profile] = p
			}
			dd := &deidDestination{inner: dst, profile: p, catalog: cat, store: st, tmpDir: filepath.Join(cfg.Node.DataDir, "objects", "tmp"), log: log}
			deids = append(deids, dd)
			dst = dd
		}
		dests[d.Name] = dst
	}
	n.profiles = profiles
	qc := queueConfig(cfg)
	qc.Resolve = st.Path
	for _, d := range cfg.Destinations {
		if d.Concurrency > 0 || d.MaxAttempts > 0 {
			if qc.Destinations == nil {
				qc.Destinations = map[string]routing.DestinationOptions{}
			}
			qc.Destinations[d.Name] = routing.DestinationOptions{Concurrency: d.Concurrency, MaxAttempts: d.MaxAttempts}
		}
	}
	q, err := routing.NewQueue(cat, dests, qc, log, n.reg)
	if err != nil {
		cat.Close()
		return nil, fmt.Errorf("routing queue: %w", err)
	}
	n.queue = q
	m, err := routing.NewMatcher(cfg.Rules)
	if err != nil {
		cat.Close()
		return nil, fmt.Errorf("rules: %w", err)
	}
	n.ingester = ingest.New(ingest.Config{Store: st, Catalog: cat, Matcher: m, Queue: q, Logger: log, Registry: n.reg,
		Extractor: elastographyExtractor{cfg: elastography.DefaultConfig()}})
	for _, dd := range deids {
		dd.ingester = n.ingester
	}
	n.auth = auth.New(cfg.Auth, nil) // dicomweb announces the open-loopback mode
	n.audit = log.With("component", "audit")
	n.dimse = dimse.NewServer(dimse.ServerConfig{
		AETitle:            cfg.Node.AETitle,
		AdditionalAETitles: additionalAETitles(cfg),
		MaxAssociations:    cfg.Node.MaxAssociations,
		MaxPDULength:       cfg.Node.MaxPDULength,
		ARTIMTimeout:       cfg.Node.Timeouts.ARTIM.Std(),
		IdleTimeout:        cfg.Node.Timeouts.Idle.Std(),
		AllowedCallingAEs:  cfg.Node.AllowedCallingAEs,
		Logger:             log,
		Registerer:         n.reg,
	}, &storeHandler{in: n.ingester, log: log})
	n.registerQR()
	n.registerCommit()
	n.dicomweb = dicomweb.New(dicomweb.Config{Catalog: cat, Store: st, Ingester: n.ingester, Auth: cfg.Auth,
		Logger: log, Registerer: n.reg, TempDir: cfg.Node.DataDir})
	n.pulls = newPullWorker(n)
	n.http = &http.Server{Handler: n.routes(), ReadHeaderTimeout: 10 * time.Second}
	return n, nil
}

func queueConfig(cfg config.Config) routing.QueueConfig {
	return routing.QueueConfig{
		Workers:     cfg.Routing.Workers,
		BaseBackoff: cfg.Routing.BaseBackoff.Std(),
		MaxBackoff:  cfg.Routing.MaxBackoff.Std(),
		MaxAttempts: cfg.Routing.MaxAttempts,
	}
}

// Start binds both listeners and starts serving and routing.
func (n *Node) Start(ctx context.Context) error {
	var err error
	if n.dimseLn, err = net.Listen("tcp", n.cfg.Node.DIMSEListen); err != nil {
		return fmt.Errorf("DIMSE listener: %w", err)
	}
	if n.httpLn, err = net.Listen("tcp", n.cfg.Node.HTTPListen); err != nil {
		n.dimseLn.Close()
		return fmt.Errorf("HTTP listener: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel = cancel
	n.startPulls(runCtx)
	n.wg.Add(3)
	go func() {
		defer n.wg.Done()
		if err := n.dimse.Serve(n.dimseLn); err != nil && !errors.Is(err, dimse.ErrServerClosed) {
			n.log.Error("DIMSE server stopped", "err", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		if err := n.http.Serve(n.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("HTTP server stopped", "err", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		if err := n.queue.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			n.log.Error("routing queue stopped", "err", err)
		}
	}()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.commit.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			n.log.Error("storage commitment stopped", "err", err)
		}
	}()
	n.mu.Lock()
	n.ready = true
	n.mu.Unlock()
	n.log.Info("sonogate started", "ae_title", n.cfg.Node.AETitle, "dimse", n.dimseLn.Addr().String(),
		"http", n.httpLn.Addr().String(), "data_dir", n.cfg.Node.DataDir, "catalog", n.catalog.Driver(),
		"destinations", len(n.cfg.Destinations), "rules", len(n.cfg.Rules))
	return nil
}

// DIMSEAddr is the bound DIMSE address (after Start).
func (n *Node) DIMSEAddr() net.Addr { return n.dimseLn.Addr() }

// HTTPAddr is the bound HTTP address (after Start).
func (n *Node) HTTPAddr() net.Addr { return n.httpLn.Addr() }

// spoolPrealloc is how many empty spool files the store keeps ready, so
// that creating a file (an inode allocation, slow on some file systems)
// is off the path between an instance's last byte and its response.
const spoolPrealloc = 8

// Shutdown stops accepting, drains open associations and requests until
// ctx ends, stops the routing workers and closes the catalog.
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	n.ready = false
	n.mu.Unlock()
	n.stopPulls() // before the DIMSE drain: a C-MOVE in progress keeps an association open
	var errs []error
	if err := n.dimse.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("DIMSE: %w", err))
	}
	if err := n.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("HTTP: %w", err))
	}
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
	if err := n.catalog.Close(); err != nil {
		errs = append(errs, fmt.Errorf("catalog: %w", err))
	}
	if err := n.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: %w", err))
	}
	return errors.Join(errs...)
}

// Catalog exposes the catalog (for tests and tools in this process).
func (n *Node) Catalog() *catalog.Catalog { return n.catalog }

func buildDestination(cfg config.Config, d config.Destination, log *slog.Logger) (routing.Destination, error) {
	if d.STOW != nil {
		return dicomweb.NewSTOWDestination(d.Name, *d.STOW, nil, log), nil
	}
	return routing.NewDestination(d, cfg.Node.AETitle, log)
}
