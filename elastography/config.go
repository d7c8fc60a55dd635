package elastography

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sonogate/sonogate/elastography/sr"
)

//go:embed default.yaml
var defaultYAML []byte

// Roles a mapped code can play. A CodeEntry's Value refines the role.
const (
	RoleMeasurand        = "measurand"         // value: sws | elasticity | "" (quantity from the unit)
	RoleDepth            = "depth"             // ROI depth
	RoleStatistic        = "statistic"         // value: median | mean | sd | iqr | iqr_ratio | min | max
	RoleDerivation       = "derivation"        // concept name of a Derivation-like modifier
	RoleSelectionStatus  = "selection_status"  // concept name of a Selection Status modifier
	RoleMeasurementGroup = "measurement_group" // container of one acquisition (or TID 5000 group)
	RoleSection          = "section"           // container of one site/session; value may name the site
	RoleFindingSite      = "finding_site"      // concept name of the site modifier
	RoleImageMode        = "image_mode"        // concept name of the method modifier
	RoleMethod           = "method"            // value: pSWE | 2D-SWE | 3D-SWE | TE
	RoleSite             = "site"              // value: liver | spleen | ...
	RoleMeasurementSite  = "measurement_site"  // value: background | ...
	RoleCondition        = "condition"         // value: the QC flag it raises
	RoleInvalid          = "invalid"           // a qualifier or status meaning "not a valid measurement"
	RoleValid            = "valid"             // a status meaning "valid measurement"
	RoleCount            = "count"             // value: n_total | n_valid
	RoleQuality          = "quality"           // value: the quality index name; min: threshold
	RoleDevice           = "device"            // value: manufacturer | model | software | transducer
	RoleDeny             = "deny"              // value: why; never used as anything
)

var knownRoles = map[string]bool{RoleMeasurand: true, RoleDepth: true, RoleStatistic: true, RoleDerivation: true,
	RoleSelectionStatus: true, RoleMeasurementGroup: true, RoleSection: true, RoleFindingSite: true, RoleImageMode: true,
	RoleMethod: true, RoleSite: true, RoleMeasurementSite: true, RoleCondition: true, RoleInvalid: true, RoleValid: true,
	RoleCount: true, RoleQuality: true, RoleDevice: true, RoleDeny: true}

// Config is the extractor's configuration: code mapping tables, QC rules
// and staging rule tables. It is plain data; DefaultConfig and LoadConfig
// return it validated and compiled.
type Config struct {
	SchemeAliases   map[string]string `yaml:"scheme_aliases"`
	StandardSchemes []string          `yaml:"standard_schemes"`
	MappingTables   []MappingTable    `yaml:"mapping_tables"`
	Techniques      []Technique       `yaml:"techniques"`
	QC              QCRules           `yaml:"qc"`
	Staging         StagingRules      `yaml:"staging"`
	ImageOnly       ImageOnlyRules    `yaml:"image_only"`

	compiled *compiled
}

// MappingTable maps codes to roles. Manufacturer and Model, when set, are
// regular expressions the instance's device must match for the table to
// apply.
type MappingTable struct {
	Name            string        `yaml:"name"`
	Version         string        `yaml:"version"`
	Note            string        `yaml:"note"`
	Manufacturer    string        `yaml:"manufacturer"`
	Model           string        `yaml:"model"`
	Codes           []CodeEntry   `yaml:"codes"`
	MeaningFallback []MeaningRule `yaml:"meaning_fallback"`
}

// CodeEntry maps (Scheme, Code) to a role. Stat gives a measurand code an
// implied statistic (a vendor "median stiffness" code); Site and Method
// give a section code an implied site and method; Min is the threshold of
// a quality index.
type CodeEntry struct {
	Scheme  string   `yaml:"scheme"`
	Code    string   `yaml:"code"`
	Meaning string   `yaml:"meaning"`
	Role    string   `yaml:"role"`
	Value   string   `yaml:"value"`
	Stat    string   `yaml:"stat"`
	Site    string   `yaml:"site"`
	Method  string   `yaml:"method"`
	Min     *float64 `yaml:"min"`
}

// MeaningRule is the fallback for codes of non-standard schemes that no
// table lists: a regular expression over the Code Meaning. Its use is
// recorded in the report (source.meaning_fallbacks).
type MeaningRule struct {
	Pattern   string `yaml:"pattern"`
	CodeEntry `yaml:",inline"`
}

// Technique names a vendor's technique for a method (device.vendor_technique).
type Technique struct {
	Manufacturer string `yaml:"manufacturer"`
	Model        string `yaml:"model"`
	Method       string `yaml:"method"`
	Name         string `yaml:"name"`
}

// QCRules are the reliability criteria (elastography.md §6.1).
type QCRules struct {
	Criteria        string                `yaml:"criteria"`
	QuantileMethod  string                `yaml:"quantile_method"`
	MaxIQRMPctKPa   float64               `yaml:"max_iqr_median_pct_kpa"`
	MaxIQRMPctMPS   float64               `yaml:"max_iqr_median_pct_mps"`
	MinValid        map[string]int        `yaml:"min_valid"`
	DepthCM         map[string]DepthRange `yaml:"depth_cm"`
	Tolerance       Tolerance             `yaml:"tolerance"`
	UnreliableFlags []string              `yaml:"unreliable_flags"`
}

// DepthRange bounds the ROI depth in cm (inclusive).
type DepthRange struct {
	Min float64 `yaml:"min"`
	Max float64 `yaml:"max"`
}

// Tolerance is the largest absolute difference between a device-reported
// summary value and the recomputed one that still agrees.
type Tolerance struct {
	KPa float64 `yaml:"kpa"`
	MPS float64 `yaml:"mps"`
}

// StagingRules are the staging rule tables (elastography.md §6.2, §6.4).
type StagingRules struct {
	UnreliablePolicy string        `yaml:"unreliable_policy"` // qualified | withhold
	Rules            []StagingRule `yaml:"rules"`
}

// StagingRule is one rule set: bands of the median in ascending order; the
// last band has no upper bound.
type StagingRule struct {
	Scheme          string   `yaml:"scheme"`
	RuleSet         string   `yaml:"rule_set"`
	Methods         []string `yaml:"methods"`
	Sites           []string `yaml:"sites"`
	NotApplicableIf []string `yaml:"not_applicable_if"`
	Bands           []Band   `yaml:"bands"`
}

// Band is one staging category: values up to UpperKPa (UpperMPS for a
// median known only in m/s), inclusive when UpperInclusive.
type Band struct {
	Category       string   `yaml:"category"`
	Text           string   `yaml:"text"`
	UpperKPa       *float64 `yaml:"upper_kpa"`
	UpperMPS       *float64 `yaml:"upper_mps"`
	UpperInclusive bool     `yaml:"upper_inclusive"`
}

// ImageOnlyRules recognise US images of an elastography exam.
type ImageOnlyRules struct {
	DescriptionPattern string `yaml:"description_pattern"`
}

type compiled struct {
	aliases    map[string]string
	standard   map[string]bool
	tables     []compiledTable
	tech       []compiledTech
	imageDesc  *regexp.Regexp
	unreliable map[string]bool
}

type compiledTable struct {
	t         *MappingTable
	mfr, mdl  *regexp.Regexp
	codes     map[[2]string]*CodeEntry
	fallbacks []compiledFallback
}

type compiledFallback struct {
	re *regexp.Regexp
	e  *CodeEntry
}

type compiledTech struct {
	mfr, mdl *regexp.Regexp
	t        Technique
}

// DefaultConfig returns the embedded configuration (default.yaml).
func DefaultConfig() *Config {
	c, err := parseConfig(defaultYAML)
	if err != nil {
		panic("elastography: embedded default.yaml: " + err.Error()) // a build defect, caught by tests
	}
	return c
}

// LoadConfig returns DefaultConfig extended by the YAML files at paths, in
// order: their mapping tables are consulted before the ones already
// loaded, the qc keys they set override, their staging rules replace rules
// of the same scheme (others are added), their techniques come first.
func LoadConfig(paths ...string) (*Config, error) {
	c := DefaultConfig()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if err := c.merge(b); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	if err := c.compile(); err != nil {
		return nil, err
	}
	return c, nil
}

// ParseConfig is LoadConfig for YAML documents already in memory.
func ParseConfig(docs ...[]byte) (*Config, error) {
	c := DefaultConfig()
	for i, b := range docs {
		if err := c.merge(b); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
	}
	if err := c.compile(); err != nil {
		return nil, err
	}
	return c, nil
}

func parseConfig(b []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.compile(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) merge(b []byte) error {
	var u struct {
		SchemeAliases   map[string]string `yaml:"scheme_aliases"`
		StandardSchemes []string          `yaml:"standard_schemes"`
		MappingTables   []MappingTable    `yaml:"mapping_tables"`
		Techniques      []Technique       `yaml:"techniques"`
		QC              yaml.Node         `yaml:"qc"`
		Staging         struct {
			UnreliablePolicy string        `yaml:"unreliable_policy"`
			Rules            []StagingRule `yaml:"rules"`
		} `yaml:"staging"`
		ImageOnly ImageOnlyRules `yaml:"image_only"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&u); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	for k, v := range u.SchemeAliases {
		if c.SchemeAliases == nil {
			c.SchemeAliases = map[string]string{}
		}
		c.SchemeAliases[k] = v
	}
	c.StandardSchemes = append(c.StandardSchemes, u.StandardSchemes...)
	c.MappingTables = append(u.MappingTables, c.MappingTables...)
	c.Techniques = append(u.Techniques, c.Techniques...)
	if u.QC.Kind != 0 {
		if err := u.QC.Decode(&c.QC); err != nil {
			return fmt.Errorf("qc: %w", err)
		}
	}
	if u.Staging.UnreliablePolicy != "" {
		c.Staging.UnreliablePolicy = u.Staging.UnreliablePolicy
	}
next:
	for _, r := range u.Staging.Rules {
		for i := range c.Staging.Rules {
			if c.Staging.Rules[i].Scheme == r.Scheme {
				c.Staging.Rules[i] = r
				continue next
			}
		}
		c.Staging.Rules = append(c.Staging.Rules, r)
	}
	if u.ImageOnly.DescriptionPattern != "" {
		c.ImageOnly = u.ImageOnly
	}
	return nil
}

// Validate checks the configuration; errors name the field path.
func (c *Config) Validate() error {
	_, err := c.build()
	return err
}

func (c *Config) compile() error {
	cc, err := c.build()
	if err != nil {
		return err
	}
	c.compiled = cc
	return nil
}

func (c *Config) build() (*compiled, error) {
	cc := &compiled{aliases: c.SchemeAliases, standard: map[string]bool{}, unreliable: map[string]bool{}}
	for _, s := range c.StandardSchemes {
		cc.standard[s] = true
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	re := func(path, s string) *regexp.Regexp {
		if s == "" {
			return nil
		}
		r, err := regexp.Compile(s)
		if err != nil {
			bad("%s: %v", path, err)
		}
		return r
	}
	for i := range c.MappingTables {
		t := &c.MappingTables[i]
		p := fmt.Sprintf("mapping_tables[%d]", i)
		if t.Name == "" {
			bad("%s.name: required", p)
		}
		ct := compiledTable{t: t, mfr: re(p+".manufacturer", t.Manufacturer), mdl: re(p+".model", t.Model),
			codes: map[[2]string]*CodeEntry{}}
		for j := range t.Codes {
			e := &t.Codes[j]
			ep := fmt.Sprintf("%s.codes[%d]", p, j)
			if e.Scheme == "" || e.Code == "" {
				bad("%s: scheme and code are required", ep)
			}
			if !knownRoles[e.Role] {
				bad("%s.role: unknown role %q", ep, e.Role)
			}
			k := [2]string{cc.alias(e.Scheme), e.Code}
			if _, dup := ct.codes[k]; !dup {
				ct.codes[k] = e
			}
		}
		for j := range t.MeaningFallback {
			f := &t.MeaningFallback[j]
			fp := fmt.Sprintf("%s.meaning_fallback[%d]", p, j)
			if !knownRoles[f.Role] {
				bad("%s.role: unknown role %q", fp, f.Role)
			}
			if f.Pattern == "" {
				bad("%s.pattern: required", fp)
				continue
			}
			if r := re(fp+".pattern", f.Pattern); r != nil {
				ct.fallbacks = append(ct.fallbacks, compiledFallback{re: r, e: &f.CodeEntry})
			}
		}
		cc.tables = append(cc.tables, ct)
	}
	for i, t := range c.Techniques {
		p := fmt.Sprintf("techniques[%d]", i)
		cc.tech = append(cc.tech, compiledTech{mfr: re(p+".manufacturer", t.Manufacturer), mdl: re(p+".model", t.Model), t: t})
	}
	switch c.QC.QuantileMethod {
	case "type6", "type7", "type2":
	default:
		bad("qc.quantile_method: %q is not one of type7, type6, type2", c.QC.QuantileMethod)
	}
	if c.QC.MaxIQRMPctKPa <= 0 || c.QC.MaxIQRMPctMPS <= 0 {
		bad("qc.max_iqr_median_pct_kpa/mps: must be > 0")
	}
	for _, f := range c.QC.UnreliableFlags {
		cc.unreliable[f] = true
	}
	switch c.Staging.UnreliablePolicy {
	case "qualified", "withhold":
	default:
		bad("staging.unreliable_policy: %q is not qualified or withhold", c.Staging.UnreliablePolicy)
	}
	for i, r := range c.Staging.Rules {
		p := fmt.Sprintf("staging.rules[%d]", i)
		if r.Scheme == "" || len(r.Methods) == 0 || len(r.Bands) == 0 {
			bad("%s: scheme, methods and bands are required", p)
		}
		prev := -1.0
		for j, b := range r.Bands {
			bp := fmt.Sprintf("%s.bands[%d]", p, j)
			if b.Category == "" {
				bad("%s.category: required", bp)
			}
			last := j == len(r.Bands)-1
			if (b.UpperKPa == nil) != last {
				bad("%s.upper_kpa: every band but the last needs an upper bound, the last none", bp)
			}
			if b.UpperKPa != nil {
				if *b.UpperKPa <= prev {
					bad("%s.upper_kpa: bands must ascend", bp)
				}
				prev = *b.UpperKPa
			}
		}
	}
	cc.imageDesc = re("image_only.description_pattern", c.ImageOnly.DescriptionPattern)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cc, nil
}

func (cc *compiled) alias(scheme string) string {
	if a, ok := cc.aliases[scheme]; ok {
		return a
	}
	return scheme
}

// match is the result of looking a code up.
type match struct {
	*CodeEntry
	table    string // name@version
	fallback bool
}

func (cc *compiled) applicable(t *compiledTable, mfr, model string) bool {
	return (t.mfr == nil || t.mfr.MatchString(mfr)) && (t.mdl == nil || t.mdl.MatchString(model))
}

// lookup maps a code: tables in order (first match wins), then the
// meaning fallbacks for codes of non-standard schemes.
func (cc *compiled) lookup(c *sr.Code, mfr, model string) *match {
	if c == nil || c.Value == "" {
		return nil
	}
	k := [2]string{cc.alias(strings.TrimSpace(c.Scheme)), strings.TrimSpace(c.Value)}
	for i := range cc.tables {
		t := &cc.tables[i]
		if !cc.applicable(t, mfr, model) {
			continue
		}
		if e, ok := t.codes[k]; ok {
			return &match{CodeEntry: e, table: t.t.Name + "@" + t.t.Version}
		}
	}
	if cc.standard[k[0]] {
		return nil
	}
	for i := range cc.tables {
		t := &cc.tables[i]
		if !cc.applicable(t, mfr, model) {
			continue
		}
		for _, f := range t.fallbacks {
			if f.re.MatchString(c.Meaning) {
				return &match{CodeEntry: f.e, table: t.t.Name + "@" + t.t.Version, fallback: true}
			}
		}
	}
	return nil
}

func (cc *compiled) technique(mfr, model, method string) string {
	for _, t := range cc.tech {
		if t.t.Method == method && (t.mfr == nil || t.mfr.MatchString(mfr)) && (t.mdl == nil || t.mdl.MatchString(model)) {
			return t.t.Name
		}
	}
	return ""
}
