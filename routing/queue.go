package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonogate/sonogate/catalog"
)

// QueueConfig tunes a Queue. Zero values take the defaults in brackets.
type QueueConfig struct {
	// Workers caps concurrent sends across all destinations [unlimited:
	// the sum of the destinations' concurrency].
	Workers int
	// BaseBackoff and MaxBackoff bound the retry delay [5s, 10m].
	BaseBackoff, MaxBackoff time.Duration
	// MaxAttempts moves a job to the dead letter state after this many
	// failed attempts [10].
	MaxAttempts int
	// Lease is how long a claimed job belongs to this process; a crashed
	// process's jobs are claimed again after it [5m]. It must exceed the
	// time to send BatchSize instances.
	Lease time.Duration
	// PollInterval is how often idle workers look for due jobs (Kick wakes
	// them at once) [1s].
	PollInterval time.Duration
	// BatchSize is how many jobs a worker claims at a time [16]; the
	// delivered ones are completed together after the batch.
	BatchSize int
	// Destinations holds per-destination overrides by name.
	Destinations map[string]DestinationOptions
	// Resolve maps an instance's RelPath to the absolute file path
	// (store.Store.Path). Required.
	Resolve func(relPath string) string
	// Rand and Now replace the random source of the backoff jitter and the
	// clock (tests).
	Rand func() float64
	Now  func() time.Time
}

// DestinationOptions override queue settings for one destination.
type DestinationOptions struct {
	MaxAttempts int // > 0 overrides QueueConfig.MaxAttempts
	Concurrency int // workers for this destination [1]
}

// Queue runs the delivery workers over the catalog's job table.
type Queue struct {
	cat     *catalog.Catalog
	dests   map[string]Destination
	cfg     QueueConfig
	log     *slog.Logger
	backoff Backoff
	now     func() time.Time
	m       *queueMetrics
	sem     chan struct{} // nil: no global cap

	wakeMu sync.Mutex
	wake   chan struct{}
}

// NewQueue returns a queue delivering the jobs of the destinations in dests.
// Metrics are registered with reg when it is not nil.
func NewQueue(cat *catalog.Catalog, dests map[string]Destination, cfg QueueConfig, logger *slog.Logger, reg prometheus.Registerer) (*Queue, error) {
	if cat == nil {
		return nil, errors.New("routing: queue needs a catalog")
	}
	if cfg.Resolve == nil {
		return nil, errors.New("routing: queue needs QueueConfig.Resolve")
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = 5 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 5 * time.Minute
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 16
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	q := &Queue{
		cat:     cat,
		dests:   dests,
		cfg:     cfg,
		log:     logger.With("component", "routing"),
		backoff: Backoff{Base: cfg.BaseBackoff, Max: cfg.MaxBackoff, Rand: cfg.Rand},
		now:     cfg.Now,
		wake:    make(chan struct{}),
	}
	if q.now == nil {
		q.now = time.Now
	}
	if cfg.Workers > 0 {
		q.sem = make(chan struct{}, cfg.Workers)
	}
	m, err := newQueueMetrics(cat, reg, q.now)
	if err != nil {
		return nil, err
	}
	q.m = m
	return q, nil
}

// Kick wakes idle workers so that jobs committed just now are sent without
// waiting for the poll interval. It never blocks.
func (q *Queue) Kick() {
	q.wakeMu.Lock()
	close(q.wake)
	q.wake = make(chan struct{})
	q.wakeMu.Unlock()
}

func (q *Queue) wakeCh() <-chan struct{} {
	q.wakeMu.Lock()
	defer q.wakeMu.Unlock()
	return q.wake
}

// Run starts the workers and blocks until ctx is done, then waits for them.
// A send in progress is cancelled through ctx; its job is handed back
// (Release) or, if that fails, claimed again after its lease expires, so
// nothing is lost. Run returns nil after a shutdown by ctx.
func (q *Queue) Run(ctx context.Context) error {
	names := make([]string, 0, len(q.dests))
	for n := range q.dests {
		names = append(names, n)
	}
	sort.Strings(names)
	if known, err := q.cat.Destinations(ctx); err == nil {
		for _, d := range known {
			if _, ok := q.dests[d]; !ok {
				q.log.Warn("jobs for an unconfigured destination stay queued", "destination", d)
			}
		}
	}
	var wg sync.WaitGroup
	for _, name := range names {
		n := max(q.cfg.Destinations[name].Concurrency, 1)
		for i := range n {
			wg.Go(func() { q.worker(ctx, name, q.dests[name], i) })
		}
	}
	q.log.Info("routing queue started", "destinations", len(names))
	<-ctx.Done()
	wg.Wait()
	q.log.Info("routing queue stopped")
	return nil
}

func (q *Queue) maxAttempts(dest string) int {
	if n := q.cfg.Destinations[dest].MaxAttempts; n > 0 {
		return n
	}
	return q.cfg.MaxAttempts
}

func (q *Queue) worker(ctx context.Context, name string, d Destination, id int) {
	log := q.log.With("destination", name, "worker", id)
	timer := time.NewTimer(q.cfg.PollInterval)
	defer timer.Stop()
	for {
		wake := q.wakeCh() // before claiming, so a Kick during the claim is not lost
		jobs, err := q.cat.ClaimDue(ctx, name, q.cfg.BatchSize, q.now(), q.cfg.Lease)
		if err != nil && ctx.Err() == nil {
			log.Error("claim failed", "err", err)
		}
		sent := make([]int64, 0, len(jobs))
		for i := range jobs {
			if ctx.Err() != nil {
				q.release(log, jobs[i:])
				break
			}
			if q.process(ctx, log, d, &jobs[i]) {
				sent = append(sent, jobs[i].Job.ID)
			}
		}
		q.complete(log, sent)
		if ctx.Err() != nil {
			return
		}
		if len(jobs) > 0 && err == nil {
			continue // there may be more
		}
		timer.Reset(q.cfg.PollInterval)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-timer.C:
		}
	}
}

// ackCtx outlives a cancelled run context long enough to record an outcome.
func ackCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

func (q *Queue) release(log *slog.Logger, jobs []catalog.ClaimedJob) {
	ctx, cancel := ackCtx(context.Background())
	defer cancel()
	for _, j := range jobs {
		if err := q.cat.Release(ctx, j.Job.ID); err != nil {
			log.Warn("release on shutdown failed; the lease will expire", "job_id", j.Job.ID, "err", err)
		}
	}
}

// complete marks the jobs of a claimed batch that were delivered as done,
// in one catalog transaction. Until then they are inflight: a crash in
// between sends them again (delivery is at least once; a PACS takes an
// identical instance again as a no-op).
func (q *Queue) complete(log *slog.Logger, ids []int64) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := ackCtx(context.Background())
	defer cancel()
	n, err := q.cat.CompleteMany(ctx, ids)
	if err != nil {
		log.Warn("sent but could not mark done; they may be sent again", "jobs", len(ids), "err", err)
		return
	}
	if n < len(ids) {
		log.Warn("some delivered jobs were no longer ours to complete (lease expired)", "jobs", len(ids), "completed", n)
	}
}

// process delivers one claimed job and reports whether it was sent (the
// caller completes sent jobs in a batch); every other outcome is recorded
// here.
func (q *Queue) process(ctx context.Context, log *slog.Logger, d Destination, cj *catalog.ClaimedJob) bool {
	job, inst := cj.Job, &cj.Instance
	log = log.With("job_id", job.ID, "sop_instance_uid", inst.SOPInstanceUID, "attempt", job.Attempts)
	if q.sem != nil {
		select {
		case q.sem <- struct{}{}:
		case <-ctx.Done():
			q.release(log, []catalog.ClaimedJob{*cj})
			return false
		}
	}
	start := q.now()
	err := d.Send(ctx, inst, q.cfg.Resolve(inst.RelPath))
	elapsed := q.now().Sub(start)
	if q.sem != nil {
		<-q.sem
	}
	actx, cancel := ackCtx(ctx)
	defer cancel()
	if err == nil {
		q.m.sent(job.Destination, inst.Size, elapsed)
		log.Debug("sent", "seconds", elapsed.Seconds())
		return true
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// Shutdown interrupted the send: hand the job back untried.
		q.release(log, []catalog.ClaimedJob{*cj})
		return false
	}
	class := Classify(err)
	maxAtt := q.maxAttempts(job.Destination)
	if class == Permanent || job.Attempts >= maxAtt {
		reason := fmt.Sprintf("%s (attempt %d/%d, %s)", err, job.Attempts, maxAtt, class)
		if aerr := q.cat.Dead(actx, job.ID, reason); aerr != nil {
			log.Error("could not dead-letter job", "err", aerr)
			return false
		}
		q.m.dead(job.Destination)
		log.Warn("delivery failed; dead letter", "class", class.String(), "err", err)
		return false
	}
	delay := q.backoff.Delay(job.Attempts)
	if aerr := q.cat.Fail(actx, job.ID, err.Error(), q.now().Add(delay)); aerr != nil {
		log.Error("could not reschedule job; the lease will expire", "err", aerr)
		return false
	}
	q.m.retry(job.Destination)
	log.Info("delivery failed; will retry", "err", err, "retry_in", delay.String())
	return false
}
