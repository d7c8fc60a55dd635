package dcm

// Wildcard reports whether s matches pattern, where '*' matches any run of
// characters (including none) and '?' exactly one: the wildcard matching
// of PS3.4 C.2.2.2.4, on characters (runes), case-sensitive. Callers fold
// case first where the attribute's matching is case-insensitive (PN).
func Wildcard(pattern, s string) bool {
	p := []rune(pattern)
	r := []rune(s)
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(r) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == r[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
