package dicomweb

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"strings"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/dcm"
)

// instances looks up what the path names; it answers 404 itself.
func (s *Server) instances(w http.ResponseWriter, r *http.Request, c *reqCtx) ([]catalog.Instance, bool) {
	list, err := s.cfg.Catalog.InstancesOf(r.Context(), string(c.ns), r.PathValue("study"), r.PathValue("series"), r.PathValue("sop"))
	if err != nil {
		s.log.Error("catalog lookup failed", "err", err)
		httpError(w, http.StatusServiceUnavailable, "catalog unavailable")
		return nil, false
	}
	if len(list) == 0 {
		httpError(w, http.StatusNotFound, "no such study, series or instance")
		return nil, false
	}
	return list, true
}

// negotiateDICOM checks the Accept header of an instance retrieval against
// the stored transfer syntaxes. Without a transfer-syntax parameter, or with
// "*", instances are served as stored; sonogate never transcodes.
func negotiateDICOM(r *http.Request, stored []string) (string, bool) {
	for _, m := range parseAccept(r.Header.Values("Accept")) {
		t := m.Type
		if t == "multipart/related" {
			t = m.Params["type"]
			if t == "" {
				t = "application/dicom"
			}
		}
		if !matchesType(t, "application/dicom") {
			continue
		}
		ts := m.Params["transfer-syntax"]
		if ts == "" || ts == "*" {
			return "", true
		}
		ok := true
		for _, st := range stored {
			ok = ok && st == ts
		}
		if ok {
			return "", true
		}
		return fmt.Sprintf("transfer syntax %s was asked for, but the instances are stored as %s and sonogate does not transcode; ask with transfer-syntax=*", ts, strings.Join(uniq(stored), ", ")), false
	}
	return `only multipart/related; type="application/dicom" can be served here`, false
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// retrieve serves study, series and instance retrieval (PS3.18 §10.4.1.1):
// the stored Part 10 files, streamed from disk, one part each.
func (s *Server) retrieve(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	list, ok := s.instances(w, r, c)
	if !ok {
		return
	}
	stored := make([]string, len(list))
	for i, in := range list {
		stored[i] = in.TransferSyntaxUID
	}
	if reason, ok := negotiateDICOM(r, stored); !ok {
		httpError(w, http.StatusNotAcceptable, reason)
		return
	}
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
	w.WriteHeader(http.StatusOK)
	for _, in := range list {
		f, err := os.Open(s.cfg.Store.Path(in.RelPath))
		if err != nil {
			s.log.Error("stored file missing", "sop_instance_uid", in.SOPInstanceUID, "err", err)
			return // the missing close delimiter tells the client
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", "application/dicom; transfer-syntax="+in.TransferSyntaxUID)
		h.Set("Content-Length", strconv.FormatInt(in.Size, 10))
		h.Set("Content-Location", c.base(r)+"/studies/"+in.StudyInstanceUID+"/series/"+in.SeriesInstanceUID+"/instances/"+in.SOPInstanceUID)
		pw, err := mw.CreatePart(h)
		if err == nil {
			_, err = io.Copy(pw, f)
		}
		f.Close()
		if err != nil {
			return
		}
	}
	mw.Close()
}

// metadata serves the DICOM JSON of every instance (PS3.18 §10.4.1.1.2),
// with large binary values as BulkDataURI.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if !acceptsJSON(r) {
		httpError(w, http.StatusNotAcceptable, "metadata is served as application/dicom+json only")
		return
	}
	list, ok := s.instances(w, r, c)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/dicom+json")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte{'['})
	var buf bytes.Buffer
	for i, in := range list {
		buf.Reset()
		if i > 0 {
			buf.WriteByte(',')
		}
		o, err := s.instanceObject(&in, c.base(r))
		if err != nil {
			s.log.Warn("metadata: stored instance unreadable", "sop_instance_uid", in.SOPInstanceUID, "err", err)
		}
		writeObject(&buf, o)
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
	}
	w.Write([]byte{']'})
}

func (s *Server) instanceObject(in *catalog.Instance, base string) (object, error) {
	url := base + "/studies/" + in.StudyInstanceUID + "/series/" + in.SeriesInstanceUID + "/instances/" + in.SOPInstanceUID
	f, err := os.Open(s.cfg.Store.Path(in.RelPath))
	if err != nil {
		return object{{Tag: 0x00080018, VR: "UI", Values: []any{in.SOPInstanceUID}}}, err
	}
	defer f.Close()
	ts, ok := dcm.LookupTransferSyntax(in.TransferSyntaxUID)
	if !ok {
		return nil, errors.New("unknown transfer syntax")
	}
	if _, err := f.Seek(in.DataOffset, io.SeekStart); err != nil {
		return nil, err
	}
	ds, err := dcm.Parse(bufio.NewReaderSize(f, 64<<10), ts, dcm.Options{Size: in.Size - in.DataOffset, LoadLimit: inlineLimit})
	if ds == nil {
		return nil, err
	}
	bulk := func(e *dcm.Element) string {
		if e.Tag == dcm.Tag(0x7FE00010) && e.Depth == 0 {
			return url + "/bulkdata/7FE00010"
		}
		if ts.Deflated || e.Kind != dcm.KindValue {
			return ""
		}
		return fmt.Sprintf("%s/bulkdata/%d-%d", url, e.ValueOffset, e.Length)
	}
	o := datasetObject(ds, bulk)
	// The JSON is UTF-8 whatever the stored character set was.
	for i := range o {
		if o[i].Tag == 0x00080005 {
			o[i].Values = []any{"ISO_IR 192"}
		}
	}
	return o, err
}

// bulkdata serves one bulk data value: "7FE00010" (the pixel data, frame
// by frame when encapsulated) or "offset-length" within the data set, as
// listed in the metadata.
func (s *Server) bulkdata(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	list, ok := s.instances(w, r, c)
	if !ok {
		return
	}
	in := list[0]
	spec := r.PathValue("spec")
	if strings.EqualFold(spec, "7FE00010") {
		s.serveFrames(w, r, &in, nil)
		return
	}
	o, l, ok := strings.Cut(spec, "-")
	off, err1 := strconv.ParseInt(o, 10, 64)
	n, err2 := strconv.ParseInt(l, 10, 64)
	if !ok || err1 != nil || err2 != nil || off < 0 || n <= 0 || in.DataOffset+off+n > in.Size {
		httpError(w, http.StatusNotFound, "no such bulk data")
		return
	}
	if ts, _ := dcm.LookupTransferSyntax(in.TransferSyntaxUID); ts.Deflated {
		httpError(w, http.StatusNotFound, "no bulk data URIs in deflated instances")
		return
	}
	// The offset must be the start of a value the metadata listed.
	f, err := os.Open(s.cfg.Store.Path(in.RelPath))
	if err != nil {
		httpError(w, http.StatusNotFound, "stored file missing")
		return
	}
	defer f.Close()
	if !s.isValueStart(f, &in, off, n) {
		httpError(w, http.StatusNotFound, "no such bulk data")
		return
	}
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", `multipart/related; type="application/octet-stream"; boundary=`+mw.Boundary())
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	pw, _ := mw.CreatePart(h)
	io.Copy(pw, io.NewSectionReader(f, in.DataOffset+off, n))
	mw.Close()
}

// isValueStart checks that (off, n) is the value of an element of the data
// set, so bulk data URIs cannot be forged to read other bytes.
func (s *Server) isValueStart(f *os.File, in *catalog.Instance, off, n int64) bool {
	ts, _ := dcm.LookupTransferSyntax(in.TransferSyntaxUID)
	rd := dcm.NewReader(bufio.NewReaderSize(io.NewSectionReader(f, in.DataOffset, in.Size-in.DataOffset), 64<<10), ts,
		dcm.Options{Size: in.Size - in.DataOffset, LoadLimit: 1})
	for {
		e, err := rd.Next()
		if err != nil {
			return false
		}
		if e.ValueOffset == off && int64(e.Length) == n && (e.Kind == dcm.KindValue) {
			return true
		}
		if e.ValueOffset > off {
			return false
		}
	}
}

// frames serves /frames/{list} (PS3.18 §10.4.1.1.4).
func (s *Server) frames(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	list, ok := s.instances(w, r, c)
	if !ok {
		return
	}
	var nums []int
	for _, p := range strings.Split(r.PathValue("frames"), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			httpError(w, http.StatusBadRequest, "frame numbers are a comma-separated list of numbers from 1")
			return
		}
		nums = append(nums, n)
	}
	in := list[0]
	s.serveFrames(w, r, &in, nums)
}

// pixelLayout is where the frames of an instance are in its file.
type pixelLayout struct {
	native     bool
	frames     [][][2]int64 // per frame: (file offset, length) pieces
	mediaType  string
	transferTS string
}

// frameMediaType is the media type of compressed frames per transfer
// syntax (PS3.18 Table 8.7.3-5); "" for native pixel data.
func frameMediaType(ts string) string {
	switch ts {
	case "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70":
		return "image/jpeg"
	case "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81":
		return "image/jls"
	case "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91":
		return "image/jp2"
	case "1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93":
		return "image/jpx"
	case "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203":
		return "image/jphc"
	case "1.2.840.10008.1.2.5":
		return "image/dicom-rle"
	case "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.101", "1.2.840.10008.1.2.4.100.1", "1.2.840.10008.1.2.4.101.1":
		return "video/mpeg"
	case "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.103", "1.2.840.10008.1.2.4.104", "1.2.840.10008.1.2.4.105", "1.2.840.10008.1.2.4.106":
		return "video/mp4"
	}
	return "application/octet-stream"
}

// negotiateFrames picks the part media type for frames of the stored
// syntax: native frames are application/octet-stream; compressed frames are
// served as stored when the client accepts their media type or any type
// with transfer-syntax=* (or the stored one).
func negotiateFrames(r *http.Request, native bool, ts string) (string, string) {
	mt := "application/octet-stream"
	if !native {
		mt = frameMediaType(ts)
	}
	for _, m := range parseAccept(r.Header.Values("Accept")) {
		t := m.Type
		if t == "multipart/related" {
			t = m.Params["type"]
			if t == "" {
				t = "application/octet-stream"
			}
		}
		want := m.Params["transfer-syntax"]
		switch {
		case t == "*/*" || t == "*":
			return mt, ""
		case native && t == "application/octet-stream":
			return mt, ""
		case !native && (want == "*" || want == ts) && (matchesType(t, mt) || t == "application/octet-stream"):
			return mt, ""
		case !native && want == "" && matchesType(t, mt):
			return mt, ""
		}
	}
	if native {
		return "", "native frames are served as application/octet-stream only"
	}
	return "", fmt.Sprintf("the frames are stored compressed (%s, %s) and sonogate does not decompress; accept %s or transfer-syntax=*", ts, mt, mt)
}

func (s *Server) serveFrames(w http.ResponseWriter, r *http.Request, in *catalog.Instance, nums []int) {
	f, err := os.Open(s.cfg.Store.Path(in.RelPath))
	if err != nil {
		httpError(w, http.StatusNotFound, "stored file missing")
		return
	}
	defer f.Close()
	lay, err := layoutFrames(f, in)
	if err != nil {
		httpError(w, http.StatusNotFound, err.Error())
		return
	}
	if nums == nil {
		for i := range lay.frames {
			nums = append(nums, i+1)
		}
	}
	for _, n := range nums {
		if n > len(lay.frames) {
			httpError(w, http.StatusNotFound, fmt.Sprintf("frame %d does not exist; the instance has %d", n, len(lay.frames)))
			return
		}
	}
	mt, reason := negotiateFrames(r, lay.native, in.TransferSyntaxUID)
	if reason != "" {
		httpError(w, http.StatusNotAcceptable, reason)
		return
	}
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", `multipart/related; type="`+mt+`"; boundary=`+mw.Boundary())
	w.WriteHeader(http.StatusOK)
	for _, n := range nums {
		var size int64
		for _, p := range lay.frames[n-1] {
			size += p[1]
		}
		h := textproto.MIMEHeader{}
		if lay.native {
			h.Set("Content-Type", mt)
		} else {
			h.Set("Content-Type", mt+"; transfer-syntax="+in.TransferSyntaxUID)
		}
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		pw, err := mw.CreatePart(h)
		if err != nil {
			return
		}
		for _, p := range lay.frames[n-1] {
			if _, err := io.Copy(pw, io.NewSectionReader(f, p[0], p[1])); err != nil {
				return
			}
		}
	}
	mw.Close()
}

// layoutFrames finds the frames of an instance without loading them.
func layoutFrames(f *os.File, in *catalog.Instance) (*pixelLayout, error) {
	ts, ok := dcm.LookupTransferSyntax(in.TransferSyntaxUID)
	if !ok {
		return nil, errors.New("unknown transfer syntax")
	}
	if ts.Deflated {
		return nil, errors.New("frames of deflated instances are not served")
	}
	size := in.Size - in.DataOffset
	rd := dcm.NewReader(bufio.NewReaderSize(io.NewSectionReader(f, in.DataOffset, size), 64<<10), ts,
		dcm.Options{Size: size, LoadLimit: 1 << 20})
	var eot, eotLen []byte
	var frags []*dcm.Element
	var pixel *dcm.Element
	var rows, cols, spp, bits, nframes int64 = 0, 0, 1, 0, 1
	num := func(e *dcm.Element) int64 {
		if len(e.Value) == 2 && e.Tag != dcm.Tag(0x00280008) {
			if e.BigEndian {
				return int64(binary.BigEndian.Uint16(e.Value))
			}
			return int64(binary.LittleEndian.Uint16(e.Value))
		}
		n, _ := strconv.ParseInt(strings.Trim(string(e.Value), " \x00"), 10, 64)
		return n
	}
	inPixel := false
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("stored instance unreadable: %v", err)
		}
		if inPixel {
			if e.Kind == dcm.KindFragment {
				frags = append(frags, e)
				continue
			}
			if e.Kind == dcm.KindSequenceEnd {
				inPixel = false
			}
			continue
		}
		if e.Depth != 0 {
			continue
		}
		switch uint32(e.Tag) {
		case 0x00280010:
			rows = num(e)
		case 0x00280011:
			cols = num(e)
		case 0x00280002:
			spp = num(e)
		case 0x00280100:
			bits = num(e)
		case 0x00280008:
			if n := num(e); n > 0 {
				nframes = n
			}
		case 0x7FE00001:
			eot = e.Value
		case 0x7FE00002:
			eotLen = e.Value
		case 0x7FE00010:
			pixel = e
			if e.Kind == dcm.KindSequence {
				inPixel = true
			}
		}
	}
	if pixel == nil {
		return nil, errors.New("the instance has no pixel data")
	}
	lay := &pixelLayout{transferTS: ts.UID}
	base := in.DataOffset
	if pixel.Kind != dcm.KindSequence {
		if ts.BigEndian && bits > 8 {
			return nil, errors.New("frames of big endian pixel data are not served")
		}
		lay.native = true
		frameBits := rows * cols * spp * bits
		if frameBits <= 0 || bits%8 != 0 {
			return nil, errors.New("cannot compute the frame size (rows, columns, samples or bits allocated)")
		}
		fs := frameBits / 8
		if fs*nframes > int64(pixel.Length) {
			return nil, errors.New("pixel data shorter than its frames")
		}
		for i := int64(0); i < nframes; i++ {
			lay.frames = append(lay.frames, [][2]int64{{base + pixel.ValueOffset + i*fs, fs}})
		}
		return lay, nil
	}
	if len(frags) == 0 {
		return nil, errors.New("encapsulated pixel data without items")
	}
	bot := frags[0]
	data := frags[1:]
	piece := func(e *dcm.Element) [2]int64 { return [2]int64{base + e.ValueOffset, int64(e.Length)} }
	first := int64(0)
	if len(data) > 0 {
		first = data[0].Offset
	}
	// Group fragments by the item offsets where frames start.
	byOffsets := func(starts []int64) ([][][2]int64, bool) {
		var out [][][2]int64
		k := -1
		for _, fr := range data {
			rel := fr.Offset - first
			for k+1 < len(starts) && starts[k+1] == rel {
				k++
				out = append(out, nil)
			}
			if k < 0 {
				return nil, false
			}
			out[k] = append(out[k], piece(fr))
		}
		return out, len(out) == len(starts)
	}
	switch {
	case len(eot) >= 8 && len(eot)%8 == 0:
		var starts []int64
		for i := 0; i+8 <= len(eot); i += 8 {
			starts = append(starts, int64(binary.LittleEndian.Uint64(eot[i:])))
		}
		fr, ok := byOffsets(starts)
		if !ok {
			return nil, errors.New("extended offset table does not match the fragments")
		}
		_ = eotLen
		lay.frames = fr
	case len(bot.Value) >= 4 && len(bot.Value)%4 == 0:
		var starts []int64
		for i := 0; i+4 <= len(bot.Value); i += 4 {
			starts = append(starts, int64(binary.LittleEndian.Uint32(bot.Value[i:])))
		}
		fr, ok := byOffsets(starts)
		if !ok {
			return nil, errors.New("basic offset table does not match the fragments")
		}
		lay.frames = fr
	case nframes == 1:
		var all [][2]int64
		for _, fr := range data {
			all = append(all, piece(fr))
		}
		lay.frames = [][][2]int64{all}
	case int64(len(data)) == nframes:
		for _, fr := range data {
			lay.frames = append(lay.frames, [][2]int64{piece(fr)})
		}
	default:
		// More fragments than frames and no offset table: a frame starts
		// at each fragment that starts with a codestream start marker.
		for _, fr := range data {
			head := make([]byte, 4)
			n, _ := f.ReadAt(head, base+fr.ValueOffset)
			if n >= 2 && isFrameStart(head[:n], ts.UID) || len(lay.frames) == 0 {
				lay.frames = append(lay.frames, nil)
			}
			lay.frames[len(lay.frames)-1] = append(lay.frames[len(lay.frames)-1], piece(fr))
		}
		if int64(len(lay.frames)) != nframes {
			return nil, fmt.Errorf("cannot find the boundaries of %d frames in %d fragments without an offset table", nframes, len(data))
		}
	}
	return lay, nil
}

// isFrameStart reports whether a fragment begins a compressed frame:
// JPEG and JPEG-LS SOI (FFD8), JPEG 2000 codestream SOC (FF4F), JP2 box.
func isFrameStart(b []byte, ts string) bool {
	if b[0] == 0xFF && (b[1] == 0xD8 || b[1] == 0x4F) {
		return true
	}
	return len(b) >= 4 && bytes.Equal(b[:4], []byte{0, 0, 0, 0x0C})
}
