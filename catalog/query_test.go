package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sonogate/sonogate/internal/testenv"
)

// Study, series and patient identities of the Find fixture.
const (
	fS1 = "1.2.840.99.1" // P1 Doe^Jane, 20240105 101500, US series (3) + SR series (1)
	fS2 = "1.2.840.99.2" // P1 Doe^Jane, 20240220 083000, US (2)
	fS3 = "1.2.840.99.3" // P2 Müller^Jürgen, 20231231 235959, US (1, versioned: v2 moved series)
	fS4 = "1.2.840.99.4" // P3 Wang^XiaoDong=王^小東=, 20240301 120000, CT (1)
	fS5 = "1.2.840.99.5" // P4 Buc^Jérôme, 20240105 180000, US (1)
	// fS10 sorts between fS1 and fS2 in byte order; it proves that
	// ordering is by string (the documented stable order), the same on both
	// backends.
	fS10 = "1.2.840.99.10" // P5 Zed^Ann, no date, OT (1)
)

// loadFindFixture commits the fixture instances into c.
func loadFindFixture(t *testing.T, c *Catalog) {
	t.Helper()
	ctx := context.Background()
	n := 0
	add := func(ns, study, series, sop, patID, patName, date, tm, mod string, seriesNo, instNo int, mut func(*Instance)) {
		t.Helper()
		n++
		in := &Instance{
			Namespace: ns, SOPInstanceUID: sop, SOPClassUID: "1.2.840.10008.5.1.4.1.1.6.1",
			StudyInstanceUID: study, SeriesInstanceUID: series,
			PatientID: patID, PatientName: patName, PatientSex: "O", PatientBirthDate: "19700101",
			StudyDate: date, StudyTime: tm, AccessionNumber: "ACC" + study[len(study)-1:], StudyID: "S" + study[len(study)-1:],
			StudyDescription: "desc " + study, Modality: mod, SeriesNumber: seriesNo, InstanceNumber: instNo,
			TransferSyntaxUID: "1.2.840.10008.1.2.1", RelPath: fmt.Sprintf("x/%d.dcm", n), SHA256: sha(n), Size: 100,
		}
		if mut != nil {
			mut(in)
		}
		if _, err := c.CommitInstance(ctx, in, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Committed out of order so that row ids do not follow the sort keys.
	add("clinical", fS2, fS2+".1", fS2+".1.2", "P1", "Doe^Jane", "20240220", "083000", "US", 1, 2, nil)
	add("clinical", fS1, fS1+".1", fS1+".1.3", "P1", "Doe^Jane", "20240105", "101500", "US", 1, 3, nil)
	add("clinical", fS1, fS1+".2", fS1+".2.1", "P1", "Doe^Jane", "20240105", "101500", "SR", 2, 1, func(in *Instance) { in.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33" })
	add("clinical", fS1, fS1+".1", fS1+".1.1", "P1", "Doe^Jane", "20240105", "101500", "US", 1, 1, nil)
	add("clinical", fS1, fS1+".1", fS1+".1.2", "P1", "Doe^Jane", "20240105", "101500", "US", 1, 2, nil)
	add("clinical", fS2, fS2+".1", fS2+".1.1", "P1", "Doe^Jane", "20240220", "083000", "US", 1, 1, nil)
	// Version 1 of fS3's instance lives in series .9 (CT); version 2 (other
	// bytes) moved it to series .1 (US). Only version 2 takes part.
	add("clinical", fS3, fS3+".9", fS3+".1.1", "P2", "Müller^Jürgen", "20231231", "235959", "CT", 9, 1, nil)
	add("clinical", fS3, fS3+".1", fS3+".1.1", "P2", "Müller^Jürgen", "20231231", "235959", "US", 1, 1, nil)
	add("clinical", fS4, fS4+".1", fS4+".1.1", "P3", "Wang^XiaoDong=王^小東=", "20240301", "120000", "CT", 1, 1, nil)
	add("clinical", fS5, fS5+".1", fS5+".1.1", "P4", "Buc^Jérôme", "20240105", "180000", "US", 1, 1, nil)
	add("clinical", fS10, fS10+".1", fS10+".1.1", "P5", "Zed^Ann", "", "", "OT", 1, 1, nil)
	// Another namespace never shows in clinical queries.
	add("research", "1.2.840.99.7", "1.2.840.99.7.1", "1.2.840.99.7.1.1", "R1", "Doe^Jane", "20240105", "101500", "US", 1, 1, nil)
}

// find runs q and returns the records.
func find(t *testing.T, c *Catalog, q Query) []Record {
	t.Helper()
	if q.Namespace == "" {
		q.Namespace = "clinical"
	}
	var out []Record
	if err := c.Find(context.Background(), q, func(r Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatalf("Find(%+v): %v", q, err)
	}
	return out
}

// ids renders the identifying UID of each record at its level, in order.
func ids(rs []Record) string {
	var s []string
	for _, r := range rs {
		switch r.Level {
		case LevelPatient:
			s = append(s, r.Instance.PatientID)
		case LevelStudy:
			s = append(s, r.Instance.StudyInstanceUID)
		case LevelSeries:
			s = append(s, r.Instance.SeriesInstanceUID)
		default:
			s = append(s, r.Instance.SOPInstanceUID)
		}
	}
	return strings.Join(s, " ")
}

func keys(kv ...any) []MatchKey {
	var out []MatchKey
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, MatchKey{Tag: kv[i].(uint32), Value: kv[i+1].(string)})
	}
	return out
}

const (
	tPatientName  = 0x00100010
	tPatientID    = 0x00100020
	tStudyUID     = 0x0020000D
	tStudyDate    = 0x00080020
	tStudyTime    = 0x00080030
	tAccession    = 0x00080050
	tModsInStudy  = 0x00080061
	tSeriesUID    = 0x0020000E
	tModality     = 0x00080060
	tSeriesNumber = 0x00200011
	tSOPUID       = 0x00080018
	tInstanceNo   = 0x00200013
)

func testFindAggregates(t *testing.T, fresh dbFactory) {
	c := openTest(t, fresh(t), newClock())
	loadFindFixture(t, c)

	// STUDY: Number of Study Related Series/Instances, Modalities in Study.
	studies := find(t, c, Query{Level: LevelStudy})
	if got, want := ids(studies), strings.Join([]string{fS1, fS10, fS2, fS3, fS4, fS5}, " "); got != want {
		t.Fatalf("studies = %s, want %s", got, want)
	}
	type agg struct {
		series, inst int
		mods         string
	}
	wantAgg := map[string]agg{fS1: {2, 4, `SR\US`}, fS2: {1, 2, "US"}, fS3: {1, 1, "US"}, fS4: {1, 1, "CT"}, fS5: {1, 1, "US"}, fS10: {1, 1, "OT"}}
	for _, r := range studies {
		w := wantAgg[r.Instance.StudyInstanceUID]
		mods, _ := r.Value(tModsInStudy)
		ns, _ := r.Value(0x00201206)
		ni, _ := r.Value(0x00201208)
		if r.NumberOfStudyRelatedSeries != w.series || r.NumberOfStudyRelatedInstances != w.inst || mods != w.mods ||
			ns != fmt.Sprint(w.series) || ni != fmt.Sprint(w.inst) {
			t.Errorf("study %s: series %d instances %d mods %q (Value %s/%s), want %+v", r.Instance.StudyInstanceUID,
				r.NumberOfStudyRelatedSeries, r.NumberOfStudyRelatedInstances, mods, ns, ni, w)
		}
		if _, ok := r.Value(tSOPUID); ok {
			t.Errorf("study record returns SOP Instance UID")
		}
	}

	// SERIES: ordered by study, series number; Number of Series Related Instances.
	series := find(t, c, Query{Level: LevelSeries, Keys: keys(uint32(tStudyUID), fS1+`\`+fS3)})
	if got, want := ids(series), fS1+".1 "+fS1+".2 "+fS3+".1"; got != want {
		t.Fatalf("series = %s, want %s", got, want)
	}
	for i, n := range []int{3, 1, 1} {
		if v, _ := series[i].Value(0x00201209); series[i].NumberOfSeriesRelatedInstances != n || v != fmt.Sprint(n) {
			t.Errorf("series %s: %d instances (%q), want %d", series[i].Instance.SeriesInstanceUID, series[i].NumberOfSeriesRelatedInstances, v, n)
		}
	}
	if m, _ := series[1].Value(tModality); m != "SR" {
		t.Errorf("series 2 modality %q", m)
	}

	// IMAGE: ordered by study, series, instance number.
	imgs := find(t, c, Query{Level: LevelImage, Keys: keys(uint32(tStudyUID), fS1)})
	if got, want := ids(imgs), fS1+".1.1 "+fS1+".1.2 "+fS1+".1.3 "+fS1+".2.1"; got != want {
		t.Errorf("instances = %s, want %s", got, want)
	}
	if v, _ := imgs[2].Value(tInstanceNo); v != "3" {
		t.Errorf("instance number %q", v)
	}

	// PATIENT: Number of Patient Related Studies/Series/Instances.
	pats := find(t, c, Query{Level: LevelPatient})
	if got := ids(pats); got != "P1 P2 P3 P4 P5" {
		t.Fatalf("patients = %s", got)
	}
	p1 := pats[0]
	if p1.NumberOfPatientRelatedStudies != 2 || p1.NumberOfPatientRelatedSeries != 3 || p1.NumberOfPatientRelatedInstances != 6 {
		t.Errorf("P1 aggregates %d/%d/%d, want 2/3/6", p1.NumberOfPatientRelatedStudies, p1.NumberOfPatientRelatedSeries, p1.NumberOfPatientRelatedInstances)
	}
	if p2 := pats[1]; p2.NumberOfPatientRelatedStudies != 1 || p2.NumberOfPatientRelatedSeries != 1 || p2.NumberOfPatientRelatedInstances != 1 {
		t.Errorf("P2 aggregates %d/%d/%d, want 1/1/1 (newest version only)", p2.NumberOfPatientRelatedStudies, p2.NumberOfPatientRelatedSeries, p2.NumberOfPatientRelatedInstances)
	}

	// Research namespace: its own world.
	if got := ids(find(t, c, Query{Namespace: "research", Level: LevelStudy})); got != "1.2.840.99.7" {
		t.Errorf("research studies = %s", got)
	}
}

func testFindMatching(t *testing.T, fresh dbFactory) {
	c := openTest(t, fresh(t), newClock())
	loadFindFixture(t, c)
	cases := []struct {
		name  string
		level Level
		keys  []MatchKey
		fuzzy bool
		want  []string
	}{
		{"universal", LevelStudy, keys(uint32(tPatientName), ""), false, []string{fS1, fS10, fS2, fS3, fS4, fS5}},
		{"PN exact, case-insensitive", LevelStudy, keys(uint32(tPatientName), "doe^jane"), false, []string{fS1, fS2}},
		{"PN wildcard *", LevelStudy, keys(uint32(tPatientName), "DOE*"), false, []string{fS1, fS2}},
		{"PN wildcard ?", LevelStudy, keys(uint32(tPatientName), "D?e^J*"), false, []string{fS1, fS2}},
		{"PN non-ASCII wildcard", LevelStudy, keys(uint32(tPatientName), "MÜL*"), false, []string{fS3}},
		{"PN ideographic group", LevelStudy, keys(uint32(tPatientName), "王*"), false, []string{fS4}},
		{"PN ideographic ?", LevelStudy, keys(uint32(tPatientName), "王^?東"), false, []string{fS4}},
		{"PN list", LevelStudy, keys(uint32(tPatientName), `zed*\buc*`), false, []string{fS10, fS5}},
		{"PN not fuzzy", LevelStudy, keys(uint32(tPatientName), "jerome buc"), false, nil},
		{"PN fuzzy reordered, accents", LevelStudy, keys(uint32(tPatientName), "jerome buc"), true, []string{fS5}},
		{"PN fuzzy prefix", LevelStudy, keys(uint32(tPatientName), "muller"), true, []string{fS3}},
		{"PN fuzzy no match", LevelStudy, keys(uint32(tPatientName), "jerome doe"), true, nil},
		{"LO exact", LevelStudy, keys(uint32(tPatientID), "P1"), false, []string{fS1, fS2}},
		{"LO wildcard", LevelStudy, keys(uint32(tPatientID), "P?"), false, []string{fS1, fS10, fS2, fS3, fS4, fS5}},
		{"SH exact", LevelStudy, keys(uint32(tAccession), "ACC4"), false, []string{fS4}},
		{"UID single", LevelStudy, keys(uint32(tStudyUID), fS3), false, []string{fS3}},
		{"UID list", LevelStudy, keys(uint32(tStudyUID), fS1+`\`+fS5+`\1.2.3.404`), false, []string{fS1, fS5}},
		{"DA single", LevelStudy, keys(uint32(tStudyDate), "20240105"), false, []string{fS1, fS5}},
		{"DA range", LevelStudy, keys(uint32(tStudyDate), "20240101-20240220"), false, []string{fS1, fS2, fS5}},
		{"DA open start", LevelStudy, keys(uint32(tStudyDate), "-20231231"), false, []string{fS3}},
		{"DA open end", LevelStudy, keys(uint32(tStudyDate), "20240220-"), false, []string{fS2, fS4}},
		{"DA ACR-NEMA form", LevelStudy, keys(uint32(tStudyDate), "2024.03.01"), false, []string{fS4}},
		{"TM range", LevelStudy, keys(uint32(tStudyTime), "0800-1100"), false, []string{fS1, fS2}},
		{"TM single hour", LevelStudy, keys(uint32(tStudyTime), "12"), false, []string{fS4}},
		// Both range matched: one date-time range from 2024-01-05 12:00
		// to 2024-02-20 09:00 (§C.2.2.2.5).
		{"DA+TM combined range", LevelStudy, keys(uint32(tStudyDate), "20240105-20240220", uint32(tStudyTime), "1200-0900"), false, []string{fS2, fS5}},
		{"DA single + TM range", LevelStudy, keys(uint32(tStudyDate), "20240105", uint32(tStudyTime), "1000-1200"), false, []string{fS1}},
		// A single time value is not a range: matched on its own on each day.
		{"DA range + TM single", LevelStudy, keys(uint32(tStudyDate), "20240105-20240220", uint32(tStudyTime), "1015"), false, []string{fS1}},
		{"Modality at study = ModalitiesInStudy", LevelStudy, keys(uint32(tModality), "SR"), false, []string{fS1}},
		{"ModalitiesInStudy list", LevelStudy, keys(uint32(tModsInStudy), `CT\OT`), false, []string{fS10, fS4}},
		{"ModalitiesInStudy wildcard", LevelStudy, keys(uint32(tModsInStudy), "S*"), false, []string{fS1}},
		{"ModalitiesInStudy old version ignored", LevelStudy, keys(uint32(tModsInStudy), "CT", uint32(tPatientID), "P2"), false, nil},
		{"series modality", LevelSeries, keys(uint32(tModality), "US", uint32(tStudyUID), fS1), false, []string{fS1 + ".1"}},
		{"series number", LevelSeries, keys(uint32(tSeriesNumber), "2"), false, []string{fS1 + ".2"}},
		{"series number wildcard", LevelSeries, keys(uint32(tSeriesNumber), "9*"), false, nil},
		{"old version's series is gone", LevelSeries, keys(uint32(tSeriesUID), fS3+".9"), false, nil},
		{"instance of versioned SOP", LevelImage, keys(uint32(tSOPUID), fS3+".1.1"), false, []string{fS3 + ".1.1"}},
		{"instance number", LevelImage, keys(uint32(tInstanceNo), "3"), false, []string{fS1 + ".1.3"}},
		{"instance UID list", LevelImage, keys(uint32(tSOPUID), fS1+".1.2\\"+fS5+".1.1"), false, []string{fS1 + ".1.2", fS5 + ".1.1"}},
		{"patient level name", LevelPatient, keys(uint32(tPatientName), "*^J*"), false, []string{"P1", "P2", "P4"}},
	}
	for _, tc := range cases {
		rs := find(t, c, Query{Level: tc.level, Keys: tc.keys, FuzzyNames: tc.fuzzy})
		if got, want := ids(rs), strings.Join(tc.want, " "); got != want {
			t.Errorf("%s: got [%s], want [%s]", tc.name, got, want)
		}
	}
	// The versioned instance is returned with its newest attributes.
	rs := find(t, c, Query{Level: LevelImage, Keys: keys(uint32(tSOPUID), fS3+".1.1")})
	if len(rs) != 1 || rs[0].Instance.Version != 2 || rs[0].Instance.SeriesInstanceUID != fS3+".1" || rs[0].Instance.Modality != "US" {
		t.Errorf("versioned instance = %+v", rs)
	}
}

func testFindPaging(t *testing.T, fresh dbFactory) {
	c := openTest(t, fresh(t), newClock())
	loadFindFixture(t, c)
	for _, tc := range []struct {
		name  string
		level Level
		keys  []MatchKey
	}{
		{"studies (SQL paging)", LevelStudy, nil},
		{"studies filtered in Go", LevelStudy, keys(uint32(tPatientName), "*a*")},
		{"series", LevelSeries, nil},
		{"instances", LevelImage, nil},
		{"instances filtered in Go", LevelImage, keys(uint32(tStudyDate), "20240101-")},
		{"patients", LevelPatient, nil},
	} {
		all := ids(find(t, c, Query{Level: tc.level, Keys: tc.keys}))
		n := len(strings.Fields(all))
		if n < 3 {
			t.Fatalf("%s: only %d records", tc.name, n)
		}
		for _, size := range []int{1, 2, 4} {
			var pages []string
			for off := 0; off < n+size; off += size {
				if p := ids(find(t, c, Query{Level: tc.level, Keys: tc.keys, Limit: size, Offset: off})); p != "" {
					if len(strings.Fields(p)) > size {
						t.Errorf("%s: page of %d at %d has %d records", tc.name, size, off, len(strings.Fields(p)))
					}
					pages = append(pages, p)
				}
			}
			if got := strings.Join(pages, " "); got != all {
				t.Errorf("%s: pages of %d = [%s], want [%s]", tc.name, size, got, all)
			}
		}
		// Offset alone and an offset past the end.
		if got, want := ids(find(t, c, Query{Level: tc.level, Keys: tc.keys, Offset: 1})), strings.Join(strings.Fields(all)[1:], " "); got != want {
			t.Errorf("%s: offset 1 = [%s], want [%s]", tc.name, got, want)
		}
		if got := find(t, c, Query{Level: tc.level, Keys: tc.keys, Offset: n}); len(got) != 0 {
			t.Errorf("%s: offset past end gave %d", tc.name, len(got))
		}
	}
}

func testFindErrors(t *testing.T, fresh dbFactory) {
	c := openTest(t, fresh(t), newClock())
	loadFindFixture(t, c)
	ctx := context.Background()
	nop := func(Record) error { return nil }
	for _, tc := range []struct {
		name string
		q    Query
		tag  uint32
	}{
		{"unindexed key", Query{Namespace: "clinical", Level: LevelStudy, Keys: keys(uint32(0x00181030), "x")}, 0x00181030},
		{"key below level", Query{Namespace: "clinical", Level: LevelStudy, Keys: keys(uint32(tSeriesUID), "1.2")}, tSeriesUID},
		{"aggregate at another level", Query{Namespace: "clinical", Level: LevelSeries, Keys: keys(uint32(tModsInStudy), "US")}, tModsInStudy},
		{"bad date", Query{Namespace: "clinical", Level: LevelStudy, Keys: keys(uint32(tStudyDate), "2024-01-01-2024")}, tStudyDate},
		{"letters in date", Query{Namespace: "clinical", Level: LevelStudy, Keys: keys(uint32(tStudyDate), "yesterday")}, tStudyDate},
		{"bad integer", Query{Namespace: "clinical", Level: LevelSeries, Keys: keys(uint32(tSeriesNumber), "two")}, tSeriesNumber},
		{"negative limit", Query{Namespace: "clinical", Level: LevelStudy, Limit: -1}, 0},
		{"no namespace", Query{Level: LevelStudy}, 0},
		{"bad level", Query{Namespace: "clinical", Level: "FRAME"}, 0},
	} {
		err := c.Find(ctx, tc.q, nop)
		var qe *QueryError
		if !errors.As(err, &qe) || qe.Tag != tc.tag {
			t.Errorf("%s: err = %v, want QueryError for tag %08X", tc.name, err, tc.tag)
		}
	}
	// fn's error stops Find and is returned.
	stop := errors.New("stop")
	n := 0
	err := c.Find(ctx, Query{Namespace: "clinical", Level: LevelImage}, func(Record) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("fn error: %v after %d records", err, n)
	}
}

func testInstancesOf(t *testing.T, fresh dbFactory) {
	c := openTest(t, fresh(t), newClock())
	loadFindFixture(t, c)
	ctx := context.Background()
	for _, tc := range []struct {
		study, series, sop string
		want               string
	}{
		{fS1, "", "", fS1 + ".1.1 " + fS1 + ".1.2 " + fS1 + ".1.3 " + fS1 + ".2.1"},
		{fS1, fS1 + ".2", "", fS1 + ".2.1"},
		{fS3, "", "", fS3 + ".1.1"},
		{fS3, fS3 + ".9", "", ""},
		{fS1, fS1 + ".1", fS1 + ".1.2", fS1 + ".1.2"},
		{"1.2.3.404", "", "", ""},
	} {
		got, err := c.InstancesOf(ctx, "clinical", tc.study, tc.series, tc.sop)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, in := range got {
			s = append(s, in.SOPInstanceUID)
		}
		if strings.Join(s, " ") != tc.want {
			t.Errorf("InstancesOf(%s, %s, %s) = %v, want %s", tc.study, tc.series, tc.sop, s, tc.want)
		}
	}
}

var findScenarios = []struct {
	name string
	fn   func(*testing.T, dbFactory)
}{
	{"Aggregates", testFindAggregates},
	{"Matching", testFindMatching},
	{"Paging", testFindPaging},
	{"Errors", testFindErrors},
	{"InstancesOf", testInstancesOf},
	{"SQLPushdown", testFindPushdown},
}

func TestFindSQLite(t *testing.T) {
	t.Parallel()
	for _, sc := range findScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.fn(t, sqliteDB)
		})
	}
}

// TestFindPostgres runs the Find scenarios on PostgreSQL, whose study
// level aggregates use STRING_AGG instead of GROUP_CONCAT.
func TestFindPostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	for i, sc := range findScenarios {
		t.Run(sc.name, func(t *testing.T) {
			n := 0
			sc.fn(t, func(t *testing.T) Config {
				n++
				return Config{Driver: "postgres", DSN: pg.CreateDB(t, fmt.Sprintf("f%d_%d", i, n))}
			})
		})
	}
}

func TestMatchValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vr, key, value string
		fuzzy          bool
		want           bool
	}{
		{"DA", "20240101-", "20240101", false, true},
		{"DA", "-20240101", "20240102", false, false},
		{"DA", "20240101", "", false, false},
		{"TM", "1015", "101559.123", false, true},
		{"TM", "1015", "101600", false, false},
		{"TM", "-0900", "090000", false, true},
		{"TM", "10:15:00", "101500", false, true},
		{"CS", `US\SR`, "SR", false, true},
		{"LO", "a*c", "abbbc", false, true},
		{"LO", "a*c", "abbbd", false, false},
		{"PN", "wang^xiaodong", "Wang^XiaoDong=王^小東=", false, true},
		{"PN", "王^小東", "Wang^XiaoDong=王^小東=", false, true},
		{"PN", "Buc", "Buc^Jérôme", false, false},
		{"PN", "BUC", "Buc^Jérôme", true, true},
		{"PN", "jér", "Buc^Jérôme", true, true},
	} {
		if got := MatchValue(tc.vr, tc.key, tc.value, tc.fuzzy); got != tc.want {
			t.Errorf("MatchValue(%s, %q, %q, %v) = %v", tc.vr, tc.key, tc.value, tc.fuzzy, got)
		}
	}
	if !MatchDateTime("20240105-", "1200-", "20240106", "000000") || MatchDateTime("20240105-", "1200-", "20240105", "115959") {
		t.Error("MatchDateTime open-ended combined range")
	}
}

// TestFindPostgresCollation checks that the documented order is the byte
// order of the values on a PostgreSQL database whose default collation is
// a natural-language one (en_US: "a1" before "B2"), as on SQLite.
func TestFindPostgresCollation(t *testing.T) {
	pg := testenv.StartPostgres(t)
	pg.Psql(t, "postgres", `CREATE DATABASE coll TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'en_US.utf8' LC_CTYPE 'en_US.utf8'`)
	for _, cfg := range []Config{sqliteDB(t), {Driver: "postgres", DSN: pg.DSN("coll")}} {
		c := openTest(t, cfg, newClock())
		for i, p := range []string{"a1", "B2", "b1"} {
			uid := fmt.Sprintf("1.2.%d", 3-i)
			if _, err := c.CommitInstance(context.Background(), &Instance{Namespace: "clinical", SOPInstanceUID: uid + ".1.1",
				StudyInstanceUID: uid, SeriesInstanceUID: uid + ".1", PatientID: p, Modality: "US", SHA256: sha(i + 1), RelPath: "x"}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if got := ids(find(t, c, Query{Level: LevelPatient})); got != "B2 a1 b1" {
			t.Errorf("%s: patients in order %s, want B2 a1 b1 (byte order)", cfg.Driver, got)
		}
		if got := ids(find(t, c, Query{Level: LevelPatient, Limit: 1, Offset: 1})); got != "a1" {
			t.Errorf("%s: second patient page %s, want a1", cfg.Driver, got)
		}
	}
}
