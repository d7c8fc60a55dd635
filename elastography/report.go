package elastography

// Schema is the value of Report.Schema (elastography.md §5).
const Schema = "liver-elastography/v1"

// Disclaimer is attached to every staging result.
const Disclaimer = "not clinical advice"

// Source kinds.
const (
	KindStandard  = "sr_standard" // recognised through the standard (PS3.16) codes only
	KindVendor    = "sr_vendor"   // a vendor mapping table or a meaning fallback was needed
	KindImageOnly = "image_only"  // images of an elastography exam without an SR: no values
)

// Methods.
const (
	MethodPSWE    = "pSWE"
	Method2DSWE   = "2D-SWE"
	Method3DSWE   = "3D-SWE"
	MethodTE      = "TE"
	MethodUnknown = "unknown"
)

// Origins of a value.
const (
	OriginReported   = "reported"   // as the device encoded it
	OriginRecomputed = "recomputed" // summarised here from reported per-measurement values
	OriginConverted  = "converted"  // E = 3·c² (or its inverse) applied per measurement, then summarised
)

// QC flags.
const (
	FlagIQRMKPa          = "IQRM_GT_30_KPA"
	FlagIQRMMPS          = "IQRM_GT_15_MPS"
	FlagIQRMissing       = "IQRM_MISSING"
	FlagNValidLow        = "N_VALID_LT_MIN"
	FlagNUnknown         = "N_UNKNOWN"
	FlagDepth            = "DEPTH_OUT_OF_RANGE"
	FlagNotFasting       = "NOT_FASTING"
	FlagConfounder       = "CONFOUNDING_CONDITION"
	FlagUnitConverted    = "UNIT_CONVERTED"
	FlagMeanNotMedian    = "MEAN_NOT_MEDIAN"
	FlagSummaryMismatch  = "DEVICE_SUMMARY_MISMATCH"
	FlagVendorQualityLow = "VENDOR_QUALITY_LOW"
	FlagUnknownVendor    = "UNKNOWN_VENDOR_CODE"
	FlagKnownBadCode     = "KNOWN_BAD_CODE"
	FlagMeaningFallback  = "MEANING_FALLBACK"
	FlagNoValues         = "NO_VALUES"
	FlagImageOnly        = "IMAGE_ONLY"
)

// Report is the normalized record of one elastography site/session
// (elastography.md §5). The JSON field names are the contract with the
// catalog, the HTTP API and research exports.
type Report struct {
	Schema       string        `json:"schema"`
	Source       ReportSource  `json:"source"`
	Device       Device        `json:"device"`
	Site         Site          `json:"site"`
	Method       string        `json:"method"`
	MethodCode   []string      `json:"method_code"`
	Measurements []Measurement `json:"measurements"`
	Summary      Summary       `json:"summary"`
	QC           QC            `json:"qc"`
	Staging      Staging       `json:"staging"`

	// Patient identifies the subject for the caller (FHIR subject, catalog
	// link). It is never serialized with the record.
	Patient Patient `json:"-"`
}

// Patient is the subject as given in Source.
type Patient struct {
	ID   string
	Name string
}

// ReportSource says where the record came from.
type ReportSource struct {
	Kind              string            `json:"kind"`
	SOPClassUID       string            `json:"sop_class_uid"`
	SOPInstanceUID    string            `json:"sop_instance_uid"`
	StudyInstanceUID  string            `json:"study_instance_uid,omitempty"`
	SeriesInstanceUID string            `json:"series_instance_uid,omitempty"`
	ContentDateTime   string            `json:"content_datetime,omitempty"`
	TemplateIDs       []string          `json:"template_ids"`
	CodingSchemesSeen []string          `json:"coding_schemes_seen"`
	MappingTable      string            `json:"mapping_table"`
	ContentItemPaths  map[string]string `json:"content_item_paths"`
	Section           string            `json:"section,omitempty"` // content item ID of the site/session container
	MeaningFallbacks  []Fallback        `json:"meaning_fallbacks,omitempty"`
	Images            []ImageRef        `json:"images,omitempty"` // image_only: the images that mark the exam
}

// Fallback records one code recognised by its meaning, not its value.
type Fallback struct {
	Path    string   `json:"path"`
	Code    []string `json:"code"`
	Role    string   `json:"role"`
	Pattern string   `json:"pattern"`
}

// Device is the acquiring system.
type Device struct {
	Manufacturer    string `json:"manufacturer"`
	Model           string `json:"model"`
	Software        string `json:"software"`
	Transducer      string `json:"transducer"`
	VendorTechnique string `json:"vendor_technique"`
}

// Site is the organ (CID 12321) and, when every measurement names the same
// one, the segment or measurement site (CID 12322).
type Site struct {
	Code            []string `json:"code"`
	Name            string   `json:"name,omitempty"`
	Segment         []string `json:"segment"`
	MeasurementSite string   `json:"measurement_site,omitempty"`
}

// Measurement is one acquisition.
type Measurement struct {
	I             int            `json:"i"`
	SWSMPS        *float64       `json:"sws_mps"`
	EKPa          *float64       `json:"e_kpa"`
	DepthCM       *float64       `json:"depth_cm"`
	Valid         bool           `json:"valid"`
	VendorQuality *VendorQuality `json:"vendor_quality"`
	ImageRef      *ImageRef      `json:"image_ref"`
	Origin        string         `json:"origin"`              // reported, or converted when one of the two was computed
	Converted     string         `json:"converted,omitempty"` // which value was computed: e_kpa or sws_mps
	Segment       []string       `json:"segment,omitempty"`
	Path          string         `json:"path"` // content item ID of the group (or first NUM)
}

// VendorQuality is a vendor's per-measurement quality index.
type VendorQuality struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// ImageRef references the image a measurement (or an image-only exam) is on.
type ImageRef struct {
	SOPInstanceUID string `json:"sop_instance_uid"`
	Frame          int    `json:"frame,omitempty"`
}

// Summary holds the summary statistics of the valid measurements.
type Summary struct {
	NTotal          *int            `json:"n_total"`
	NValid          *int            `json:"n_valid"`
	Median          *Value          `json:"median"`
	IQR             *Value          `json:"iqr"`
	IQROverMedian   *Value          `json:"iqr_over_median_pct"`
	Mean            *Value          `json:"mean"`
	SD              *Value          `json:"sd"`
	RecomputedCheck *RecomputeCheck `json:"recomputed_check"`
}

// Value is a summary value in kPa and m/s. Origin is the origin of the
// kPa value (of the m/s value when there is no kPa value); OriginMPS is
// set when the m/s value has another origin.
type Value struct {
	KPa       *float64 `json:"kpa,omitempty"`
	MPS       *float64 `json:"mps,omitempty"`
	Origin    string   `json:"origin,omitempty"`
	OriginMPS string   `json:"origin_mps,omitempty"`
}

// RecomputeCheck compares what the device reported with what the
// individual values give.
type RecomputeCheck struct {
	QuantileMethod string   `json:"quantile_method"`
	Compared       []string `json:"compared"`
	MaxAbsDiffKPa  *float64 `json:"max_abs_diff_kpa"`
	MaxAbsDiffMPS  *float64 `json:"max_abs_diff_mps,omitempty"`
	Agrees         *bool    `json:"agrees"`
}

// QC is the reliability verdict.
type QC struct {
	Flags    []string `json:"flags"`
	Criteria string   `json:"criteria"`
	Reliable bool     `json:"reliable"`
	Notes    []string `json:"notes,omitempty"`
}

// Staging is a rule set applied to the median. Applicable is false when
// the rule set does not fit the exam or the result failed QC; Category may
// then still be shown (policy "qualified") with the Reason.
type Staging struct {
	Scheme     string       `json:"scheme"`
	RuleSet    string       `json:"rule_set,omitempty"`
	Input      StagingInput `json:"input"`
	Category   *string      `json:"category"`
	Text       string       `json:"text,omitempty"`
	Applicable bool         `json:"applicable"`
	Reason     *string      `json:"reason"`
	Disclaimer string       `json:"disclaimer"`
}

// StagingInput is the value staged.
type StagingInput struct {
	KPa  *float64 `json:"kpa,omitempty"`
	MPS  *float64 `json:"mps,omitempty"`
	Stat string   `json:"stat,omitempty"` // median, or mean when only a mean exists
}
