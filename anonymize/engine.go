package anonymize

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/sonogate/sonogate/dcm"
)

// Tags the engine treats specially.
const (
	tagPatientIdentityRemoved   = dcm.Tag(0x00120062)
	tagDeidentificationMethod   = dcm.Tag(0x00120063)
	tagDeidentificationCodeSeq  = dcm.Tag(0x00120064)
	tagLongitudinalTemporalMod  = dcm.Tag(0x00280303)
	tagBurnedInAnnotation       = dcm.Tag(0x00280301)
	tagValueType                = dcm.Tag(0x0040A040)
	tagTextValue                = dcm.Tag(0x0040A160)
	tagContentSequence          = dcm.Tag(0x0040A730)
	tagCodeValue                = dcm.Tag(0x00080100)
	tagCodingSchemeDesignator   = dcm.Tag(0x00080102)
	tagCodeMeaning              = dcm.Tag(0x00080104)
	tagSequenceOfUltrasoundRegs = dcm.Tag(0x00186011)
	tagOtherPatientNames        = dcm.Tag(0x00101001)
)

// type1 lists Z/D attributes that are Type 1 in an IOD the gateway
// handles (SR Document General Module: Content Date and Time), so D is
// required there; other Z/D attributes get Z (PS3.15 E.1.1: choose Z
// unless D is needed for IOD conformance).
var type1 = map[dcm.Tag]bool{
	0x00080023: true, // ContentDate
	0x00080033: true, // ContentTime
}

// type2InSR lists sequences that the Basic Profile empties or removes (X/Z,
// X/Z/D) and that the SR Document General Module requires as Type 2: an
// SR keeps them present and empty. Elsewhere they are Type 3 (General
// Study, General Series), where a present but empty sequence breaks the
// module, so they are removed.
var type2InSR = map[dcm.Tag]bool{
	0x00081111: true, // Referenced Performed Procedure Step Sequence
}

// job is the de-identification of one instance.
type job struct {
	p         *Profile
	sr        bool // an SR document (SOP class 1.2.840.10008.5.1.4.1.1.88.*)
	ctx       context.Context
	shift     int
	shifting  bool
	pseudo    Pseudonym
	hasPseudo bool
	redact    []string
	redactRE  *regexp.Regexp
	err       error
}

// resolve turns a table row into the action for this profile: an enabled
// option's C wins over its K, either wins over the Basic Profile code.
func (p *Profile) resolve(r rule) string {
	act := r.basic
	keep := false
	for o := 0; o < numTableOptions; o++ {
		if !p.opts[o] {
			continue
		}
		switch r.opt[o] {
		case 'C':
			return "C"
		case 'K':
			keep = true
		}
	}
	if keep {
		return "K"
	}
	return act
}

// actionFor returns the single action (X, Z, D, K, C or U) for element e,
// choosing among the combined codes as documented in OPTIONS.md: when an
// attribute is present we keep it present if the code allows (Z for X/Z,
// D for X/D and X/Z/D), because the source IOD may require it and an empty
// or dummy value carries no information. Sequences under X/Z and X/Z/D
// are removed unless the IOD needs them as Type 2 (type2InSR), where they
// become empty; under X/D they are removed (a dummy item would be invented
// data); X/Z/U* sequences are kept with their UIDs replaced.
func (p *Profile) actionFor(t dcm.Tag, isSeq, sr bool) string {
	r, ok := annexE[uint32(t)]
	if !ok {
		return "K"
	}
	act := p.resolve(r)
	switch act {
	case "X/Z":
		if isSeq && !(sr && type2InSR[t]) {
			return "X"
		}
		return "Z"
	case "X/Z/D":
		if isSeq && !type1[t] {
			if sr && type2InSR[t] {
				return "Z" // an empty sequence satisfies Type 2 and holds nothing
			}
			return "X"
		}
		return "D"
	case "X/D":
		if isSeq && !type1[t] {
			return "X"
		}
		return "D"
	case "Z/D":
		if type1[t] {
			return "D"
		}
		return "Z"
	case "X/Z/U*":
		return "U"
	}
	return act
}

// normalize prepares a parsed tree: standard attributes encoded as UN get
// their dictionary VR (CP-246 sequences are parsed as implicit VR little
// endian items), and every text value is decoded to UTF-8 with the
// character set in force where it stands (PS3.5 §6.1). Elements that must
// go because they cannot be interpreted are removed.
func normalize(ds *dcm.Dataset, depth int) {
	cs := ds.Charset()
	out := ds.Elements[:0]
	for _, e := range ds.Elements {
		if (e.VR == dcm.UN || e.VR == "") && !e.Tag.IsPrivate() && e.Tag.Group() != 0xFFFE {
			dv := dcm.DictionaryVR(e.Tag)
			switch {
			case dv == dcm.SQ && e.Kind == dcm.KindValue:
				items, ok := parseUNSequence(e)
				if !ok {
					continue // cannot see inside: it goes
				}
				e.Kind, e.VR, e.Items, e.Value = dcm.KindSequence, dcm.SQ, items, nil
				for _, it := range items {
					it.Parent = ds
				}
			case dv == dcm.SQ:
				e.VR = dcm.SQ
			case dv != "" && dv != dcm.UN && e.Kind == dcm.KindValue:
				e.VR = dv
			}
		}
		if e.Kind == dcm.KindValue && !e.Skipped && e.VR.IsText() {
			e.Value = []byte(cs.Decode(e.Value))
		}
		for _, it := range e.Items {
			normalize(it, depth+1)
		}
		out = append(out, e)
	}
	ds.Elements = out
}

// parseUNSequence reads the value of a defined-length UN element whose
// dictionary VR is SQ as implicit VR little endian items (PS3.5 §6.2.2).
func parseUNSequence(e *dcm.Element) ([]*dcm.Dataset, bool) {
	if e.Skipped {
		return nil, false
	}
	var b bytes.Buffer
	var h [8]byte
	binary.LittleEndian.PutUint16(h[:], e.Tag.Group())
	binary.LittleEndian.PutUint16(h[2:], e.Tag.Element())
	binary.LittleEndian.PutUint32(h[4:], dcm.UndefinedLength)
	b.Write(h[:])
	b.Write(e.Value)
	b.Write([]byte{0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0})
	ds, err := dcm.Parse(bytes.NewReader(b.Bytes()), dcm.ImplicitVRLittleEndian, dcm.Options{Size: int64(b.Len())})
	if err != nil || len(ds.Elements) != 1 || ds.Elements[0].Kind != dcm.KindSequence {
		return nil, false
	}
	return ds.Elements[0].Items, true
}

// collectIdentifiers gathers words of identifying values (names, IDs,
// institution, station, birth date in several spellings) to redact from
// descriptions that Clean Descriptors keeps.
func (j *job) collectIdentifiers(ds *dcm.Dataset) {
	seen := map[string]bool{}
	add := func(s string) {
		s = strings.TrimSpace(s)
		if len([]rune(s)) < 3 || seen[strings.ToLower(s)] {
			return
		}
		seen[strings.ToLower(s)] = true
		j.redact = append(j.redact, s)
	}
	var walk func(d *dcm.Dataset)
	walk = func(d *dcm.Dataset) {
		for _, e := range d.Elements {
			if e.Kind == dcm.KindSequence {
				for _, it := range e.Items {
					walk(it)
				}
				continue
			}
			if e.Kind != dcm.KindValue || e.Skipped || e.Tag.IsPrivate() {
				continue
			}
			act := j.p.actionFor(e.Tag, false, j.sr)
			if act == "K" || act == "C" {
				continue
			}
			switch e.VR {
			case dcm.PN, dcm.LO, dcm.SH, dcm.AE, dcm.UC:
				whole := strings.TrimRight(string(e.Value), " \x00")
				for _, v := range strings.FieldsFunc(whole, func(r rune) bool { return r == '\\' || r == '=' }) {
					add(v)
					for _, w := range strings.FieldsFunc(v, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
						add(w)
					}
				}
			case dcm.DA:
				for _, v := range strings.Split(strings.TrimSpace(string(e.Value)), `\`) {
					if len(v) == 8 {
						add(v)
						add(v[:4] + "-" + v[4:6] + "-" + v[6:])
						add(v[6:] + "." + v[4:6] + "." + v[:4])
						add(v[4:6] + "/" + v[6:] + "/" + v[:4])
						add(v[6:] + "/" + v[4:6] + "/" + v[:4])
					}
				}
			}
		}
	}
	walk(ds)
	// Longest first so that a full name is replaced before its parts.
	slices.SortFunc(j.redact, func(a, b string) int { return len(b) - len(a) })
}

// cleanText removes every collected identifying word from s (Clean
// Descriptors, PS3.15 E.3.5).
func (j *job) cleanText(s string) string {
	if len(j.redact) == 0 {
		return s
	}
	if j.redactRE == nil {
		quoted := make([]string, len(j.redact))
		for i, w := range j.redact {
			quoted[i] = regexp.QuoteMeta(w)
		}
		j.redactRE = regexp.MustCompile(`(?i)` + strings.Join(quoted, "|"))
	}
	return j.redactRE.ReplaceAllString(s, "***")
}

// dataset applies the profile to every element of ds, at every depth.
func (j *job) dataset(ds *dcm.Dataset, depth int) {
	creators := map[uint32]string{}
	for _, e := range ds.Elements {
		if e.Tag.IsPrivateCreator() && e.Kind == dcm.KindValue {
			creators[uint32(e.Tag.Group())<<8|uint32(e.Tag.Element())] = strings.TrimRight(string(e.Value), " \x00")
		}
	}
	keptBlocks := map[uint32]bool{}
	out := ds.Elements[:0]
	for _, e := range ds.Elements {
		if j.element(ds, e, depth, creators, keptBlocks) {
			out = append(out, e)
		}
	}
	// Private creators stay only for blocks with a kept element.
	final := out[:0]
	for _, e := range out {
		if e.Tag.IsPrivateCreator() && !keptBlocks[uint32(e.Tag.Group())<<8|uint32(e.Tag.Element())] {
			continue
		}
		final = append(final, e)
	}
	ds.Elements = final
	j.contentItem(ds)
}

// safePrivate reports whether a private element is on the safe list.
func (p *Profile) safePrivateKeeps(group uint16, creator string, offset uint8) bool {
	if !p.opts[RetainSafePrivate] || creator == "" {
		return false
	}
	for _, r := range p.safePrivate {
		if (r.group == 0 || r.group == group) && r.creator == creator && (r.elements == nil || r.elements[offset]) {
			return true
		}
	}
	return false
}

// element applies the action of one element; it returns false to drop it.
func (j *job) element(ds *dcm.Dataset, e *dcm.Element, depth int, creators map[uint32]string, keptBlocks map[uint32]bool) bool {
	t := e.Tag
	g, el := t.Group(), t.Element()
	switch {
	case g == 0x0000 || g == 0x0002 || g == 0x0004 || el == 0x0000:
		return false // command, file meta, directory and group length elements
	case g == 0xFFFA || g == 0xFFFC || g == 0x4FFE:
		return false // digital signatures, padding, MAC parameters: invalid after change
	case g&1 == 1:
		if t.IsPrivateCreator() {
			return true // decided once the block's elements are known
		}
		if g < 0x0009 || g == 0xFFFF || el < 0x1000 {
			return false
		}
		block := uint32(g)<<8 | uint32(el>>8)
		if !j.p.safePrivateKeeps(g, creators[block], uint8(el)) {
			return false
		}
		keptBlocks[block] = true
		j.items(e, depth)
		return true
	case g&0xFF00 == 0x5000:
		return false // curve data (50xx,xxxx): X
	case g&0xFF00 == 0x6000 && g <= 0x601E:
		// Overlay data and comments are X (Clean Graphics: C). An overlay
		// bitmap may hold burned-in text and cannot be told apart from
		// graphics, so the whole overlay group goes; keeping its other
		// attributes without (60xx,3000) would break the Overlay Plane
		// Module.
		return false
	case t == dcm.TagSpecificCharacterSet:
		return depth == 0 // rewritten as ISO_IR 192 at the top
	case t == tagPatientIdentityRemoved || t == tagDeidentificationMethod || t == tagDeidentificationCodeSeq || t == tagLongitudinalTemporalMod:
		return depth != 0 // replaced at the top level by mark
	}
	isSeq := e.Kind == dcm.KindSequence && !e.Encapsulated
	if e.Kind == dcm.KindSequence && e.Encapsulated {
		return true // pixel data: handled by the pixel stage
	}
	act := j.p.actionFor(t, isSeq, j.sr)
	if depth == 0 && j.hasPseudo && act != "K" {
		switch t {
		case dcm.TagPatientID:
			setString(e, j.pseudo.ID)
			return true
		case dcm.TagPatientName:
			setString(e, j.pseudo.Name)
			return true
		}
	}
	switch act {
	case "X":
		return false
	case "Z":
		if isSeq {
			e.Items = nil
		} else {
			setValue(e, []byte{})
		}
		return true
	case "D":
		if isSeq {
			j.items(e, depth)
			return true
		}
		if e.VR == dcm.UI {
			j.mapUIDs(e)
			return true
		}
		if (e.VR == dcm.DA || e.VR == dcm.DT) && j.shifting {
			// D on a date the option did not claim still must not leak it.
			setValue(e, dummy(e.VR))
			return true
		}
		setValue(e, dummy(e.VR))
		return true
	case "U":
		if isSeq {
			j.items(e, depth)
			return true
		}
		if e.VR == dcm.UI || e.VR == dcm.UN {
			j.mapUIDs(e)
			return true
		}
		setValue(e, dummy(e.VR))
		return true
	case "C":
		if isSeq {
			j.items(e, depth)
			return true
		}
		return j.clean(e)
	}
	// K
	if isSeq {
		j.items(e, depth)
		return true
	}
	if j.shifting && (e.VR == dcm.DA || e.VR == dcm.DT) && !e.Skipped {
		setValue(e, []byte(shiftDates(string(e.Value), e.VR, j.shift)))
	}
	return true
}

// items applies the profile inside every item of a sequence.
func (j *job) items(e *dcm.Element, depth int) {
	kept := e.Items[:0]
	for _, it := range e.Items {
		j.dataset(it, depth+1)
		if it.Find(tagValueType) != nil && dropContentItem(it) && !j.p.opts[CleanStructCont] && e.Tag == tagContentSequence {
			continue
		}
		kept = append(kept, it)
	}
	e.Items = kept
}

// dropContentItem reports content items that carry free values (text,
// names, dates) rather than coded or numeric content.
func dropContentItem(it *dcm.Dataset) bool {
	switch strings.TrimSpace(string(it.Find(tagValueType).Value)) {
	case "TEXT", "PNAME", "DATE", "TIME", "DATETIME":
		return true
	}
	return false
}

// contentItem cleans the value of an SR content item (PS3.3 C.17.3) per
// Clean Structured Content (PS3.15 E.3.4): CODE, NUM and CONTAINER items
// and concept names stay; TEXT values are replaced; PNAME, DATE, TIME,
// DATETIME and UIDREF values were already handled by their rows of Table
// E.1-1 (D, D/shift, U).
func (j *job) contentItem(ds *dcm.Dataset) {
	vt := ds.Find(tagValueType)
	if vt == nil {
		return
	}
	if tv := ds.Find(tagTextValue); tv != nil && tv.Kind == dcm.KindValue {
		setValue(tv, []byte("ANONYMIZED"))
	}
}

// clean implements C for a value: dates are shifted, text is redacted,
// UIDs mapped, AE titles replaced.
func (j *job) clean(e *dcm.Element) bool {
	if e.Skipped {
		return false
	}
	switch e.VR {
	case dcm.DA, dcm.DT:
		if j.shifting {
			setValue(e, []byte(shiftDates(string(e.Value), e.VR, j.shift)))
		}
		return true
	case dcm.TM:
		return true // whole-day shifts keep times
	case dcm.UI:
		j.mapUIDs(e)
		return true
	case dcm.AE:
		setValue(e, dummy(e.VR))
		return true
	case dcm.LO, dcm.SH, dcm.ST, dcm.LT, dcm.UT, dcm.UC, dcm.PN:
		setValue(e, []byte(j.cleanText(string(e.Value))))
		return true
	}
	return true
}

func (j *job) mapUIDs(e *dcm.Element) {
	if e.Skipped {
		setValue(e, []byte(j.p.MapUID("skipped")))
		return
	}
	vals := strings.Split(strings.TrimRight(string(e.Value), "\x00 "), `\`)
	for i, v := range vals {
		vals[i] = j.p.MapUID(v)
	}
	e.VR = dcm.UI
	setValue(e, []byte(strings.Join(vals, `\`)))
}

func setValue(e *dcm.Element, v []byte) {
	e.Value = v
	e.Skipped = false
	e.Length = uint32(len(v))
	e.BigEndian = false
}

func setString(e *dcm.Element, s string) { setValue(e, []byte(s)) }

// dummy returns a replacement value for D: non-empty and valid for the
// VR, carrying no information.
func dummy(vr dcm.VR) []byte {
	switch vr {
	case dcm.DA:
		return []byte("19000101")
	case dcm.TM:
		return []byte("000000")
	case dcm.DT:
		return []byte("19000101000000")
	case dcm.AS:
		return []byte("000D")
	case dcm.DS, dcm.IS:
		return []byte("0")
	case dcm.AE, dcm.CS:
		return []byte("ANONYMIZED")
	case dcm.UR:
		return []byte("urn:anonymized")
	case dcm.LO, dcm.SH, dcm.LT, dcm.ST, dcm.UT, dcm.UC, dcm.PN:
		return []byte("ANONYMIZED")
	case dcm.UI:
		return []byte("2.25.0")
	}
	n := vr.WordSize()
	if n < 2 {
		n = 2
	}
	return make([]byte, n)
}

// shiftDates moves every date in a DA or DT value (several values and
// ranges included) by days, keeping the precision written.
func shiftDates(v string, vr dcm.VR, days int) string {
	vals := strings.Split(strings.TrimRight(v, " \x00"), `\`)
	for i, val := range vals {
		parts := strings.Split(val, "-")
		if vr == dcm.DT {
			// A DT range is "a-b"; a DT offset is "&ZZXX" with + or -, so
			// '-' splits ranges only when both halves start with a digit.
			parts = splitDTRange(val)
		}
		for k, p := range parts {
			parts[k] = shiftOne(strings.TrimSpace(p), days)
		}
		vals[i] = strings.Join(parts, "-")
	}
	return strings.Join(vals, `\`)
}

func splitDTRange(v string) []string {
	// DT values are at least 4 digits; a '-' at index >= 4 right after a
	// date/time digit and followed by a digit that starts a year (or
	// nothing) is a range separator, unless it is a UTC offset (5 chars
	// after it, and the part before has 14+ digits).
	for i := 4; i < len(v); i++ {
		if v[i] != '-' {
			continue
		}
		rest := v[i+1:]
		before := v[:i]
		if len(rest) == 4 && allDigits(rest) && len(before) >= 10 {
			continue // UTC offset -ZZXX
		}
		return []string{before, rest}
	}
	return []string{v}
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// shiftOne shifts a DA or the date part of a DT (YYYY, YYYYMM, YYYYMMDD
// precision), keeping the rest of the value.
func shiftOne(v string, days int) string {
	if v == "" {
		return v
	}
	n := 0
	for n < len(v) && n < 8 && v[n] >= '0' && v[n] <= '9' {
		n++
	}
	if n < 4 {
		return "19000101" // not a date we can read: do not leak it
	}
	digits := v[:n]
	y, m, d := atoi(digits[:4]), 1, 1
	switch {
	case n >= 8:
		m, d = atoi(digits[4:6]), atoi(digits[6:8])
	case n >= 6:
		m = atoi(digits[4:6])
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, days)
	var out string
	switch {
	case n >= 8:
		out = t.Format("20060102")
	case n >= 6:
		out = t.Format("200601")
	default:
		out = t.Format("2006")
	}
	return out + v[min(n, len(v)):]
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

// mark adds the de-identification attributes (PS3.15 E.1.1, PS3.3
// C.12.1.1.8 Patient Identity Removed, De-identification Method and Code
// Sequence; C.7.6.1 Longitudinal Temporal Information Modified) and sets
// the character set to ISO_IR 192 for the UTF-8 text.
func (j *job) mark(ds *dcm.Dataset) {
	set := func(t dcm.Tag, vr dcm.VR, v string) {
		if e := ds.Find(t); e != nil {
			e.VR, e.Kind, e.Items = vr, dcm.KindValue, nil
			setString(e, v)
			return
		}
		ds.Elements = append(ds.Elements, &dcm.Element{Tag: t, VR: vr, Kind: dcm.KindValue, Value: []byte(v), Length: uint32(len(v))})
	}
	set(dcm.TagSpecificCharacterSet, dcm.CS, "ISO_IR 192")
	set(tagPatientIdentityRemoved, dcm.CS, "YES")
	methods := []string{basicProfileMeaning}
	items := []*dcm.Dataset{codeItem(basicProfileCode, basicProfileMeaning)}
	for o := Option(0); o < numOptions; o++ {
		if j.p.opts[o] {
			methods = append(methods, cid7050[o].meaning)
			items = append(items, codeItem(cid7050[o].code, cid7050[o].meaning))
		}
	}
	set(tagDeidentificationMethod, dcm.LO, strings.Join(methods, `\`))
	if e := ds.Find(tagDeidentificationCodeSeq); e != nil {
		e.Kind, e.VR, e.Items, e.Value = dcm.KindSequence, dcm.SQ, items, nil
	} else {
		ds.Elements = append(ds.Elements, &dcm.Element{Tag: tagDeidentificationCodeSeq, VR: dcm.SQ, Kind: dcm.KindSequence, Items: items})
	}
	switch {
	case j.shifting:
		set(tagLongitudinalTemporalMod, dcm.CS, "MODIFIED")
	case j.p.opts[RetainLongFullDates]:
		set(tagLongitudinalTemporalMod, dcm.CS, "UNMODIFIED")
	default:
		set(tagLongitudinalTemporalMod, dcm.CS, "REMOVED")
	}
	sortElements(ds)
}

func codeItem(code, meaning string) *dcm.Dataset {
	return &dcm.Dataset{Elements: []*dcm.Element{
		{Tag: tagCodeValue, VR: dcm.SH, Kind: dcm.KindValue, Value: []byte(code)},
		{Tag: tagCodingSchemeDesignator, VR: dcm.SH, Kind: dcm.KindValue, Value: []byte("DCM")},
		{Tag: tagCodeMeaning, VR: dcm.LO, Kind: dcm.KindValue, Value: []byte(meaning)},
	}}
}

func sortElements(ds *dcm.Dataset) {
	slices.SortStableFunc(ds.Elements, func(a, b *dcm.Element) int {
		switch {
		case a.Tag < b.Tag:
			return -1
		case a.Tag > b.Tag:
			return 1
		}
		return 0
	})
}

// apply runs the whole header pipeline on a parsed data set. It needs the
// real patient ID for the pseudonym and date shift.
func (p *Profile) apply(ctx context.Context, ds *dcm.Dataset) (*job, error) {
	normalize(ds, 0)
	j := &job{p: p, ctx: ctx, sr: strings.HasPrefix(ds.String(dcm.TagSOPClassUID), "1.2.840.10008.5.1.4.1.1.88.")}
	realID := ds.String(dcm.TagPatientID)
	realName := ds.String(dcm.TagPatientName)
	if p.opts[RetainLongModifiedDates] {
		j.shifting = true
		j.shift = p.DateShiftDays(realID)
	}
	ps, err := p.Pseudonym(ctx, realID, realName)
	if err != nil {
		return nil, err
	}
	j.pseudo, j.hasPseudo = ps, true
	j.collectIdentifiers(ds)
	j.dataset(ds, 0)
	if ds.Find(dcm.TagPatientID) == nil {
		ds.Elements = append(ds.Elements, &dcm.Element{Tag: dcm.TagPatientID, VR: dcm.LO, Kind: dcm.KindValue, Value: []byte(ps.ID)})
	}
	if ds.Find(dcm.TagPatientName) == nil {
		ds.Elements = append(ds.Elements, &dcm.Element{Tag: dcm.TagPatientName, VR: dcm.PN, Kind: dcm.KindValue, Value: []byte(ps.Name)})
	}
	j.mark(ds)
	if j.err != nil {
		return nil, j.err
	}
	return j, nil
}

var _ = fmt.Sprintf
