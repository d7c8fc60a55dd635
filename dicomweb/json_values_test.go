package dicomweb

import (
	"reflect"
	"testing"
)

// PS3.18 F.2.5: an attribute whose only value is empty has no Value
// member; empty values inside a list are null.
func TestTextValuesEmpty(t *testing.T) {
	cases := []struct {
		vr   string
		in   []string
		want []any
	}{
		{"PN", []string{"^^^^"}, nil},
		{"PN", []string{"  "}, nil},
		{"LO", []string{""}, nil},
		{"LO", []string{"A", "", "B"}, []any{"A", nil, "B"}},
		{"PN", []string{"Wang^XiaoDong=王^小東="}, []any{map[string]string{"Alphabetic": "Wang^XiaoDong", "Ideographic": "王^小東"}}},
		{"IS", []string{"12", "x"}, []any{int64(12), "x"}},
	}
	for _, c := range cases {
		if got := textValues(c.vr, c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %q: got %#v, want %#v", c.vr, c.in, got, c.want)
		}
	}
}
