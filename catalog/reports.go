package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Report is one stored measurement report (an elastography report as
// JSON in Body), linked to the instance it was extracted from. The
// catalog does not interpret Body; the filter keys stand beside it.
type Report struct {
	ID               int64
	InstanceID       int64
	Namespace        string
	SOPInstanceUID   string
	StudyInstanceUID string
	PatientID        string
	StudyDate        string // DICOM DA, YYYYMMDD
	Method           string
	Site             string
	Kind             string // e.g. "sr_standard", "sr_vendor", "image_only"
	Reliable         bool
	Body             []byte
	CreatedAt        time.Time
}

// ReportFilter selects reports; zero fields do not filter. Dates are
// YYYYMMDD, inclusive.
type ReportFilter struct {
	Namespace        string
	PatientID        string
	StudyInstanceUID string
	DateFrom, DateTo string
	Method           string
	Reliable         *bool
	Limit, Offset    int // Limit default 100, at most 10000
}

const reportCols = `instance_id, namespace, sop_instance_uid, study_instance_uid, patient_id, study_date, method, site, kind, reliable, body, created_at`

// ReportKindImageOnly marks a placeholder for an exam whose results exist
// only as images: it stands until a report with values arrives for the
// same study, which replaces it.
const ReportKindImageOnly = "image_only"

// insertReports adds reports for instanceID inside tx. A report with
// values removes the study's image-only placeholders; a placeholder is not
// added to a study that already has values.
func (c *Catalog) insertReports(ctx context.Context, tx *sql.Tx, inst *Instance, instanceID int64, reports []Report) error {
	now := micros(c.now())
	for _, r := range reports {
		if r.Kind == ReportKindImageOnly {
			var n int
			if err := tx.QueryRowContext(ctx, c.q(`SELECT COUNT(*) FROM reports WHERE namespace = ? AND study_instance_uid = ? AND kind <> ?`),
				inst.Namespace, inst.StudyInstanceUID, ReportKindImageOnly).Scan(&n); err != nil {
				return fmt.Errorf("count reports: %w", err)
			}
			if n > 0 {
				continue
			}
		} else if _, err := tx.ExecContext(ctx, c.q(`DELETE FROM reports WHERE namespace = ? AND study_instance_uid = ? AND kind = ?`),
			inst.Namespace, inst.StudyInstanceUID, ReportKindImageOnly); err != nil {
			return fmt.Errorf("replace image-only reports: %w", err)
		}
		rel := 0
		if r.Reliable {
			rel = 1
		}
		if _, err := tx.ExecContext(ctx, c.q(`INSERT INTO reports (`+reportCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			instanceID, inst.Namespace, inst.SOPInstanceUID, inst.StudyInstanceUID, inst.PatientID, inst.StudyDate,
			r.Method, r.Site, r.Kind, rel, string(r.Body), now); err != nil {
			return fmt.Errorf("insert report: %w", err)
		}
	}
	return nil
}

// Reports lists reports matching f, newest study first, then by id.
func (c *Catalog) Reports(ctx context.Context, f ReportFilter) ([]Report, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.Namespace != "" {
		add("namespace = ?", f.Namespace)
	}
	if f.PatientID != "" {
		add("patient_id = ?", f.PatientID)
	}
	if f.StudyInstanceUID != "" {
		add("study_instance_uid = ?", f.StudyInstanceUID)
	}
	if f.DateFrom != "" {
		add("study_date >= ?", f.DateFrom)
	}
	if f.DateTo != "" {
		add("study_date <= ?", f.DateTo)
	}
	if f.Method != "" {
		add("method = ?", f.Method)
	}
	if f.Reliable != nil {
		v := 0
		if *f.Reliable {
			v = 1
		}
		add("reliable = ?", v)
	}
	q := `SELECT id, ` + reportCols + ` FROM reports`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 10000)
	q += ` ORDER BY study_date DESC, id ASC LIMIT ? OFFSET ?`
	args = append(args, limit, max(f.Offset, 0))
	rows, err := c.r.QueryContext(ctx, c.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: reports: %w", err)
	}
	defer rows.Close()
	var out []Report
	for rows.Next() {
		r, err := scanReport(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: reports: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ReportByID returns one report, or ErrNotFound.
func (c *Catalog) ReportByID(ctx context.Context, id int64) (*Report, error) {
	row := c.r.QueryRowContext(ctx, c.q(`SELECT id, `+reportCols+` FROM reports WHERE id = ?`), id)
	r, err := scanReport(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: report %d", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: report %d: %w", id, err)
	}
	return &r, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanReport(s scanner) (Report, error) {
	var r Report
	var rel int64
	var body string
	var created int64
	err := s.Scan(&r.ID, &r.InstanceID, &r.Namespace, &r.SOPInstanceUID, &r.StudyInstanceUID, &r.PatientID, &r.StudyDate,
		&r.Method, &r.Site, &r.Kind, &rel, &body, &created)
	r.Reliable, r.Body, r.CreatedAt = rel == 1, []byte(body), fromMicros(created)
	return r, err
}
