package dicomweb

import (
	"sort"
	"strconv"
	"strings"
)

// mediaType is one parsed media type or Accept range: type/subtype in
// lower case and its parameters (names lower case, values unquoted).
type mediaType struct {
	Type   string
	Params map[string]string
	Q      float64
}

// parseMediaType parses a Content-Type value leniently: parameter names
// are case-insensitive and values may be tokens, quoted strings, or bare
// values that RFC 9110 would not allow as tokens, such as
// type=application/dicom (field failure B28). It never fails; an empty
// input gives an empty Type.
func parseMediaType(s string) mediaType {
	parts := splitOutsideQuotes(s, ';')
	mt := mediaType{Type: strings.ToLower(strings.TrimSpace(parts[0])), Params: map[string]string{}, Q: 1}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = strings.ReplaceAll(v[1:len(v)-1], `\"`, `"`)
		}
		if k == "q" {
			if q, err := strconv.ParseFloat(v, 64); err == nil {
				mt.Q = q
			}
			continue
		}
		if k == "type" {
			v = strings.ToLower(v)
		}
		mt.Params[k] = v
	}
	return mt
}

// parseAccept parses an Accept header into media ranges, highest quality
// first (stable for equal quality). A missing header is "*/*".
func parseAccept(values []string) []mediaType {
	var out []mediaType
	for _, v := range values {
		for _, r := range splitOutsideQuotes(v, ',') {
			if strings.TrimSpace(r) == "" {
				continue
			}
			mt := parseMediaType(r)
			if mt.Q > 0 {
				out = append(out, mt)
			}
		}
	}
	if len(out) == 0 {
		out = []mediaType{{Type: "*/*", Params: map[string]string{}, Q: 1}}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Q > out[j].Q })
	return out
}

func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	inQ := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && inQ && i+1 < len(s):
			i++
		case s[i] == '"':
			inQ = !inQ
		case s[i] == sep && !inQ:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// matchesType reports whether the range pattern (e.g. "*/*", "image/*")
// covers the concrete type t.
func matchesType(pattern, t string) bool {
	if pattern == "*/*" || pattern == "*" || pattern == t {
		return true
	}
	if p, ok := strings.CutSuffix(pattern, "/*"); ok {
		return strings.HasPrefix(t, p+"/")
	}
	return false
}
