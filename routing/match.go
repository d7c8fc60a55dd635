package routing

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dcm"
)

// Attributes gives the matcher access to the data set of an instance
// without tying routing to a particular parser. Value returns the value of
// the element with the given tag (group<<16 | element) as text decoded to
// UTF-8; multiple values are separated by backslash, as in the encoding.
type Attributes interface {
	Value(tag uint32) (string, bool)
}

// Tags the matcher reads for its fixed criteria.
const (
	tagSOPClassUID uint32 = 0x00080016
	tagModality    uint32 = 0x00080060
)

// AttributeMap is an Attributes backed by a map, for tests and callers that
// already hold the few values they need.
type AttributeMap map[uint32]string

// Value implements Attributes.
func (m AttributeMap) Value(t uint32) (string, bool) {
	v, ok := m[t]
	return v, ok
}

// Matcher evaluates routing rules. It is immutable and safe for concurrent
// use.
type Matcher struct {
	rules []compiledRule
}

type compiledRule struct {
	name     string
	modality []string
	sopClass []string
	calling  []string
	tags     []tagCriterion
	send     []string
}

type tagCriterion struct {
	tag      uint32
	patterns []string
}

// NewMatcher compiles rules. Tag keys are DICOM keywords ("StudyDescription")
// or "gggg,eeee" in hex; an error names the offending rule and key.
func NewMatcher(rules []config.Rule) (*Matcher, error) {
	m := &Matcher{}
	for i, r := range rules {
		cr := compiledRule{
			name:     r.Name,
			modality: r.Match.Modality,
			sopClass: r.Match.SOPClassUID,
			calling:  r.Match.CallingAE,
			send:     r.Send,
		}
		keys := make([]string, 0, len(r.Match.Tags))
		for k := range r.Match.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t, err := ParseTagKey(k)
			if err != nil {
				return nil, fmt.Errorf("rules[%d].match.tags: %w", i, err)
			}
			cr.tags = append(cr.tags, tagCriterion{tag: t, patterns: r.Match.Tags[k]})
		}
		m.rules = append(m.rules, cr)
	}
	return m, nil
}

// ParseTagKey resolves a keyword ("PatientID") or "gggg,eeee" (optionally in
// parentheses) to a tag number.
func ParseTagKey(k string) (uint32, error) {
	t, err := dcm.ParseTag(k)
	return uint32(t), err
}

// Match returns one job per destination named by a rule that matches the
// instance, in rule order; a destination named by several rules gets one job,
// attributed to the first. Criteria within a rule are ANDed, the values of
// one criterion ORed; an empty rule matches everything.
func (m *Matcher) Match(attrs Attributes, callingAE string) []catalog.JobSpec {
	var out []catalog.JobSpec
	seen := map[string]bool{}
	for _, r := range m.rules {
		if !r.matches(attrs, callingAE) {
			continue
		}
		for _, d := range r.send {
			if d == "" || seen[d] {
				continue
			}
			seen[d] = true
			out = append(out, catalog.JobSpec{Destination: d, Rule: r.name})
		}
	}
	return out
}

func (r *compiledRule) matches(attrs Attributes, callingAE string) bool {
	value := func(t uint32) (string, bool) {
		if attrs == nil {
			return "", false
		}
		return attrs.Value(t)
	}
	if len(r.modality) > 0 {
		v, ok := value(tagModality)
		if !ok || !anyValueMatches(r.modality, v) {
			return false
		}
	}
	if len(r.sopClass) > 0 {
		v, ok := value(tagSOPClassUID)
		if !ok || !anyValueMatches(r.sopClass, v) {
			return false
		}
	}
	if len(r.calling) > 0 && !anyPatternMatches(r.calling, strings.TrimSpace(callingAE)) {
		return false
	}
	for _, tc := range r.tags {
		v, ok := value(tc.tag)
		if !ok || !anyValueMatches(tc.patterns, v) {
			return false
		}
	}
	return true
}

// anyValueMatches reports whether any pattern matches the whole value or
// one of its backslash-separated values. Leading and trailing spaces (DICOM
// padding, PS3.5 §6.2) are not significant; comparison is case-sensitive.
func anyValueMatches(patterns []string, value string) bool {
	value = strings.TrimRight(value, "\x00")
	if anyPatternMatches(patterns, strings.TrimSpace(value)) {
		return true
	}
	if !strings.Contains(value, `\`) {
		return false
	}
	for _, v := range strings.Split(value, `\`) {
		if anyPatternMatches(patterns, strings.TrimSpace(v)) {
			return true
		}
	}
	return false
}

func anyPatternMatches(patterns []string, v string) bool {
	for _, p := range patterns {
		if dcm.Wildcard(p, v) {
			return true
		}
	}
	return false
}
