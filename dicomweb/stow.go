package dicomweb

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/ingest"
)

// Failure Reason (0008,1197) values of the Failed SOP Sequence (PS3.18
// §10.5.3, PS3.4 Annex B.2.3).
const (
	ReasonProcessingFailure = 0x0110 // Processing failure
	ReasonOutOfResources    = 0xA700 // Refused: Out of Resources
	ReasonDoesNotMatch      = 0xA900 // Error: Data Set does not match SOP Class
	ReasonCannotUnderstand  = 0xC000 // Error: Cannot understand
)

// stowResult is the outcome of one part.
type stowResult struct {
	sopClass, sopInstance, study, series string
	reason                               int // 0: stored
	comment                              string
}

// stow serves POST /studies and /studies/{study} (PS3.18 §10.5).
func (s *Server) stow(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if s.cfg.Ingester == nil {
		httpError(w, http.StatusServiceUnavailable, "storing is not enabled on this node")
		return
	}
	ct := parseMediaType(r.Header.Get("Content-Type"))
	if ct.Type != "multipart/related" {
		httpError(w, http.StatusUnsupportedMediaType, `the request must be multipart/related; type="application/dicom"`)
		return
	}
	boundary := ct.Params["boundary"]
	if boundary == "" || len(boundary) > 70 {
		httpError(w, http.StatusBadRequest, "the multipart/related request has no usable boundary parameter")
		return
	}
	if t := ct.Params["type"]; t != "" && t != "application/dicom" {
		httpError(w, http.StatusUnsupportedMediaType, "only application/dicom parts are accepted (no DICOM JSON or XML with bulk data)")
		return
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes)
	pathStudy := r.PathValue("study")
	results, err := s.readParts(r, body, boundary, pathStudy)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		httpError(w, http.StatusRequestEntityTooLarge, "the request is larger than the limit of this node")
		return
	case err != nil && len(results) == 0:
		httpError(w, http.StatusBadRequest, "multipart body unreadable: "+err.Error())
		return
	}
	if len(results) == 0 {
		httpError(w, http.StatusUnsupportedMediaType, "the request holds no application/dicom part")
		return
	}
	stored, resources := 0, 0
	var refs, fails [][]attr
	for _, res := range results {
		if res.reason == 0 {
			stored++
			url := c.base(r) + "/studies/" + res.study + "/series/" + res.series + "/instances/" + res.sopInstance
			refs = append(refs, object{
				{Tag: 0x00081150, VR: "UI", Values: []any{res.sopClass}},
				{Tag: 0x00081155, VR: "UI", Values: []any{res.sopInstance}},
				{Tag: 0x00081190, VR: "UR", Values: []any{url}},
			})
			continue
		}
		if res.reason == ReasonOutOfResources {
			resources++
		}
		it := object{{Tag: 0x00081197, VR: "US", Values: []any{res.reason}}}
		if res.sopClass != "" {
			it = append(it, attr{Tag: 0x00081150, VR: "UI", Values: []any{res.sopClass}})
		}
		if res.sopInstance != "" {
			it = append(it, attr{Tag: 0x00081155, VR: "UI", Values: []any{res.sopInstance}})
		}
		fails = append(fails, it)
		s.log.Info("STOW-RS part refused", "sop_instance_uid", res.sopInstance, "reason", res.reason, "comment", res.comment, "who", c.who)
	}
	resp := object{}
	if pathStudy != "" {
		resp = append(resp, attr{Tag: 0x00081190, VR: "UR", Values: []any{c.base(r) + "/studies/" + pathStudy}})
	}
	if len(fails) > 0 {
		resp = append(resp, attr{Tag: 0x00081198, VR: "SQ", Items: fails})
	}
	if len(refs) > 0 {
		resp = append(resp, attr{Tag: 0x00081199, VR: "SQ", Items: refs})
	}
	code := http.StatusOK
	switch {
	case stored == 0 && resources > 0:
		code = http.StatusServiceUnavailable // retry later: nothing was wrong with the data
	case stored == 0:
		code = http.StatusConflict
	case len(fails) > 0:
		code = http.StatusAccepted
	}
	var buf bytes.Buffer
	writeObject(&buf, resp)
	w.Header().Set("Content-Type", "application/dicom+json")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// readParts stores each application/dicom part; it returns the results
// so far (in part order) and the error that stopped reading, if any. The
// body is read part by part into temporary files; up to StoreParallel of
// them are checked and ingested at once while reading goes on. Every
// ingest has finished (durably committed or failed) when readParts
// returns.
func (s *Server) readParts(r *http.Request, body io.Reader, boundary, pathStudy string) ([]stowResult, error) {
	mr := multipart.NewReader(body, boundary)
	var out []*stowResult
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.cfg.StoreParallel)
	finish := func(err error) ([]stowResult, error) {
		wg.Wait()
		res := make([]stowResult, len(out))
		for i, r := range out {
			res[i] = *r
		}
		return res, err
	}
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return finish(nil)
		}
		if err != nil {
			if len(out) > 0 && (errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "EOF")) {
				return finish(nil) // no close delimiter after the last part (B28)
			}
			return finish(err)
		}
		pt := parseMediaType(p.Header.Get("Content-Type"))
		if pt.Type != "" && pt.Type != "application/dicom" && pt.Type != "application/octet-stream" {
			p.Close()
			continue
		}
		tmp, n, early, rerr := s.spoolPart(p)
		p.Close()
		res := &stowResult{}
		out = append(out, res)
		var tooBig *http.MaxBytesError
		switch {
		case tmp == nil:
			*res = early
			if errors.As(rerr, &tooBig) {
				out = out[:len(out)-1]
				return finish(rerr)
			}
		case rerr != nil:
			// The body ended without a delimiter: this is the last part.
			*res = s.checkAndIngest(r, tmp, n, pathStudy)
			removeTemp(tmp)
			return finish(nil)
		default:
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				*res = s.checkAndIngest(r, tmp, n, pathStudy)
				removeTemp(tmp)
			}()
		}
	}
}

// memPartLimit: parts up to this size are held in memory instead of a
// temporary file (a small ultrasound image or SR); with StoreParallel
// parts in flight a request holds at most (StoreParallel+1) of them.
const memPartLimit = 512 << 10

// part is the bytes of one received part: in memory or in a temporary
// file.
type part struct {
	io.ReaderAt
	f *os.File
}

func removeTemp(pt *part) {
	if pt.f != nil {
		pt.f.Close()
		os.Remove(pt.f.Name())
	}
}

// spoolPart reads one part into memory (up to memPartLimit) or a
// temporary file. It returns the part and its length, or (nil, the part's
// result) when it could not be spooled; rerr is the error that ended
// reading the part (a truncated body: the part holds what arrived, less
// the line break that preceded the missing delimiter; or
// *http.MaxBytesError).
func (s *Server) spoolPart(p *multipart.Part) (pt *part, n int64, early stowResult, rerr error) {
	var tooBig *http.MaxBytesError
	buf := make([]byte, memPartLimit+1)
	m := 0
	for m < len(buf) && rerr == nil {
		var k int
		k, rerr = p.Read(buf[m:])
		m += k
	}
	switch {
	case errors.As(rerr, &tooBig):
		return nil, 0, stowResult{reason: ReasonOutOfResources, comment: "request too large"}, rerr
	case rerr == io.EOF:
		rerr = nil // the whole part fits
		fallthrough
	case rerr != nil:
		pt, n = &part{ReaderAt: bytes.NewReader(buf[:m])}, int64(m)
	default:
		tmp, err := os.CreateTemp(s.cfg.TempDir, "stow-*.part")
		if err != nil {
			return nil, 0, stowResult{reason: ReasonOutOfResources, comment: "cannot spool part"}, nil
		}
		pt = &part{ReaderAt: tmp, f: tmp}
		if _, err := tmp.Write(buf); err != nil {
			removeTemp(pt)
			return nil, 0, stowResult{reason: ReasonOutOfResources, comment: "cannot spool part"}, nil
		}
		n, rerr = io.Copy(tmp, p)
		n += int64(len(buf))
		if errors.As(rerr, &tooBig) {
			removeTemp(pt)
			return nil, 0, stowResult{reason: ReasonOutOfResources, comment: "request too large"}, rerr
		}
	}
	if rerr != nil {
		tail := make([]byte, 2)
		if n >= 2 {
			if _, err := pt.ReadAt(tail, n-2); err == nil {
				switch {
				case tail[0] == '\r' && tail[1] == '\n':
					n -= 2
				case tail[1] == '\n':
					n--
				}
			}
		}
	}
	return pt, n, stowResult{}, rerr
}

func (s *Server) checkAndIngest(r *http.Request, f io.ReaderAt, size int64, pathStudy string) stowResult {
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 64<<10)
	file, err := dcm.ReadFile(br)
	if err != nil || !file.HasMeta {
		return stowResult{reason: ReasonCannotUnderstand, comment: "not a DICOM Part 10 file"}
	}
	res := stowResult{sopClass: file.Meta.MediaStorageSOPClassUID, sopInstance: file.Meta.MediaStorageSOPInstanceUID}
	dsSize := size - file.DataOffset
	ds, err := dcm.Parse(bufio.NewReaderSize(io.NewSectionReader(f, file.DataOffset, dsSize), 64<<10), file.Syntax,
		dcm.Options{Size: dsSize, LoadLimit: 64 << 10})
	if err != nil || ds == nil {
		res.reason, res.comment = ReasonCannotUnderstand, "data set truncated or malformed"
		return res
	}
	if res.sopClass == "" {
		res.sopClass = ds.String(dcm.TagSOPClassUID)
	}
	if res.sopInstance == "" {
		res.sopInstance = ds.String(dcm.TagSOPInstanceUID)
	}
	res.study, res.series = ds.String(dcm.TagStudyInstanceUID), ds.String(dcm.TagSeriesInstanceUID)
	switch {
	case res.sopClass == "" || res.sopInstance == "":
		res.reason, res.comment = ReasonCannotUnderstand, "no SOP Class or SOP Instance UID"
		return res
	case pathStudy != "" && res.study != pathStudy:
		res.reason, res.comment = ReasonDoesNotMatch, "Study Instance UID differs from the request URI"
		return res
	}
	_, err = s.cfg.Ingester.Ingest(r.Context(), ingest.Request{
		SOPClassUID:       res.sopClass,
		SOPInstanceUID:    res.sopInstance,
		TransferSyntaxUID: file.Syntax.UID,
		Data:              io.NewSectionReader(f, file.DataOffset, dsSize),
	})
	var ie *ingest.Error
	switch {
	case err == nil:
	case errors.As(err, &ie) && errors.Is(ie.Class, ingest.ErrMismatch):
		res.reason, res.comment = ReasonDoesNotMatch, ie.Comment
	case errors.As(err, &ie) && errors.Is(ie.Class, ingest.ErrCannotUnderstand):
		res.reason, res.comment = ReasonCannotUnderstand, ie.Comment
	case errors.As(err, &ie) && errors.Is(ie.Class, ingest.ErrResources):
		res.reason, res.comment = ReasonOutOfResources, ie.Comment
	default:
		res.reason, res.comment = ReasonProcessingFailure, "processing failure"
	}
	return res
}
