package catalog

import (
	"errors"
	"strconv"
	"strings"

	"modernc.org/sqlite"
)

// dialect holds every difference between the SQL backends.
type dialect struct {
	name string
	// migrations is the directory under migrations/ holding the scripts.
	migrations string
	// rebind rewrites '?' placeholders for the backend.
	rebind func(q string) string
	// lockSkip is appended to the claim sub-select (row locks that let
	// several replicas claim concurrently).
	lockSkip string
	// isUnique reports whether err is a unique-constraint violation.
	isUnique func(err error) bool
}

var sqliteDialect = dialect{
	name:       "sqlite",
	migrations: "migrations/sqlite",
	rebind:     func(q string) string { return q },
	lockSkip:   "",
	isUnique: func(err error) bool {
		var se *sqlite.Error
		if errors.As(err, &se) {
			// SQLITE_CONSTRAINT_UNIQUE (2067), SQLITE_CONSTRAINT_PRIMARYKEY (1555).
			return se.Code() == 2067 || se.Code() == 1555
		}
		return false
	},
}

// postgresDialect runs over pgx/stdlib (driver "pgx"). Jobs are claimed
// with FOR UPDATE SKIP LOCKED so several replicas share one queue
// (DESIGN.md §8).
var postgresDialect = dialect{
	name:       "postgres",
	migrations: "migrations/postgres",
	rebind:     dollarPlaceholders,
	lockSkip:   " FOR UPDATE SKIP LOCKED",
	isUnique:   pgIsUnique,
}

// dollarPlaceholders turns each '?' outside string literals into $1, $2, ...
func dollarPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	inStr := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inStr = !inStr
			b.WriteByte(c)
		case c == '?' && !inStr:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
