package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PseudonymEntry is one patient's pseudonym under a de-identification
// profile. It holds real identifiers: serve it to the admin scope only.
type PseudonymEntry struct {
	Profile    string
	RealID     string
	RealName   string
	PseudoID   string
	PseudoName string
	CreatedAt  time.Time
}

// LookupPseudonym returns the pseudonym recorded for a real patient under
// profile; found is false when there is none.
func (c *Catalog) LookupPseudonym(ctx context.Context, profile, realID, realName string) (PseudonymEntry, bool, error) {
	e := PseudonymEntry{Profile: profile, RealID: realID, RealName: realName}
	var created int64
	err := c.r.QueryRowContext(ctx, c.q(`SELECT pseudo_id, pseudo_name, created_at FROM pseudonyms
		WHERE profile = ? AND real_id = ? AND real_name = ?`), profile, realID, realName).Scan(&e.PseudoID, &e.PseudoName, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("catalog: pseudonym: %w", err)
	}
	e.CreatedAt = fromMicros(created)
	return e, true, nil
}

// SavePseudonym records a pseudonym; the first one saved for a real
// patient wins, so concurrent saves agree.
func (c *Catalog) SavePseudonym(ctx context.Context, e PseudonymEntry) error {
	_, err := c.w.ExecContext(ctx, c.q(`INSERT INTO pseudonyms (profile, real_id, real_name, pseudo_id, pseudo_name, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (profile, real_id, real_name) DO NOTHING`),
		e.Profile, e.RealID, e.RealName, e.PseudoID, e.PseudoName, micros(c.now()))
	if err != nil {
		return fmt.Errorf("catalog: save pseudonym: %w", err)
	}
	return nil
}

// Pseudonyms lists the pseudonyms of a profile ("" for all), oldest first.
func (c *Catalog) Pseudonyms(ctx context.Context, profile string) ([]PseudonymEntry, error) {
	rows, err := c.r.QueryContext(ctx, c.q(`SELECT profile, real_id, real_name, pseudo_id, pseudo_name, created_at FROM pseudonyms
		WHERE ? = '' OR profile = ? ORDER BY id`), profile, profile)
	if err != nil {
		return nil, fmt.Errorf("catalog: pseudonyms: %w", err)
	}
	defer rows.Close()
	var out []PseudonymEntry
	for rows.Next() {
		var e PseudonymEntry
		var created int64
		if err := rows.Scan(&e.Profile, &e.RealID, &e.RealName, &e.PseudoID, &e.PseudoName, &created); err != nil {
			return nil, fmt.Errorf("catalog: pseudonyms: %w", err)
		}
		e.CreatedAt = fromMicros(created)
		out = append(out, e)
	}
	return out, rows.Err()
}
