package elastography

import (
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sonogate/sonogate/elastography/internal/srgen"
	"github.com/sonogate/sonogate/elastography/sr"
	"github.com/sonogate/sonogate/internal/testenv"
)

func extractFixture(t *testing.T, name string) []Report {
	t.Helper()
	ds, err := ReadFile(filepath.Join("testdata", name+".dcm"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Extract(ds, Source{}, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func f(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// TestElastPQTenMeasurements checks the reliable 10-measurement exam
// against numbers worked out by hand.
func TestElastPQTenMeasurements(t *testing.T) {
	rs := extractFixture(t, "std_elastpq_reliable")
	if len(rs) != 1 {
		t.Fatalf("%d reports, want 1", len(rs))
	}
	r := rs[0]
	// kPa sorted: 6.05 6.39 6.66 6.84 7.02 7.21 7.39 7.58 7.97 8.67.
	// median = (7.02+7.21)/2 = 7.115
	// type 7: Q1 at h = 1+0.25·9 = 3.25 → 6.66 + 0.25·(6.84−6.66) = 6.705
	//         Q3 at h = 7.75 → 7.39 + 0.75·(7.58−7.39) = 7.5325
	// IQR = 0.8275; IQR/M = 0.8275/7.115 = 11.630 %.
	kpa := make([]float64, 0, 10)
	mps := make([]float64, 0, 10)
	for _, m := range r.Measurements {
		kpa = append(kpa, *m.EKPa)
		mps = append(mps, *m.SWSMPS)
	}
	sk, _ := summarize(kpa, "type7")
	if !near(sk.median, 7.115) || !near(round(sk.iqr, 6), 0.8275) || !near(round(sk.ratioPct, 2), 11.63) {
		t.Errorf("recomputed kPa: median %v iqr %v ratio %v", sk.median, sk.iqr, sk.ratioPct)
	}
	// m/s sorted: 1.42 1.46 1.49 1.51 1.53 1.55 1.57 1.59 1.63 1.70.
	// median 1.54; Q1 = 1.49+0.25·0.02 = 1.495; Q3 = 1.57+0.75·0.02 = 1.585; IQR 0.09; 5.84 %.
	sm, _ := summarize(mps, "type7")
	if !near(round(sm.median, 6), 1.54) || !near(round(sm.iqr, 6), 0.09) || !near(round(sm.ratioPct, 2), 5.84) {
		t.Errorf("recomputed m/s: median %v iqr %v ratio %v", sm.median, sm.iqr, sm.ratioPct)
	}
	s := r.Summary
	if *s.NTotal != 10 || *s.NValid != 10 {
		t.Errorf("n = %d/%d", *s.NTotal, *s.NValid)
	}
	if f(s.Median.KPa) != 7.12 || f(s.Median.MPS) != 1.54 || s.Median.Origin != OriginReported {
		t.Errorf("median %+v", s.Median)
	}
	if f(s.IQR.KPa) != 0.83 || f(s.IQROverMedian.KPa) != 11.6 || f(s.IQROverMedian.MPS) != 5.8 {
		t.Errorf("iqr %+v ratio %+v", s.IQR, s.IQROverMedian)
	}
	c := s.RecomputedCheck
	if c.QuantileMethod != "type7" || !*c.Agrees || f(c.MaxAbsDiffKPa) != 0.005 { // |7.12−7.115|
		t.Errorf("check %+v", c)
	}
	if !r.QC.Reliable || len(r.QC.Flags) != 0 {
		t.Errorf("qc %+v", r.QC)
	}
	if r.Method != MethodPSWE || r.Site.Name != "liver" || r.Device.VendorTechnique != "ElastPQ" || r.Source.Kind != KindStandard {
		t.Errorf("method %s site %s technique %s kind %s", r.Method, r.Site.Name, r.Device.VendorTechnique, r.Source.Kind)
	}
	st := r.Staging
	if st.Scheme != "SRU-2020-ARFI" || *st.Category != "rule_out_cACLD_if_no_other_signs" || !st.Applicable || st.Disclaimer != "not clinical advice" {
		t.Errorf("staging %+v", st)
	}
	if r.Measurements[0].ImageRef == nil || r.Measurements[0].ImageRef.Frame != 1 {
		t.Errorf("image ref %+v", r.Measurements[0].ImageRef)
	}
}

func TestUnreliableElastPQ(t *testing.T) {
	r := extractFixture(t, "std_elastpq_unreliable")[0]
	// kPa sorted 5.1 5.6 6.0 6.4 7.0 7.4 8.2 8.8 9.6 10.5: median 7.2,
	// Q1 = 6.0+0.25·0.4 = 6.1, Q3 = 8.2+0.75·0.6 = 8.65, IQR 2.55, IQR/M 35.42 %.
	var kpa []float64
	for _, m := range r.Measurements {
		kpa = append(kpa, *m.EKPa)
	}
	sk, _ := summarize(kpa, "type7")
	if !near(sk.median, 7.2) || !near(round(sk.iqr, 6), 2.55) || !near(round(sk.ratioPct, 2), 35.42) {
		t.Errorf("recomputed %+v", sk)
	}
	if f(r.Summary.IQROverMedian.KPa) != 35.4 || r.QC.Reliable || !slices.Contains(r.QC.Flags, FlagIQRMKPa) {
		t.Errorf("ratio %v qc %+v", f(r.Summary.IQROverMedian.KPa), r.QC)
	}
	// The m/s values are converted, so the 15 % rule is not applied to them.
	if slices.Contains(r.QC.Flags, FlagIQRMMPS) || !slices.Contains(r.QC.Flags, FlagUnitConverted) {
		t.Errorf("flags %v", r.QC.Flags)
	}
	if r.Staging.Applicable || r.Staging.Reason == nil || !strings.Contains(*r.Staging.Reason, "failed QC") {
		t.Errorf("staging applied to an unreliable result: %+v", r.Staging)
	}
	// Converted per measurement: c = √(7.0/3) = 1.5275 m/s.
	if m := r.Measurements[0]; f(m.SWSMPS) != 1.5275 || m.Origin != OriginConverted || m.Converted != "sws_mps" {
		t.Errorf("measurement 1 %+v", m)
	}
}

func TestVariants(t *testing.T) {
	type want struct {
		reports  int
		method   string
		site     string
		kind     string
		medKPa   float64
		nValid   int // -1: unknown
		reliable bool
		flags    []string
		category string
		applic   bool
	}
	for name, w := range map[string]want{
		// c² ·3 per measurement, median of converted (4.1772+4.32)/2 = 4.2486.
		"mps_only": {1, MethodPSWE, "liver", KindStandard, 4.2486, 10, true, []string{FlagUnitConverted}, "high_probability_normal", true},
		"missing_iqr": {1, Method2DSWE, "liver", KindStandard, 6.2, -1, false, []string{FlagIQRMissing, FlagNUnknown},
			"rule_out_cACLD_if_no_other_signs", false},
		// Median recomputed from 7.6 8.1 8.3; mean 8.0 reported.
		"mean_not_median": {1, Method2DSWE, "liver", KindStandard, 8.1, 3, false, []string{FlagMeanNotMedian, FlagNValidLow, FlagUnitConverted},
			"rule_out_cACLD_if_no_other_signs", false},
		// Legacy SRT median 9.0 chosen; 9 is inside the 9-13 band.
		"vendor_tid5000_selection": {1, Method2DSWE, "liver", KindStandard, 9.0, 5, true, []string{FlagUnitConverted}, "suggestive_of_cACLD", true},
		"vendor_private_codes": {1, MethodPSWE, "liver", KindVendor, 4.58, 10, true, []string{FlagMeaningFallback, FlagUnknownVendor},
			"high_probability_normal", true},
		// The trap statistics are ignored, the median is recomputed: 7.115.
		"traps":   {1, MethodPSWE, "liver", KindStandard, 7.115, 10, true, []string{FlagKnownBadCode, FlagUnitConverted}, "rule_out_cACLD_if_no_other_signs", true},
		"te_demo": {1, MethodTE, "liver", KindVendor, 12.4, 10, true, []string{FlagUnitConverted}, "suggestive_of_cACLD", true},
	} {
		t.Run(name, func(t *testing.T) {
			rs := extractFixture(t, name)
			if len(rs) != w.reports {
				t.Fatalf("%d reports", len(rs))
			}
			r := rs[0]
			if r.Method != w.method || r.Site.Name != w.site || r.Source.Kind != w.kind || f(r.Summary.Median.KPa) != w.medKPa {
				t.Errorf("method %s site %s kind %s median %v", r.Method, r.Site.Name, r.Source.Kind, f(r.Summary.Median.KPa))
			}
			if (w.nValid < 0) != (r.Summary.NValid == nil) || (w.nValid >= 0 && *r.Summary.NValid != w.nValid) {
				t.Errorf("n_valid %v, want %d", r.Summary.NValid, w.nValid)
			}
			if r.QC.Reliable != w.reliable || !slices.Equal(r.QC.Flags, w.flags) {
				t.Errorf("qc %+v, want reliable %v flags %v", r.QC, w.reliable, w.flags)
			}
			if r.Staging.Category == nil || *r.Staging.Category != w.category || r.Staging.Applicable != w.applic {
				t.Errorf("staging %+v", r.Staging)
			}
		})
	}
}

func TestVendorDetails(t *testing.T) {
	r := extractFixture(t, "vendor_private_codes")[0]
	// 110 cm/s → 1.1 m/s; 40 mm → 4 cm; ratio 0.18 → 18 %.
	m := r.Measurements[0]
	if f(m.SWSMPS) != 1.1 || f(m.DepthCM) != 4 || m.VendorQuality == nil || m.VendorQuality.Value != 95 {
		t.Errorf("measurement %+v", m)
	}
	if f(r.Summary.IQROverMedian.KPa) != 18 || r.Summary.IQROverMedian.Origin != OriginReported {
		t.Errorf("ratio %+v", r.Summary.IQROverMedian)
	}
	if len(r.Source.MeaningFallbacks) != 1 || r.Source.MeaningFallbacks[0].Role != RoleDepth || r.Source.MappingTable != "demo-vendor@1" {
		t.Errorf("fallbacks %+v table %q", r.Source.MeaningFallbacks, r.Source.MappingTable)
	}
	// Without the user table nothing is recognised.
	ds, _ := ReadFile("testdata/vendor_private_codes.dcm")
	if rs, err := Extract(ds, Source{}, nil); err != nil || len(rs) != 0 {
		t.Errorf("default config: %d reports, %v", len(rs), err)
	}
}

func TestTwoSitesAndSessions(t *testing.T) {
	rs := extractFixture(t, "two_sites")
	if len(rs) != 2 || rs[0].Site.Name != "liver" || rs[1].Site.Name != "spleen" {
		t.Fatalf("%d reports", len(rs))
	}
	// Spleen: median (17.2+17.9)/2 = 17.55; staging not applicable to the spleen.
	if f(rs[1].Summary.Median.KPa) != 17.55 || rs[1].Staging.Applicable || !strings.Contains(*rs[1].Staging.Reason, "spleen") {
		t.Errorf("spleen %+v %+v", rs[1].Summary.Median, rs[1].Staging)
	}
	rs = extractFixture(t, "two_sessions")
	if len(rs) != 2 || rs[0].Method != MethodPSWE || rs[1].Method != Method2DSWE {
		t.Fatalf("sessions %d", len(rs))
	}
	// Session 2: 6.5 6.8 6.9 7.1 7.4 → median 6.9, Q1 6.8, Q3 7.1, IQR/M 4.35 %.
	s := rs[1].Summary
	if f(s.Median.KPa) != 6.9 || f(s.IQR.KPa) != 0.3 || f(s.IQROverMedian.KPa) != 4.35 {
		t.Errorf("session 2 %+v %+v %+v", s.Median, s.IQR, s.IQROverMedian)
	}
	for _, r := range rs {
		if !slices.Contains(r.QC.Flags, FlagNotFasting) || r.Staging.Applicable {
			t.Errorf("not fasting must make staging not applicable: %+v", r.Staging)
		}
	}
}

func TestQuantileMethods(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		m      string
		q1, q3 float64
	}{{"type7", 3.25, 7.75}, {"type6", 2.75, 8.25}, {"type2", 3, 8}} {
		if q1, q3 := quantile(xs, 0.25, c.m), quantile(xs, 0.75, c.m); !near(q1, c.q1) || !near(q3, c.q3) {
			t.Errorf("%s: %v %v", c.m, q1, q3)
		}
	}
	// The configured method changes IQR/M (elastography.md §6.1).
	cfg, err := ParseConfig([]byte("qc: {quantile_method: type6}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := ReadFile("testdata/traps.dcm")
	rs, _ := Extract(ds, Source{}, cfg)
	// type 6 on the ElastPQ kPa values: Q1 at 2.75 → 6.39+0.75·0.27 = 6.5925,
	// Q3 at 8.25 → 7.58+0.25·0.39 = 7.6775; IQR 1.085; /7.115 = 15.25 %.
	if got := f(rs[0].Summary.IQROverMedian.KPa); got != 15.25 || rs[0].Summary.RecomputedCheck.QuantileMethod != "type6" {
		t.Errorf("type6 IQR/M %v", got)
	}
}

func TestStagingBoundaries(t *testing.T) {
	cfg := DefaultConfig()
	rule := &cfg.Staging.Rules[0]
	for _, c := range []struct {
		kpa  float64
		want string
	}{{5, "high_probability_normal"}, {5.01, "rule_out_cACLD_if_no_other_signs"}, {8.99, "rule_out_cACLD_if_no_other_signs"},
		{9, "suggestive_of_cACLD"}, {13, "suggestive_of_cACLD"}, {13.01, "highly_suggestive_of_cACLD"}, {17, "highly_suggestive_of_cACLD"},
		{17.01, "probability_of_CSPH"}} {
		r := &Report{Site: Site{Name: "liver"}, QC: QC{Reliable: true, Flags: []string{}}, Summary: Summary{Median: &Value{KPa: ptr(c.kpa)}}}
		st := stageWith(rule, "qualified", r)
		if *st.Category != c.want || !st.Applicable {
			t.Errorf("%v kPa: %s", c.kpa, *st.Category)
		}
	}
	r := &Report{Site: Site{Name: "liver"}, QC: QC{Reliable: false, Flags: []string{FlagIQRMKPa}}, Summary: Summary{Median: &Value{KPa: ptr(7.0)}}}
	if st := stageWith(rule, "withhold", r); st.Category != nil || st.Applicable {
		t.Errorf("withhold policy staged %+v", st)
	}
}

func TestCodeTableTraps(t *testing.T) {
	cc := DefaultConfig().compiled
	for _, c := range []struct{ v, s, role, value string }{
		{"373099004", "SCT", RoleStatistic, "median"}, {"R-00319", "SRT", RoleStatistic, "median"}, {"R-00319", "SNM3", RoleStatistic, "median"},
		{"130290", "DCM", RoleDeny, ""}, {"R-00318", "SRT", RoleDeny, ""}, {"125370", "DCM", RoleDeny, ""}, {"125371", "DCM", RoleDeny, ""},
		{"126060", "DCM", RoleDeny, ""}, {"130611", "DCM", RoleMeasurand, "sws"}, {"110830", "DCM", RoleMeasurand, "elasticity"},
	} {
		m := cc.lookup(&sr.Code{Value: c.v, Scheme: c.s}, "", "")
		if m == nil || m.Role != c.role || (c.value != "" && m.Value != c.value) {
			t.Errorf("(%s,%s): %+v", c.v, c.s, m)
		}
	}
	// A standard scheme is never matched by meaning.
	if m := cc.lookup(&sr.Code{Value: "999", Scheme: "DCM", Meaning: "Shear Wave Speed"}, "", ""); m != nil {
		t.Errorf("meaning matched a DCM code: %+v", m)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for doc, want := range map[string]string{
		"mapping_tables: [{name: x, codes: [{scheme: A, code: B, role: nope}]}]":                              "mapping_tables[0].codes[0].role",
		"qc: {quantile_method: type9}":                                                                        "qc.quantile_method",
		"staging: {rules: [{scheme: S, methods: [TE], bands: [{category: a}, {category: b, upper_kpa: 3}]}]}": "staging.rules[2].bands[0].upper_kpa",
		"mapping_tables: [{name: x, meaning_fallback: [{pattern: '(', role: depth}]}]":                        "mapping_tables[0].meaning_fallback[0].pattern",
	} {
		_, err := ParseConfig([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to name %s", doc, err, want)
		}
	}
}

func TestIsCandidate(t *testing.T) {
	for _, c := range []struct {
		class, mod string
		want       bool
	}{{srgen.ComprehensiveSR, "SR", true}, {srgen.EnhancedSR, "SR", true}, {srgen.USImage, "US", true},
		{"1.2.840.10008.5.1.4.1.1.2", "CT", false}, {"1.2.840.10008.5.1.4.1.1.7", "US", false}, {"", "US", true}, {"", "MR", false}} {
		if IsCandidate(c.class, c.mod) != c.want {
			t.Errorf("IsCandidate(%q, %q) != %v", c.class, c.mod, c.want)
		}
	}
}

func TestFHIRObservation(t *testing.T) {
	r := extractFixture(t, "std_elastpq_reliable")[0]
	r.Patient.ID = "PID1"
	b, err := FHIRObservation(r)
	if err != nil {
		t.Fatal(err)
	}
	var o map[string]any
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	vq := o["valueQuantity"].(map[string]any)
	if o["resourceType"] != "Observation" || vq["value"] != 7.12 || vq["code"] != "kPa" || vq["system"] != SystemUCUM {
		t.Errorf("observation %s", b)
	}
	comps := map[string]float64{}
	for _, c := range o["component"].([]any) {
		cm := c.(map[string]any)
		code := cm["code"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string)
		if q, ok := cm["valueQuantity"].(map[string]any); ok {
			if _, dup := comps[code]; !dup {
				comps[code] = q["value"].(float64)
			}
		} else {
			comps[code] = cm["valueInteger"].(float64)
		}
	}
	if comps["373099004"] != 7.12 || comps["130614"] != 0.83 || comps["130615"] != 11.6 || comps["n-valid"] != 10 {
		t.Errorf("components %v", comps)
	}
	if !strings.Contains(string(b), "not clinical advice") || !strings.Contains(string(b), `"code": "10200004"`) {
		t.Errorf("staging disclaimer or body site missing: %s", b)
	}
}

// TestDsrdumpParsesFixtures: DCMTK must accept every generated SR.
func TestDsrdumpParsesFixtures(t *testing.T) {
	dsrdump := testenv.RequireTool(t, "dsrdump")
	for _, fx := range srgen.Fixtures() {
		if fx.Doc.SOPClassUID == srgen.USImage {
			continue
		}
		p := filepath.Join("testdata", fx.Doc.Name+".dcm")
		out, err := exec.Command(dsrdump, "-Ee", p).CombinedOutput()
		if err != nil || strings.Contains(string(out), "E: ") {
			t.Errorf("dsrdump %s: %v\n%s", p, err, out)
		}
	}
}

// TestSharedSRCorpus: every real SR of the shared corpus is processed
// without error, and none of them is elastography.
func TestSharedSRCorpus(t *testing.T) {
	var files []string
	for _, dir := range []string{"dicom/sr", "sr"} {
		d := testenv.SharedTestdata(t, dir)
		m, _ := filepath.Glob(filepath.Join(d, "*.dcm"))
		files = append(files, m...)
	}
	if len(files) < 6 {
		t.Fatalf("found %d SR files", len(files))
	}
	for _, p := range files {
		ds, err := ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		rs, err := Extract(ds, Source{}, nil)
		if err != nil || len(rs) != 0 {
			t.Errorf("%s: %d reports, %v", p, len(rs), err)
		}
	}
}
