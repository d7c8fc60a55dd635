package elastography

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/elastography/sr"
)

// Source is what the caller knows about the instance (usually from its
// header, see SourceFromDataset). Empty fields are filled from the data
// set where it has them.
type Source struct {
	SOPClassUID       string
	SOPInstanceUID    string
	StudyInstanceUID  string
	SeriesInstanceUID string
	PatientID         string
	PatientName       string
	Modality          string
	Manufacturer      string
	Model             string
	Software          string
	Transducer        string
	ContentDateTime   string // DICOM DT, e.g. ContentDate+ContentTime
}

var (
	tagSoftwareVersions = dcm.Tag(0x00181020)
	tagTransducerData   = dcm.Tag(0x00185010)
	tagContentDate      = dcm.Tag(0x00080023)
	tagContentTime      = dcm.Tag(0x00080033)
	tagProtocolName     = dcm.Tag(0x00181030)
)

// SourceFromDataset reads Source from an instance's header.
func SourceFromDataset(ds *dcm.Dataset) Source {
	return Source{}.fill(ds)
}

func (s Source) fill(ds *dcm.Dataset) Source {
	set := func(f *string, t dcm.Tag) {
		if *f == "" {
			*f = ds.String(t)
		}
	}
	set(&s.SOPClassUID, dcm.TagSOPClassUID)
	set(&s.SOPInstanceUID, dcm.TagSOPInstanceUID)
	set(&s.StudyInstanceUID, dcm.TagStudyInstanceUID)
	set(&s.SeriesInstanceUID, dcm.TagSeriesInstanceUID)
	set(&s.PatientID, dcm.TagPatientID)
	set(&s.PatientName, dcm.TagPatientName)
	set(&s.Modality, dcm.TagModality)
	set(&s.Manufacturer, dcm.TagManufacturer)
	set(&s.Model, dcm.TagManufacturerModelName)
	if s.Software == "" {
		s.Software = strings.Join(ds.Strings(tagSoftwareVersions), "\\")
	}
	set(&s.Transducer, tagTransducerData)
	if s.ContentDateTime == "" {
		s.ContentDateTime = ds.String(tagContentDate) + ds.String(tagContentTime)
	}
	return s
}

// SR Storage SOP classes (PS3.4 Annex B) whose documents may carry
// measurements.
var srClasses = map[string]bool{
	"1.2.840.10008.5.1.4.1.1.88.11": true, // Basic Text SR
	"1.2.840.10008.5.1.4.1.1.88.22": true, // Enhanced SR
	"1.2.840.10008.5.1.4.1.1.88.33": true, // Comprehensive SR
	"1.2.840.10008.5.1.4.1.1.88.34": true, // Comprehensive 3D SR
	"1.2.840.10008.5.1.4.1.1.88.35": true, // Extensible SR
}

// Ultrasound image SOP classes (PS3.4 Annex B).
var usImageClasses = map[string]bool{
	"1.2.840.10008.5.1.4.1.1.6.1": true, // Ultrasound Image
	"1.2.840.10008.5.1.4.1.1.3.1": true, // Ultrasound Multi-frame Image
	"1.2.840.10008.5.1.4.1.1.6":   true, // Ultrasound Image (retired)
	"1.2.840.10008.5.1.4.1.1.3":   true, // Ultrasound Multi-frame Image (retired)
	"1.2.840.10008.5.1.4.1.1.6.2": true, // Enhanced US Volume
}

// IsCandidate reports whether ingest should hand an instance to the
// extractor: an SR document (any modality; ultrasound devices label theirs
// SR), or an ultrasound image (for the image_only record, see
// ElastographyImage).
func IsCandidate(sopClassUID, modality string) bool {
	if srClasses[sopClassUID] {
		return true
	}
	if usImageClasses[sopClassUID] {
		return true
	}
	// Unknown class (a caller with only the modality): examine SR and US.
	return sopClassUID == "" && (modality == "SR" || modality == "US")
}

// Extract reads the elastography results of an SR document: one Report
// per site/session container holding shear-wave or elasticity values.
// A document without such values (most SR documents) yields no report
// and no error; so does a data set that is not an SR document. cfg nil
// means DefaultConfig.
func Extract(ds *dcm.Dataset, src Source, cfg *Config) ([]Report, error) {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	if cfg.compiled == nil {
		if err := cfg.compile(); err != nil {
			return nil, err
		}
	}
	if ds == nil {
		return nil, nil
	}
	src = src.fill(ds)
	if src.SOPClassUID != "" && !srClasses[src.SOPClassUID] {
		return nil, nil
	}
	doc, err := sr.Parse(ds, sr.Options{})
	if err == sr.ErrNotSR {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("elastography: %w", err)
	}
	x := &extractor{cfg: cfg, cc: cfg.compiled, doc: doc, src: src}
	return x.run(), nil
}

type extractor struct {
	cfg *Config
	cc  *compiled
	doc *sr.Document
	src Source
	mfr string // device manufacturer and model used for table selection
	mdl string
}

// section accumulates one report.
type section struct {
	item      *sr.Item
	tables    map[string]bool
	fallbacks []Fallback
	notes     []string
	flags     map[string]bool
	paths     map[string]string
	reported  map[string]map[string]reported // stat → unit (kpa|mps|pct_kpa|pct_mps) → value
	counts    map[string]int
	meas      []Measurement
	seenFB    map[string]bool
	quantSeen map[string]bool // units of individually reported values
}

type reported struct {
	v    float64
	path string
}

func (s *section) note(format string, a ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, a...))
}

// look maps a code within a section, recording tables and fallbacks used.
func (x *extractor) look(s *section, c *sr.Code, path string) *match {
	m := x.cc.lookup(c, x.mfr, x.mdl)
	if m == nil || s == nil {
		return m
	}
	if m.Role == RoleDeny {
		s.flags[FlagKnownBadCode] = true
		s.note("%s: %s ignored: %s", path, c, m.Value)
		return m
	}
	s.tables[m.table] = true
	if m.fallback {
		k := c.Scheme + "\x00" + c.Value
		if !s.seenFB[k] {
			s.seenFB[k] = true
			s.flags[FlagMeaningFallback] = true
			s.fallbacks = append(s.fallbacks, Fallback{Path: path, Code: []string{c.Value, c.Scheme, c.Meaning},
				Role: strings.TrimSuffix(m.Role+":"+m.Value, ":"), Pattern: x.fallbackPattern(m)})
		}
	}
	return m
}

func (x *extractor) fallbackPattern(m *match) string {
	for _, t := range x.cc.tables {
		for _, f := range t.fallbacks {
			if f.e == m.CodeEntry {
				return f.re.String()
			}
		}
	}
	return ""
}

func (x *extractor) role(c *sr.Code) *match { return x.cc.lookup(c, x.mfr, x.mdl) }

func (x *extractor) isRole(c *sr.Code, role string) bool {
	m := x.role(c)
	return m != nil && m.Role == role
}

func (x *extractor) run() []Report {
	x.mfr, x.mdl = x.src.Manufacturer, x.src.Model
	// Device observer context (TID 1004) when the header lacks it.
	for _, it := range x.doc.Items {
		if it.ValueType != sr.ValueText || it.Relationship != sr.HasObsContext {
			continue
		}
		if m := x.role(it.Concept); m != nil && m.Role == RoleDevice {
			switch m.Value {
			case "manufacturer":
				if x.src.Manufacturer == "" {
					x.src.Manufacturer = it.Text
				}
			case "model":
				if x.src.Model == "" {
					x.src.Model = it.Text
				}
			}
		}
	}
	x.mfr, x.mdl = x.src.Manufacturer, x.src.Model

	var order []*sr.Item
	seen := map[*sr.Item]bool{}
	for _, it := range x.doc.Items {
		if it.ValueType != sr.ValueNum || it.IsReference() {
			continue
		}
		m := x.role(it.Concept)
		if m == nil || m.Role != RoleMeasurand {
			continue
		}
		sec := x.sectionOf(it)
		if !seen[sec] {
			seen[sec] = true
			order = append(order, sec)
		}
	}
	var out []Report
	for _, sec := range order {
		if r, ok := x.report(sec); ok {
			out = append(out, r)
		}
	}
	return out
}

func (x *extractor) sectionOf(it *sr.Item) *sr.Item {
	for p := it.Parent; p != nil; p = p.Parent {
		if p.ValueType != sr.ValueContainer {
			continue
		}
		if x.isRole(p.Concept, RoleMeasurementGroup) {
			continue
		}
		return p
	}
	return x.doc.Root
}

// containers returns the section and the measurement groups under it
// (through groups only), in document order.
func (x *extractor) containers(sec *sr.Item) []*sr.Item {
	out := []*sr.Item{sec}
	var rec func(*sr.Item)
	rec = func(c *sr.Item) {
		for _, ch := range c.Children {
			if ch.ValueType == sr.ValueContainer && !ch.IsReference() && x.isRole(ch.Concept, RoleMeasurementGroup) {
				out = append(out, ch)
				rec(ch)
			}
		}
	}
	rec(sec)
	return out
}

// unit classifies a unit code: the quantity and the factor to m/s, kPa,
// cm or percent.
func unitOf(u *sr.Code) (q string, factor float64) {
	if u == nil {
		return "", 0
	}
	v := strings.TrimSpace(u.Value)
	if u.Scheme != "UCUM" && v == "" {
		v = strings.TrimSpace(u.Meaning)
	}
	switch strings.ToLower(v) {
	case "m/s":
		return "mps", 1
	case "cm/s":
		return "mps", 0.01
	case "mm/s":
		return "mps", 0.001
	case "kpa":
		return "kpa", 1
	case "pa":
		return "kpa", 0.001
	case "cm":
		return "cm", 1
	case "mm":
		return "cm", 0.1
	case "%":
		return "pct", 1
	case "{ratio}", "1", "ratio":
		return "pct", 100
	}
	return "", 0
}

// entry is one individually reported value.
type entry struct {
	v       *float64
	valid   bool
	path    string
	segment *sr.Code
	quality *VendorQuality
}

func (x *extractor) report(secItem *sr.Item) (Report, bool) {
	s := &section{item: secItem, tables: map[string]bool{}, flags: map[string]bool{}, paths: map[string]string{},
		reported: map[string]map[string]reported{}, counts: map[string]int{}, seenFB: map[string]bool{},
		quantSeen: map[string]bool{}}
	x.look(s, secItem.Concept, secItem.ID)
	for _, c := range x.containers(secItem) {
		x.container(s, c, c == secItem)
	}
	r := Report{
		Schema:       Schema,
		Measurements: s.meas,
		Patient:      Patient{ID: x.src.PatientID, Name: x.src.PatientName},
	}
	if r.Measurements == nil {
		r.Measurements = []Measurement{}
	}
	r.Site = x.site(s, secItem)
	r.Method, r.MethodCode = x.method(s, secItem)
	x.conditions(s)
	r.Device = Device{Manufacturer: x.src.Manufacturer, Model: x.src.Model, Software: x.src.Software,
		Transducer: x.src.Transducer, VendorTechnique: x.cc.technique(x.src.Manufacturer, x.src.Model, r.Method)}
	r.Summary = x.summary(s, r.Measurements)
	hasValue := r.Summary.Median != nil || r.Summary.Mean != nil
	for _, m := range r.Measurements {
		hasValue = hasValue || m.EKPa != nil
	}
	if !hasValue {
		// Measurand codes but no usable value (traps, failed
		// acquisitions, missing units): nothing to report.
		return Report{}, false
	}
	r.QC = x.qc(s, &r)
	r.Staging = x.stage(s, &r)
	r.Source = x.reportSource(s, secItem)
	return r, true
}

func (x *extractor) container(s *section, c *sr.Item, isSection bool) {
	lists := map[string][]entry{} // mps, kpa, cm
	groupInvalid := false
	var groupSegment *sr.Code
	var image *ImageRef
	for _, ch := range c.Children {
		if ch.IsReference() {
			continue // by-reference items point at values counted where they stand
		}
		it := ch
		switch it.ValueType {
		case sr.ValueCode:
			if m := x.look(s, it.Code, it.ID); m != nil && m.Role == RoleInvalid && !isSection {
				groupInvalid = true
			}
			if cm := x.look(s, it.Concept, it.ID); cm != nil && cm.Role == RoleFindingSite && !isSection {
				groupSegment = it.Code
			}
		case "IMAGE":
			if image == nil && it.SOP != nil && !isSection {
				image = &ImageRef{SOPInstanceUID: it.SOP.SOPInstanceUID}
				if len(it.SOP.Frames) > 0 {
					image.Frame = it.SOP.Frames[0]
				}
			}
		case sr.ValueNum:
			x.num(s, it, lists)
		}
	}
	n := max(len(lists["mps"]), len(lists["kpa"]))
	for k := 0; k < n; k++ {
		m := Measurement{I: len(s.meas) + 1, Valid: !groupInvalid, ImageRef: image, Origin: OriginReported}
		var paths []string
		var seg *sr.Code = groupSegment
		take := func(q string) *entry {
			if k < len(lists[q]) {
				e := lists[q][k]
				paths = append(paths, e.path)
				if !e.valid {
					m.Valid = false
				}
				if e.segment != nil {
					seg = e.segment
				}
				if e.quality != nil {
					m.VendorQuality = e.quality
				}
				return &e
			}
			return nil
		}
		if e := take("mps"); e != nil && e.v != nil {
			m.SWSMPS = e.v
			s.quantSeen["mps"] = true
		}
		if e := take("kpa"); e != nil && e.v != nil {
			m.EKPa = e.v
			s.quantSeen["kpa"] = true
		}
		if k < len(lists["cm"]) {
			m.DepthCM = lists["cm"][k].v
		}
		switch {
		case m.SWSMPS != nil && m.EKPa == nil:
			m.EKPa = ptr(round(kpaFromMPS(*m.SWSMPS), 4))
			m.Origin, m.Converted = OriginConverted, "e_kpa"
		case m.EKPa != nil && m.SWSMPS == nil:
			m.SWSMPS = ptr(round(mpsFromKPa(*m.EKPa), 4))
			m.Origin, m.Converted = OriginConverted, "sws_mps"
		case m.EKPa == nil && m.SWSMPS == nil:
			m.Valid = false
		}
		if seg != nil {
			if mm := x.role(seg); mm != nil && mm.Role == RoleMeasurementSite {
				m.Segment = []string{seg.Value, seg.Scheme, seg.Meaning}
			} else if mm == nil || mm.Role != RoleSite {
				m.Segment = []string{seg.Value, seg.Scheme, seg.Meaning}
			}
		}
		if !isSection {
			m.Path = c.ID
		} else if len(paths) > 0 {
			m.Path = paths[0]
		}
		s.meas = append(s.meas, m)
	}
}

// num classifies one NUM item of a section or group.
func (x *extractor) num(s *section, it *sr.Item, lists map[string][]entry) {
	m := x.look(s, it.Concept, it.ID)
	if m == nil {
		if q, _ := unitOf(unitCode(it)); (q == "mps" || q == "kpa") && it.Concept != nil && !x.cc.standard[x.cc.alias(it.Concept.Scheme)] {
			s.flags[FlagUnknownVendor] = true
			s.note("%s: %s with unit %s is not in any mapping table", it.ID, it.Concept, it.Num.Unit.Value)
		}
		return
	}
	switch m.Role {
	case RoleCount:
		if it.Num != nil && it.Num.HasValue {
			if _, dup := s.counts[m.Value]; !dup {
				s.counts[m.Value] = int(math.Round(it.Num.Value))
				s.paths[m.Value] = it.ID
			}
		}
		return
	case RoleDepth:
		q, f := unitOf(unitCode(it))
		if q != "cm" || !it.Num.HasValue {
			s.note("%s: depth without a length unit or value ignored", it.ID)
			lists["cm"] = append(lists["cm"], entry{path: it.ID})
			return
		}
		lists["cm"] = append(lists["cm"], entry{v: ptr(scaled(it.Num.Value, f)), path: it.ID})
		return
	case RoleMeasurand:
	default:
		return
	}
	stat := m.Stat
	var segment *sr.Code
	var quality *VendorQuality
	excluded := ""
	for _, mod := range it.Related(sr.HasConceptMod) {
		if mod.ValueType != sr.ValueCode {
			continue
		}
		cm := x.look(s, mod.Concept, mod.ID)
		if cm == nil {
			continue
		}
		switch cm.Role {
		case RoleDerivation, RoleSelectionStatus:
			vm := x.look(s, mod.Code, mod.ID)
			switch {
			case vm != nil && vm.Role == RoleStatistic:
				if stat == "" || cm.Role == RoleDerivation {
					stat = vm.Value
				}
			case vm != nil && vm.Role == RoleDeny:
				excluded = fmt.Sprintf("%s %s is a known-bad code", mod.Concept.Meaning, mod.Code)
			case cm.Role == RoleDerivation:
				excluded = fmt.Sprintf("derivation %s is not a statistic", mod.Code)
			}
		case RoleFindingSite:
			segment = mod.Code
		}
	}
	for _, p := range it.Related(sr.HasProperties) {
		if p.ValueType == sr.ValueNum && p.Num != nil && p.Num.HasValue {
			if pm := x.look(s, p.Concept, p.ID); pm != nil && pm.Role == RoleQuality {
				quality = &VendorQuality{Name: pm.Value, Value: p.Num.Value}
				if pm.Min != nil && p.Num.Value < *pm.Min {
					s.flags[FlagVendorQualityLow] = true
				}
			}
		}
	}
	if stat == "" && excluded != "" {
		s.note("%s: %s not used: %s", it.ID, it.Concept, excluded)
		return
	}
	q, f := unitOf(unitCode(it))
	valid := true
	if it.Num != nil && it.Num.Qualifier != nil {
		if qm := x.look(s, it.Num.Qualifier, it.ID); qm != nil && qm.Role == RoleInvalid {
			valid = false
		}
	}
	want := map[string]string{"sws": "mps", "elasticity": "kpa"}[m.Value]
	if stat == "" { // an individual measurement
		if q != "mps" && q != "kpa" {
			if it.Num == nil || !it.Num.HasValue && !valid {
				if want != "" {
					lists[want] = append(lists[want], entry{valid: false, path: it.ID, segment: segment})
				}
				return
			}
			s.note("%s: %s has unit %s, not a shear wave speed or elasticity unit; ignored", it.ID, it.Concept, unitText(it))
			return
		}
		if want != "" && want != q {
			s.note("%s: %s has unit %s, contradicting its concept; ignored", it.ID, it.Concept, unitText(it))
			return
		}
		e := entry{valid: valid && it.Num.HasValue, path: it.ID, segment: segment, quality: quality}
		if it.Num.HasValue {
			e.v = ptr(scaled(it.Num.Value, f))
		}
		lists[q] = append(lists[q], e)
		return
	}
	// A summary value (shape B: the statistic is a modifier of the measurand).
	if !it.Num.HasValue {
		s.note("%s: %s %s without a value ignored", it.ID, stat, it.Concept)
		return
	}
	switch q {
	case "mps", "kpa":
		s.record(stat, q, scaled(it.Num.Value, f), it.ID)
	case "pct":
		mq := want
		if mq == "" {
			s.note("%s: ratio %s of an unknown quantity ignored", it.ID, it.Concept)
			return
		}
		if stat != "iqr_ratio" {
			s.note("%s: %s in %s ignored", it.ID, stat, unitText(it))
			return
		}
		s.record(stat, "pct_"+mq, scaled(it.Num.Value, f), it.ID)
	default:
		s.note("%s: %s %s with unit %s ignored", it.ID, stat, it.Concept, unitText(it))
		return
	}
	// Shape A: statistics as HAS PROPERTIES children of the summary NUM.
	for _, p := range it.Related(sr.HasProperties) {
		if p.ValueType != sr.ValueNum || p.Num == nil || !p.Num.HasValue {
			continue
		}
		pm := x.look(s, p.Concept, p.ID)
		if pm == nil {
			continue
		}
		switch pm.Role {
		case RoleStatistic:
			pq, pf := unitOf(unitCode(p))
			switch {
			case pq == "pct" && pm.Value == "iqr_ratio" && (q == "kpa" || q == "mps"):
				s.record("iqr_ratio", "pct_"+q, scaled(p.Num.Value, pf), p.ID)
			case pq == q:
				s.record(pm.Value, q, scaled(p.Num.Value, pf), p.ID)
			default:
				s.note("%s: %s with unit %s ignored", p.ID, p.Concept, unitText(p))
			}
		case RoleCount:
			if _, dup := s.counts[pm.Value]; !dup {
				s.counts[pm.Value] = int(math.Round(p.Num.Value))
				s.paths[pm.Value] = p.ID
			}
		}
	}
}

func (s *section) record(stat, unit string, v float64, path string) {
	if s.reported[stat] == nil {
		s.reported[stat] = map[string]reported{}
	}
	if prev, dup := s.reported[stat][unit]; dup {
		s.note("%s: second %s in %s ignored (first at %s)", path, stat, unit, prev.path)
		return
	}
	s.reported[stat][unit] = reported{v: v, path: path}
	key := stat + "_" + unit
	if stat == "iqr_ratio" {
		key = "iqr_over_median_pct_" + strings.TrimPrefix(unit, "pct_")
	}
	s.paths[key] = path
}

func scaled(v, f float64) float64 {
	if f == 1 {
		return v
	}
	return round(v*f, 9)
}

func unitCode(it *sr.Item) *sr.Code {
	if it.Num == nil {
		return nil
	}
	return it.Num.Unit
}

func unitText(it *sr.Item) string {
	if u := unitCode(it); u != nil {
		return fmt.Sprintf("(%s, %s)", u.Value, u.Scheme)
	}
	return "(none)"
}

// contextCodes returns the CODE items that qualify c: its HAS CONCEPT MOD,
// HAS ACQ CONTEXT and CONTAINS children.
func contextCodes(c *sr.Item) []*sr.Item {
	var out []*sr.Item
	for _, rel := range []string{sr.HasConceptMod, sr.HasAcqContext, sr.Contains} {
		for _, it := range c.Related(rel) {
			if it.ValueType == sr.ValueCode && it.Code != nil {
				out = append(out, it)
			}
		}
	}
	return out
}

func codeSlice(c *sr.Code) []string {
	if c == nil {
		return nil
	}
	return []string{c.Value, c.Scheme, c.Meaning}
}

func (x *extractor) site(s *section, sec *sr.Item) Site {
	st := Site{Segment: []string{}}
	for p := sec; p != nil; p = p.Parent {
		if m := x.role(p.Concept); m != nil && m.Role == RoleSection && m.Site != "" {
			x.look(s, p.Concept, p.ID)
			st.Name = m.Site
			st.Code = codeSlice(p.Concept)
			break
		}
		found := false
		for _, it := range contextCodes(p) {
			if !x.isRole(it.Concept, RoleFindingSite) {
				continue
			}
			vm := x.look(s, it.Code, it.ID)
			switch {
			case vm != nil && vm.Role == RoleSite:
				st.Code, st.Name, found = codeSlice(it.Code), vm.Value, true
			case vm != nil && vm.Role == RoleMeasurementSite:
				st.MeasurementSite = vm.Value
			case vm == nil:
				st.Code, found = codeSlice(it.Code), true
				s.note("%s: finding site %s is not in any mapping table", it.ID, it.Code)
			}
			if found {
				break
			}
		}
		if found {
			break
		}
	}
	// A segment common to every measurement is the section's.
	var seg []string
	for i, m := range s.meas {
		if i == 0 {
			seg = m.Segment
		} else if !slices.Equal(seg, m.Segment) {
			seg = nil
			break
		}
	}
	if len(seg) > 0 {
		if seg[1] == "DCM" && seg[0] == "125040" {
			st.MeasurementSite = "background"
		} else {
			st.Segment = seg
		}
	}
	return st
}

func (x *extractor) method(s *section, sec *sr.Item) (string, []string) {
	try := func(c *sr.Code, path string) (string, []string, bool) {
		if m := x.look(s, c, path); m != nil && m.Role == RoleMethod {
			return m.Value, codeSlice(c), true
		}
		return "", nil, false
	}
	for p := sec; p != nil; p = p.Parent {
		if m := x.role(p.Concept); m != nil && m.Role == RoleSection && m.Method != "" {
			x.look(s, p.Concept, p.ID)
			return m.Method, codeSlice(p.Concept)
		}
		for _, it := range contextCodes(p) {
			if v, c, ok := try(it.Code, it.ID); ok {
				return v, c
			}
		}
	}
	// On the groups (TID 5202-style image mode per measurement group).
	for _, c := range x.containers(sec)[1:] {
		for _, it := range contextCodes(c) {
			if v, cd, ok := try(it.Code, it.ID); ok {
				return v, cd
			}
		}
	}
	return MethodUnknown, []string{}
}

// conditions raises the flags of patient conditions (CID 12323) recorded
// anywhere in the document.
func (x *extractor) conditions(s *section) {
	for _, it := range x.doc.Items {
		if it.ValueType == sr.ValueCode {
			if m := x.role(it.Code); m != nil && m.Role == RoleCondition {
				s.flags[m.Value] = true
				s.paths[strings.ToLower(m.Value)] = it.ID
			}
		}
	}
}

func (x *extractor) summary(s *section, ms []Measurement) Summary {
	method := x.cfg.QC.QuantileMethod
	var kpa, mps []float64
	var convK, convM bool
	nValid := 0
	for _, m := range ms {
		if !m.Valid {
			continue
		}
		nValid++
		kpa = append(kpa, *m.EKPa)
		mps = append(mps, *m.SWSMPS)
		if m.Converted == "e_kpa" {
			convK = true
		}
		if m.Converted == "sws_mps" {
			convM = true
		}
	}
	if convK || convM {
		s.flags[FlagUnitConverted] = true
	}
	var sum Summary
	if len(ms) > 0 {
		sum.NTotal, sum.NValid = ptr(len(ms)), ptr(nValid)
	} else {
		if n, ok := s.counts["n_total"]; ok {
			sum.NTotal = ptr(n)
		}
		if n, ok := s.counts["n_valid"]; ok {
			sum.NValid = ptr(n)
		}
	}
	if sum.NTotal != nil && s.counts["n_total"] != 0 && *sum.NTotal != s.counts["n_total"] {
		s.note("device reports %d measurements, the document holds %d", s.counts["n_total"], *sum.NTotal)
	}
	rk, okK := summarize(kpa, method)
	rm, okM := summarize(mps, method)
	recOrigin := func(conv bool) string {
		if conv {
			return OriginConverted
		}
		return OriginRecomputed
	}
	rep := func(stat, unit string) *float64 {
		if v, ok := s.reported[stat][unit]; ok {
			return ptr(v.v)
		}
		return nil
	}
	// value picks, per unit, the reported value, else the recomputed one.
	value := func(stat string, recK, recM float64, places int) *Value {
		v := &Value{}
		var oK, oM string
		if p := rep(stat, "kpa"); p != nil {
			v.KPa, oK = p, OriginReported
		} else if okK {
			v.KPa, oK = ptr(round(recK, places)), recOrigin(convK)
		}
		if p := rep(stat, "mps"); p != nil {
			v.MPS, oM = p, OriginReported
		} else if okM {
			v.MPS, oM = ptr(round(recM, places)), recOrigin(convM)
		}
		if v.KPa == nil && v.MPS == nil {
			return nil
		}
		if v.KPa != nil {
			v.Origin = oK
			if v.MPS != nil && oM != oK {
				v.OriginMPS = oM
			}
		} else {
			v.Origin = oM
		}
		return v
	}
	sum.Median = value("median", rk.median, rm.median, 4)
	sum.IQR = value("iqr", rk.iqr, rm.iqr, 4)
	// IQR/M: reported, else from the individual values, else from the
	// reported median and IQR.
	ratio := &Value{}
	for _, u := range []string{"kpa", "mps"} {
		var val *float64
		var origin string
		rec, ok, conv := rk, okK, convK
		if u == "mps" {
			rec, ok, conv = rm, okM, convM
		}
		switch {
		case rep("iqr_ratio", "pct_"+u) != nil:
			val, origin = rep("iqr_ratio", "pct_"+u), OriginReported
		case ok:
			val, origin = ptr(round(rec.ratioPct, 2)), recOrigin(conv)
		case rep("median", u) != nil && rep("iqr", u) != nil && *rep("median", u) != 0:
			val, origin = ptr(round(100**rep("iqr", u)/(*rep("median", u)), 2)), OriginRecomputed
		}
		if val == nil {
			continue
		}
		if u == "kpa" {
			ratio.KPa, ratio.Origin = val, origin
		} else {
			ratio.MPS = val
			if ratio.KPa == nil {
				ratio.Origin = origin
			} else if origin != ratio.Origin {
				ratio.OriginMPS = origin
			}
		}
	}
	if ratio.KPa != nil || ratio.MPS != nil {
		sum.IQROverMedian = ratio
	}
	// Mean and SD only as the device reported them.
	if rep("mean", "kpa") != nil || rep("mean", "mps") != nil {
		sum.Mean = &Value{KPa: rep("mean", "kpa"), MPS: rep("mean", "mps"), Origin: OriginReported}
	}
	if rep("sd", "kpa") != nil || rep("sd", "mps") != nil {
		sum.SD = &Value{KPa: rep("sd", "kpa"), MPS: rep("sd", "mps"), Origin: OriginReported}
	}
	// Device summary against the recomputed one.
	if len(kpa) > 0 {
		chk := &RecomputeCheck{QuantileMethod: method, Compared: []string{}}
		agrees := true
		var dK, dM *float64
		cmp := func(stat, unit string, rec float64, ok bool) {
			p := rep(stat, unit)
			if p == nil || !ok {
				return
			}
			d := round(math.Abs(*p-rec), 4)
			chk.Compared = append(chk.Compared, stat+"_"+unit)
			tol := x.cfg.QC.Tolerance.KPa
			dp := &dK
			if unit == "mps" {
				tol, dp = x.cfg.QC.Tolerance.MPS, &dM
			}
			if *dp == nil || d > **dp {
				*dp = ptr(d)
			}
			if d > tol+1e-9 {
				agrees = false
				s.note("device %s %s = %g, recomputed %g (%s)", stat, unit, *p, round(rec, 4), method)
			}
		}
		cmp("median", "kpa", rk.median, okK)
		cmp("median", "mps", rm.median, okM)
		cmp("iqr", "kpa", rk.iqr, okK)
		cmp("iqr", "mps", rm.iqr, okM)
		cmp("mean", "kpa", rk.mean, okK)
		cmp("mean", "mps", rm.mean, okM)
		chk.MaxAbsDiffKPa, chk.MaxAbsDiffMPS = dK, dM
		if len(chk.Compared) > 0 {
			chk.Agrees = ptr(agrees)
			if !agrees {
				s.flags[FlagSummaryMismatch] = true
			}
		}
		sum.RecomputedCheck = chk
	}
	return sum
}

func (x *extractor) qc(s *section, r *Report) QC {
	q := x.cfg.QC
	sum := r.Summary
	// Evaluate IQR/M in the unit(s) the device measured in (elastography.md §6.1).
	measured := map[string]bool{}
	for u := range s.quantSeen {
		measured[u] = true
	}
	if len(measured) == 0 {
		for _, u := range []string{"kpa", "mps"} {
			if _, ok := s.reported["median"][u]; ok {
				measured[u] = true
			}
			if _, ok := s.reported["mean"][u]; ok {
				measured[u] = true
			}
		}
	}
	ratioKnown := false
	if sum.IQROverMedian != nil {
		if v := sum.IQROverMedian.KPa; v != nil && measured["kpa"] {
			ratioKnown = true
			if *v > q.MaxIQRMPctKPa {
				s.flags[FlagIQRMKPa] = true
			}
		}
		if v := sum.IQROverMedian.MPS; v != nil && measured["mps"] {
			ratioKnown = true
			if *v > q.MaxIQRMPctMPS {
				s.flags[FlagIQRMMPS] = true
			}
		}
	}
	if !ratioKnown {
		s.flags[FlagIQRMissing] = true
	}
	minN, ok := q.MinValid[r.Method]
	if !ok {
		minN = q.MinValid[MethodUnknown]
	}
	switch {
	case sum.NValid == nil:
		s.flags[FlagNUnknown] = true
	case *sum.NValid < minN:
		s.flags[FlagNValidLow] = true
	}
	if rng, ok := q.DepthCM[r.Method]; ok {
		for _, m := range r.Measurements {
			if m.Valid && m.DepthCM != nil && (*m.DepthCM < rng.Min || *m.DepthCM > rng.Max) {
				s.flags[FlagDepth] = true
				s.note("measurement %d: depth %g cm outside %g-%g cm", m.I, *m.DepthCM, rng.Min, rng.Max)
			}
		}
	}
	_, medK := s.reported["median"]
	_, meanR := s.reported["mean"]
	if meanR && !medK {
		s.flags[FlagMeanNotMedian] = true
	}
	out := QC{Criteria: q.Criteria, Flags: []string{}}
	for f := range s.flags {
		out.Flags = append(out.Flags, f)
	}
	sort.Strings(out.Flags)
	out.Reliable = sum.Median != nil
	for _, f := range out.Flags {
		if x.cc.unreliable[f] {
			out.Reliable = false
		}
	}
	out.Notes = s.notes
	return out
}

func (x *extractor) stage(s *section, r *Report) Staging {
	st := Staging{Scheme: "none", Disclaimer: Disclaimer}
	var rule *StagingRule
	for i := range x.cfg.Staging.Rules {
		if slices.Contains(x.cfg.Staging.Rules[i].Methods, r.Method) {
			rule = &x.cfg.Staging.Rules[i]
			break
		}
	}
	if rule == nil {
		st.Reason = ptr(fmt.Sprintf("no staging rule set for method %s", r.Method))
		return st
	}
	return stageWith(rule, x.cfg.Staging.UnreliablePolicy, r)
}

// stageWith applies one rule set to a report's summary.
func stageWith(rule *StagingRule, policy string, r *Report) Staging {
	st := Staging{Scheme: rule.Scheme, RuleSet: rule.RuleSet, Disclaimer: Disclaimer}
	sum := r.Summary
	src := sum.Median
	st.Input.Stat = "median"
	if src == nil && sum.Mean != nil {
		src, st.Input.Stat = sum.Mean, "mean"
	}
	if src == nil {
		st.Reason = ptr("no median to stage")
		return st
	}
	var band *Band
	switch {
	case src.KPa != nil:
		st.Input.KPa = src.KPa
		band = pickBand(rule.Bands, *src.KPa, func(b Band) *float64 { return b.UpperKPa })
	case src.MPS != nil && rule.Bands[0].UpperMPS != nil:
		st.Input.MPS = src.MPS
		band = pickBand(rule.Bands, *src.MPS, func(b Band) *float64 { return b.UpperMPS })
	default:
		st.Reason = ptr("rule set needs a kPa median")
		return st
	}
	var reasons []string
	if len(rule.Sites) > 0 && !slices.Contains(rule.Sites, r.Site.Name) {
		reasons = append(reasons, fmt.Sprintf("site %q is not one of %v", r.Site.Name, rule.Sites))
	}
	for _, f := range rule.NotApplicableIf {
		if slices.Contains(r.QC.Flags, f) {
			reasons = append(reasons, "condition "+f)
		}
	}
	if !r.QC.Reliable {
		reasons = append(reasons, "result failed QC ("+strings.Join(unreliableFlags(r.QC.Flags), ", ")+"); category for information only")
	}
	if st.Input.Stat == "mean" {
		reasons = append(reasons, "staged from a mean, not a median")
	}
	st.Applicable = len(reasons) == 0
	if !st.Applicable {
		st.Reason = ptr(strings.Join(reasons, "; "))
		if policy == "withhold" {
			return st
		}
	}
	st.Category, st.Text = ptr(band.Category), band.Text
	return st
}

func unreliableFlags(flags []string) []string {
	out := []string{}
	for _, f := range flags {
		switch f {
		case FlagNotFasting, FlagConfounder, FlagUnitConverted, FlagMeaningFallback, FlagKnownBadCode, FlagUnknownVendor:
			continue
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		out = append(out, "no median")
	}
	return out
}

func pickBand(bands []Band, v float64, upper func(Band) *float64) *Band {
	for i := range bands {
		u := upper(bands[i])
		if u == nil {
			return &bands[i]
		}
		if v < *u || (bands[i].UpperInclusive && v == *u) {
			return &bands[i]
		}
	}
	return &bands[len(bands)-1]
}

func (x *extractor) reportSource(s *section, sec *sr.Item) ReportSource {
	rs := ReportSource{
		SOPClassUID:       x.src.SOPClassUID,
		SOPInstanceUID:    x.src.SOPInstanceUID,
		StudyInstanceUID:  x.src.StudyInstanceUID,
		SeriesInstanceUID: x.src.SeriesInstanceUID,
		ContentDateTime:   x.src.ContentDateTime,
		Section:           sec.ID,
		MeaningFallbacks:  s.fallbacks,
		ContentItemPaths:  s.paths,
		TemplateIDs:       []string{},
	}
	kind := KindStandard
	var tables []string
	for t := range s.tables {
		tables = append(tables, t)
		if !strings.HasPrefix(t, "standard@") {
			kind = KindVendor
		}
	}
	if len(s.fallbacks) > 0 {
		kind = KindVendor
	}
	sort.Strings(tables)
	rs.Kind, rs.MappingTable = kind, strings.Join(tables, "+")
	seenT := map[string]bool{}
	addT := func(it *sr.Item) {
		if it.TemplateID != "" && !seenT[it.TemplateID] {
			seenT[it.TemplateID] = true
			rs.TemplateIDs = append(rs.TemplateIDs, it.TemplateID)
		}
	}
	var anc []*sr.Item
	for p := sec.Parent; p != nil; p = p.Parent {
		anc = append([]*sr.Item{p}, anc...)
	}
	for _, a := range anc {
		addT(a)
	}
	for _, c := range x.containers(sec) {
		addT(c)
	}
	schemes := map[string]bool{}
	add := func(c *sr.Code) {
		if c != nil && c.Scheme != "" {
			schemes[c.Scheme] = true
		}
	}
	for _, it := range x.doc.Items {
		add(it.Concept)
		add(it.Code)
		if it.Num != nil {
			add(it.Num.Unit)
			add(it.Num.Qualifier)
		}
	}
	for k := range schemes {
		rs.CodingSchemesSeen = append(rs.CodingSchemesSeen, k)
	}
	sort.Strings(rs.CodingSchemesSeen)
	return rs
}
