package anonymize

import (
	"fmt"
	"strings"
)

// Option is one of the PS3.15 Annex E options a profile can enable.
type Option int

// The options. The first ten are the option columns of Table E.1-1, in
// the table's order; CleanPixel (E.3.1) has no column.
const (
	RetainSafePrivate       Option = iota // E.3.10 Retain Safe Private Option
	RetainUIDs                            // E.3.9 Retain UIDs Option
	RetainDeviceID                        // E.3.8 Retain Device Identity Option
	RetainInstitutionID                   // E.3.12 Retain Institution Identity Option
	RetainPatientChars                    // E.3.7 Retain Patient Characteristics Option
	RetainLongFullDates                   // E.3.6 Retain Longitudinal Temporal Information With Full Dates Option
	RetainLongModifiedDates               // E.3.6 Retain Longitudinal Temporal Information With Modified Dates Option
	CleanDesc                             // E.3.5 Clean Descriptors Option
	CleanStructCont                       // E.3.4 Clean Structured Content Option
	CleanGraph                            // E.3.3 Clean Graphics Option
	CleanPixel                            // E.3.1 Clean Pixel Data Option
	numOptions
)

// numTableOptions is the number of option columns in Table E.1-1.
const numTableOptions = int(CleanPixel)

// optionNames are the canonical names (as in the configuration example of
// the issue) followed by accepted long forms.
var optionNames = [numOptions][]string{
	RetainSafePrivate:       {"retain_safe_private", "retain_safe_private_option"},
	RetainUIDs:              {"retain_uids", "retain_uid"},
	RetainDeviceID:          {"retain_device_id", "retain_device_identity"},
	RetainInstitutionID:     {"retain_institution_id", "retain_institution_identity"},
	RetainPatientChars:      {"retain_patient_chars", "retain_patient_characteristics"},
	RetainLongFullDates:     {"retain_long_full_dates", "retain_longitudinal_full_dates", "retain_longitudinal_temporal_information_full_dates"},
	RetainLongModifiedDates: {"retain_long_modified_dates", "retain_long_modif_dates", "retain_longitudinal_modified_dates", "retain_longitudinal_temporal_information_modified_dates"},
	CleanDesc:               {"clean_desc", "clean_descriptors"},
	CleanStructCont:         {"clean_struct_cont", "clean_structured_content"},
	CleanGraph:              {"clean_graph", "clean_graphics"},
	CleanPixel:              {"clean_pixel", "clean_pixel_data"},
}

// String returns the canonical option name.
func (o Option) String() string {
	if o < 0 || o >= numOptions {
		return fmt.Sprintf("option(%d)", int(o))
	}
	return optionNames[o][0]
}

// ParseOption accepts the canonical name or a long form, in any case, with
// '-' or '_' between words.
func ParseOption(s string) (Option, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	for o, names := range optionNames {
		for _, name := range names {
			if n == name {
				return Option(o), nil
			}
		}
	}
	return 0, fmt.Errorf("unknown de-identification option %q (known: %s)", s, strings.Join(OptionNames(), ", "))
}

// OptionNames lists the canonical option names.
func OptionNames() []string {
	out := make([]string, numOptions)
	for o := range out {
		out[o] = optionNames[o][0]
	}
	return out
}

// cid7050 is the De-identification Method code of each option and of the
// Basic Profile (PS3.16 CID 7050, scheme DCM).
var cid7050 = [numOptions]struct{ code, meaning string }{
	RetainSafePrivate:       {"113111", "Retain Safe Private Option"},
	RetainUIDs:              {"113110", "Retain UIDs Option"},
	RetainDeviceID:          {"113109", "Retain Device Identity Option"},
	RetainInstitutionID:     {"113112", "Retain Institution Identity Option"},
	RetainPatientChars:      {"113108", "Retain Patient Characteristics Option"},
	RetainLongFullDates:     {"113106", "Retain Longitudinal Temporal Information Full Dates Option"},
	RetainLongModifiedDates: {"113107", "Retain Longitudinal Temporal Information Modified Dates Option"},
	CleanDesc:               {"113105", "Clean Descriptors Option"},
	CleanStructCont:         {"113104", "Clean Structured Content Option"},
	CleanGraph:              {"113103", "Clean Graphics Option"},
	CleanPixel:              {"113101", "Clean Pixel Data Option"},
}

const (
	basicProfileCode    = "113100"
	basicProfileMeaning = "Basic Application Confidentiality Profile"
)
