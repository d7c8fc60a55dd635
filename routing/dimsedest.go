package routing

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dimse"
)

// DIMSEConfig configures a C-STORE SCU destination.
type DIMSEConfig struct {
	Name                string
	Addr                string // host:port
	CalledAE, CallingAE string
	MaxPDULength        uint32        // 0: dimse default
	DialTimeout         time.Duration // [10s]
	ResponseTimeout     time.Duration // [60s]
	IdleTimeout         time.Duration // release an unused association after [5s]
	MaxAssociations     int           // concurrent associations [1]
	Logger              *slog.Logger
}

// maxProposed bounds the presentation contexts proposed on one association
// (PS3.8 §9.3.2.2: context IDs are odd numbers 1–255, so at most 128).
const maxProposed = 100

type pcKey struct{ sopClass, ts string }

// pooled is one open association.
type pooled struct {
	a        *dimse.Association
	proposed map[pcKey]bool
	timer    *time.Timer
}

// DIMSE sends instances with C-STORE (PS3.4 Annex B, PS3.7 §9.1.1) over
// associations that stay open while jobs flow and are released after
// IdleTimeout. Each (SOP class, transfer syntax) seen is proposed as its own
// presentation context with exactly that transfer syntax, and the stored data
// set bytes are sent unchanged; an instance whose pair the peer does not
// accept fails permanently instead of being transcoded (field failure B10).
type DIMSE struct {
	cfg DIMSEConfig
	log *slog.Logger
	sem chan struct{}

	mu     sync.Mutex
	idle   []*pooled
	known  []pcKey // pairs to propose on new associations, most recent last
	closed bool
}

// NewDIMSE returns a C-STORE SCU destination.
func NewDIMSE(cfg DIMSEConfig) (*DIMSE, error) {
	if cfg.Addr == "" || cfg.CalledAE == "" || cfg.CallingAE == "" {
		return nil, errors.New("routing: dimse destination needs address, called and calling AE")
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = time.Minute
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Second
	}
	if cfg.MaxAssociations <= 0 {
		cfg.MaxAssociations = 1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DIMSE{
		cfg: cfg,
		log: log.With("component", "routing", "destination", cfg.Name, "called_ae", cfg.CalledAE),
		sem: make(chan struct{}, cfg.MaxAssociations),
	}, nil
}

// NewDestination builds the destination described by d. node.ae_title is
// the calling AE when d.DIMSE.CallingAE is empty. STOW-RS destinations are
// built by the dicomweb package.
func NewDestination(d config.Destination, nodeAE string, logger *slog.Logger) (Destination, error) {
	switch {
	case d.DIMSE != nil:
		calling := d.DIMSE.CallingAE
		if calling == "" {
			calling = nodeAE
		}
		return NewDIMSE(DIMSEConfig{
			Name:            d.Name,
			Addr:            net.JoinHostPort(d.DIMSE.Host, strconv.Itoa(d.DIMSE.Port)),
			CalledAE:        d.DIMSE.AETitle,
			CallingAE:       calling,
			MaxAssociations: d.Concurrency,
			Logger:          logger,
		})
	case d.Folder != nil:
		return NewFolder(d.Name, d.Folder.Path)
	case d.STOW != nil:
		return nil, fmt.Errorf("routing: destination %s: STOW-RS destinations are built by dicomweb", d.Name)
	}
	return nil, fmt.Errorf("routing: destination %s has no transport", d.Name)
}

// Name implements Destination.
func (d *DIMSE) Name() string { return d.cfg.Name }

// Send implements Destination.
func (d *DIMSE) Send(ctx context.Context, inst *catalog.Instance, path string) error {
	key := pcKey{inst.SOPClassUID, inst.TransferSyntaxUID}
	if key.sopClass == "" || key.ts == "" {
		return MarkPermanent(fmt.Errorf("routing: %s: instance %s has no SOP class or transfer syntax", d.cfg.Name, inst.SOPInstanceUID))
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("routing: %s: %w", d.cfg.Name, err)
	}
	defer f.Close()
	if _, err := f.Seek(inst.DataOffset, io.SeekStart); err != nil {
		return fmt.Errorf("routing: %s: %w", d.cfg.Name, err)
	}
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-d.sem }()

	p, err := d.get(ctx, key)
	if err != nil {
		return err
	}
	if !slices.Contains(p.a.Accepted(key.sopClass), key.ts) {
		d.put(p)
		return MarkPermanent(fmt.Errorf("routing: %s: %s does not accept SOP class %s in transfer syntax %s (no transcoding)",
			d.cfg.Name, d.cfg.CalledAE, key.sopClass, key.ts))
	}
	resp, err := p.a.Store(ctx, key.sopClass, inst.SOPInstanceUID, key.ts, bufio.NewReaderSize(f, 256<<10))
	var se *dimse.StatusError
	if errors.As(err, &se) {
		// A failure status: the association itself is fine.
		d.put(p)
		return fmt.Errorf("routing: %s: %w", d.cfg.Name, err)
	}
	if err != nil {
		_ = p.a.Abort()
		if errors.Is(err, dimse.ErrNoPresentationContext) {
			return MarkPermanent(fmt.Errorf("routing: %s: %w", d.cfg.Name, err))
		}
		return fmt.Errorf("routing: %s: c-store: %w", d.cfg.Name, err)
	}
	d.put(p)
	if resp.Status.IsSuccess() || resp.Status.IsWarning() {
		if resp.Status.IsWarning() {
			d.log.Info("c-store warning", "sop_instance_uid", inst.SOPInstanceUID, "status", resp.Status.String(), "comment", resp.ErrorComment)
		}
		return nil
	}
	return fmt.Errorf("routing: %s: %w", d.cfg.Name, &dimse.StatusError{Status: resp.Status, Comment: resp.ErrorComment})
}

// get returns an idle association that proposed key, or dials a new one
// proposing key and the other pairs seen recently.
func (d *DIMSE) get(ctx context.Context, key pcKey) (*pooled, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, errors.New("routing: destination closed")
	}
	// Remember key as most recent.
	if i := slices.Index(d.known, key); i >= 0 {
		d.known = slices.Delete(d.known, i, i+1)
	}
	d.known = append(d.known, key)
	if len(d.known) > maxProposed {
		d.known = slices.Delete(d.known, 0, len(d.known)-maxProposed)
	}
	for i := len(d.idle) - 1; i >= 0; i-- {
		p := d.idle[i]
		if p.proposed[key] {
			d.idle = slices.Delete(d.idle, i, i+1)
			p.timer.Stop()
			d.mu.Unlock()
			return p, nil
		}
	}
	// An idle association that cannot carry key is replaced: with the
	// semaphore held we would otherwise exceed MaxAssociations.
	var stale *pooled
	if len(d.idle) > 0 {
		stale = d.idle[0]
		d.idle = d.idle[1:]
		stale.timer.Stop()
	}
	pcs := make([]dimse.PresentationContextRequest, 0, len(d.known))
	proposed := make(map[pcKey]bool, len(d.known))
	for i := len(d.known) - 1; i >= 0; i-- { // most recent first
		k := d.known[i]
		pcs = append(pcs, dimse.PresentationContextRequest{AbstractSyntax: k.sopClass, TransferSyntaxes: []string{k.ts}})
		proposed[k] = true
	}
	d.mu.Unlock()
	if stale != nil {
		d.release(stale)
	}
	a, err := dimse.Dial(ctx, d.cfg.Addr, dimse.ClientConfig{
		CallingAE:       d.cfg.CallingAE,
		CalledAE:        d.cfg.CalledAE,
		MaxPDULength:    d.cfg.MaxPDULength,
		DialTimeout:     d.cfg.DialTimeout,
		ResponseTimeout: d.cfg.ResponseTimeout,
		Logger:          d.log,
	}, pcs)
	if err != nil {
		return nil, fmt.Errorf("routing: %s: associate: %w", d.cfg.Name, err)
	}
	d.log.Debug("association opened", "contexts", len(pcs))
	return &pooled{a: a, proposed: proposed}, nil
}

// put returns an association to the idle list; it is released after
// IdleTimeout unless used again.
func (d *DIMSE) put(p *pooled) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		d.release(p)
		return
	}
	d.idle = append(d.idle, p)
	p.timer = time.AfterFunc(d.cfg.IdleTimeout, func() {
		d.mu.Lock()
		i := slices.Index(d.idle, p)
		if i < 0 {
			d.mu.Unlock()
			return
		}
		d.idle = slices.Delete(d.idle, i, i+1)
		d.mu.Unlock()
		d.release(p)
		d.log.Debug("idle association released")
	})
	d.mu.Unlock()
}

func (d *DIMSE) release(p *pooled) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.a.Release(ctx); err != nil {
		_ = p.a.Abort()
	}
}

// Close releases the idle associations; later Sends fail.
func (d *DIMSE) Close() error {
	d.mu.Lock()
	d.closed = true
	idle := d.idle
	d.idle = nil
	d.mu.Unlock()
	for _, p := range idle {
		p.timer.Stop()
		d.release(p)
	}
	return nil
}
