package catalog

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers driver "sqlite"
)

//go:embed migrations
var migrationFS embed.FS

// Errors returned by the catalog; test with errors.Is.
var (
	ErrNotFound = errors.New("catalog: not found")
	// ErrState means a job was not in a state that allows the transition
	// (for example Complete on a job that is no longer inflight because its
	// lease expired and another worker claimed it).
	ErrState = errors.New("catalog: job not in required state")
)

// Config selects and opens a catalog backend.
type Config struct {
	// Driver is "sqlite" (default) or "postgres".
	Driver string
	// DSN is, for sqlite, a file path (the pragmas sonogate needs are
	// added); for postgres a pgx connection string or URL.
	DSN string
	// ReadConns is the size of the read-only pool for sqlite (default 4).
	ReadConns int
	// Logger receives migration and slow-path logs; nil discards.
	Logger *slog.Logger
	// Now is the clock used for job timestamps; nil means time.Now.
	Now func() time.Time
}

// Catalog is the instance index and job queue. It is safe for concurrent use.
type Catalog struct {
	w, r   *sql.DB // writer (one connection for sqlite) and readers
	d      dialect
	log    *slog.Logger
	now    func() time.Time
	closed []io.Closer
	group  *groupCommitter // nil: every commit in its own transaction
	stmts  commitStmts
}

// Open opens the catalog described by cfg and applies pending migrations.
func Open(ctx context.Context, cfg Config) (*Catalog, error) {
	c := &Catalog{log: cfg.Logger, now: cfg.Now}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "catalog")
	if c.now == nil {
		c.now = time.Now
	}
	switch cfg.Driver {
	case "", "sqlite":
		if cfg.DSN == "" {
			return nil, errors.New("catalog: sqlite needs a file path")
		}
		c.d = sqliteDialect
		base := sqliteDSN(cfg.DSN)
		w, err := sql.Open("sqlite", base+"&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("catalog: open: %w", err)
		}
		// One writer connection: SQLite has one writer at a time anyway, and
		// BEGIN IMMEDIATE on a single connection never deadlocks on lock
		// upgrade. Readers use their own WAL snapshots in parallel.
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		c.w = w
		c.closed = append(c.closed, w)
		// Create the file and switch it to WAL before readers connect.
		if err := w.PingContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("catalog: open %s: %w", cfg.DSN, err)
		}
		n := cfg.ReadConns
		if n <= 0 {
			n = 4
		}
		r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("catalog: open: %w", err)
		}
		r.SetMaxOpenConns(n)
		r.SetMaxIdleConns(n)
		c.r = r
		c.closed = append(c.closed, r)
	case "postgres", "pgx":
		c.d = postgresDialect
		db, err := sql.Open("pgx", cfg.DSN)
		if err != nil {
			return nil, fmt.Errorf("catalog: open postgres: %w", err)
		}
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(16)
		c.w, c.r = db, db
		c.closed = append(c.closed, db)
	default:
		return nil, fmt.Errorf("catalog: unknown driver %q", cfg.Driver)
	}
	if err := c.migrate(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.backfillDerived(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.prepareStatements(ctx); err != nil {
		c.Close()
		return nil, err
	}
	c.group = newGroupCommitter(c)
	return c, nil
}

// OpenSQLite opens (creating if needed) a SQLite catalog file.
func OpenSQLite(ctx context.Context, path string) (*Catalog, error) {
	return Open(ctx, Config{Driver: "sqlite", DSN: path})
}

// sqliteDSN adds the durability settings: WAL, synchronous=FULL (a committed
// transaction survives power loss), a busy timeout for other processes,
// foreign keys, and temporary tables and indices in memory (not a file
// opened per transaction).
func sqliteDSN(p string) string {
	sep := "?"
	if strings.Contains(p, "?") {
		sep = "&"
	}
	return p + sep + "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)"
}

// Close closes the database handles.
func (c *Catalog) Close() error {
	if c.group != nil {
		c.group.close()
	}
	var errs []error
	for i := len(c.closed) - 1; i >= 0; i-- { // statements before their pool
		errs = append(errs, c.closed[i].Close())
	}
	c.closed = nil
	return errors.Join(errs...)
}

// Driver returns the backend name ("sqlite" or "postgres").
func (c *Catalog) Driver() string { return c.d.name }

// Ping checks that the database answers (for readiness probes).
func (c *Catalog) Ping(ctx context.Context) error { return c.w.PingContext(ctx) }

func (c *Catalog) q(s string) string { return c.d.rebind(s) }

// withTx runs fn in a write transaction, committing if it returns nil.
func (c *Catalog) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return runTx(ctx, c.w, fn)
}

// txBeginner is a *sql.DB or a *sql.Conn.
type txBeginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// runTx runs fn in a transaction begun on b, committing if it returns nil.
func runTx(ctx context.Context, b txBeginner, fn func(tx *sql.Tx) error) error {
	tx, err := b.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("catalog: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("catalog: commit: %w", err)
	}
	return nil
}

// migrate applies the embedded scripts migrations/<dialect>/NNNN_name.sql
// that schema_migrations does not list, each in its own transaction.
func (c *Catalog) migrate(ctx context.Context) error {
	if _, err := c.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT NOT NULL PRIMARY KEY,
	applied_at BIGINT NOT NULL
)`); err != nil {
		return fmt.Errorf("catalog: create schema_migrations: %w", err)
	}
	entries, err := fs.ReadDir(migrationFS, c.d.migrations)
	if err != nil {
		return fmt.Errorf("catalog: read migrations: %w", err)
	}
	type mig struct {
		version int
		name    string
	}
	var migs []mig
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return fmt.Errorf("catalog: migration %s: bad version prefix", name)
		}
		migs = append(migs, mig{v, name})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	for _, m := range migs {
		script, err := migrationFS.ReadFile(path.Join(c.d.migrations, m.name))
		if err != nil {
			return fmt.Errorf("catalog: read migration %s: %w", m.name, err)
		}
		applied := false
		err = c.withTx(ctx, func(tx *sql.Tx) error {
			if c.d.name == "postgres" {
				// Serialise replicas migrating at once.
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7415250)`); err != nil {
					return err
				}
			}
			var n int
			if err := tx.QueryRowContext(ctx, c.q(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(script)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, c.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), m.version, micros(c.now())); err != nil {
				return err
			}
			applied = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("catalog: migration %s: %w", m.name, err)
		}
		if applied {
			c.log.Info("applied migration", "version", m.version, "name", m.name)
		}
	}
	return nil
}

// micros converts a time to the stored representation; the zero time is 0.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros converts back; 0 is the zero time. Times come back in UTC.
func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}
