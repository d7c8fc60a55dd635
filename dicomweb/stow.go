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
		head, rerr := readHead(p)
		if rerr == nil {
			// A large part: stream it into the store when its meta and
			// header can be read from the first bytes (the usual case).
			if st, ok := streamable(head, pathStudy); ok {
				// The part is ingested by a goroutine fed through a pipe, so
				// that its commit (fsync, rename, catalog) overlaps with
				// reading the next part.
				res := &stowResult{}
				out = append(out, res)
				pr, pw := io.Pipe()
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done() }()
					*res = s.ingestStream(r, st, head, pr)
					pr.CloseWithError(errStreamEnded) // ingest may stop before the part's end
				}()
				body := &readErr{r: p}
				io.Copy(pw, body)
				pw.CloseWithError(body.err) // nil: the part ended
				p.Close()
				var tooBig *http.MaxBytesError
				switch {
				case errors.As(body.err, &tooBig):
					return finish(body.err)
				case body.err != nil:
					return finish(nil) // the body ended without a delimiter: this was the last part
				}
				continue
			}
		}
		tmp, n, early, rerr := s.spoolPart(p, head, rerr)
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

// readHead reads the first memPartLimit+1 bytes of a part (fewer when the
// part is shorter); rerr is nil when more follow, io.EOF at the end of the
// part, or the error that ended it.
func readHead(p io.Reader) (head []byte, rerr error) {
	buf := make([]byte, memPartLimit+1)
	m := 0
	for m < len(buf) && rerr == nil {
		var k int
		k, rerr = p.Read(buf[m:])
		m += k
	}
	return buf[:m], rerr
}

// spoolPart keeps one part in memory (up to memPartLimit) or spools it to
// a temporary file; head and hrerr are what readHead returned. It returns
// the part and its length, or (nil, the part's result) when it could not
// be spooled; rerr is the error that ended reading the part (a truncated
// body: the part holds what arrived, less the line break that preceded
// the missing delimiter; or *http.MaxBytesError).
func (s *Server) spoolPart(p *multipart.Part, head []byte, hrerr error) (pt *part, n int64, early stowResult, rerr error) {
	var tooBig *http.MaxBytesError
	buf, m, rerr := head, len(head), hrerr
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
	return ingestOutcome(res, err)
}

// ingestOutcome fills the failure reason of res from an ingest error.
func ingestOutcome(res stowResult, err error) stowResult {
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

// streamPart is what the first bytes of a large part told: enough to
// stream the rest into the store.
type streamPart struct {
	res        stowResult // UIDs
	syntax     dcm.TransferSyntax
	dataOffset int64
}

// streamable reads the file meta and the data set header (up to Pixel
// Data) of a part from its first bytes. A part whose meta lacks the SOP
// UIDs, whose header does not end within head, or that is refused for its
// study goes the temporary-file way, which also handles every failure.
func streamable(head []byte, pathStudy string) (streamPart, bool) {
	file, err := dcm.ReadFile(bufio.NewReaderSize(bytes.NewReader(head), 64<<10))
	if err != nil || !file.HasMeta || file.Syntax.Deflated ||
		file.Meta.MediaStorageSOPClassUID == "" || file.Meta.MediaStorageSOPInstanceUID == "" {
		return streamPart{}, false
	}
	ds, err := dcm.ParseHeader(bytes.NewReader(head[file.DataOffset:]), file.Syntax, dcm.Options{LoadLimit: 64 << 10})
	if err != nil || ds == nil || len(ds.Elements) == 0 {
		return streamPart{}, false // broken: the temporary-file way says why
	}
	switch ds.Elements[len(ds.Elements)-1].Tag {
	case dcm.TagPixelData, dcm.TagFloatPixelData, dcm.TagDoubleFloatPixelData:
	default:
		return streamPart{}, false // the header goes on past head (a large SR, say)
	}
	st := streamPart{syntax: file.Syntax, dataOffset: file.DataOffset, res: stowResult{
		sopClass: file.Meta.MediaStorageSOPClassUID, sopInstance: file.Meta.MediaStorageSOPInstanceUID,
		study: ds.String(dcm.TagStudyInstanceUID), series: ds.String(dcm.TagSeriesInstanceUID)}}
	if st.res.study == "" || (pathStudy != "" && st.res.study != pathStudy) {
		return streamPart{}, false
	}
	return st, true
}

// ingestStream ingests a large part straight from the request body: the
// data set goes to the store's spool without a temporary copy, and a
// second goroutine parses it to its end on the way (as the temporary-file
// way does), so that a truncated or malformed data set is refused before
// anything is committed. p yields the rest of the part after head, then
// io.EOF at the part's end, or the error that ended the body inside the
// part (no close delimiter: the part ends there; or *http.MaxBytesError).
func (s *Server) ingestStream(r *http.Request, st streamPart, head []byte, p io.Reader) stowResult {
	hb := &holdback{r: io.MultiReader(bytes.NewReader(head[st.dataOffset:]), p)}
	pr, pw := io.Pipe()
	verdict := make(chan error, 1)
	go func() {
		// Structure only: every value is skipped, so memory stays flat.
		_, err := dcm.Parse(bufio.NewReaderSize(pr, 64<<10), st.syntax, dcm.Options{LoadLimit: 1})
		io.Copy(io.Discard, pr) // keep the tee flowing after an early verdict
		verdict <- err
	}()
	var once sync.Once
	var verr error
	validate := func() error {
		once.Do(func() { pw.Close(); verr = <-verdict })
		return verr
	}
	_, err := s.cfg.Ingester.Ingest(r.Context(), ingest.Request{
		SOPClassUID:       st.res.sopClass,
		SOPInstanceUID:    st.res.sopInstance,
		TransferSyntaxUID: st.syntax.UID,
		Data:              io.TeeReader(hb, pw),
		Validate:          validate,
	})
	once.Do(func() { pw.CloseWithError(errStreamEnded); verr = <-verdict })
	var tooBig *http.MaxBytesError
	if errors.As(hb.bodyErr, &tooBig) {
		return stowResult{reason: ReasonOutOfResources, comment: "request too large"}
	}
	return ingestOutcome(st.res, err)
}

// readErr remembers the error, other than io.EOF, that ended reading r.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

var errStreamEnded = errors.New("stow: part stream ended")

// holdback passes a part through except its last two bytes until it knows
// how the part ends: at the part's end they are data; when the body ends
// without a delimiter (B28) a trailing CRLF or LF belonged to the missing
// delimiter and is dropped, and the part ends there (bodyErr records why).
type holdback struct {
	r       io.Reader
	tail    [2]byte
	k       int
	done    bool
	bodyErr error
}

func (h *holdback) Read(p []byte) (int, error) {
	if h.done {
		return 0, io.EOF
	}
	if len(p) < 3 {
		var b [64]byte
		n, err := h.Read(b[:])
		if n > len(p) {
			return 0, io.ErrShortBuffer
		}
		return copy(p, b[:n]), err
	}
	n := copy(p, h.tail[:h.k])
	h.k = 0
	m, err := h.r.Read(p[n:])
	n += m
	switch {
	case err == nil:
		keep := min(2, n)
		h.k = copy(h.tail[:], p[n-keep:n])
		return n - keep, nil
	case errors.Is(err, io.EOF):
		h.done = true
		return n, io.EOF
	}
	h.done = true
	h.bodyErr = err
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return n, err
	}
	switch {
	case n >= 2 && p[n-2] == '\r' && p[n-1] == '\n':
		n -= 2
	case n >= 1 && p[n-1] == '\n':
		n--
	}
	return n, io.EOF
}
