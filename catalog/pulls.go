package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PullState is the lifecycle state of a research pull.
type PullState string

// Pull states. A queued or running pull is resumed by the worker at
// start-up; done and failed are final.
const (
	PullQueued  PullState = "queued"
	PullRunning PullState = "running"
	PullDone    PullState = "done"
	PullFailed  PullState = "failed"
)

// Per-study states of a pull. Pending and Retrieved are resumable; the
// others are final.
const (
	PullStudyPending               = "pending"   // not yet looked at
	PullStudyRetrieved             = "retrieved" // in the clinical namespace, not yet de-identified
	PullStudyDone                  = "done"      // de-identified into the research namespace
	PullStudySkippedExisting       = "skipped_existing"
	PullStudySkippedNoElastography = "skipped_no_elastography"
	PullStudyFailed                = "failed"
)

// Pull is one research cohort pull: the criteria (opaque JSON the caller
// defines), its state and whether the study list has been recorded.
type Pull struct {
	ID         int64
	State      PullState
	Criteria   []byte
	Listed     bool // the C-FIND ran and its studies are in PullStudies
	Error      string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt time.Time
}

// PullStudy is the progress of one study of a pull.
type PullStudy struct {
	PullID                int64
	StudyInstanceUID      string
	Seq                   int // order found
	ExpectedInstances     int // NumberOfStudyRelatedInstances from the PACS; -1 unknown
	State                 string
	Retrieved             bool // a C-MOVE brought the study (false: it was already held)
	InstancesRetrieved    int
	InstancesDeidentified int
	InstancesQuarantined  int
	Error                 string
	UpdatedAt             time.Time
}

const pullCols = `id, state, criteria, listed, error, created_at, updated_at, finished_at`

func scanPull(s scanner) (Pull, error) {
	var p Pull
	var state, criteria string
	var listed int
	var created, updated, finished int64
	err := s.Scan(&p.ID, &state, &criteria, &listed, &p.Error, &created, &updated, &finished)
	p.State, p.Criteria, p.Listed = PullState(state), []byte(criteria), listed == 1
	p.CreatedAt, p.UpdatedAt, p.FinishedAt = fromMicros(created), fromMicros(updated), fromMicros(finished)
	return p, err
}

// CreatePull records a queued pull and returns its id.
func (c *Catalog) CreatePull(ctx context.Context, criteria []byte) (int64, error) {
	now := micros(c.now())
	var id int64
	err := c.w.QueryRowContext(ctx, c.q(`INSERT INTO pulls (state, criteria, listed, error, created_at, updated_at, finished_at)
		VALUES (?, ?, 0, '', ?, ?, 0) RETURNING id`), string(PullQueued), string(criteria), now, now).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("catalog: create pull: %w", err)
	}
	return id, nil
}

// PullByID returns one pull, or ErrNotFound.
func (c *Catalog) PullByID(ctx context.Context, id int64) (*Pull, error) {
	p, err := scanPull(c.r.QueryRowContext(ctx, c.q(`SELECT `+pullCols+` FROM pulls WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: pull %d", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: pull %d: %w", id, err)
	}
	return &p, nil
}

// Pulls lists pulls, newest first; states (if any) filter.
func (c *Catalog) Pulls(ctx context.Context, limit int, states ...PullState) ([]Pull, error) {
	q := `SELECT ` + pullCols + ` FROM pulls`
	var args []any
	if len(states) > 0 {
		q += ` WHERE state IN (?` + repeat(", ?", len(states)-1) + `)`
		for _, s := range states {
			args = append(args, string(s))
		}
	}
	if limit <= 0 {
		limit = 100
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := c.r.QueryContext(ctx, c.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: pulls: %w", err)
	}
	defer rows.Close()
	var out []Pull
	for rows.Next() {
		p, err := scanPull(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: pulls: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// SetPullState moves a pull to state with an error text ("" for none);
// done and failed also set FinishedAt.
func (c *Catalog) SetPullState(ctx context.Context, id int64, state PullState, errText string) error {
	now := micros(c.now())
	finished := int64(0)
	if state == PullDone || state == PullFailed {
		finished = now
	}
	res, err := c.w.ExecContext(ctx, c.q(`UPDATE pulls SET state = ?, error = ?, updated_at = ?, finished_at = ? WHERE id = ?`),
		string(state), truncErr(errText), now, finished, id)
	if err != nil {
		return fmt.Errorf("catalog: pull %d state: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: pull %d", ErrNotFound, id)
	}
	return nil
}

// ListPullStudies records the studies a pull's query found, in order, as
// pending, and marks the pull listed, in one transaction. Studies already
// recorded for the pull keep their progress.
func (c *Catalog) ListPullStudies(ctx context.Context, id int64, studies []PullStudy) error {
	now := micros(c.now())
	return c.withTx(ctx, func(tx *sql.Tx) error {
		for i, s := range studies {
			if _, err := tx.ExecContext(ctx, c.q(`INSERT INTO pull_studies (pull_id, study_instance_uid, seq, expected_instances, state, updated_at)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (pull_id, study_instance_uid) DO NOTHING`),
				id, s.StudyInstanceUID, i, s.ExpectedInstances, PullStudyPending, now); err != nil {
				return fmt.Errorf("catalog: pull %d studies: %w", id, err)
			}
		}
		if _, err := tx.ExecContext(ctx, c.q(`UPDATE pulls SET listed = 1, updated_at = ? WHERE id = ?`), now, id); err != nil {
			return fmt.Errorf("catalog: pull %d listed: %w", id, err)
		}
		return nil
	})
}

// PullStudies returns the studies of a pull in the order found.
func (c *Catalog) PullStudies(ctx context.Context, id int64) ([]PullStudy, error) {
	rows, err := c.r.QueryContext(ctx, c.q(`SELECT pull_id, study_instance_uid, seq, expected_instances, state, retrieved, instances_retrieved,
		instances_deidentified, instances_quarantined, error, updated_at FROM pull_studies WHERE pull_id = ? ORDER BY seq`), id)
	if err != nil {
		return nil, fmt.Errorf("catalog: pull %d studies: %w", id, err)
	}
	defer rows.Close()
	var out []PullStudy
	for rows.Next() {
		var s PullStudy
		var updated, retrieved int64
		if err := rows.Scan(&s.PullID, &s.StudyInstanceUID, &s.Seq, &s.ExpectedInstances, &s.State, &retrieved, &s.InstancesRetrieved,
			&s.InstancesDeidentified, &s.InstancesQuarantined, &s.Error, &updated); err != nil {
			return nil, fmt.Errorf("catalog: pull %d studies: %w", id, err)
		}
		s.UpdatedAt, s.Retrieved = fromMicros(updated), retrieved == 1
		out = append(out, s)
	}
	return out, rows.Err()
}

// UpdatePullStudy stores the progress of one study (state, counts, error).
func (c *Catalog) UpdatePullStudy(ctx context.Context, s PullStudy) error {
	now := micros(c.now())
	retrieved := 0
	if s.Retrieved {
		retrieved = 1
	}
	res, err := c.w.ExecContext(ctx, c.q(`UPDATE pull_studies SET state = ?, retrieved = ?, instances_retrieved = ?, instances_deidentified = ?,
		instances_quarantined = ?, error = ?, updated_at = ? WHERE pull_id = ? AND study_instance_uid = ?`),
		s.State, retrieved, s.InstancesRetrieved, s.InstancesDeidentified, s.InstancesQuarantined, truncErr(s.Error), now, s.PullID, s.StudyInstanceUID)
	if err != nil {
		return fmt.Errorf("catalog: pull %d study: %w", s.PullID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: pull %d study %s", ErrNotFound, s.PullID, s.StudyInstanceUID)
	}
	if _, err := c.w.ExecContext(ctx, c.q(`UPDATE pulls SET updated_at = ? WHERE id = ?`), now, s.PullID); err != nil {
		return fmt.Errorf("catalog: pull %d: %w", s.PullID, err)
	}
	return nil
}

// CountInstances returns how many distinct SOP instances of a study a
// namespace holds (any version counted once).
func (c *Catalog) CountInstances(ctx context.Context, ns, study string) (int, error) {
	var n int
	err := c.r.QueryRowContext(ctx, c.q(`SELECT COUNT(DISTINCT sop_instance_uid) FROM instances WHERE namespace = ? AND study_instance_uid = ?`),
		ns, study).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("catalog: count instances: %w", err)
	}
	return n, nil
}
