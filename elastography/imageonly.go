package elastography

import (
	"strings"

	"github.com/sonogate/sonogate/dcm"
)

var tagImageComments = dcm.Tag(0x00204000)

// ElastographyImage reports whether ds is an ultrasound image of an
// elastography exam, judged by its Study and Series Description, Protocol
// Name and Image Comments against image_only.description_pattern. Values
// are never read from the pixels.
func ElastographyImage(ds *dcm.Dataset, cfg *Config) (ImageRef, bool) {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	if cfg.compiled == nil && cfg.compile() != nil {
		return ImageRef{}, false
	}
	if ds == nil || !usImageClasses[ds.String(dcm.TagSOPClassUID)] || cfg.compiled.imageDesc == nil {
		return ImageRef{}, false
	}
	for _, t := range []dcm.Tag{dcm.TagStudyDescription, dcm.TagSeriesDescription, tagProtocolName, tagImageComments} {
		if cfg.compiled.imageDesc.MatchString(ds.String(t)) {
			return ImageRef{SOPInstanceUID: ds.String(dcm.TagSOPInstanceUID)}, true
		}
	}
	return ImageRef{}, false
}

// ImageOnlyReport is the record of an elastography exam whose results
// exist only as images (no SR carried them; the caller knows that at
// study level): kind image_only, no values, not reliable, not staged, so
// that the exam is listed for manual entry. src describes the first
// image; images lists them all.
func ImageOnlyReport(src Source, images []ImageRef, cfg *Config) Report {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	r := Report{
		Schema: Schema,
		Source: ReportSource{
			Kind:              KindImageOnly,
			SOPClassUID:       src.SOPClassUID,
			SOPInstanceUID:    src.SOPInstanceUID,
			StudyInstanceUID:  src.StudyInstanceUID,
			SeriesInstanceUID: src.SeriesInstanceUID,
			ContentDateTime:   src.ContentDateTime,
			TemplateIDs:       []string{},
			CodingSchemesSeen: []string{},
			ContentItemPaths:  map[string]string{},
			Images:            images,
		},
		Device: Device{Manufacturer: src.Manufacturer, Model: src.Model, Software: src.Software,
			Transducer: src.Transducer},
		Site:         Site{Segment: []string{}},
		Method:       MethodUnknown,
		MethodCode:   []string{},
		Measurements: []Measurement{},
		QC: QC{
			Flags:    []string{FlagImageOnly, FlagNoValues},
			Criteria: cfg.QC.Criteria,
			Notes:    []string{"results exist only in the images; enter them manually (values are never guessed)"},
		},
		Staging: Staging{Scheme: "none", Reason: ptr("image-only exam: no values"), Disclaimer: Disclaimer},
		Patient: Patient{ID: src.PatientID, Name: src.PatientName},
	}
	return r
}

// StudyKey groups instances for the image_only decision.
func StudyKey(src Source) string { return strings.TrimSpace(src.StudyInstanceUID) }
