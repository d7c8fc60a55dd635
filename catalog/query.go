package catalog

import (
	"context"
	"errors"
	"fmt"
	"github.com/sonogate/sonogate/dcm"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Level is a Query/Retrieve level (PS3.4 §C.6.1.1, (0008,0052)).
type Level string

// Query/Retrieve levels.
const (
	LevelPatient Level = "PATIENT"
	LevelStudy   Level = "STUDY"
	LevelSeries  Level = "SERIES"
	LevelImage   Level = "IMAGE"
)

func (l Level) rank() int {
	switch l {
	case LevelPatient:
		return 0
	case LevelStudy:
		return 1
	case LevelSeries:
		return 2
	case LevelImage:
		return 3
	}
	return -1
}

// MatchKey is one attribute of the identifier: a tag and its key value
// (decoded to UTF-8; "" is universal matching).
type MatchKey struct {
	Tag   uint32
	Value string
}

// Query is an attribute query over one namespace.
type Query struct {
	Namespace  string // "clinical", "research", ...
	Level      Level
	Keys       []MatchKey
	FuzzyNames bool // fuzzy semantic matching of person names
	Limit      int  // maximum records passed to fn; 0 means no limit
	Offset     int  // records skipped before the first one passed to fn
}

// QueryError reports a query that cannot be run as asked; Tag is the
// offending key (0 when the query as a whole is wrong).
type QueryError struct {
	Tag    uint32
	Reason string
}

func (e *QueryError) Error() string {
	if e.Tag != 0 {
		return fmt.Sprintf("catalog: query key (%04X,%04X): %s", e.Tag>>16, e.Tag&0xFFFF, e.Reason)
	}
	return "catalog: query: " + e.Reason
}

// Record is one result of Find.
type Record struct {
	Level Level
	// Instance is the representative row of the patient, study or series
	// (the one with the lowest row id), or the instance itself at IMAGE
	// level.
	Instance Instance

	NumberOfPatientRelatedStudies   int      // (0020,1200), PATIENT
	NumberOfPatientRelatedSeries    int      // (0020,1202), PATIENT
	NumberOfPatientRelatedInstances int      // (0020,1204), PATIENT
	NumberOfStudyRelatedSeries      int      // (0020,1206), STUDY
	NumberOfStudyRelatedInstances   int      // (0020,1208), STUDY
	NumberOfSeriesRelatedInstances  int      // (0020,1209), SERIES
	ModalitiesInStudy               []string // (0008,0061), STUDY, sorted
}

// Attribute describes one attribute the catalog can match and return.
type Attribute struct {
	Tag     uint32
	Keyword string
	VR      string // "PN", "DA", "TM", "UI", "CS", "LO", "SH", "IS", ...
	Level   Level  // the level whose module holds it
	column  string // instances column; "" for aggregates
	get     func(r *Record) string
}

var attributes = []Attribute{
	{0x00100010, "PatientName", "PN", LevelPatient, "patient_name", func(r *Record) string { return r.Instance.PatientName }},
	{0x00100020, "PatientID", "LO", LevelPatient, "patient_id", func(r *Record) string { return r.Instance.PatientID }},
	{0x00100030, "PatientBirthDate", "DA", LevelPatient, "patient_birth_date", func(r *Record) string { return r.Instance.PatientBirthDate }},
	{0x00100040, "PatientSex", "CS", LevelPatient, "patient_sex", func(r *Record) string { return r.Instance.PatientSex }},
	{0x00201200, "NumberOfPatientRelatedStudies", "IS", LevelPatient, "", func(r *Record) string { return strconv.Itoa(r.NumberOfPatientRelatedStudies) }},
	{0x00201202, "NumberOfPatientRelatedSeries", "IS", LevelPatient, "", func(r *Record) string { return strconv.Itoa(r.NumberOfPatientRelatedSeries) }},
	{0x00201204, "NumberOfPatientRelatedInstances", "IS", LevelPatient, "", func(r *Record) string { return strconv.Itoa(r.NumberOfPatientRelatedInstances) }},

	{0x0020000D, "StudyInstanceUID", "UI", LevelStudy, "study_instance_uid", func(r *Record) string { return r.Instance.StudyInstanceUID }},
	{0x00080020, "StudyDate", "DA", LevelStudy, "study_date", func(r *Record) string { return r.Instance.StudyDate }},
	{0x00080030, "StudyTime", "TM", LevelStudy, "study_time", func(r *Record) string { return r.Instance.StudyTime }},
	{0x00080050, "AccessionNumber", "SH", LevelStudy, "accession_number", func(r *Record) string { return r.Instance.AccessionNumber }},
	{0x00081030, "StudyDescription", "LO", LevelStudy, "study_description", func(r *Record) string { return r.Instance.StudyDescription }},
	{0x00200010, "StudyID", "SH", LevelStudy, "study_id", func(r *Record) string { return r.Instance.StudyID }},
	{0x00080090, "ReferringPhysicianName", "PN", LevelStudy, "referring_physician_name", func(r *Record) string { return r.Instance.ReferringPhysicianName }},
	{0x00080061, "ModalitiesInStudy", "CS", LevelStudy, "", func(r *Record) string { return strings.Join(r.ModalitiesInStudy, `\`) }},
	{0x00201206, "NumberOfStudyRelatedSeries", "IS", LevelStudy, "", func(r *Record) string { return strconv.Itoa(r.NumberOfStudyRelatedSeries) }},
	{0x00201208, "NumberOfStudyRelatedInstances", "IS", LevelStudy, "", func(r *Record) string { return strconv.Itoa(r.NumberOfStudyRelatedInstances) }},

	{0x0020000E, "SeriesInstanceUID", "UI", LevelSeries, "series_instance_uid", func(r *Record) string { return r.Instance.SeriesInstanceUID }},
	{0x00080060, "Modality", "CS", LevelSeries, "modality", func(r *Record) string { return r.Instance.Modality }},
	{0x00200011, "SeriesNumber", "IS", LevelSeries, "series_number", func(r *Record) string { return intString(r.Instance.SeriesNumber) }},
	{0x0008103E, "SeriesDescription", "LO", LevelSeries, "series_description", func(r *Record) string { return r.Instance.SeriesDescription }},
	{0x00080070, "Manufacturer", "LO", LevelSeries, "manufacturer", func(r *Record) string { return r.Instance.Manufacturer }},
	{0x00081090, "ManufacturerModelName", "LO", LevelSeries, "manufacturer_model_name", func(r *Record) string { return r.Instance.ManufacturerModelName }},
	{0x00201209, "NumberOfSeriesRelatedInstances", "IS", LevelSeries, "", func(r *Record) string { return strconv.Itoa(r.NumberOfSeriesRelatedInstances) }},

	{0x00080018, "SOPInstanceUID", "UI", LevelImage, "sop_instance_uid", func(r *Record) string { return r.Instance.SOPInstanceUID }},
	{0x00080016, "SOPClassUID", "UI", LevelImage, "sop_class_uid", func(r *Record) string { return r.Instance.SOPClassUID }},
	{0x00200013, "InstanceNumber", "IS", LevelImage, "instance_number", func(r *Record) string { return intString(r.Instance.InstanceNumber) }},
	{0x00280008, "NumberOfFrames", "IS", LevelImage, "number_of_frames", func(r *Record) string { return intString(r.Instance.NumberOfFrames) }},
	{0x00280010, "Rows", "US", LevelImage, "rows_", func(r *Record) string { return intString(r.Instance.Rows) }},
	{0x00280011, "Columns", "US", LevelImage, "columns_", func(r *Record) string { return intString(r.Instance.Columns) }},
}

// intString renders an indexed number; 0 stands for "absent" in the
// catalog and is returned as "".
func intString(v int) string {
	if v == 0 {
		return ""
	}
	return strconv.Itoa(v)
}

var attributeByTag = func() map[uint32]*Attribute {
	m := make(map[uint32]*Attribute, len(attributes))
	for i := range attributes {
		m[attributes[i].Tag] = &attributes[i]
	}
	return m
}()

// LookupAttribute returns the description of an attribute the catalog
// can match and return, or false.
func LookupAttribute(tag uint32) (Attribute, bool) {
	a, ok := attributeByTag[tag]
	if !ok {
		return Attribute{}, false
	}
	return *a, true
}

// QueryAttributes returns every attribute the catalog can match and
// return, in a fixed order.
func QueryAttributes() []Attribute { return append([]Attribute(nil), attributes...) }

// Value returns the value of an attribute of LookupAttribute for this
// record, as a DICOM string value; false when the catalog does not hold it
// or it belongs to a level below the record's (e.g. SOP Instance UID of a
// study record). Numbers stored as 0 (absent) come back as "".
func (r *Record) Value(tag uint32) (string, bool) {
	a, ok := attributeByTag[tag]
	if !ok || a.Level.rank() > r.Level.rank() {
		return "", false
	}
	if a.column == "" && a.Level != r.Level {
		return "", false // aggregates exist only at their own level
	}
	return a.get(r), true
}

// matcher is one key compiled for filtering in Go.
type matcher struct {
	attr *Attribute
	key  string
}

// Find runs an attribute query over the instance index, in the terms of PS3.4 §C.2.2
// (the C-FIND Query/Retrieve information model), shared by QIDO-RS
// (PS3.18 §10.6) and C-FIND.
//
// How to use it (QIDO-RS and C-FIND alike):
//
//  1. Pick the Query/Retrieve Level (PS3.4 §C.2.2.1): LevelPatient,
//     LevelStudy, LevelSeries or LevelImage.
//  2. Put each identifier attribute into Keys as a MatchKey: Tag is the
//     attribute tag (group<<16 | element), Value the key as it appears in the
//     identifier, already decoded to UTF-8. An empty Value is universal
//     matching (a return key only). Keys for attributes that the catalog does
//     not index (LookupAttribute reports false) make Find fail with a
//     *QueryError: drop or reject them before calling. Keys of a level
//     below Query.Level also fail (hierarchical search, §C.4.1.3.1),
//     except Modality (0008,0060) at STUDY level, which is matched as
//     Modalities in Study (0008,0061).
//  3. Call Find. fn receives one Record per matching patient, study, series
//     or instance, in a stable order (PATIENT: Patient ID; STUDY: Study
//     Instance UID; SERIES: Study Instance UID, Series Number, Series
//     Instance UID; IMAGE: Study, Series, Instance Number, SOP Instance UID),
//     after Offset records have been skipped and at most Limit (0: no limit).
//     Record.Value(tag) gives the value of any attribute of LookupAttribute
//     at the record's level or above, including the aggregated ones
//     (Number of Study Related Series, Modalities in Study, ...), formatted
//     as a DICOM string value (numbers in decimal, multiple values joined by
//     backslash). Record.Instance is a representative row of the group (its
//     lowest row id), whose file can be read for attributes the catalog does
//     not index.
//
// Matching follows PS3.4 §C.2.2.2: single value matching; list of UID
// matching (backslash-separated UIDs, §C.2.2.2.2); wild card matching with
// "*" and "?" (§C.2.2.2.4); range matching "a-b", "-b", "a-" for DA, TM and
// DT (§C.2.2.2.5), combined into one date-time range when Study Date and
// Study Time are both ranges. Person names (PN) match case-insensitively, against
// the whole value or against any one of its component groups (alphabetic,
// ideographic, phonetic), so "王*" finds "Wang^XiaoDong=王^小東=". With
// Query.FuzzyNames (QIDO-RS fuzzymatching=true, C-FIND "fuzzy semantic
// matching of person names"), a PN key matches when each of its name parts
// is a prefix of some name part of the value, ignoring case, accents and the
// order of the components ("jerome buc" finds "Buc^Jérôme").
//
// Only the newest version of each SOP Instance UID in the namespace takes
// part (see CommitInstance on versions).
//
// Find calls fn for each record, stopping at the first error fn returns
// (which Find then returns). Records are streamed: fn runs while the result
// set is still being read.
func (c *Catalog) Find(ctx context.Context, q Query, fn func(Record) error) error {
	if q.Level.rank() < 0 {
		return &QueryError{Reason: fmt.Sprintf("unknown level %q", q.Level)}
	}
	if q.Namespace == "" {
		return &QueryError{Reason: "namespace is required"}
	}
	if q.Limit < 0 || q.Offset < 0 {
		return &QueryError{Reason: "limit and offset must not be negative"}
	}
	p, err := c.plan(q)
	if err != nil {
		return err
	}
	filterInGo := len(p.post) > 0 || p.combined

	// How the query runs (see plan): the rows taking part ("R rows": the
	// namespace, the newest version of each SOP Instance UID, the keys that
	// SQL matches exactly) are selected with indexes; above IMAGE level
	// the keys of the matching groups (studies, patients; the studies of
	// the matching series) are selected first, in order, and aggregated
	// afterwards, so that a page of 100 studies aggregates 100 studies.
	// Keys that SQL cannot match exactly are matched in Go on each
	// record; SQL then only narrows the candidates with a predicate that
	// every true match satisfies, and paging is done here after the Go
	// filter.
	var b sqlb
	ns := q.Namespace
	// rowsWhere renders the R-row predicate. With useIdx false (SQLite),
	// the key predicates are written "+i.col" so that the planner does not
	// use their indexes: they filter the rows of a study already found by
	// its UID, and a date range index would otherwise drive that loop.
	rowsWhere := func(alias string, useIdx bool) {
		n := "n_" + alias
		b.w(alias+".namespace = ? AND NOT EXISTS (SELECT 1 FROM instances "+n+" WHERE "+n+".namespace = "+alias+
			".namespace AND "+n+".sop_instance_uid = "+alias+".sop_instance_uid AND "+n+".version > "+alias+".version)", ns)
		ra := alias
		if !useIdx && c.d.name == "sqlite" {
			ra = "+" + alias
		}
		for _, r := range p.row {
			b.w(" AND "+r.on(ra), r.args...)
		}
	}
	narrow := func(alias string) {
		for _, r := range p.pre {
			b.w(" AND "+r.on(alias), r.args...)
		}
		for _, mods := range p.mods {
			b.w(" AND EXISTS (SELECT 1 FROM instances m WHERE m.study_instance_uid = " + alias + ".study_instance_uid AND " + c.noIdx("m.modality") + " IN (?" + repeat(", ?", len(mods)-1) + ") AND ")
			for _, m := range mods {
				b.args = append(b.args, m)
			}
			rowsWhere("m", false)
			b.w(")")
		}
	}
	page := func() {
		if filterInGo || (q.Limit == 0 && q.Offset == 0) {
			return
		}
		lim := q.Limit
		if lim == 0 {
			lim = -1
			if c.d.name == "postgres" {
				lim = 1<<62 - 1
			}
		}
		b.w(" LIMIT ? OFFSET ?", lim, q.Offset)
	}
	from := func() {
		if p.driver == nil {
			b.w(`instances i WHERE `)
			return
		}
		b.w(`(`+p.driver.sql+`) ids CROSS JOIN instances i WHERE i.id = ids.id AND `, p.driver.args...)
	}
	cols := "r.id, " + prefixCols("r.", instanceCols)
	if q.Level == LevelImage {
		b.w(`SELECT ` + strings.ReplaceAll(cols, "r.", "i.") + `, 0, 0, 0, '' FROM `)
		from()
		rowsWhere("i", true)
		narrow("i")
		b.w(` ORDER BY ` + c.orderBy("i.study_instance_uid", "i.series_instance_uid", "i.instance_number", "i.sop_instance_uid", "i.id"))
		page()
	} else {
		key := "study_instance_uid"
		if q.Level == LevelPatient {
			key = "patient_id"
		}
		b.w(`WITH cand (k) AS (SELECT i.` + key + ` FROM `)
		from()
		rowsWhere("i", true)
		narrow("i")
		// With a key predicate, let SQLite find the rows by its index and
		// sort the few groups ("+col" cannot be served by the study index,
		// which the planner would otherwise walk in order over the whole
		// namespace to save the sort); without, walk that index in order
		// and stop after the page.
		grp := "i." + key
		if c.d.name == "sqlite" && (len(p.row) > 0 || len(p.pre) > 0) {
			grp = "+i." + key
		}
		b.w(` GROUP BY ` + grp + ` ORDER BY ` + c.orderBy(grp))
		if q.Level != LevelSeries {
			page()
		}
		b.w(`) `)
		switch q.Level {
		case LevelSeries:
			b.w(`SELECT ` + cols + `, g.n1, 0, 0, '' FROM (SELECT MIN(i.id) AS rep, COUNT(*) AS n1
				FROM cand CROSS JOIN instances i WHERE i.study_instance_uid = cand.k AND `)
			rowsWhere("i", false)
			b.w(` GROUP BY i.study_instance_uid, i.series_instance_uid) g JOIN instances r ON r.id = g.rep
				ORDER BY ` + c.orderBy("r.study_instance_uid", "r.series_number", "r.series_instance_uid"))
			page()
		case LevelStudy:
			b.w(`SELECT ` + cols + `, g.n1, g.n2, 0, g.mods FROM (SELECT MIN(i.id) AS rep,
				COUNT(DISTINCT i.series_instance_uid) AS n1, COUNT(*) AS n2, ` + c.aggModalities() + ` AS mods
				FROM cand CROSS JOIN instances i WHERE i.study_instance_uid = cand.k AND `)
			rowsWhere("i", false)
			b.w(` GROUP BY i.study_instance_uid) g JOIN instances r ON r.id = g.rep ORDER BY ` + c.orderBy("r.study_instance_uid"))
		case LevelPatient:
			b.w(`SELECT ` + cols + `, g.n1, g.n2, g.n3, '' FROM (SELECT MIN(i.id) AS rep,
				COUNT(DISTINCT i.study_instance_uid) AS n1, COUNT(DISTINCT i.series_instance_uid) AS n2, COUNT(*) AS n3
				FROM cand CROSS JOIN instances i WHERE i.patient_id = cand.k AND `)
			rowsWhere("i", false)
			b.w(` GROUP BY i.patient_id) g JOIN instances r ON r.id = g.rep ORDER BY ` + c.orderBy("r.patient_id", "r.id"))
		}
	}
	rows, err := c.r.QueryContext(ctx, c.q(b.b.String()), b.args...)
	if err != nil {
		return fmt.Errorf("catalog: find: %w", err)
	}
	defer rows.Close()
	skip, sent := 0, 0
	for rows.Next() {
		rec := Record{Level: q.Level}
		dest, finish := instanceDest(&rec.Instance)
		var n1, n2, n3 int
		var mods string
		dest = append(dest, &n1, &n2, &n3, &mods)
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("catalog: find: %w", err)
		}
		finish()
		switch q.Level {
		case LevelSeries:
			rec.NumberOfSeriesRelatedInstances = n1
		case LevelStudy:
			rec.NumberOfStudyRelatedSeries, rec.NumberOfStudyRelatedInstances = n1, n2
			rec.ModalitiesInStudy = splitModalities(mods)
		case LevelPatient:
			rec.NumberOfPatientRelatedStudies, rec.NumberOfPatientRelatedSeries, rec.NumberOfPatientRelatedInstances = n1, n2, n3
		}
		if filterInGo {
			if !rec.matches(p.post, q.FuzzyNames) {
				continue
			}
			if p.combined && !MatchDateTime(p.dateKey, p.timeKey, rec.Instance.StudyDate, rec.Instance.StudyTime) {
				continue
			}
			if skip < q.Offset {
				skip++
				continue
			}
			if q.Limit > 0 && sent >= q.Limit {
				break
			}
		}
		sent++
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("catalog: find: %w", err)
	}
	return nil
}

// sqlb accumulates an SQL text and its arguments in placeholder order.
type sqlb struct {
	b    strings.Builder
	args []any
}

func (s *sqlb) w(sql string, args ...any) {
	s.b.WriteString(sql)
	s.args = append(s.args, args...)
}

// cond is a predicate on one instances row; "@." stands for the row's
// alias.
type cond struct {
	sql  string
	args []any
}

func (k cond) on(alias string) string { return strings.ReplaceAll(k.sql, "@.", alias+".") }

// orConds joins predicates with OR.
func orConds(cs []cond) cond {
	if len(cs) == 1 {
		return cs[0]
	}
	out := joinConds(cs, " OR ")
	out.sql = "(" + out.sql + ")"
	return out
}

// joinConds joins the predicates' SQL with sep and their arguments in order.
func joinConds(cs []cond, sep string) cond {
	var out cond
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.sql
		out.args = append(out.args, c.args...)
	}
	out.sql = strings.Join(parts, sep)
	return out
}

// queryPlan is a query compiled for Find.
type queryPlan struct {
	// row: exact predicates; they decide which rows take part (as
	// exact-match keys always have: the aggregates count those rows).
	row []cond
	// pre: predicates that every row matching a key in post satisfies;
	// they only narrow the candidates.
	pre []cond
	// mods: Modalities in Study keys without wild cards (any of the
	// values), matched exactly in SQL on the study's rows.
	mods [][]string
	// post: keys matched in Go on the record (its representative row or
	// its aggregates).
	post             []matcher
	combined         bool // Study Date and Study Time both ranges: MatchDateTime
	dateKey, timeKey string
	// driver, when set, is a query of row ids that includes every
	// matching row; the row selection starts from it (SQLite's planner,
	// without statistics, would rather walk a namespace index and test
	// each row).
	driver *cond
}

func (c *Catalog) plan(q Query) (*queryPlan, error) {
	p := &queryPlan{}
	var dateAttr *Attribute
	for _, k := range q.Keys {
		a, ok := attributeByTag[k.Tag]
		if !ok {
			return nil, &QueryError{Tag: k.Tag, Reason: "attribute is not indexed"}
		}
		if k.Value == "" {
			continue
		}
		if a.Tag == 0x00080060 && q.Level == LevelStudy {
			a = attributeByTag[0x00080061]
		}
		if a.Level.rank() > q.Level.rank() {
			return nil, &QueryError{Tag: k.Tag, Reason: fmt.Sprintf("%s is below the %s level", a.Keyword, q.Level)}
		}
		if a.column == "" && a.Level != q.Level {
			return nil, &QueryError{Tag: k.Tag, Reason: fmt.Sprintf("%s can only be matched at the %s level", a.Keyword, a.Level)}
		}
		if err := checkKey(a, k.Value); err != nil {
			return nil, &QueryError{Tag: k.Tag, Reason: err.Error()}
		}
		switch {
		case a.Tag == 0x00080061:
			if mods := nonEmpty(strings.Split(k.Value, `\`)); len(mods) > 0 && !strings.ContainsAny(k.Value, "*?") {
				p.mods = append(p.mods, mods)
			} else {
				p.post = append(p.post, matcher{a, k.Value})
			}
		case a.column == "":
			p.post = append(p.post, matcher{a, k.Value})
		case a.VR == "UI":
			uids := strings.Split(k.Value, `\`)
			r := cond{sql: "@." + a.column + " IN (?" + repeat(", ?", len(uids)-1) + ")"}
			for _, u := range uids {
				r.args = append(r.args, strings.TrimSpace(u))
			}
			p.row = append(p.row, r)
		case a.Tag == 0x00080020:
			p.dateKey, dateAttr = k.Value, a
		case a.Tag == 0x00080030:
			p.timeKey = k.Value
			p.post = append(p.post, matcher{a, k.Value})
		case a.Tag == 0x00100010 && q.FuzzyNames:
			if r, ok := c.fuzzyNameCond(k.Value); ok {
				p.pre = append(p.pre, r)
			}
			p.post = append(p.post, matcher{a, k.Value})
		case a.Tag == 0x00100010:
			kc := c.nameCond(q.Namespace, k.Value)
			p.add(kc, a, k.Value)
			if kc.ids != nil && !kc.none && p.driver == nil {
				p.driver = kc.ids
			}
		case a.VR == "PN" || a.VR == "DA" || a.VR == "TM" || a.VR == "DT":
			p.post = append(p.post, matcher{a, k.Value})
		case a.VR == "IS" || a.VR == "US":
			if strings.ContainsAny(k.Value, `*?\`) {
				p.post = append(p.post, matcher{a, k.Value})
				continue
			}
			n, _ := strconv.Atoi(strings.TrimSpace(k.Value))
			p.row = append(p.row, cond{"@." + a.column + " = ?", []any{n}})
		default:
			p.add(c.textCond(a.column, k.Value), a, k.Value)
		}
	}
	// Study Date and Study Time both range matched: one combined date-time
	// range (§C.2.2.2.5), matched in Go. A single value of either is
	// matched on its own ("20240105-20240220" with "1015" means 10:15 on
	// any of those days).
	p.combined = strings.Contains(p.dateKey, "-") && strings.Contains(p.timeKey, "-")
	switch {
	case p.combined:
		filtered := p.post[:0]
		for _, m := range p.post {
			if m.attr.Tag != 0x00080030 {
				filtered = append(filtered, m)
			}
		}
		p.post = filtered
	case dateAttr != nil:
		p.row = append(p.row, c.dateCond(p.dateKey))
	}
	return p, nil
}

// keyCond is the SQL form of one key: sql holds when a row matches (exact)
// or at least when it may match (!exact); none means no useful predicate
// (exact and none: the key matches every row).
type keyCond struct {
	c     cond
	exact bool
	none  bool
	ids   *cond // a query of row ids that includes every matching row
}

func (p *queryPlan) add(k keyCond, a *Attribute, key string) {
	switch {
	case k.exact && k.none:
	case k.exact:
		p.row = append(p.row, k.c)
	default:
		if !k.none {
			p.pre = append(p.pre, k.c)
		}
		p.post = append(p.post, matcher{a, key})
	}
}

func nonEmpty(vs []string) []string {
	out := vs[:0:0]
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// coll makes a comparison on a text column byte-wise on PostgreSQL (as
// SQLite's BINARY collation and Go's string order are).
func (c *Catalog) coll(col string) string {
	if c.d.name == "postgres" {
		return col + ` COLLATE "C"`
	}
	return col
}

// literalPrefix splits a wild card pattern (§C.2.2.2.4) at its first * or
// ?. onlyStars reports that the rest is one or more "*" only, so that the
// pattern matches exactly the values that start with prefix.
func literalPrefix(pattern string) (prefix string, wild, onlyStars bool) {
	i := strings.IndexAny(pattern, "*?")
	if i < 0 {
		return pattern, false, false
	}
	return pattern[:i], true, strings.Trim(pattern[i:], "*") == ""
}

// prefixEnd returns the least string greater than every string that
// starts with p (in byte order, which for UTF-8 is code point order): p
// with its last code point incremented. false when there is none.
func prefixEnd(p string) (string, bool) {
	r := []rune(p)
	for len(r) > 0 {
		last := r[len(r)-1]
		if last < utf8.MaxRune {
			next := last + 1
			if next >= 0xD800 && next <= 0xDFFF {
				next = 0xE000
			}
			r[len(r)-1] = next
			return string(r), true
		}
		r = r[:len(r)-1]
	}
	return "", false
}

// prefixCond: column starts with p, as an index range (no LIKE, so no
// escaping of % and _ and no case folding by the backend).
func (c *Catalog) prefixCond(col, p string) cond {
	col = c.coll("@." + col)
	hi, ok := prefixEnd(p)
	if !ok {
		return cond{col + " >= ?", []any{p}}
	}
	return cond{"(" + col + " >= ? AND " + col + " < ?)", []any{p, hi}}
}

// textCond compiles a key on a case-sensitive text column (LO, SH, CS,
// ...): single values and lists without wild cards exactly; patterns by
// their literal prefix (exactly when each is "prefix*").
func (c *Catalog) textCond(col, key string) keyCond {
	vals := strings.Split(key, `\`)
	if !strings.ContainsAny(key, "*?") {
		r := cond{sql: "@." + col + " IN (?" + repeat(", ?", len(vals)-1) + ")"}
		if len(vals) == 1 {
			r.sql = "@." + col + " = ?"
		}
		for _, v := range vals {
			r.args = append(r.args, v)
		}
		return keyCond{c: r, exact: true}
	}
	var cs []cond
	exact := true
	for _, v := range vals {
		prefix, wild, onlyStars := literalPrefix(v)
		switch {
		case !wild:
			cs = append(cs, cond{"@." + col + " = ?", []any{v}})
		case prefix == "" && onlyStars:
			return keyCond{exact: true, none: true} // "*" matches every value
		case prefix == "" || !utf8.ValidString(prefix):
			return keyCond{none: true}
		default:
			cs = append(cs, c.prefixCond(col, prefix))
			exact = exact && onlyStars
		}
	}
	return keyCond{c: orConds(cs), exact: exact}
}

// nameCond compiles a Patient's Name key (not fuzzy). matchPN matches the
// lower-cased key against the lower-cased whole value or any of its
// component groups, so a row can only match when one of
// patient_name_folded (the whole value, which starts with the first
// group), patient_name_folded2 or patient_name_folded3 starts with the
// key's literal prefix; for "prefix*" keys that is exactly the rule.
func (c *Catalog) nameCond(ns, key string) keyCond {
	var cs []cond
	exact := true
	for _, v := range strings.Split(key, `\`) {
		prefix, _, onlyStars := literalPrefix(strings.ToLower(v))
		switch {
		case prefix == "" && onlyStars:
			return keyCond{exact: true, none: true}
		case prefix == "" || !utf8.ValidString(prefix):
			return keyCond{none: true}
		}
		exact = exact && onlyStars
		for _, col := range []string{"patient_name_folded", "patient_name_folded2", "patient_name_folded3"} {
			r := c.prefixCond(col, prefix)
			cs = append(cs, cond{"SELECT id FROM instances WHERE namespace = ? AND " + strings.ReplaceAll(r.sql, "@.", ""), append([]any{ns}, r.args...)})
		}
	}
	// One index range per column and value, as a row id list: SQLite's
	// planner, without statistics, would rather walk a namespace index
	// than serve an OR of ranges.
	ids := joinConds(cs, " UNION ")
	return keyCond{c: cond{"@.id IN (" + ids.sql + ")", ids.args}, exact: exact, ids: &ids}
}

// fuzzyNameCond: with fuzzy matching every name part of the key without
// wild cards is a prefix of a name part of the value, so a substring of
// FoldName(value) (patient_name_fuzzy).
func (c *Catalog) fuzzyNameCond(key string) (cond, bool) {
	if strings.Contains(key, `\`) {
		return cond{}, false
	}
	fn := "instr(@.patient_name_fuzzy, ?) > 0"
	if c.d.name == "postgres" {
		fn = "strpos(@.patient_name_fuzzy, ?) > 0"
	}
	var out cond
	var parts []string
	for _, k := range nameParts(key) {
		if strings.ContainsAny(k, "*?") || !utf8.ValidString(k) {
			continue
		}
		parts = append(parts, fn)
		out.args = append(out.args, k)
	}
	if len(parts) == 0 {
		return cond{}, false
	}
	out.sql = "(" + strings.Join(parts, " AND ") + ")"
	return out, true
}

// dateCond matches Study Date exactly as matchRange does, on
// study_date_norm (normDate of the value).
func (c *Catalog) dateCond(key string) cond {
	col := c.coll("@.study_date_norm")
	r := cond{sql: "@.study_date_norm <> ''"}
	lo, hi, isRange := strings.Cut(key, "-")
	if !isRange {
		r.sql += " AND @.study_date_norm = ?"
		r.args = append(r.args, normDate(key))
		return r
	}
	if lo != "" {
		r.sql += " AND " + col + " >= ?"
		r.args = append(r.args, normDate(lo))
	}
	if hi != "" {
		r.sql += " AND " + col + " <= ?"
		r.args = append(r.args, normDate(hi))
	}
	return r
}

// orderBy renders an ORDER BY list in which text columns compare by bytes
// on every backend: SQLite's default BINARY collation, and COLLATE "C" on
// PostgreSQL, whose database collation (en_US.UTF-8, say) would otherwise
// sort "a1" before "B2" and page differently from SQLite.
func (c *Catalog) orderBy(cols ...string) string {
	out := make([]string, len(cols))
	for i, col := range cols {
		out[i] = col
		if c.d.name == "postgres" && !numericCols[strings.TrimPrefix(strings.TrimPrefix(col, "i."), "r.")] {
			out[i] += ` COLLATE "C"`
		}
	}
	return strings.Join(out, ", ")
}

var numericCols = map[string]bool{"id": true, "instance_number": true, "series_number": true}

func (c *Catalog) aggModalities() string {
	if c.d.name == "postgres" {
		return `STRING_AGG(DISTINCT i.modality, ',')`
	}
	return `GROUP_CONCAT(DISTINCT i.modality)`
}

func splitModalities(s string) []string {
	var out []string
	for _, m := range strings.Split(s, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

func (r *Record) matches(ms []matcher, fuzzy bool) bool {
	for _, m := range ms {
		if m.attr.Tag == 0x00080061 {
			if !matchAnyOf(m.key, r.ModalitiesInStudy) {
				return false
			}
			continue
		}
		if !MatchValue(m.attr.VR, m.key, m.attr.get(r), fuzzy) {
			return false
		}
	}
	return true
}

// matchAnyOf matches a (possibly multi-valued, wildcarded) key against a
// multi-valued attribute: any key value against any attribute value.
func matchAnyOf(key string, values []string) bool {
	for _, k := range strings.Split(key, `\`) {
		for _, v := range values {
			if dcm.Wildcard(k, v) {
				return true
			}
		}
	}
	return false
}

func checkKey(a *Attribute, key string) error {
	switch a.VR {
	case "DA", "TM", "DT":
		lo, hi, isRange := strings.Cut(key, "-")
		if !isRange {
			hi = lo
		}
		if strings.Count(key, "-") > 1 || (lo == "" && hi == "") {
			return errors.New("range must be a-b, -b or a-")
		}
		for _, s := range []string{lo, hi} {
			if strings.ContainsFunc(s, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.' || r == ':') }) {
				return fmt.Errorf("%s value must be digits", a.VR)
			}
		}
	case "IS", "US":
		if _, err := strconv.Atoi(strings.TrimSpace(key)); err != nil && !strings.ContainsAny(key, `*?\`) {
			return errors.New("value must be an integer")
		}
	}
	return nil
}

// MatchValue reports whether an attribute value matches a key under the
// rules of PS3.4 §C.2.2.2 for its VR: universal ("" key), list of values
// (backslash-separated, any may match), wild card, range (DA, TM, DT) and
// single value matching. PN matches case-insensitively against the whole
// value or any component group; fuzzy selects fuzzy person name matching.
func MatchValue(vr, key, value string, fuzzy bool) bool {
	if key == "" {
		return true
	}
	switch vr {
	case "DA":
		return matchRange(key, normDate(value), normDate, normDate)
	case "TM":
		return matchRange(key, normTime(value, false), func(s string) string { return normTime(s, false) }, func(s string) string { return normTime(s, true) })
	case "PN":
		for _, k := range strings.Split(key, `\`) {
			if matchPN(k, value, fuzzy) {
				return true
			}
		}
		return false
	}
	for _, k := range strings.Split(key, `\`) {
		if dcm.Wildcard(k, value) {
			return true
		}
	}
	return false
}

// MatchDateTime is the combined date-time range matching of §C.2.2.2.5 for
// a date key and a time key against a date and a time value. Find uses it
// only when both keys are ranges.
func MatchDateTime(dateKey, timeKey, date, tm string) bool {
	dlo, dhi, dr := strings.Cut(dateKey, "-")
	if !dr {
		dhi = dlo
	}
	tlo, thi, tr := strings.Cut(timeKey, "-")
	if !tr {
		thi = tlo
	}
	d := normDate(date)
	if d == "" {
		return false
	}
	v := d + normTime(tm, false)
	if dlo != "" {
		lo := normDate(dlo) + normTime(tlo, false)
		if v < lo {
			return false
		}
	}
	if dhi != "" {
		hi := normDate(dhi) + normTime(thi, true)
		if thi == "" {
			hi = normDate(dhi) + "235959.999999"
		}
		if v > hi {
			return false
		}
	}
	return true
}

func matchRange(key, value string, lower, upper func(string) string) bool {
	if value == "" {
		return false
	}
	lo, hi, isRange := strings.Cut(key, "-")
	if !isRange {
		return lower(key) <= value && value <= upper(key)
	}
	if lo != "" && value < lower(lo) {
		return false
	}
	if hi != "" && value > upper(hi) {
		return false
	}
	return true
}

// normDate removes the separators of the ACR-NEMA form "1994.01.30".
func normDate(s string) string {
	return strings.NewReplacer(".", "", "-", "", " ", "").Replace(strings.TrimSpace(s))
}

// normTime returns HHMMSS.FFFFFF, filling missing components with zeros
// (lower bound) or with their maximum (upper bound, so that "1200" includes
// 12:00:59). The ACR-NEMA form "11:25:01" is accepted.
func normTime(s string, upper bool) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	if s == "" {
		return ""
	}
	whole, frac, _ := strings.Cut(s, ".")
	fill := "000000"
	if upper {
		fill = "235959"
	}
	if len(whole) < 6 {
		whole += fill[len(whole):]
	}
	if upper && frac == "" {
		frac = "999999"
	}
	for len(frac) < 6 {
		frac += "0"
	}
	return whole[:6] + "." + frac[:6]
}

func matchPN(key, value string, fuzzy bool) bool {
	if fuzzy {
		return fuzzyPN(key, value)
	}
	k := strings.ToLower(key)
	v := strings.ToLower(value)
	if dcm.Wildcard(k, v) {
		return true
	}
	if strings.Contains(k, "=") {
		return false
	}
	for _, g := range strings.SplitN(v, "=", 3) { // three component groups; derived.go indexes the same
		if g != "" && dcm.Wildcard(k, strings.TrimRight(g, "^")) || g != "" && dcm.Wildcard(k, g) {
			return true
		}
	}
	return false
}

// FoldName lower-cases s and removes diacritics (NFD, combining marks
// dropped), for fuzzy person name matching.
func FoldName(s string) string {
	d := norm.NFD.String(s)
	var b strings.Builder
	for _, r := range d {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return norm.NFC.String(b.String())
}

func nameParts(s string) []string {
	return strings.FieldsFunc(FoldName(s), func(r rune) bool {
		return r == '^' || r == '=' || r == ',' || r == '-' || r == '.' || unicode.IsSpace(r) ||
			!(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '*' || r == '?')
	})
}

func fuzzyPN(key, value string) bool {
	kp := nameParts(key)
	if len(kp) == 0 {
		return true
	}
	vp := nameParts(value)
	for _, k := range kp {
		found := false
		for _, v := range vp {
			if dcm.Wildcard(k+"*", v) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// InstancesOf returns the newest version of every instance of a study, a
// series of it or one instance (series and sop may be ""), ordered like
// IMAGE-level Find, for retrieval (WADO-RS, C-MOVE, C-GET). An unknown
// study, series or instance gives an empty slice.
func (c *Catalog) InstancesOf(ctx context.Context, ns, study, series, sop string) ([]Instance, error) {
	q := `SELECT i.id, ` + prefixCols("i.", instanceCols) + ` FROM instances i WHERE i.namespace = ? AND i.study_instance_uid = ?`
	args := []any{ns, study}
	if series != "" {
		q += ` AND i.series_instance_uid = ?`
		args = append(args, series)
	}
	if sop != "" {
		q += ` AND i.sop_instance_uid = ?`
		args = append(args, sop)
	}
	q += ` AND NOT EXISTS (SELECT 1 FROM instances n WHERE n.namespace = i.namespace
		AND n.sop_instance_uid = i.sop_instance_uid AND n.version > i.version)
		ORDER BY ` + c.orderBy("i.series_instance_uid", "i.instance_number", "i.sop_instance_uid")
	rows, err := c.r.QueryContext(ctx, c.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: instances of: %w", err)
	}
	return scanInstances(rows, "instances of")
}

// noIdx writes a column so that SQLite does not use an index for the
// predicate on it ("+col").
func (c *Catalog) noIdx(col string) string {
	if c.d.name == "sqlite" {
		return "+" + col
	}
	return col
}
