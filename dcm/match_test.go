package dcm

import "testing"

func TestWildcard(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"", "", true}, {"", "a", false},
		{"WANG*", "WANG^XIAODONG", true}, {"wang*", "WANG", false},
		{"王*", "王^小東", true}, {"?^小東", "王^小東", true},
		{"*LIVER*", "US LIVER ELASTO", true}, {"*LIVER", "LIVER US", false},
		{"1.2.840.10008.5.1.4.1.1.6.*", "1.2.840.10008.5.1.4.1.1.6.1", true},
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false}, {"??", "王", false},
	}
	for _, c := range cases {
		if got := Wildcard(c.p, c.s); got != c.want {
			t.Errorf("Wildcard(%q, %q) = %v", c.p, c.s, got)
		}
	}
}
