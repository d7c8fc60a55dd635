package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Instance is one stored version of a composite object instance.
// Attribute values are as decoded to UTF-8 by the ingest path; numeric
// attributes that were absent are 0.
type Instance struct {
	ID        int64  // catalog row id
	Namespace string // "clinical", "research", ...
	Version   int    // 1 for the first bytes seen for this SOP Instance UID

	SOPInstanceUID    string // (0008,0018)
	SOPClassUID       string // (0008,0016)
	StudyInstanceUID  string // (0020,000D)
	SeriesInstanceUID string // (0020,000E)

	PatientID        string // (0010,0020)
	PatientName      string // (0010,0010)
	PatientBirthDate string // (0010,0030)
	PatientSex       string // (0010,0040)

	StudyDate              string // (0008,0020)
	StudyTime              string // (0008,0030)
	AccessionNumber        string // (0008,0050)
	StudyDescription       string // (0008,1030)
	StudyID                string // (0020,0010)
	ReferringPhysicianName string // (0008,0090)

	Modality          string // (0008,0060)
	SeriesNumber      int    // (0020,0011)
	SeriesDescription string // (0008,103E)

	InstanceNumber        int    // (0020,0013)
	TransferSyntaxUID     string // (0002,0010) of the stored file
	SpecificCharacterSet  string // (0008,0005)
	Manufacturer          string // (0008,0070)
	ManufacturerModelName string // (0008,1090)
	NumberOfFrames        int    // (0028,0008)
	Rows                  int    // (0028,0010)
	Columns               int    // (0028,0011)

	RelPath    string // file path relative to the store root
	SHA256     string // hex SHA-256 of the whole file
	Size       int64  // file size in bytes
	DataOffset int64  // offset of the data set in the file (after the meta group)
	CallingAE  string // who sent it ("" for STOW-RS)
	ReceivedAt time.Time
}

// Outcome says what CommitInstance did.
type Outcome int

// Outcomes of CommitInstance.
const (
	Inserted   Outcome = iota + 1 // first version of this SOP Instance UID
	Duplicate                     // identical bytes already stored; nothing inserted
	NewVersion                    // same UID, different bytes: kept as version n+1
)

func (o Outcome) String() string {
	switch o {
	case Inserted:
		return "inserted"
	case Duplicate:
		return "duplicate"
	case NewVersion:
		return "new_version"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// CommitResult is the result of CommitInstance.
type CommitResult struct {
	ID      int64 // row id (of the existing row for Duplicate)
	Outcome Outcome
	Version int
}

// JobSpec asks for one delivery of an instance.
type JobSpec struct {
	Destination string
	Rule        string // name of the rule that matched (for the operator)
}

const instanceCols = `namespace, sop_instance_uid, version, sop_class_uid, study_instance_uid,
	series_instance_uid, patient_id, patient_name, patient_birth_date, patient_sex, study_date,
	study_time, accession_number, study_description, study_id, referring_physician_name, modality,
	series_number, series_description, instance_number, transfer_syntax_uid, specific_character_set,
	manufacturer, manufacturer_model_name, number_of_frames, rows_, columns_, rel_path, sha256,
	size, data_offset, calling_ae, received_at`

const instanceColCount = 33

func instanceArgs(in *Instance) []any {
	return []any{in.Namespace, in.SOPInstanceUID, in.Version, in.SOPClassUID, in.StudyInstanceUID,
		in.SeriesInstanceUID, in.PatientID, in.PatientName, in.PatientBirthDate, in.PatientSex, in.StudyDate,
		in.StudyTime, in.AccessionNumber, in.StudyDescription, in.StudyID, in.ReferringPhysicianName, in.Modality,
		in.SeriesNumber, in.SeriesDescription, in.InstanceNumber, in.TransferSyntaxUID, in.SpecificCharacterSet,
		in.Manufacturer, in.ManufacturerModelName, in.NumberOfFrames, in.Rows, in.Columns, in.RelPath, in.SHA256,
		in.Size, in.DataOffset, in.CallingAE, micros(in.ReceivedAt)}
}

// instanceDest returns scan destinations for "id, "+instanceCols and a
// function that finishes the conversion after Scan.
func instanceDest(in *Instance) ([]any, func()) {
	var recv int64
	d := []any{&in.ID, &in.Namespace, &in.SOPInstanceUID, &in.Version, &in.SOPClassUID, &in.StudyInstanceUID,
		&in.SeriesInstanceUID, &in.PatientID, &in.PatientName, &in.PatientBirthDate, &in.PatientSex, &in.StudyDate,
		&in.StudyTime, &in.AccessionNumber, &in.StudyDescription, &in.StudyID, &in.ReferringPhysicianName, &in.Modality,
		&in.SeriesNumber, &in.SeriesDescription, &in.InstanceNumber, &in.TransferSyntaxUID, &in.SpecificCharacterSet,
		&in.Manufacturer, &in.ManufacturerModelName, &in.NumberOfFrames, &in.Rows, &in.Columns, &in.RelPath, &in.SHA256,
		&in.Size, &in.DataOffset, &in.CallingAE, &recv}
	return d, func() { in.ReceivedAt = fromMicros(recv) }
}

// maxCommitRetries bounds retries after a unique-constraint race with a
// concurrent commit of the same instance (possible on PostgreSQL or with
// several processes on one SQLite file).
const maxCommitRetries = 5

// CommitInstance records inst and, unless it is a Duplicate, one pending job
// per distinct destination in jobs, all in one transaction. On success
// inst.ID and inst.Version are set (for a Duplicate, to the existing row).
// ReceivedAt defaults to now.
func (c *Catalog) CommitInstance(ctx context.Context, inst *Instance, jobs []JobSpec) (CommitResult, error) {
	return c.CommitInstanceReports(ctx, inst, jobs, nil)
}

// CommitInstanceReports is CommitInstance that also stores the reports
// extracted from the instance in the same transaction, so that an
// instance is never acknowledged without its extraction (a Duplicate
// stores none: the first commit did).
func (c *Catalog) CommitInstanceReports(ctx context.Context, inst *Instance, jobs []JobSpec, reports []Report) (CommitResult, error) {
	if inst == nil || inst.Namespace == "" || inst.SOPInstanceUID == "" || inst.SHA256 == "" || inst.RelPath == "" {
		return CommitResult{}, errors.New("catalog: instance needs namespace, SOP Instance UID, sha256 and path")
	}
	if inst.ReceivedAt.IsZero() {
		inst.ReceivedAt = c.now()
	}
	if c.group != nil {
		return c.group.commit(ctx, inst, jobs, reports)
	}
	return c.commitAlone(ctx, inst, jobs, reports)
}

// commitAlone commits one instance in its own transaction, retrying after
// a unique-constraint race.
func (c *Catalog) commitAlone(ctx context.Context, inst *Instance, jobs []JobSpec, reports []Report) (CommitResult, error) {
	for attempt := 0; ; attempt++ {
		res, err := c.commitOnce(ctx, inst, jobs, reports)
		if err != nil && attempt < maxCommitRetries && c.d.isUnique(err) {
			c.log.Debug("commit raced, retrying", "sop_instance_uid", inst.SOPInstanceUID, "attempt", attempt+1)
			continue
		}
		if err != nil {
			return CommitResult{}, fmt.Errorf("catalog: commit instance: %w", err)
		}
		inst.ID, inst.Version = res.ID, res.Version
		return res, nil
	}
}

func (c *Catalog) commitOnce(ctx context.Context, inst *Instance, jobs []JobSpec, reports []Report) (CommitResult, error) {
	var res CommitResult
	err := c.withTx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = c.commitInTx(ctx, tx, inst, jobs, reports)
		return err
	})
	return res, err
}

// commitInTx writes one instance (and its jobs and reports) in tx; the
// caller commits.
func (c *Catalog) commitInTx(ctx context.Context, tx *sql.Tx, inst *Instance, jobs []JobSpec, reports []Report) (CommitResult, error) {
	var res CommitResult
	err := func() error {
		rows, err := tx.StmtContext(ctx, c.stmts.versions).QueryContext(ctx, inst.Namespace, inst.SOPInstanceUID)
		if err != nil {
			return err
		}
		maxV := 0
		for rows.Next() {
			var id int64
			var v int
			var sha string
			if err := rows.Scan(&id, &v, &sha); err != nil {
				rows.Close()
				return err
			}
			if sha == inst.SHA256 {
				res = CommitResult{ID: id, Outcome: Duplicate, Version: v}
			}
			maxV = max(maxV, v)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if res.Outcome == Duplicate {
			return nil
		}
		row := *inst
		row.Version = maxV + 1
		var id int64
		if err := tx.StmtContext(ctx, c.stmts.insert).QueryRowContext(ctx,
			append(instanceArgs(&row), derivedArgs(&row)...)...).Scan(&id); err != nil {
			return err
		}
		res = CommitResult{ID: id, Outcome: Inserted, Version: row.Version}
		if row.Version > 1 {
			res.Outcome = NewVersion
		}
		now := micros(c.now())
		seen := make(map[string]bool, len(jobs))
		for _, j := range jobs {
			if j.Destination == "" || seen[j.Destination] {
				continue
			}
			seen[j.Destination] = true
			if _, err := tx.StmtContext(ctx, c.stmts.job).ExecContext(ctx, id, j.Destination, j.Rule, now, now, now); err != nil {
				return err
			}
		}
		return c.insertReports(ctx, tx, &row, id, reports)
	}()
	return res, err
}

// commitStmts are the statements of every instance commit, prepared once
// on the writer pool: parsing and planning a 38-column INSERT per instance
// cost as much as executing it.
type commitStmts struct {
	versions, insert, job *sql.Stmt
	claim, claimed        *sql.Stmt // the routing workers' claims
}

// prepareStatements prepares the statements of the ingest commits and the
// routing workers' claims on the writer pool.
func (c *Catalog) prepareStatements(ctx context.Context) error {
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&c.stmts.versions, `SELECT id, version, sha256 FROM instances WHERE namespace = ? AND sop_instance_uid = ?`},
		{&c.stmts.insert, `INSERT INTO instances (` + instanceCols + `, ` + derivedCols + `) VALUES (?` +
			repeat(", ?", instanceColCount+derivedColCount-1) + `) RETURNING id`},
		{&c.stmts.job, `INSERT INTO jobs
		(instance_id, destination, rule, state, attempts, next_attempt_at, lease_until, last_error, created_at, updated_at)
		VALUES (?, ?, ?, 'pending', 0, ?, 0, '', ?, ?)`},
		{&c.stmts.claim, `UPDATE jobs
			SET state = 'inflight', attempts = attempts + 1, lease_until = ?, updated_at = ?
			WHERE id IN (SELECT id FROM jobs
				WHERE destination = ?
				  AND ((state = 'pending' AND next_attempt_at <= ?) OR (state = 'inflight' AND lease_until <= ?))
				ORDER BY next_attempt_at, id
				LIMIT ?` + c.d.lockSkip + `)
			RETURNING id`},
		{&c.stmts.claimed, `SELECT j.` + strings.ReplaceAll(jobCols, ", ", ", j.") + `, i.id, ` + prefixInstanceCols("i.") + `
			FROM jobs j JOIN instances i ON i.id = j.instance_id WHERE j.id = ?`},
	} {
		st, err := c.w.PrepareContext(ctx, c.q(p.q))
		if err != nil {
			return fmt.Errorf("catalog: prepare statements: %w", err)
		}
		c.closed = append(c.closed, st)
		*p.st = st
	}
	return nil
}

func repeat(s string, n int) string {
	b := make([]byte, 0, len(s)*n)
	for range n {
		b = append(b, s...)
	}
	return string(b)
}

// InstanceByID returns the instance with the given row id, or ErrNotFound.
func (c *Catalog) InstanceByID(ctx context.Context, id int64) (*Instance, error) {
	var in Instance
	dest, finish := instanceDest(&in)
	err := c.r.QueryRowContext(ctx, c.q(`SELECT id, `+instanceCols+` FROM instances WHERE id = ?`), id).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: instance %d", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: instance %d: %w", id, err)
	}
	finish()
	return &in, nil
}

// InstancesBySOP returns every stored version of a SOP Instance UID in a
// namespace, oldest version first (empty if none).
func (c *Catalog) InstancesBySOP(ctx context.Context, ns, sopInstanceUID string) ([]Instance, error) {
	rows, err := c.r.QueryContext(ctx, c.q(`SELECT id, `+instanceCols+` FROM instances
		WHERE namespace = ? AND sop_instance_uid = ? ORDER BY version`), ns, sopInstanceUID)
	if err != nil {
		return nil, fmt.Errorf("catalog: instances by SOP: %w", err)
	}
	return scanInstances(rows, "instances by SOP")
}

// scanInstances reads rows of `id, instanceCols` and closes them.
func scanInstances(rows *sql.Rows, what string) ([]Instance, error) {
	defer rows.Close()
	var out []Instance
	for rows.Next() {
		var in Instance
		dest, finish := instanceDest(&in)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("catalog: %s: %w", what, err)
		}
		finish()
		out = append(out, in)
	}
	return out, rows.Err()
}
