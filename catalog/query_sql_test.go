package catalog

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// pushdownNames are Patient's Names with characters that mean something to
// SQL LIKE (% _), to a range bound (the last code point), case pairs
// outside ASCII and several component groups.
var pushdownNames = []string{
	"100%^Sure", "100x^Sure", "A_B^C", "AxB^C", "Änne^X", "änneliese^Y", "ÄNEAS^Z", "Aneas^Q",
	"Wang^XiaoDong=王^小東=", "Li^Na=李^娜=li^na", "王^小明", "Øre^Ω", "øre^ω", "Zz\U0010FFFF^A",
	"Buc^Jérôme", "BUC^JEROME", "", "a=b=c=d",
}

var pushdownDates = []string{"20240105", "2024.01.06", "20231231", "", "20240229", "19991231"}

// testFindPushdown checks the SQL path of Find (derived columns, prefix
// ranges, date ranges, Modalities in Study) against the Go matching rules
// (MatchValue) used as an oracle: at IMAGE level every row is a record,
// and every study holds one instance, so that STUDY level is comparable
// too. It also checks the backfill of rows written before migration 0013.
func testFindPushdown(t *testing.T, fresh dbFactory) {
	cfg := fresh(t)
	c := openTest(t, cfg, newClock())
	ctx := context.Background()
	var all []Instance
	for i, name := range pushdownNames {
		study := fmt.Sprintf("1.2.840.77.%d", i+1)
		in := &Instance{Namespace: "clinical", SOPInstanceUID: study + ".1.1", StudyInstanceUID: study, SeriesInstanceUID: study + ".1",
			PatientID: fmt.Sprintf("P%%_%d", i%5), PatientName: name, StudyDate: pushdownDates[i%len(pushdownDates)],
			AccessionNumber: []string{"A%1", "A_1", "Ax1", "a%1", "B"}[i%5], Modality: []string{"US", "SR", "CT"}[i%3],
			SHA256: sha(i + 1), RelPath: "x"}
		if _, err := c.CommitInstance(ctx, in, nil); err != nil {
			t.Fatal(err)
		}
		all = append(all, *in)
	}
	// Rows written by an older sonogate have no derived columns: Open fills them.
	if _, err := c.w.ExecContext(ctx, `UPDATE instances SET patient_name_folded = NULL, patient_name_folded2 = NULL,
		patient_name_folded3 = NULL, patient_name_fuzzy = NULL, study_date_norm = NULL WHERE id % 2 = 0`); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c = openTest(t, cfg, newClock())
	var nulls int
	if err := c.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM instances WHERE patient_name_folded IS NULL OR study_date_norm IS NULL`).Scan(&nulls); err != nil || nulls != 0 {
		t.Fatalf("after reopen %d rows without derived columns (%v)", nulls, err)
	}

	type kc struct {
		tag   uint32
		vr    string
		key   string
		fuzzy bool
	}
	cases := []kc{
		{tPatientName, "PN", "100%*", false}, {tPatientName, "PN", "100%^sure", false}, {tPatientName, "PN", "a_b*", false},
		{tPatientName, "PN", "A_B^C", false}, {tPatientName, "PN", "änne*", false}, {tPatientName, "PN", "ÄNNE*", false},
		{tPatientName, "PN", "ÄNE*", false}, {tPatientName, "PN", "äneas^z", false}, {tPatientName, "PN", "王*", false},
		{tPatientName, "PN", "李*", false}, {tPatientName, "PN", "li^na", false}, {tPatientName, "PN", "王^?明", false},
		{tPatientName, "PN", "ØRE*", false}, {tPatientName, "PN", "zz*", false}, {tPatientName, "PN", "zz\U0010FFFF*", false},
		{tPatientName, "PN", `ä*\王*`, false}, {tPatientName, "PN", "*", false}, {tPatientName, "PN", "*x*", false},
		{tPatientName, "PN", "c*", false}, {tPatientName, "PN", "d*", false}, {tPatientName, "PN", "b=c*", false},
		{tPatientName, "PN", "jerome buc", true}, {tPatientName, "PN", "buc", true}, {tPatientName, "PN", "ne", true},
		{tPatientName, "PN", "an*", true}, {tPatientName, "PN", "xiao", true},
		{tPatientID, "LO", "P%_1", false}, {tPatientID, "LO", "P%*", false}, {tPatientID, "LO", "P_*", false}, {tPatientID, "LO", `P%_1\P%_3`, false},
		{tAccession, "SH", "A%*", false}, {tAccession, "SH", "A_*", false}, {tAccession, "SH", "a*", false}, {tAccession, "SH", "A?1", false},
		{tAccession, "SH", `A%1\B`, false}, {tAccession, "SH", `A_*\B*`, false}, {tAccession, "SH", "*1", false},
		{tStudyDate, "DA", "20240105", false}, {tStudyDate, "DA", "20240106", false}, {tStudyDate, "DA", "20240101-20240229", false},
		{tStudyDate, "DA", "-20231231", false}, {tStudyDate, "DA", "2024.01.01-", false},
	}
	for _, tc := range cases {
		var want []string
		for _, in := range all {
			v := map[uint32]string{tPatientName: in.PatientName, tPatientID: in.PatientID, tAccession: in.AccessionNumber, tStudyDate: in.StudyDate}[tc.tag]
			if MatchValue(tc.vr, tc.key, v, tc.fuzzy) {
				want = append(want, in.StudyInstanceUID)
			}
		}
		sort.Strings(want)
		for _, level := range []Level{LevelStudy, LevelImage} {
			var got []string
			for _, r := range find(t, c, Query{Level: level, Keys: keys(tc.tag, tc.key), FuzzyNames: tc.fuzzy}) {
				got = append(got, r.Instance.StudyInstanceUID)
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s %q fuzzy=%v at %s: got %v, want %v", tc.vr, tc.key, tc.fuzzy, level, got, want)
			}
			// Pages of 2 give the same records in the same order.
			var paged []string
			for off := 0; off <= len(want); off += 2 {
				for _, r := range find(t, c, Query{Level: level, Keys: keys(tc.tag, tc.key), FuzzyNames: tc.fuzzy, Limit: 2, Offset: off}) {
					paged = append(paged, r.Instance.StudyInstanceUID)
				}
			}
			if strings.Join(paged, " ") != strings.Join(want, " ") {
				t.Errorf("%s %q at %s: pages of 2 %v, want %v", tc.vr, tc.key, level, paged, want)
			}
		}
	}
	// Modalities in Study, with a date range, paged in SQL.
	var want []string
	for _, in := range all {
		if in.Modality == "SR" && MatchValue("DA", "20240101-", in.StudyDate, false) {
			want = append(want, in.StudyInstanceUID)
		}
	}
	sort.Strings(want)
	var paged []string
	for off := 0; off <= len(want); off++ {
		for _, r := range find(t, c, Query{Level: LevelStudy, Keys: keys(uint32(tModsInStudy), "SR", uint32(tStudyDate), "20240101-"), Limit: 1, Offset: off}) {
			paged = append(paged, r.Instance.StudyInstanceUID)
		}
	}
	if len(want) < 2 || strings.Join(paged, " ") != strings.Join(want, " ") {
		t.Errorf("ModalitiesInStudy=SR + date range, pages of 1: %v, want %v", paged, want)
	}
}
