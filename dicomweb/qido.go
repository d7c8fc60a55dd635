package dicomweb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/dcm"
)

// Limits of a search: the default and the largest page.
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
)

// qidoRequest is a parsed QIDO-RS query (PS3.18 §8.3.4, §10.6.1).
type qidoRequest struct {
	Query        catalog.Query
	IncludeAll   bool
	IncludeTags  []uint32
	Unsupported  []string // keys ignored (answered with a 299 warning)
	limitClamped bool
}

// parseQIDO turns query parameters into a catalog query at level, with
// the UIDs from the path as keys. It returns an error for input that
// cannot be a valid query (answered 400 with the message).
func parseQIDO(v url.Values, level catalog.Level, study, series string) (qidoRequest, error) {
	req := qidoRequest{Query: catalog.Query{Level: level, Limit: DefaultLimit}}
	keys := map[uint32]string{}
	order := []uint32{}
	add := func(tag uint32, val string) {
		if old, ok := keys[tag]; ok && old != "" && val != "" {
			val = old + `\` + val
		} else if !ok {
			order = append(order, tag)
		}
		keys[tag] = val
	}
	for name, vals := range v {
		switch strings.ToLower(name) {
		case "limit", "offset":
			n, err := strconv.Atoi(vals[0])
			if err != nil || n < 0 {
				return req, fmt.Errorf("%s must be a whole number, 0 or more", name)
			}
			if strings.EqualFold(name, "limit") {
				if n > MaxLimit || n == 0 {
					n, req.limitClamped = MaxLimit, n > MaxLimit
				}
				req.Query.Limit = n
			} else {
				req.Query.Offset = n
			}
			continue
		case "fuzzymatching":
			switch strings.ToLower(vals[0]) {
			case "true":
				req.Query.FuzzyNames = true
			case "false", "":
			default:
				return req, errors.New("fuzzymatching must be true or false")
			}
			continue
		case "includefield":
			for _, val := range vals {
				for _, f := range strings.Split(val, ",") {
					f = strings.TrimSpace(f)
					if f == "" {
						continue
					}
					if strings.EqualFold(f, "all") {
						req.IncludeAll = true
						continue
					}
					t, err := parseAttrID(f)
					if err != nil {
						req.Unsupported = append(req.Unsupported, f)
						continue
					}
					req.IncludeTags = append(req.IncludeTags, t)
				}
			}
			continue
		case "_", "format", "charset", "accept":
			continue
		}
		tag, err := parseAttrID(name)
		if err != nil {
			return req, fmt.Errorf("unknown query key %q", name)
		}
		a, ok := catalog.LookupAttribute(tag)
		if !ok {
			req.Unsupported = append(req.Unsupported, name)
			continue
		}
		for _, val := range vals {
			if a.VR == "UI" {
				val = strings.ReplaceAll(val, ",", `\`)
			}
			add(tag, val)
		}
	}
	if study != "" {
		add(0x0020000D, study)
	}
	if series != "" {
		add(0x0020000E, series)
	}
	for _, t := range order {
		req.Query.Keys = append(req.Query.Keys, catalog.MatchKey{Tag: t, Value: keys[t]})
	}
	return req, nil
}

// parseAttrID resolves "PatientName" or "00100010" to a tag. Sequence
// paths ("00081111.00081150") are not supported.
func parseAttrID(s string) (uint32, error) {
	if strings.Contains(s, ".") {
		return 0, errors.New("attribute paths into sequences are not supported")
	}
	if len(s) == 8 {
		if n, err := strconv.ParseUint(s, 16, 32); err == nil {
			return uint32(n), nil
		}
	}
	t, err := dcm.ParseTag(s)
	if err != nil {
		return 0, err
	}
	return uint32(t), nil
}

// Return keys per level beyond the matched ones (PS3.18 Tables 10.6.3-3,
// 10.6.3-4 and 10.6.3-5).
var returnKeys = map[catalog.Level][]uint32{
	catalog.LevelStudy: {0x00080020, 0x00080030, 0x00080050, 0x00080061, 0x00080090, 0x00081030, 0x00100010,
		0x00100020, 0x00100030, 0x00100040, 0x0020000D, 0x00200010, 0x00201206, 0x00201208},
	catalog.LevelSeries: {0x00080060, 0x0008103E, 0x0020000D, 0x0020000E, 0x00200011, 0x00201209},
	catalog.LevelImage: {0x00080016, 0x00080018, 0x00080060, 0x0020000D, 0x0020000E, 0x00200013, 0x00280008,
		0x00280010, 0x00280011},
}

func (s *Server) searchStudies(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	s.search(w, r, c, catalog.LevelStudy)
}

func (s *Server) searchSeries(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	s.search(w, r, c, catalog.LevelSeries)
}

func (s *Server) searchInstances(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	s.search(w, r, c, catalog.LevelImage)
}

// acceptsJSON reports whether the Accept header allows application/dicom+json.
func acceptsJSON(r *http.Request) bool {
	for _, m := range parseAccept(r.Header.Values("Accept")) {
		if matchesType(m.Type, "application/dicom+json") || m.Type == "application/json" {
			return true
		}
	}
	return false
}

func (s *Server) search(w http.ResponseWriter, r *http.Request, c *reqCtx, level catalog.Level) {
	if !acceptsJSON(r) {
		httpError(w, http.StatusNotAcceptable, "search results are served as application/dicom+json only")
		return
	}
	req, err := parseQIDO(r.URL.Query(), level, r.PathValue("study"), r.PathValue("series"))
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	req.Query.Namespace = string(c.ns)
	var buf bytes.Buffer
	buf.WriteByte('[')
	n := 0
	hdr := headerCache{s: s}
	err = s.cfg.Catalog.Find(r.Context(), req.Query, func(rec catalog.Record) error {
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		writeObject(&buf, s.recordObject(&rec, &req, c.base(r), &hdr))
		return nil
	})
	var qe *catalog.QueryError
	switch {
	case errors.As(err, &qe):
		httpError(w, http.StatusBadRequest, qe.Error())
		return
	case err != nil:
		s.log.Error("search failed", "err", err)
		httpError(w, http.StatusServiceUnavailable, "catalog unavailable")
		return
	}
	buf.WriteByte(']')
	for _, k := range req.Unsupported {
		w.Header().Add("Warning", fmt.Sprintf(`299 sonogate "The query key %s is not supported and was ignored"`, strconv.Quote(k)))
	}
	if req.limitClamped {
		w.Header().Add("Warning", fmt.Sprintf(`299 sonogate "The limit was reduced to %d"`, MaxLimit))
	}
	w.Header().Set("Content-Type", "application/dicom+json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

// recordObject builds the JSON object of one search result: the return keys
// of its level, the matched keys, and the included fields.
func (s *Server) recordObject(rec *catalog.Record, req *qidoRequest, base string, hdr *headerCache) object {
	tags := map[uint32]bool{}
	for _, t := range returnKeys[rec.Level] {
		tags[t] = true
	}
	for _, k := range req.Query.Keys {
		tags[k.Tag] = true
	}
	var extra []uint32
	for _, t := range req.IncludeTags {
		tags[t] = true
	}
	if req.IncludeAll {
		for _, a := range catalog.QueryAttributes() {
			tags[a.Tag] = true
		}
	}
	o := object{
		{Tag: 0x00080005, VR: "CS", Values: []any{"ISO_IR 192"}},
		{Tag: 0x00080056, VR: "CS", Values: []any{"ONLINE"}},
	}
	in := &rec.Instance
	url := base + "/studies/" + in.StudyInstanceUID
	switch rec.Level {
	case catalog.LevelSeries:
		url += "/series/" + in.SeriesInstanceUID
	case catalog.LevelImage:
		url += "/series/" + in.SeriesInstanceUID + "/instances/" + in.SOPInstanceUID
	}
	o = append(o, attr{Tag: 0x00081190, VR: "UR", Values: []any{url}})
	for t := range tags {
		if t == 0x00080005 || t == 0x00080056 || t == 0x00081190 {
			continue
		}
		a, ok := catalog.LookupAttribute(t)
		if !ok {
			extra = append(extra, t)
			continue
		}
		v, ok := rec.Value(t)
		if !ok {
			continue
		}
		var vals []string
		if v != "" {
			vals = strings.Split(v, `\`)
		}
		vr := a.VR
		if vr == "US" {
			vr = "US"
			var nums []any
			for _, x := range vals {
				if n, err := strconv.Atoi(x); err == nil {
					nums = append(nums, n)
				}
			}
			o = append(o, attr{Tag: t, VR: vr, Values: nums})
			continue
		}
		o = append(o, attr{Tag: t, VR: vr, Values: textValues(vr, vals)})
	}
	if len(extra) > 0 {
		o = append(o, hdr.attrs(in, extra)...)
	}
	return o
}

// headerCache reads attributes the catalog does not index from the stored
// file of a representative instance (includefield).
type headerCache struct {
	s *Server
}

func (h *headerCache) attrs(in *catalog.Instance, tags []uint32) []attr {
	ds, err := h.s.readHeader(in)
	if err != nil {
		return nil
	}
	want := map[uint32]bool{}
	for _, t := range tags {
		want[t] = true
	}
	sub := &dcm.Dataset{}
	for _, e := range ds.Elements {
		if want[uint32(e.Tag)] {
			sub.Elements = append(sub.Elements, e)
		}
	}
	// Decoding needs the character set of the data set.
	if cs := ds.Find(dcm.TagSpecificCharacterSet); cs != nil {
		sub.Elements = append(sub.Elements, cs)
	}
	var out []attr
	for _, a := range datasetObject(sub, func(*dcm.Element) string { return "" }) {
		if want[a.Tag] && a.Tag != 0x00080005 {
			out = append(out, a)
		}
	}
	return out
}

// readHeader parses the header (everything before the pixel data) of a
// stored instance.
func (s *Server) readHeader(in *catalog.Instance) (*dcm.Dataset, error) {
	f, err := os.Open(s.cfg.Store.Path(in.RelPath))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ts, ok := dcm.LookupTransferSyntax(in.TransferSyntaxUID)
	if !ok {
		return nil, fmt.Errorf("unknown transfer syntax %s", in.TransferSyntaxUID)
	}
	if _, err := f.Seek(in.DataOffset, io.SeekStart); err != nil {
		return nil, err
	}
	return dcm.ParseHeader(bufio.NewReaderSize(f, 64<<10), ts, dcm.Options{Size: in.Size - in.DataOffset, LoadLimit: 64 << 10})
}
