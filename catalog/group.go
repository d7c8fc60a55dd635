package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// ErrClosed is returned by commits after Close.
var ErrClosed = errors.New("catalog: closed")

// maxGroup bounds the instances committed in one group transaction.
const maxGroup = 256

// groupCommitter merges concurrent CommitInstance calls into one
// transaction (group commit): one goroutine takes every commit queued
// while the previous transaction ran and commits them together, so that N
// concurrent receivers pay for one durable commit (one WAL fsync with
// synchronous=FULL) instead of N. Each caller returns only after the
// transaction holding its instance has committed, so an instance is never
// acknowledged before it is durable. A failed group is retried one
// instance at a time, so that one bad instance fails alone.
type groupCommitter struct {
	c    *Catalog
	q    chan *commitReq
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type commitReq struct {
	ctx     context.Context
	inst    *Instance
	jobs    []JobSpec
	reports []Report
	res     CommitResult
	err     error
	done    chan struct{}
}

func newGroupCommitter(c *Catalog) *groupCommitter {
	g := &groupCommitter{c: c, q: make(chan *commitReq, 4*maxGroup), stop: make(chan struct{}), done: make(chan struct{})}
	go g.loop()
	return g
}

func (g *groupCommitter) close() {
	g.once.Do(func() { close(g.stop) })
	<-g.done
}

func (g *groupCommitter) commit(ctx context.Context, inst *Instance, jobs []JobSpec, reports []Report) (CommitResult, error) {
	r := &commitReq{ctx: ctx, inst: inst, jobs: jobs, reports: reports, done: make(chan struct{})}
	select {
	case g.q <- r:
	case <-g.stop:
		return CommitResult{}, ErrClosed
	case <-ctx.Done():
		return CommitResult{}, ctx.Err()
	}
	// Once queued, wait for the outcome even if ctx ends: the instance
	// may be in a transaction that is committing.
	select {
	case <-r.done:
	case <-g.done:
		select {
		case <-r.done:
		default:
			return CommitResult{}, ErrClosed
		}
	}
	return r.res, r.err
}

func (g *groupCommitter) loop() {
	defer close(g.done)
	for {
		var first *commitReq
		select {
		case first = <-g.q:
		case <-g.stop:
			return
		}
		batch := []*commitReq{first}
	drain:
		for len(batch) < maxGroup {
			select {
			case r := <-g.q:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		g.run(batch)
	}
}

func (g *groupCommitter) run(batch []*commitReq) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	if len(live) > 1 {
		if g.runGroup(live) {
			return
		}
	}
	for _, r := range live {
		r.res, r.err = g.c.commitAlone(context.WithoutCancel(r.ctx), r.inst, r.jobs, r.reports)
		close(r.done)
	}
}

// runGroup commits every request in one transaction; false (nothing
// committed, nobody released) when that fails.
func (g *groupCommitter) runGroup(batch []*commitReq) bool {
	c := g.c
	ctx := context.WithoutCancel(batch[0].ctx)
	res := make([]CommitResult, len(batch))
	for attempt := 0; attempt <= maxCommitRetries; attempt++ {
		err := c.withTx(ctx, func(tx *sql.Tx) error {
			for i, r := range batch {
				var err error
				if res[i], err = c.commitInTx(ctx, tx, r.inst, r.jobs, r.reports); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			for i, r := range batch {
				r.inst.ID, r.inst.Version = res[i].ID, res[i].Version
				r.res = res[i]
				close(r.done)
			}
			return true
		}
		if !c.d.isUnique(err) {
			c.log.Warn("group commit failed; committing one by one", "instances", len(batch), "err", fmt.Sprint(err))
			return false
		}
	}
	return false
}
