package anonymize

//go:generate go run ./internal/gentable -in ../../shared/standard/annexE_profile.tsv -out table_gen.go

// rule is one row of PS3.15 Table E.1-1: the Basic Profile action and the
// K/C codes of the ten option columns (indexed by Option, 0 = empty cell).
type rule struct {
	basic string
	opt   [numTableOptions]byte
}
