package elastography

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// CSVHeader is the header row WriteCSV writes: one row per report.
var CSVHeader = []string{
	"sop_instance_uid", "study_instance_uid", "section", "kind", "mapping_table",
	"manufacturer", "model", "software", "transducer", "vendor_technique",
	"site", "site_code", "segment", "method",
	"n_total", "n_valid",
	"median_kpa", "median_mps", "median_origin",
	"iqr_kpa", "iqr_mps", "iqr_over_median_pct_kpa", "iqr_over_median_pct_mps",
	"mean_kpa", "mean_mps", "quantile_method", "device_summary_agrees",
	"reliable", "qc_flags", "staging_scheme", "staging_category", "staging_applicable", "staging_reason", "staging_disclaimer",
}

// WriteCSV writes reports as CSV (RFC 4180) with CSVHeader.
func WriteCSV(w io.Writer, reports []Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, r := range reports {
		if err := cw.Write(CSVRow(r)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// CSVRow is the CSV row of one report, in CSVHeader's order.
func CSVRow(r Report) []string {
	f := func(p *float64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p, 'f', -1, 64)
	}
	n := func(p *int) string {
		if p == nil {
			return ""
		}
		return strconv.Itoa(*p)
	}
	val := func(v *Value) (k, m string) {
		if v == nil {
			return "", ""
		}
		return f(v.KPa), f(v.MPS)
	}
	medK, medM := val(r.Summary.Median)
	iqrK, iqrM := val(r.Summary.IQR)
	ratK, ratM := val(r.Summary.IQROverMedian)
	meanK, meanM := val(r.Summary.Mean)
	medOrigin := ""
	if r.Summary.Median != nil {
		medOrigin = r.Summary.Median.Origin
	}
	qm, agrees := "", ""
	if c := r.Summary.RecomputedCheck; c != nil {
		qm = c.QuantileMethod
		if c.Agrees != nil {
			agrees = strconv.FormatBool(*c.Agrees)
		}
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return []string{
		r.Source.SOPInstanceUID, r.Source.StudyInstanceUID, r.Source.Section, r.Source.Kind, r.Source.MappingTable,
		r.Device.Manufacturer, r.Device.Model, r.Device.Software, r.Device.Transducer, r.Device.VendorTechnique,
		r.Site.Name, strings.Join(r.Site.Code, "^"), strings.Join(r.Site.Segment, "^"), r.Method,
		n(r.Summary.NTotal), n(r.Summary.NValid),
		medK, medM, medOrigin,
		iqrK, iqrM, ratK, ratM,
		meanK, meanM, qm, agrees,
		strconv.FormatBool(r.QC.Reliable), strings.Join(r.QC.Flags, ";"),
		r.Staging.Scheme, str(r.Staging.Category), strconv.FormatBool(r.Staging.Applicable), str(r.Staging.Reason), r.Staging.Disclaimer,
	}
}
