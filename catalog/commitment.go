package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CommitmentState is the life-cycle state of a Storage Commitment request.
type CommitmentState string

// Commitment states.
const (
	// CommitmentPending: accepted (N-ACTION-RSP Success sent), result not
	// yet delivered to the requester.
	CommitmentPending CommitmentState = "pending"
	// CommitmentReported: the N-EVENT-REPORT was answered by the requester.
	CommitmentReported CommitmentState = "reported"
)

// CommitmentItem is one Referenced SOP Sequence item of a request.
type CommitmentItem struct {
	SOPClassUID    string // (0008,1150)
	SOPInstanceUID string // (0008,1155)
	// FailureReason (0008,1197) as reported; 0 = committed or not yet
	// reported.
	FailureReason uint16
}

// Commitment is a Storage Commitment Push Model request (PS3.4 J.3.2) kept
// until its result has been reported, so that it survives a restart.
type Commitment struct {
	ID             int64
	TransactionUID string // (0008,1195)
	RequesterAE    string // calling AE of the N-ACTION: where the report goes
	CalledAE       string // the AE the requester called: our calling AE when reporting (B12)
	Items          []CommitmentItem
	State          CommitmentState
	CreatedAt      time.Time
	Attempts       int       // report attempts that failed so far
	NextAttemptAt  time.Time // zero: now
	LastError      string
	EventType      uint16 // 1 or 2 once reported
	ReportedAt     time.Time
}

const commitmentCols = `id, transaction_uid, requester_ae, called_ae, state, created_at, attempts, next_attempt_at, last_error, event_type, reported_at`

// AddCommitment records a pending request with its items. A request with
// the same requester and Transaction UID that is already recorded is a
// resend: nothing is inserted, c is filled from the stored row and created
// is false. CreatedAt defaults to now.
func (c *Catalog) AddCommitment(ctx context.Context, cm *Commitment) (created bool, err error) {
	if cm.CreatedAt.IsZero() {
		cm.CreatedAt = c.now()
	}
	cm.State = CommitmentPending
	err = c.withTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, c.q(`SELECT id FROM commitments WHERE requester_ae = ? AND transaction_uid = ?`),
			cm.RequesterAE, cm.TransactionUID).Scan(&id)
		if err == nil {
			cm.ID = id
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := tx.QueryRowContext(ctx, c.q(`INSERT INTO commitments (transaction_uid, requester_ae, called_ae, state, created_at)
			VALUES (?, ?, ?, ?, ?) RETURNING id`), cm.TransactionUID, cm.RequesterAE, cm.CalledAE, string(cm.State), micros(cm.CreatedAt)).Scan(&cm.ID); err != nil {
			return err
		}
		for i, it := range cm.Items {
			if _, err := tx.ExecContext(ctx, c.q(`INSERT INTO commitment_items (commitment_id, position, sop_class_uid, sop_instance_uid)
				VALUES (?, ?, ?, ?)`), cm.ID, i, it.SOPClassUID, it.SOPInstanceUID); err != nil {
				return err
			}
		}
		created = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("catalog: add commitment: %w", err)
	}
	if !created {
		stored, err := c.CommitmentByID(ctx, cm.ID)
		if err != nil {
			return false, err
		}
		*cm = *stored
	}
	return created, nil
}

func scanCommitment(row interface{ Scan(...any) error }) (*Commitment, error) {
	var cm Commitment
	var state string
	var created, next, reported int64
	var ev int
	if err := row.Scan(&cm.ID, &cm.TransactionUID, &cm.RequesterAE, &cm.CalledAE, &state, &created, &cm.Attempts, &next,
		&cm.LastError, &ev, &reported); err != nil {
		return nil, err
	}
	cm.State, cm.CreatedAt, cm.NextAttemptAt, cm.ReportedAt, cm.EventType = CommitmentState(state), fromMicros(created), fromMicros(next), fromMicros(reported), uint16(ev)
	return &cm, nil
}

func (c *Catalog) commitmentItems(ctx context.Context, cm *Commitment) error {
	rows, err := c.r.QueryContext(ctx, c.q(`SELECT sop_class_uid, sop_instance_uid, failure_reason FROM commitment_items
		WHERE commitment_id = ? ORDER BY position`), cm.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	cm.Items = nil
	for rows.Next() {
		var it CommitmentItem
		var fr int
		if err := rows.Scan(&it.SOPClassUID, &it.SOPInstanceUID, &fr); err != nil {
			return err
		}
		it.FailureReason = uint16(fr)
		cm.Items = append(cm.Items, it)
	}
	return rows.Err()
}

// CommitmentByID returns one request with its items, or ErrNotFound.
func (c *Catalog) CommitmentByID(ctx context.Context, id int64) (*Commitment, error) {
	cm, err := scanCommitment(c.r.QueryRowContext(ctx, c.q(`SELECT `+commitmentCols+` FROM commitments WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: commitment: %w", err)
	}
	if err := c.commitmentItems(ctx, cm); err != nil {
		return nil, fmt.Errorf("catalog: commitment items: %w", err)
	}
	return cm, nil
}

// PendingCommitments returns the pending requests, oldest first, with
// their items (at most limit; 0 means 100).
func (c *Catalog) PendingCommitments(ctx context.Context, limit int) ([]Commitment, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := c.r.QueryContext(ctx, c.q(`SELECT `+commitmentCols+` FROM commitments WHERE state = ? ORDER BY id LIMIT ?`),
		string(CommitmentPending), limit)
	if err != nil {
		return nil, fmt.Errorf("catalog: pending commitments: %w", err)
	}
	var out []Commitment
	for rows.Next() {
		cm, err := scanCommitment(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("catalog: pending commitments: %w", err)
		}
		out = append(out, *cm)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("catalog: pending commitments: %w", err)
	}
	for i := range out {
		if err := c.commitmentItems(ctx, &out[i]); err != nil {
			return nil, fmt.Errorf("catalog: commitment items: %w", err)
		}
	}
	return out, nil
}

// CommitmentRetry records a failed report attempt; the report is due again
// at next.
func (c *Catalog) CommitmentRetry(ctx context.Context, id int64, errText string, next time.Time) error {
	res, err := c.w.ExecContext(ctx, c.q(`UPDATE commitments SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?
		WHERE id = ? AND state = ?`), errText, micros(next), id, string(CommitmentPending))
	if err != nil {
		return fmt.Errorf("catalog: commitment retry: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrState
	}
	return nil
}

// CommitmentReported marks a request reported with the event type sent
// and the failure reason of each item (items in request order).
func (c *Catalog) CommitmentReported(ctx context.Context, id int64, eventType uint16, items []CommitmentItem) error {
	return c.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, c.q(`UPDATE commitments SET state = ?, event_type = ?, reported_at = ?, last_error = ''
			WHERE id = ? AND state = ?`), string(CommitmentReported), int(eventType), micros(c.now()), id, string(CommitmentPending))
		if err != nil {
			return fmt.Errorf("catalog: commitment reported: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrState
		}
		for i, it := range items {
			if _, err := tx.ExecContext(ctx, c.q(`UPDATE commitment_items SET failure_reason = ? WHERE commitment_id = ? AND position = ?`),
				int(it.FailureReason), id, i); err != nil {
				return fmt.Errorf("catalog: commitment reported: %w", err)
			}
		}
		return nil
	})
}

// DeliveryStates returns the states of the jobs to destination of every
// stored version of a SOP Instance UID in a namespace (empty when the
// instance is unknown or was never routed there).
func (c *Catalog) DeliveryStates(ctx context.Context, ns, sopInstanceUID, destination string) ([]JobState, error) {
	rows, err := c.r.QueryContext(ctx, c.q(`SELECT j.state FROM jobs j JOIN instances i ON i.id = j.instance_id
		WHERE i.namespace = ? AND i.sop_instance_uid = ? AND j.destination = ? ORDER BY j.id`), ns, sopInstanceUID, destination)
	if err != nil {
		return nil, fmt.Errorf("catalog: delivery states: %w", err)
	}
	defer rows.Close()
	var out []JobState
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("catalog: delivery states: %w", err)
		}
		out = append(out, JobState(s))
	}
	return out, rows.Err()
}
