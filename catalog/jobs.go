package catalog

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// JobState is the life-cycle state of a routing job.
type JobState string

// Job states.
const (
	JobPending  JobState = "pending"  // waiting for NextAttemptAt
	JobInflight JobState = "inflight" // claimed by a worker until LeaseUntil
	JobDone     JobState = "done"     // delivered
	JobDead     JobState = "dead"     // dead letter: permanent failure or attempts exhausted
)

// Job is one delivery of one instance to one destination.
type Job struct {
	ID            int64
	InstanceID    int64
	Destination   string
	Rule          string
	State         JobState
	Attempts      int // attempts started so far (incremented by each claim)
	NextAttemptAt time.Time
	LeaseUntil    time.Time // zero unless inflight
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// ClaimedJob is a job handed to a worker together with its instance.
type ClaimedJob struct {
	Job      Job
	Instance Instance
}

// JobFilter selects jobs for List; zero fields do not filter.
type JobFilter struct {
	Destination string
	State       JobState
	Limit       int // default 100, at most 1000
	Offset      int
}

// DestinationStats counts the jobs of one destination.
type DestinationStats struct {
	Destination string
	Counts      map[JobState]int64
	// OldestPending is the creation time of the oldest undelivered job
	// (pending or inflight); zero when there is none.
	OldestPending time.Time
}

// maxErrText bounds the stored error text.
const maxErrText = 1024

const jobCols = `id, instance_id, destination, rule, state, attempts, next_attempt_at, lease_until, last_error, created_at, updated_at`

func jobDest(j *Job) ([]any, func()) {
	var next, lease, created, updated int64
	var state string
	d := []any{&j.ID, &j.InstanceID, &j.Destination, &j.Rule, &state, &j.Attempts, &next, &lease, &j.LastError, &created, &updated}
	return d, func() {
		j.State = JobState(state)
		j.NextAttemptAt, j.LeaseUntil = fromMicros(next), fromMicros(lease)
		j.CreatedAt, j.UpdatedAt = fromMicros(created), fromMicros(updated)
	}
}

// ClaimDue claims up to limit jobs of destination that are due at now:
// pending jobs whose NextAttemptAt has passed and inflight jobs whose lease
// has expired (their worker died). Each claimed job becomes inflight until
// now+lease and its Attempts is incremented. Jobs come oldest due first.
func (c *Catalog) ClaimDue(ctx context.Context, destination string, limit int, now time.Time, lease time.Duration) ([]ClaimedJob, error) {
	if limit <= 0 {
		return nil, nil
	}
	n := micros(now)
	var out []ClaimedJob
	err := c.withLazyTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.StmtContext(ctx, c.stmts.claim).QueryContext(ctx, micros(now.Add(lease)), n, destination, n, n, limit)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		claimed := tx.StmtContext(ctx, c.stmts.claimed)
		for _, id := range ids {
			var cj ClaimedJob
			jd, jf := jobDest(&cj.Job)
			idest, ifin := instanceDest(&cj.Instance)
			if err := claimed.QueryRowContext(ctx, id).Scan(append(jd, idest...)...); err != nil {
				return err
			}
			jf()
			ifin()
			out = append(out, cj)
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].Job.NextAttemptAt.Equal(out[j].Job.NextAttemptAt) {
				return out[i].Job.ID < out[j].Job.ID
			}
			return out[i].Job.NextAttemptAt.Before(out[j].Job.NextAttemptAt)
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: claim %s: %w", destination, err)
	}
	return out, nil
}

// withLazyTx runs fn in a write transaction whose commit is not flushed
// to disk on its own (SQLite: synchronous=NORMAL for this transaction;
// PostgreSQL: synchronous_commit off): it becomes durable with the next
// durable commit, or is lost in a crash before that. For the routing
// workers' bookkeeping (claims, completions) that is safe, because a lost
// claim makes the job due again and a lost completion sends the instance
// again (at-least-once delivery), and it keeps one flush per delivered
// instance off the disk that the ingest commits wait on.
func (c *Catalog) withLazyTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if c.d.name == "postgres" {
		return c.withTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
				return err
			}
			return fn(tx)
		})
	}
	conn, err := c.w.Conn(ctx) // the only writer connection: nothing else runs on it meanwhile
	if err != nil {
		return fmt.Errorf("catalog: writer connection: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	txErr := runTx(ctx, conn, fn)
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = FULL`); err != nil {
		// Never leave the writer connection without full durability: drop it.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		return errors.Join(txErr, fmt.Errorf("catalog: restore synchronous=FULL: %w", err))
	}
	return txErr
}

func prefixInstanceCols(p string) string {
	fields := strings.Split(instanceCols, ",")
	for i, f := range fields {
		fields[i] = p + strings.TrimSpace(f)
	}
	return strings.Join(fields, ", ")
}

// transition runs an UPDATE on one job and maps "no row changed" to
// ErrNotFound or ErrState.
func (c *Catalog) transition(ctx context.Context, id int64, what, query string, args ...any) error {
	res, err := c.w.ExecContext(ctx, c.q(query), args...)
	if err != nil {
		return fmt.Errorf("catalog: %s job %d: %w", what, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("catalog: %s job %d: %w", what, id, err)
	}
	if n == 1 {
		return nil
	}
	var state string
	err = c.w.QueryRowContext(ctx, c.q(`SELECT state FROM jobs WHERE id = ?`), id).Scan(&state)
	if err == sql.ErrNoRows {
		return fmt.Errorf("%w: job %d", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("catalog: %s job %d: %w", what, id, err)
	}
	return fmt.Errorf("%w: %s job %d in state %s", ErrState, what, id, state)
}

func truncErr(s string) string {
	if len(s) <= maxErrText {
		return s
	}
	// Cut at a rune boundary.
	cut := maxErrText
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut]
}

// Complete marks an inflight job delivered.
func (c *Catalog) Complete(ctx context.Context, id int64) error {
	now := micros(c.now())
	return c.transition(ctx, id, "complete", `UPDATE jobs SET state = 'done', lease_until = 0, last_error = '', updated_at = ?
		WHERE id = ? AND state = 'inflight'`, now, id)
}

// CompleteMany marks inflight jobs done in one transaction (made durable
// with the next durable commit, see withLazyTx) and returns how many it
// changed; a job
// that is no longer inflight (its lease expired and another worker claimed
// it) is left as it is.
func (c *Catalog) CompleteMany(ctx context.Context, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, micros(c.now()))
	for _, id := range ids {
		args = append(args, id)
	}
	var n int64
	err := c.withLazyTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, c.q(`UPDATE jobs SET state = 'done', lease_until = 0, last_error = '', updated_at = ?
		WHERE id IN (?`+repeat(", ?", len(ids)-1)+`) AND state = 'inflight'`), args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("catalog: complete %d jobs: %w", len(ids), err)
	}
	return int(n), nil
}

// Fail returns an inflight job to pending, due again at next.
func (c *Catalog) Fail(ctx context.Context, id int64, errText string, next time.Time) error {
	now := micros(c.now())
	return c.transition(ctx, id, "fail", `UPDATE jobs SET state = 'pending', lease_until = 0, last_error = ?, next_attempt_at = ?, updated_at = ?
		WHERE id = ? AND state = 'inflight'`, truncErr(errText), micros(next), now, id)
}

// Dead moves a pending or inflight job to the dead letter state.
func (c *Catalog) Dead(ctx context.Context, id int64, errText string) error {
	now := micros(c.now())
	return c.transition(ctx, id, "dead", `UPDATE jobs SET state = 'dead', lease_until = 0, last_error = ?, updated_at = ?
		WHERE id = ? AND state IN ('pending', 'inflight')`, truncErr(errText), now, id)
}

// Requeue moves a dead job back to pending, due now, with attempts reset.
// The last error is kept for the operator.
func (c *Catalog) Requeue(ctx context.Context, id int64) error {
	now := micros(c.now())
	return c.transition(ctx, id, "requeue", `UPDATE jobs SET state = 'pending', attempts = 0, lease_until = 0, next_attempt_at = ?, updated_at = ?
		WHERE id = ? AND state = 'dead'`, now, now, id)
}

// Release hands an inflight job back untried (for example on shutdown
// before its send started): pending, due now, and the attempt counted by
// the claim is given back.
func (c *Catalog) Release(ctx context.Context, id int64) error {
	now := micros(c.now())
	return c.transition(ctx, id, "release", `UPDATE jobs SET state = 'pending', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
		lease_until = 0, next_attempt_at = ?, updated_at = ?
		WHERE id = ? AND state = 'inflight'`, now, now, id)
}

// RecoverInflight makes every inflight job pending and due now, keeping
// the attempt its claim counted (the send may have been under way). Call it
// at start-up when this process is the only one using the catalog (the
// SQLite default): jobs a killed process had claimed are then resumed at
// once instead of when their lease expires. Several replicas sharing a
// PostgreSQL catalog must not call it; they rely on lease expiry.
func (c *Catalog) RecoverInflight(ctx context.Context) (int64, error) {
	now := micros(c.now())
	res, err := c.w.ExecContext(ctx, c.q(`UPDATE jobs SET state = 'pending', lease_until = 0, next_attempt_at = ?, updated_at = ?
		WHERE state = 'inflight'`), now, now)
	if err != nil {
		return 0, fmt.Errorf("catalog: recover inflight jobs: %w", err)
	}
	return res.RowsAffected()
}

// Job returns one job by id, or ErrNotFound.
func (c *Catalog) Job(ctx context.Context, id int64) (*Job, error) {
	var j Job
	d, fin := jobDest(&j)
	err := c.r.QueryRowContext(ctx, c.q(`SELECT `+jobCols+` FROM jobs WHERE id = ?`), id).Scan(d...)
	if err == sql.ErrNoRows {
		return nil, fmt.Errorf("%w: job %d", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: job %d: %w", id, err)
	}
	fin()
	return &j, nil
}

// List returns jobs matching f in id order.
func (c *Catalog) List(ctx context.Context, f JobFilter) ([]Job, error) {
	var where []string
	var args []any
	if f.Destination != "" {
		where = append(where, "destination = ?")
		args = append(args, f.Destination)
	}
	if f.State != "" {
		where = append(where, "state = ?")
		args = append(args, string(f.State))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	q := `SELECT ` + jobCols + ` FROM jobs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id LIMIT ? OFFSET ?`
	args = append(args, limit, max(f.Offset, 0))
	rows, err := c.r.QueryContext(ctx, c.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		var j Job
		d, fin := jobDest(&j)
		if err := rows.Scan(d...); err != nil {
			return nil, fmt.Errorf("catalog: scan job: %w", err)
		}
		fin()
		out = append(out, j)
	}
	return out, rows.Err()
}

// Stats returns job counts per destination and state, destinations sorted.
func (c *Catalog) Stats(ctx context.Context) ([]DestinationStats, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT destination, state, COUNT(*),
		MIN(CASE WHEN state IN ('pending', 'inflight') THEN created_at END)
		FROM jobs GROUP BY destination, state ORDER BY destination`)
	if err != nil {
		return nil, fmt.Errorf("catalog: stats: %w", err)
	}
	defer rows.Close()
	var out []DestinationStats
	for rows.Next() {
		var dest, state string
		var n int64
		var oldest sql.NullInt64
		if err := rows.Scan(&dest, &state, &n, &oldest); err != nil {
			return nil, fmt.Errorf("catalog: scan stats: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].Destination != dest {
			out = append(out, DestinationStats{Destination: dest, Counts: map[JobState]int64{}})
		}
		s := &out[len(out)-1]
		s.Counts[JobState(state)] = n
		if oldest.Valid {
			t := fromMicros(oldest.Int64)
			if s.OldestPending.IsZero() || t.Before(s.OldestPending) {
				s.OldestPending = t
			}
		}
	}
	return out, rows.Err()
}

// Destinations returns the distinct destination names that have jobs.
func (c *Catalog) Destinations(ctx context.Context) ([]string, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT DISTINCT destination FROM jobs ORDER BY destination`)
	if err != nil {
		return nil, fmt.Errorf("catalog: destinations: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
