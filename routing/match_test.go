package routing

import (
	"fmt"
	"github.com/sonogate/sonogate/dcm"
	"strings"
	"testing"

	"github.com/sonogate/sonogate/config"
)

func TestWildcard(t *testing.T) {
	t.Parallel()
	cases := []struct {
		p, s string
		want bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything", true},
		{"US", "US", true},
		{"US", "us", false},
		{"U?", "US", true},
		{"U?", "U", false},
		{"1.2.840.10008.5.1.4.1.1.*", "1.2.840.10008.5.1.4.1.1.6.1", true},
		{"1.2.840.10008.5.1.4.1.1.*", "1.2.840.10008.5.1.4.1.2", false},
		{"*LIVER*", "US LIVER ELASTO", true},
		{"*liver*", "US LIVER ELASTO", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"a**?", "ab", true},
		{"?é", "xé", true},
		{strings.Repeat("*a", 30) + "b", strings.Repeat("a", 60), false}, // no exponential blow-up
	}
	for _, c := range cases {
		if got := dcm.Wildcard(c.p, c.s); got != c.want {
			t.Errorf("Wildcard(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}

func TestParseTagKey(t *testing.T) {
	t.Parallel()
	cases := map[string]uint32{
		"StudyDescription": 0x00081030,
		"PatientID":        0x00100020,
		"0008,1030":        0x00081030,
		"(0029,1010)":      0x00291010,
		"7fe0,0010":        0x7FE00010,
	}
	for k, want := range cases {
		got, err := ParseTagKey(k)
		if err != nil || got != want {
			t.Errorf("ParseTagKey(%q) = %08X, %v; want %08X", k, got, err, want)
		}
	}
	for _, bad := range []string{"", "NoSuchKeyword", "0008,zzzz", "12345,1"} {
		if _, err := ParseTagKey(bad); err == nil {
			t.Errorf("ParseTagKey(%q) succeeded", bad)
		}
	}
}

func TestMatcher(t *testing.T) {
	t.Parallel()
	rules := []config.Rule{
		{Name: "us-to-pacs", Match: config.Match{Modality: []string{"US"}}, Send: []string{"pacs"}},
		{Name: "elasto", Match: config.Match{
			SOPClassUID: []string{"1.2.840.10008.5.1.4.1.1.88.*"},
			CallingAE:   []string{"US0?"},
			Tags:        map[string][]string{"StudyDescription": {"*LIVER*"}, "0008,0070": {"ACME", "Other"}},
		}, Send: []string{"research", "pacs"}},
		{Name: "everything", Send: []string{"archive"}},
		{Name: "image-type", Match: config.Match{Tags: map[string][]string{"ImageType": {"DERIVED"}}}, Send: []string{"derived"}},
	}
	m, err := NewMatcher(rules)
	if err != nil {
		t.Fatal(err)
	}
	sr := AttributeMap{
		0x00080060: "SR",
		0x00080016: "1.2.840.10008.5.1.4.1.1.88.33",
		0x00081030: "US LIVER ELASTOGRAPHY ",
		0x00080070: "ACME ",
		0x00080008: `ORIGINAL\PRIMARY`,
	}
	us := AttributeMap{0x00080060: "US", 0x00080016: "1.2.840.10008.5.1.4.1.1.6.1", 0x00080008: `DERIVED\SECONDARY`}
	cases := []struct {
		name    string
		attrs   Attributes
		calling string
		want    string
	}{
		{"sr from US01", sr, "US01", "research:elasto pacs:elasto archive:everything"},
		{"sr from other AE", sr, "CT01", "archive:everything"},
		{"sr wrong manufacturer", AttributeMap{0x00080060: "SR", 0x00080016: sr[0x00080016], 0x00081030: "LIVER", 0x00080070: "acme"}, "US01", "archive:everything"},
		{"us image", us, "US01", "pacs:us-to-pacs archive:everything derived:image-type"},
		{"missing attributes", AttributeMap{}, "", "archive:everything"},
		{"nil attributes", nil, "", "archive:everything"},
	}
	for _, c := range cases {
		var got []string
		for _, j := range m.Match(c.attrs, c.calling) {
			got = append(got, j.Destination+":"+j.Rule)
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("%s: got %q, want %q", c.name, g, c.want)
		}
	}
}

func TestMatcherBadKey(t *testing.T) {
	t.Parallel()
	_, err := NewMatcher([]config.Rule{{}, {Match: config.Match{Tags: map[string][]string{"Bogus": {"x"}}}}})
	if err == nil || !strings.Contains(err.Error(), `rules[1].match.tags: "Bogus"`) {
		t.Errorf("err = %v", err)
	}
}

func ExampleMatcher() {
	m, _ := NewMatcher([]config.Rule{
		{Name: "us", Match: config.Match{Modality: []string{"US"}}, Send: []string{"pacs"}},
	})
	jobs := m.Match(AttributeMap{0x00080060: "US"}, "SCANNER1")
	fmt.Println(jobs[0].Destination, jobs[0].Rule)
	// Output: pacs us
}
