package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Derived columns (migration 0013) hold normalised copies of indexed
// attributes, computed in Go with the same functions Find's Go-side
// matching uses, so that an SQL predicate on them selects exactly (or at
// least every one of) the rows the Go rule would match.
const derivedCols = `patient_name_folded, patient_name_folded2, patient_name_folded3, patient_name_fuzzy, study_date_norm`

const derivedColCount = 5

// nameGroups returns the lower-cased Patient's Name and its second and
// third component groups (PS3.5 §6.2.1: alphabetic, ideographic,
// phonetic). A malformed value with more than three groups keeps the rest
// in the third, as matchPN does.
func nameGroups(pn string) (whole, g2, g3 string) {
	whole = strings.ToLower(pn)
	parts := strings.SplitN(whole, "=", 3)
	if len(parts) > 1 {
		g2 = parts[1]
	}
	if len(parts) > 2 {
		g3 = parts[2]
	}
	return whole, g2, g3
}

func derivedArgs(in *Instance) []any {
	w, g2, g3 := nameGroups(in.PatientName)
	return []any{w, g2, g3, FoldName(in.PatientName), normDate(in.StudyDate)}
}

// backfillDerived fills the derived columns of rows written before
// migration 0013 (NULL there), in batches.
func (c *Catalog) backfillDerived(ctx context.Context) error {
	total := 0
	for {
		type row struct {
			id         int64
			name, date string
		}
		var batch []row
		err := c.withTx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, `SELECT id, patient_name, study_date FROM instances WHERE patient_name_folded IS NULL LIMIT 5000`)
			if err != nil {
				return err
			}
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.id, &r.name, &r.date); err != nil {
					rows.Close()
					return err
				}
				batch = append(batch, r)
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
			st, err := tx.PrepareContext(ctx, c.q(`UPDATE instances SET patient_name_folded = ?, patient_name_folded2 = ?,
				patient_name_folded3 = ?, patient_name_fuzzy = ?, study_date_norm = ? WHERE id = ?`))
			if err != nil {
				return err
			}
			defer st.Close()
			for _, r := range batch {
				args := derivedArgs(&Instance{PatientName: r.name, StudyDate: r.date})
				if _, err := st.ExecContext(ctx, append(args, r.id)...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("catalog: backfill query columns: %w", err)
		}
		total += len(batch)
		if len(batch) == 0 {
			if total > 0 {
				c.log.Info("filled query columns of existing instances", "rows", total)
			}
			return nil
		}
	}
}
