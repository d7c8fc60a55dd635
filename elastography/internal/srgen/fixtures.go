package srgen

import "fmt"

// Assumptions (elastography.md §1.3, §1.5: the rows of TID 12000, 5401 and
// 5402 were not read; every shape below is [I]):
//   - A1 root: CONTAINER (28614-6, LN, "US Liver Report") from CID 12320,
//     Content Template 12000 (DCMR) (U1).
//   - A2 root context as TID 5200 does: HAS CONCEPT MOD language (TID 1204)
//     and HAS OBS CONTEXT Observer Type = Device with the device observer
//     manufacturer and model (TID 1001/1004; codes 121014/121015 [M]).
//   - A3 the TID 5401 section is CONTAINS CONTAINER (59776-5, LN,
//     "Findings") (the TID 5103 2024e code), Content Template 5401, one per
//     site and session (U4); Finding Site and Image mode are HAS CONCEPT
//     MOD CODE rows of the section (U5); the detection method is a CONTAINS
//     CODE (U5).
//   - A4 each acquisition is a CONTAINS CONTAINER (125007, DCM,
//     "Measurement Group"), Content Template 5402, holding CONTAINS NUM
//     Shear Wave Speed (m/s), Elasticity (kPa) and ROI Depth (cm), and a
//     CONTAINS IMAGE of the frame (U6, U9).
//   - A5 the summary is shape A (median NUM with HAS PROPERTIES IQR and
//     IQR/M) or shape B (a NUM per statistic with a Derivation modifier);
//     fixtures use both (U7). The number of measurements is not encoded
//     (U8: no standard code).
//   - A6 patient conditions (CID 12323) are CONTAINS CODE (121071, DCM,
//     "Finding") items of a (121118, DCM, "Patient Characteristics")
//     container with Content Template 12001 (U3; both codes [M]).
//   - A7 vendor variants use the invented private scheme 99SGDEMO, mapped
//     in elastography/testdata/demo-vendor.yaml; they imitate no real
//     vendor's codes (none are public, elastography.md §2).

var (
	cSWS        = Code{"130611", "DCM", "Shear Wave Speed"}
	cE          = Code{"110830", "DCM", "Elasticity"}
	cDepth      = Code{"130613", "DCM", "ROI Depth"}
	cMedian     = Code{"373099004", "SCT", "Median Value of population"}
	cMean       = Code{"373098007", "SCT", "Mean Value of population"}
	cIQR        = Code{"130614", "DCM", "Interquartile Range of population"}
	cIQRM       = Code{"130615", "DCM", "Interquartile Range to Median Ratio of population"}
	cDerivation = Code{"121401", "DCM", "Derivation"}
	cSelection  = Code{"121404", "DCM", "Selection Status"}
	cUserChosen = Code{"121410", "DCM", "User chosen value"}
	cSite       = Code{"363698007", "SCT", "Finding Site"}
	cLiver      = Code{"10200004", "SCT", "Liver"}
	cSpleen     = Code{"78961009", "SCT", "Spleen"}
	cImageMode  = Code{"399264008", "SCT", "Image mode"}
	cPSWE       = Code{"130616", "DCM", "Point Shear Wave Elastography"}
	c2DSWE      = Code{"130609", "DCM", "2D Shear Wave Elastography"}
	cDetection  = Code{"130759", "DCM", "Shear Wave Detection Method"}
	cVelocity   = Code{"130757", "DCM", "Particle Velocity Method"}
	cGroup      = Code{"125007", "DCM", "Measurement Group"}
	cFindings   = Code{"59776-5", "LN", "Findings"}
	cTitle      = Code{"28614-6", "LN", "US Liver Report"}
	cLanguage   = Code{"121049", "DCM", "Language of Content Item and Descendants"}
	cEnUS       = Code{"en-US", "RFC5646", "English (United States)"}
	cObsType    = Code{"121005", "DCM", "Observer Type"}
	cDevice     = Code{"121007", "DCM", "Device"}
	cDevMfr     = Code{"121014", "DCM", "Device Observer Manufacturer"}
	cDevModel   = Code{"121015", "DCM", "Device Observer Model Name"}
	cPatChar    = Code{"121118", "DCM", "Patient Characteristics"}
	cFinding    = Code{"121071", "DCM", "Finding"}
	cNotFasting = Code{"440565004", "SCT", "Not Fasting"}
	cFailure    = Code{"114006", "DCM", "Measurement failure"}

	uMPS   = Code{"m/s", "UCUM", "m/s"}
	uCMS   = Code{"cm/s", "UCUM", "cm/s"}
	uKPa   = Code{"kPa", "UCUM", "kPa"}
	uCM    = Code{"cm", "UCUM", "cm"}
	uMM    = Code{"mm", "UCUM", "mm"}
	uPct   = Code{"%", "UCUM", "Percent"}
	uRatio = Code{"{ratio}", "UCUM", "ratio"}
)

const (
	contains = "CONTAINS"
	mod      = "HAS CONCEPT MOD"
	props    = "HAS PROPERTIES"
	obsCtx   = "HAS OBS CONTEXT"
	inferred = "INFERRED FROM"
)

// Fixture is one generated file.
type Fixture struct {
	Doc  *Doc
	Note string
}

// acq is one acquisition: values as DS text, "" = absent.
type acq struct{ sws, kpa, depth string }

func deriv(stat Code) *Node { return CodeItem(mod, cDerivation, stat) }

// group builds a TID 5402-style measurement group (A4).
func group(a acq, image string, frame int) *Node {
	g := Container(contains, cGroup)
	g.Template = "5402"
	if a.sws != "" {
		g.Add(Num(contains, cSWS, a.sws, uMPS))
	}
	if a.kpa != "" {
		g.Add(Num(contains, cE, a.kpa, uKPa))
	}
	if a.depth != "" {
		g.Add(Num(contains, cDepth, a.depth, uCM))
	}
	if image != "" {
		g.Add(Image(contains, USImage, image, frame))
	}
	return g
}

// section builds a TID 5401-style section (A3).
func section(site, method Code, children ...*Node) *Node {
	s := Container(contains, cFindings,
		CodeItem(mod, cSite, site),
		CodeItem(mod, cImageMode, method),
		CodeItem(contains, cDetection, cVelocity))
	s.Template = "5401"
	return s.Add(children...)
}

// root builds the TID 12000-style root (A1, A2).
func root(mfr, model string, children ...*Node) *Node {
	r := Container("", cTitle,
		CodeItem(mod, cLanguage, cEnUS),
		CodeItem(obsCtx, cObsType, cDevice),
		Text(obsCtx, cDevMfr, mfr),
		Text(obsCtx, cDevModel, model))
	r.Template = "12000"
	return r.Add(children...)
}

// shapeA is a median NUM with IQR and IQR/M as HAS PROPERTIES (A5).
func shapeA(measurand Code, unit Code, median, iqr, ratio string, ratioUnit Code, extra ...*Node) *Node {
	n := Num(contains, measurand, median, unit, deriv(cMedian))
	if iqr != "" {
		n.Add(Num(props, cIQR, iqr, unit))
	}
	if ratio != "" {
		n.Add(Num(props, cIQRM, ratio, ratioUnit))
	}
	return n.Add(extra...)
}

// shapeB is one NUM of the measurand per statistic (A5).
func shapeB(measurand, unit Code, stat Code, value string) *Node {
	return Num(contains, measurand, value, unit, deriv(stat))
}

func philips(name string, root *Node) *Doc {
	return &Doc{Name: name, SOPClassUID: ComprehensiveSR, Modality: "SR", Manufacturer: "Philips Medical Systems",
		Model: "EPIQ 7C", Software: "EPIQ 7C_1.7.1.24", Transducer: "C5-1", PatientName: "Fixture^ElastPQ",
		PatientID: "FX-" + name, StudyDesc: "US Liver Elastography", SeriesDesc: "Elastography report", Root: root}
}

// The 10-measurement ElastPQ exam (elastography_test.go recomputes its
// numbers by hand). kPa = 3·c² rounded to 2 decimals.
var elastPQ = []acq{
	{"1.42", "6.05", "4.1"}, {"1.46", "6.39", "4.3"}, {"1.49", "6.66", "4.0"}, {"1.51", "6.84", "4.5"},
	{"1.53", "7.02", "4.2"}, {"1.55", "7.21", "4.4"}, {"1.57", "7.39", "4.6"}, {"1.59", "7.58", "4.2"},
	{"1.63", "7.97", "4.8"}, {"1.70", "8.67", "5.0"},
}

// Fixtures returns the fixture set in a fixed order.
func Fixtures() []Fixture {
	var fs []Fixture
	add := func(note string, d *Doc) { fs = append(fs, Fixture{Doc: d, Note: note}) }

	// 1. Standard path, reliable ElastPQ: 10 groups with m/s, kPa, depth and
	// image; shape A summaries in both units; INFERRED FROM by reference.
	{
		img := UID("elastpq_images")
		var groups []*Node
		for i, a := range elastPQ {
			groups = append(groups, group(a, img, i+1))
		}
		// Item positions: root 1; its 4 context items 1.1-1.4; section 1.5;
		// section context 1.5.1-1.5.3; groups 1.5.4-1.5.13, E NUM is .2.
		var refs []*Node
		for i := range groups {
			refs = append(refs, Ref(inferred, 1, 5, uint32(4+i), 2))
		}
		sec := section(cLiver, cPSWE, groups...)
		sec.Add(shapeA(cE, uKPa, "7.12", "0.83", "11.6", uPct, refs...))
		sec.Add(shapeA(cSWS, uMPS, "1.54", "0.09", "5.8", uPct))
		add("ElastPQ, standard TID 12000/5401/5402 shape A, reliable", philips("std_elastpq_reliable", root("Philips Medical Systems", "EPIQ 7C", sec)))
	}
	// 2. Unreliable ElastPQ: kPa only, IQR/M 35 %, shape B summary.
	{
		vals := []string{"7.0", "5.6", "8.8", "6.4", "10.5", "7.4", "5.1", "9.6", "6.0", "8.2"}
		var groups []*Node
		for _, v := range vals {
			groups = append(groups, group(acq{kpa: v, depth: "4.5"}, "", 0))
		}
		sec := section(cLiver, cPSWE, groups...)
		sec.Add(shapeB(cE, uKPa, cMedian, "7.2"), shapeB(cE, uKPa, cIQR, "2.55"), shapeB(cE, uPct, cIQRM, "35.4"))
		add("ElastPQ, kPa only, shape B, IQR/M 35 % (unreliable)", philips("std_elastpq_unreliable", root("Philips Medical Systems", "EPIQ 7C", sec)))
	}
	// 3. Vendor private codes (A7): cm/s and kPa, quality index, ratio as a
	// fraction, depth in mm recognised by meaning, one unknown velocity code.
	{
		v := func(code, meaning string) Code { return Code{code, "99SGDEMO", meaning} }
		cms := []string{"110", "115", "118", "120", "122", "125", "128", "130", "135", "140"}
		kpa := []string{"3.63", "3.97", "4.18", "4.32", "4.47", "4.69", "4.92", "5.07", "5.47", "5.88"}
		sec := Container(contains, v("LIVER-ELASTO", "Liver Elastography"))
		for i := range cms {
			sec.Add(Container(contains, v("ELASTO-GRP", "Elastography Measurement"),
				Num(contains, v("SWV", "Shear Wave Velocity"), cms[i], uCMS,
					Num(props, v("SI", "Stability Index"), fmt.Sprint(95+i%3), uPct)),
				Num(contains, v("STIFF", "Stiffness"), kpa[i], uKPa),
				Num(contains, v("XDEPTH", "ROI Depth Measured"), fmt.Sprint(40+i), uMM)))
		}
		sec.Add(Num(contains, v("STIFF-MED", "Stiffness Median"), "4.58", uKPa),
			Num(contains, v("STIFF-IQRM", "Stiffness IQR/Median"), "0.18", uRatio),
			Num(contains, v("ATT", "Attenuation"), "0.62", Code{"dB/cm/MHz", "UCUM", "dB/cm/MHz"}),
			Num(contains, v("SWV-X", "Experimental Velocity"), "1.2", uMPS))
		r := Container("", v("ABD-RPT", "Abdominal Report"), sec)
		add("private scheme 99SGDEMO (demo-vendor.yaml), cm/s, ratio as fraction, meaning fallback",
			&Doc{Name: "vendor_private_codes", SOPClassUID: EnhancedSR, Modality: "SR", Manufacturer: "SonogateDemo Ultrasound",
				Model: "DemoScan 1", Software: "1.0", Transducer: "DC5", PatientName: "Fixture^Vendor", PatientID: "FX-vendor",
				StudyDesc: "Liver stiffness", Root: r})
	}
	// 4. TID 5000 style: one group with individual NUMs and the chosen value
	// marked by Derivation and Selection Status; legacy SRT codes; old
	// section code; no IQR reported.
	{
		grp := Container(contains, cGroup, CodeItem(mod, Code{"G-0373", "SRT", "Image Mode"}, c2DSWE))
		for _, v := range []string{"8.1", "9.4", "8.8", "10.2", "9.0"} {
			grp.Add(Num(contains, cE, v, uKPa))
		}
		grp.Add(Num(contains, cE, "9.0", uKPa, CodeItem(mod, cDerivation, Code{"R-00319", "SRT", "Median"}), CodeItem(mod, cSelection, cUserChosen)),
			Num(contains, cE, "9.1", uKPa, CodeItem(mod, cDerivation, Code{"R-00317", "SRT", "Mean"})))
		sec := Container(contains, Code{"121070", "DCM", "Findings"},
			CodeItem(mod, Code{"G-C0E3", "SRT", "Finding Site"}, Code{"T-62000", "SRT", "Liver"}), grp)
		r := Container("", cTitle, CodeItem(obsCtx, cObsType, cDevice), sec)
		d := philips("vendor_tid5000_selection", r)
		d.Model, d.Software, d.Transducer = "EPIQ 5G", "EPIQ 5G_5.0.2", "C5-1"
		add("TID 5000 style group, Derivation + Selection Status, legacy SRT codes, 2D-SWE, no IQR", d)
	}
	// 5. m/s only (VTQ-like): kPa converted per measurement.
	{
		vals := []string{"1.05", "1.10", "1.12", "1.15", "1.18", "1.20", "1.22", "1.25", "1.30", "1.38"}
		var groups []*Node
		for _, v := range vals {
			groups = append(groups, group(acq{sws: v, depth: "4.0"}, "", 0))
		}
		sec := section(cLiver, cPSWE, groups...)
		sec.Add(shapeB(cSWS, uMPS, cMedian, "1.19"), shapeB(cSWS, uMPS, cIQR, "0.12"))
		add("m/s only (VTQ-like), kPa converted", &Doc{Name: "mps_only", SOPClassUID: ComprehensiveSR, Modality: "SR",
			Manufacturer: "SIEMENS", Model: "ACUSON S2000", Software: "VC10", Transducer: "6C1 HD", PatientName: "Fixture^VTQ",
			PatientID: "FX-vtq", Root: root("SIEMENS", "ACUSON S2000", sec)})
	}
	// 6. Summary only, no IQR and no individual values.
	{
		sec := section(cLiver, c2DSWE, shapeB(cE, uKPa, cMedian, "6.2"))
		d := philips("missing_iqr", root("Philips Medical Systems", "EPIQ 7C", sec))
		add("median only: no IQR, no measurements (unreliable)", d)
	}
	// 7. Mean instead of median (ShearWave-like): 3 measurements, mean reported.
	{
		var groups []*Node
		for _, v := range []string{"7.6", "8.3", "8.1"} {
			groups = append(groups, group(acq{kpa: v, depth: "3.5"}, "", 0))
		}
		sec := section(cLiver, c2DSWE, groups...)
		sec.Add(shapeB(cE, uKPa, cMean, "8.0"))
		add("mean reported instead of median, n=3 (unreliable)", &Doc{Name: "mean_not_median", SOPClassUID: ComprehensiveSR,
			Modality: "SR", Manufacturer: "SuperSonic Imagine SA", Model: "Aixplorer", Software: "12.3", Transducer: "XC6-1",
			PatientName: "Fixture^Mean", PatientID: "FX-mean", Root: root("SuperSonic Imagine SA", "Aixplorer", sec)})
	}
	// 8. Two sites: liver and spleen.
	{
		var lg, sg []*Node
		for _, a := range elastPQ {
			lg = append(lg, group(acq{kpa: a.kpa, depth: a.depth}, "", 0))
		}
		for _, v := range []string{"14.0", "15.5", "16.1", "16.8", "17.2", "17.9", "18.4", "19.0", "20.1", "21.3"} {
			sg = append(sg, group(acq{kpa: v, depth: "3.0"}, "", 0))
		}
		liver := section(cLiver, cPSWE, lg...)
		liver.Add(shapeA(cE, uKPa, "7.12", "0.83", "11.6", uPct))
		spleen := section(cSpleen, cPSWE, sg...)
		add("two sites: liver and spleen", philips("two_sites", root("Philips Medical Systems", "EPIQ 7C", liver, spleen)))
	}
	// 9. Two sessions (pSWE then 2D-SWE) and a Not Fasting condition (A6).
	{
		var g1, g2 []*Node
		for _, a := range elastPQ {
			g1 = append(g1, group(acq{kpa: a.kpa, depth: a.depth}, "", 0))
		}
		for _, v := range []string{"6.5", "7.1", "6.8", "7.4", "6.9"} {
			g2 = append(g2, group(acq{kpa: v, depth: "4.0"}, "", 0))
		}
		pc := Container(contains, cPatChar, CodeItem(contains, cFinding, cNotFasting))
		pc.Template = "12001"
		s1 := section(cLiver, cPSWE, g1...)
		s2 := section(cLiver, c2DSWE, g2...)
		add("two sessions in one document, patient not fasting", philips("two_sessions", root("Philips Medical Systems", "EPIQ 7C", pc, s1, s2)))
	}
	// 10. Traps: invalid and look-alike codes must not be used.
	{
		var groups []*Node
		for _, a := range elastPQ {
			groups = append(groups, group(acq{kpa: a.kpa, depth: a.depth}, "", 0))
		}
		sec := section(cLiver, cPSWE, groups...)
		sec.Add(
			shapeB(cE, uKPa, Code{"130290", "DCM", "Median"}, "7.5"),
			shapeB(cE, uKPa, Code{"R-00318", "SRT", "Median"}, "7.4"),
			Num(contains, Code{"125371", "DCM", "Shear Wave Elasticity"}, "7.3", uKPa),
			Num(contains, Code{"125370", "DCM", "Shear Wave Velocity"}, "1.56", uMPS),
			// A failed acquisition: NUM without a value, qualified.
			&Node{Rel: contains, VT: "NUM", Name: &cE, Unit: &uKPa, Qualifier: &cFailure},
		)
		r := Container("", Code{"126060", "DCM", "General Ultrasound Report"}, sec)
		add("trap codes (130290, R-00318, 125370/125371/126060) and a failed measurement", philips("traps", r))
	}
	// 11. TE through the demo vendor table: individual values directly in
	// the section, no groups.
	{
		v := func(code, meaning string) Code { return Code{code, "99SGDEMO", meaning} }
		sec := Container(contains, v("TE-LIVER", "Transient Elastography Liver"))
		for _, x := range []string{"11.2", "12.5", "13.1", "12.0", "11.8", "14.2", "12.9", "13.5", "12.2", "11.5"} {
			sec.Add(Num(contains, v("STIFF", "Stiffness"), x, uKPa))
		}
		sec.Add(Num(contains, v("STIFF-MED", "Stiffness Median"), "12.4", uKPa))
		r := Container("", v("ABD-RPT", "Abdominal Report"), sec)
		add("transient elastography (demo vendor codes), Baveno VII", &Doc{Name: "te_demo", SOPClassUID: ComprehensiveSR,
			Modality: "SR", Manufacturer: "SonogateDemo Ultrasound", Model: "DemoTE", Software: "2.1", PatientName: "Fixture^TE",
			PatientID: "FX-te", Root: r})
	}
	// 12. Every value type and a by-reference relationship; no elastography.
	{
		img := UID("walker_image")
		r := Container("", Code{"126000", "DCM", "Imaging Measurement Report"},
			CodeItem(mod, cLanguage, cEnUS),
			&Node{Rel: obsCtx, VT: "PNAME", Name: &Code{"121008", "DCM", "Person Observer Name"}, Value: "Observer^Fixture"},
			&Node{Rel: obsCtx, VT: "UIDREF", Name: &Code{"121012", "DCM", "Device Observer UID"}, Value: UID("walker_device")},
			&Node{Rel: obsCtx, VT: "DATETIME", Name: &Code{"111526", "DCM", "DateTime Started"}, Value: "20240315101500"},
			&Node{Rel: obsCtx, VT: "DATE", Name: &Code{"111060", "DCM", "Study Date"}, Value: "20240315"},
			&Node{Rel: obsCtx, VT: "TIME", Name: &Code{"111061", "DCM", "Study Time"}, Value: "101500"},
			Container(contains, Code{"111028", "DCM", "Image Library"},
				Image(contains, USImage, img, 0),
				&Node{Rel: contains, VT: "WAVEFORM", SOPClass: "1.2.840.10008.5.1.4.1.1.9.1.1", SOPInst: UID("walker_wave"), Channels: []uint16{1, 1}},
				&Node{Rel: contains, VT: "COMPOSITE", SOPClass: "1.2.840.10008.5.1.4.1.1.11.1", SOPInst: UID("walker_gsps")}),
			Container(contains, cGroup,
				Text(contains, Code{"112039", "DCM", "Tracking Identifier"}, "ROI 1 — Größe"),
				Num(contains, Code{"131184002", "SCT", "Area of defined region"}, "2.5", Code{"cm2", "UCUM", "cm2"},
					&Node{Rel: inferred, VT: "SCOORD", Name: &Code{"111030", "DCM", "Image Region"}, Graphic: "POLYLINE", Points: []float64{1, 1, 5, 1, 5, 5, 1, 1},
						Children: []*Node{Ref("SELECTED FROM", 1, 7, 1)}},
					&Node{Rel: inferred, VT: "SCOORD3D", Name: &Code{"111030", "DCM", "Image Region"}, Graphic: "POINT", Points: []float64{1, 2, 3}, FoR: UID("walker_for")}),
				&Node{Rel: contains, VT: "TCOORD", Name: &Code{"122146", "DCM", "Procedure Step"}, TRange: "SEGMENT", TOffsets: []string{"0.5", "1.5"},
					Children: []*Node{Ref("SELECTED FROM", 1, 7, 2)}},
				&Node{Rel: contains, VT: "NUM", Name: &cSWS, Unit: &uMPS, Qualifier: &cFailure}),
		)
		r.Template = "1500"
		add("every value type, by-reference relationships; not elastography", &Doc{Name: "walker_all_types", SOPClassUID: Comprehensive3DSR,
			Modality: "SR", Manufacturer: "Sonogate", Model: "srgen", Software: "1", PatientName: "Fixture^Walker", PatientID: "FX-walker", Root: r})
	}
	// 13. A US image of an ElastPQ exam without SR (image_only).
	add("US image of an elastography exam, no SR", &Doc{Name: "us_elastpq_image", SOPClassUID: USImage, Modality: "US",
		Manufacturer: "Philips Medical Systems", Model: "EPIQ 7C", Software: "EPIQ 7C_1.7.1.24", Transducer: "C5-1",
		PatientName: "Fixture^Image", PatientID: "FX-image", StudyDesc: "US Abdomen", SeriesDesc: "ElastPQ Liver"})
	return fs
}
