package elastography

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Code systems used in FHIR output. DCM and SNOMED CT URIs follow FHIR R4
// terminology (http://hl7.org/fhir/R4/terminologies-systems.html).
const (
	SystemDCM    = "http://dicom.nema.org/resources/ontology/DCM"
	SystemSCT    = "http://snomed.info/sct"
	SystemLOINC  = "http://loinc.org"
	SystemUCUM   = "http://unitsofmeasure.org"
	SystemObsCat = "http://terminology.hl7.org/CodeSystem/observation-category"
	// SystemSonogate holds the few concepts no standard code exists for
	// (elastography.md §1.2: no code for the number of measurements).
	SystemSonogate = "urn:sonogate:elastography"
)

// FHIR R4 Observation, the subset written here.
type fhirObservation struct {
	ResourceType      string          `json:"resourceType"`
	Status            string          `json:"status"`
	Identifier        []fhirIdent     `json:"identifier,omitempty"`
	Category          []fhirConcept   `json:"category"`
	Code              fhirConcept     `json:"code"`
	Subject           *fhirReference  `json:"subject,omitempty"`
	EffectiveDateTime string          `json:"effectiveDateTime,omitempty"`
	ValueQuantity     *fhirQuantity   `json:"valueQuantity,omitempty"`
	Interpretation    []fhirConcept   `json:"interpretation,omitempty"`
	Note              []fhirNote      `json:"note,omitempty"`
	BodySite          *fhirConcept    `json:"bodySite,omitempty"`
	Method            *fhirConcept    `json:"method,omitempty"`
	Device            *fhirReference  `json:"device,omitempty"`
	DerivedFrom       []fhirReference `json:"derivedFrom,omitempty"`
	Component         []fhirComponent `json:"component,omitempty"`
}

type fhirIdent struct {
	System string `json:"system"`
	Value  string `json:"value"`
}
type fhirCoding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}
type fhirConcept struct {
	Coding []fhirCoding `json:"coding,omitempty"`
	Text   string       `json:"text,omitempty"`
}
type fhirQuantity struct {
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	System string  `json:"system"`
	Code   string  `json:"code"`
}
type fhirReference struct {
	Identifier *fhirIdent `json:"identifier,omitempty"`
	Display    string     `json:"display,omitempty"`
}
type fhirNote struct {
	Text string `json:"text"`
}
type fhirComponent struct {
	Code          fhirConcept   `json:"code"`
	ValueQuantity *fhirQuantity `json:"valueQuantity,omitempty"`
	ValueInteger  *int          `json:"valueInteger,omitempty"`
}

func systemOf(scheme string) string {
	switch scheme {
	case "DCM":
		return SystemDCM
	case "SCT":
		return SystemSCT
	case "LN":
		return SystemLOINC
	}
	return "urn:dicom:scheme:" + scheme
}

func qty(v float64, unit string) *fhirQuantity {
	return &fhirQuantity{Value: v, Unit: unit, System: SystemUCUM, Code: unit}
}

// FHIRObservation renders a report as a FHIR R4 Observation (JSON). The
// code is (110830, DCM, "Elasticity") with the median in kPa as the value
// (or (130611, DCM, "Shear Wave Speed") in m/s when no kPa median
// exists); components carry the median, IQR and IQR/M in each unit with
// the CID 226 codes, and the number of valid measurements (a sonogate code:
// the standard has none). Staging goes into interpretation and note, always
// marked "not clinical advice". An image_only report has no value.
func FHIRObservation(r Report) ([]byte, error) {
	o := fhirObservation{
		ResourceType: "Observation",
		Status:       "final",
		Category:     []fhirConcept{{Coding: []fhirCoding{{System: SystemObsCat, Code: "imaging", Display: "Imaging"}}}},
		Code:         fhirConcept{Coding: []fhirCoding{{System: SystemDCM, Code: "110830", Display: "Elasticity"}}, Text: "Liver stiffness (shear wave elastography)"},
	}
	if r.Site.Name != "" && r.Site.Name != "liver" {
		o.Code.Text = strings.ToUpper(r.Site.Name[:1]) + r.Site.Name[1:] + " stiffness (shear wave elastography)"
	}
	if r.Source.SOPInstanceUID != "" {
		id := "urn:oid:" + r.Source.SOPInstanceUID
		if r.Source.Section != "" {
			id += "#" + r.Source.Section
		}
		o.Identifier = []fhirIdent{{System: "urn:ietf:rfc:3986", Value: id}}
		o.DerivedFrom = []fhirReference{{Identifier: &fhirIdent{System: "urn:dicom:uid", Value: "urn:oid:" + r.Source.SOPInstanceUID}, Display: "DICOM SR " + r.Source.Kind}}
	}
	if r.Patient.ID != "" {
		o.Subject = &fhirReference{Identifier: &fhirIdent{System: "urn:sonogate:patient-id", Value: r.Patient.ID}}
	}
	if dt := fhirDateTime(r.Source.ContentDateTime); dt != "" {
		o.EffectiveDateTime = dt
	}
	if len(r.Site.Code) == 3 {
		o.BodySite = &fhirConcept{Coding: []fhirCoding{{System: systemOf(r.Site.Code[1]), Code: r.Site.Code[0], Display: r.Site.Code[2]}}}
	}
	if len(r.MethodCode) == 3 {
		o.Method = &fhirConcept{Coding: []fhirCoding{{System: systemOf(r.MethodCode[1]), Code: r.MethodCode[0], Display: r.MethodCode[2]}}, Text: r.Method}
	} else if r.Method != MethodUnknown {
		o.Method = &fhirConcept{Text: r.Method}
	}
	if d := strings.TrimSpace(r.Device.Manufacturer + " " + r.Device.Model); d != "" {
		o.Device = &fhirReference{Display: d}
	}
	s := r.Summary
	if s.Median != nil {
		if s.Median.KPa != nil {
			o.ValueQuantity = qty(*s.Median.KPa, "kPa")
		} else if s.Median.MPS != nil {
			o.Code = fhirConcept{Coding: []fhirCoding{{System: SystemDCM, Code: "130611", Display: "Shear Wave Speed"}}, Text: o.Code.Text}
			o.ValueQuantity = qty(*s.Median.MPS, "m/s")
		}
	}
	comp := func(system, code, display string, v *Value, pct bool) {
		if v == nil {
			return
		}
		if v.KPa != nil {
			u, t := "kPa", display+" (kPa)"
			if pct {
				u = "%"
			}
			o.Component = append(o.Component, fhirComponent{Code: fhirConcept{Coding: []fhirCoding{{System: system, Code: code, Display: display}}, Text: t}, ValueQuantity: qty(*v.KPa, u)})
		}
		if v.MPS != nil {
			u, t := "m/s", display+" (m/s)"
			if pct {
				u = "%"
			}
			o.Component = append(o.Component, fhirComponent{Code: fhirConcept{Coding: []fhirCoding{{System: system, Code: code, Display: display}}, Text: t}, ValueQuantity: qty(*v.MPS, u)})
		}
	}
	comp(SystemSCT, "373099004", "Median Value of population", s.Median, false)
	comp(SystemDCM, "130614", "Interquartile Range of population", s.IQR, false)
	comp(SystemDCM, "130615", "Interquartile Range to Median Ratio of population", s.IQROverMedian, true)
	comp(SystemSCT, "373098007", "Mean Value of population", s.Mean, false)
	if s.NValid != nil {
		o.Component = append(o.Component, fhirComponent{Code: fhirConcept{Coding: []fhirCoding{{System: SystemSonogate, Code: "n-valid", Display: "Number of valid measurements"}}}, ValueInteger: s.NValid})
	}
	if s.NTotal != nil {
		o.Component = append(o.Component, fhirComponent{Code: fhirConcept{Coding: []fhirCoding{{System: SystemSonogate, Code: "n-total", Display: "Number of measurements"}}}, ValueInteger: s.NTotal})
	}
	qc := "reliable"
	if !r.QC.Reliable {
		qc = "unreliable"
	}
	o.Note = append(o.Note, fhirNote{Text: fmt.Sprintf("QC (%s): %s; flags: %s", r.QC.Criteria, qc, strings.Join(r.QC.Flags, ", "))})
	if r.Staging.Category != nil {
		o.Interpretation = []fhirConcept{{Coding: []fhirCoding{{System: SystemSonogate + ":" + r.Staging.Scheme, Code: *r.Staging.Category}}, Text: r.Staging.Text + " (" + Disclaimer + ")"}}
	}
	st := fmt.Sprintf("Staging %s: ", r.Staging.Scheme)
	if r.Staging.Category != nil {
		st += *r.Staging.Category
	} else {
		st += "none"
	}
	if !r.Staging.Applicable && r.Staging.Reason != nil {
		st += " — not applicable: " + *r.Staging.Reason
	}
	o.Note = append(o.Note, fhirNote{Text: st + " — " + Disclaimer})
	if r.Source.Kind == KindImageOnly {
		o.Status = "registered"
	}
	return json.MarshalIndent(o, "", "  ")
}

// fhirDateTime turns a DICOM DT (YYYYMMDDHHMMSS...) into a FHIR dateTime.
func fhirDateTime(dt string) string {
	if len(dt) < 8 {
		return ""
	}
	// Date only: FHIR requires a time zone with a time, and DICOM
	// Content Time carries none.
	return dt[0:4] + "-" + dt[4:6] + "-" + dt[6:8]
}
