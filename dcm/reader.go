package dcm

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// UndefinedLength is the value length 0xFFFFFFFF of sequences, items and
// encapsulated pixel data whose end is marked by a delimiter (PS3.5 §7.5).
const UndefinedLength uint32 = 0xFFFFFFFF

// Kind tells what a token returned by Reader.Next stands for.
type Kind uint8

const (
	// KindValue is an element with a value (possibly skipped, see Element.Skipped).
	KindValue Kind = iota
	// KindSequence opens a sequence: SQ, a CP-246 UN of undefined length,
	// or encapsulated pixel data (Element.Encapsulated).
	KindSequence
	// KindItem opens an item of a sequence.
	KindItem
	// KindItemEnd closes an item (a delimiter, or the end of a defined length).
	KindItemEnd
	// KindSequenceEnd closes a sequence.
	KindSequenceEnd
	// KindFragment is one item of encapsulated pixel data; its bytes are the value.
	KindFragment
)

func (k Kind) String() string {
	switch k {
	case KindValue:
		return "value"
	case KindSequence:
		return "sequence"
	case KindItem:
		return "item"
	case KindItemEnd:
		return "item-end"
	case KindSequenceEnd:
		return "sequence-end"
	case KindFragment:
		return "fragment"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Element is one data element, or one structural token of the stream.
// Offsets count bytes of the (inflated) data set stream from the point
// where the Reader started.
type Element struct {
	Tag          Tag
	VR           VR
	Length       uint32 // as declared; UndefinedLength for delimited structures
	Offset       int64  // first byte of the tag
	ValueOffset  int64  // first byte of the value
	Value        []byte // raw value bytes as encoded; nil when skipped or structural
	Skipped      bool   // the value was passed over because of its size
	Kind         Kind
	Encapsulated bool // KindSequence of pixel data fragments
	Synthetic    bool // an end token made at the end of a defined length (no delimiter on the wire)
	Depth        int  // nesting depth: 0 for top-level elements
	BigEndian    bool // byte order of Value
	Implicit     bool // the element was encoded with implicit VR

	// Filled by Parse, not by Reader.Next.
	Items     []*Dataset // KindSequence (not encapsulated)
	Fragments []*Element // KindSequence with Encapsulated
}

// Errors of the reader. Each returned error wraps one of these.
var (
	ErrMalformed     = errors.New("malformed data set")
	ErrValueTooLarge = errors.New("value length exceeds limit")
	ErrTooDeep       = errors.New("sequence nesting too deep")
	// ErrStopped is returned by Next once StopAtPixelData reached a
	// top-level pixel data element; the element's header was consumed.
	ErrStopped = errors.New("stopped before pixel data")
)

// Options bound and shape reading.
type Options struct {
	// MaxValueLength is the largest value the reader accepts at all, loaded
	// or skipped. 0 means 0xFFFFFFFE (the largest the encoding allows).
	MaxValueLength int64
	// LoadLimit: values longer than this are skipped, not loaded (their
	// offset and length are kept). 0 means 16 MiB.
	LoadLimit int64
	// StopAtPixelData makes Next return ErrStopped at a top-level
	// (7FE0,0008), (7FE0,0009) or (7FE0,0010), before its value.
	StopAtPixelData bool
	// MaxDepth bounds sequence nesting. 0 means 64.
	MaxDepth int
	// Size is the total length of the stream when known (>0), so that
	// lengths can be checked against what remains; 0 or less means unknown.
	Size int64
}

func (o Options) withDefaults() Options {
	if o.MaxValueLength <= 0 {
		o.MaxValueLength = int64(UndefinedLength) - 1
	}
	if o.LoadLimit <= 0 {
		o.LoadLimit = 16 << 20
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = 64
	}
	return o
}

type frameKind uint8

const (
	frameSeq frameKind = iota
	frameItem
	frameEncap
)

type frame struct {
	kind     frameKind
	tag      Tag
	end      int64 // -1: undefined length
	implicit bool  // content encoded implicit VR little endian (CP-246)
}

// Reader tokenizes a data set stream. It never allocates more than the
// bytes actually present for a value, and checks declared lengths against
// enclosing lengths, Options.Size and Options.MaxValueLength first.
type Reader struct {
	br    *bufio.Reader
	pos   int64
	ts    TransferSyntax
	opt   Options
	stack []frame
	done  bool
	buf   [12]byte
}

// NewReader reads the data set encoded with ts from r. A deflated transfer
// syntax is inflated here; offsets then count inflated bytes.
func NewReader(r io.Reader, ts TransferSyntax, opt Options) *Reader {
	if ts.Deflated {
		r = flate.NewReader(r)
		opt.Size = 0
	}
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 64<<10 {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Reader{br: br, ts: ts, opt: opt.withDefaults()}
}

// Offset returns the number of bytes consumed so far.
func (r *Reader) Offset() int64 { return r.pos }

// Depth returns the current nesting depth.
func (r *Reader) Depth() int { return r.depthOf() }

func (r *Reader) depthOf() int {
	d := 0
	for _, f := range r.stack {
		if f.kind == frameItem {
			d++
		}
	}
	return d
}

func (r *Reader) implicit() bool {
	if len(r.stack) > 0 && r.stack[len(r.stack)-1].implicit {
		return true
	}
	return !r.ts.Explicit
}

func (r *Reader) bigEndian() bool {
	if len(r.stack) > 0 && r.stack[len(r.stack)-1].implicit {
		return false
	}
	return r.ts.BigEndian
}

func (r *Reader) order() binary.ByteOrder {
	if r.bigEndian() {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

func (r *Reader) fail(format string, a ...any) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrMalformed, r.pos, fmt.Sprintf(format, a...))
}

func (r *Reader) readFull(p []byte) error {
	n, err := io.ReadFull(r.br, p)
	r.pos += int64(n)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return r.fail("unexpected end of data")
	}
	return err
}

// remaining returns how many bytes the innermost defined length (or the
// whole stream) still allows, or -1 when unbounded.
func (r *Reader) remaining() int64 {
	lim := int64(-1)
	for _, f := range r.stack {
		if f.end >= 0 && (lim < 0 || f.end-r.pos < lim) {
			lim = f.end - r.pos
		}
	}
	if r.opt.Size > 0 {
		if left := r.opt.Size - r.pos; lim < 0 || left < lim {
			lim = left
		}
	}
	return lim
}

// checkTagLength is checkLength for an element's value; the tag is
// formatted only when the length is refused (it is checked for every
// element, and formatting it each time was a tenth of a header parse).
func (r *Reader) checkTagLength(n int64, tag Tag) error {
	if n <= r.opt.MaxValueLength {
		if rem := r.remaining(); rem < 0 || n <= rem {
			return nil
		}
	}
	return r.checkLength(n, tag.String())
}

func (r *Reader) checkLength(n int64, what string) error {
	if n > r.opt.MaxValueLength {
		return fmt.Errorf("%w: %s length %d at offset %d (limit %d)", ErrValueTooLarge, what, n, r.pos, r.opt.MaxValueLength)
	}
	if rem := r.remaining(); rem >= 0 && n > rem {
		return r.fail("%s length %d exceeds the %d bytes that remain", what, n, rem)
	}
	return nil
}

// Next returns the next token. At the clean end of the top-level data set
// it returns io.EOF.
func (r *Reader) Next() (*Element, error) {
	if r.done {
		return nil, io.EOF
	}
	// Close structures whose defined length is used up.
	if n := len(r.stack); n > 0 {
		top := r.stack[n-1]
		if top.end >= 0 && r.pos >= top.end {
			if r.pos > top.end {
				return nil, r.fail("element overruns the end of its %s", map[bool]string{true: "item", false: "sequence"}[top.kind == frameItem])
			}
			r.stack = r.stack[:n-1]
			kind := KindSequenceEnd
			if top.kind == frameItem {
				kind = KindItemEnd
			}
			return &Element{Tag: top.tag, Kind: kind, Offset: r.pos, Synthetic: true, Depth: r.depthOf(), Length: UndefinedLength}, nil
		}
	}
	if len(r.stack) == 0 && r.opt.Size > 0 && r.pos >= r.opt.Size {
		r.done = true
		return nil, io.EOF
	}
	start := r.pos
	hdr, err := r.br.Peek(4)
	if len(hdr) < 4 {
		if len(r.stack) == 0 && len(hdr) == 0 && (err == io.EOF || err == nil) {
			r.done = true
			return nil, io.EOF
		}
		if len(r.stack) == 0 && err == io.EOF && allZero(hdr) {
			// Trailing padding shorter than a tag: tolerated at the end.
			r.pos += int64(len(hdr))
			r.done = true
			return nil, io.EOF
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		return nil, r.fail("unexpected end of data inside a structure")
	}
	order := r.order()
	tag := NewTag(order.Uint16(hdr[0:2]), order.Uint16(hdr[2:4]))
	if tag.Group() == 0xFFFE {
		return r.delimiter(tag, start)
	}
	if n := len(r.stack); n > 0 && r.stack[n-1].kind != frameItem {
		return nil, r.fail("%s found where a sequence item was expected", tag)
	}
	e := &Element{Tag: tag, Offset: start, Depth: r.depthOf(), BigEndian: r.bigEndian()}
	if err := r.readHeader(e, order); err != nil {
		return nil, err
	}
	e.ValueOffset = r.pos
	if e.Length == UndefinedLength {
		return r.openUndefined(e)
	}
	if e.VR == SQ {
		if err := r.checkLength(int64(e.Length), "sequence"); err != nil {
			return nil, err
		}
		if err := r.push(frame{kind: frameSeq, tag: tag, end: r.pos + int64(e.Length), implicit: r.implicitFrame()}); err != nil {
			return nil, err
		}
		e.Kind = KindSequence
		return e, nil
	}
	if r.opt.StopAtPixelData && len(r.stack) == 0 && (tag == TagPixelData || tag == TagFloatPixelData || tag == TagDoubleFloatPixelData) {
		r.done = true
		return e, ErrStopped
	}
	if err := r.checkTagLength(int64(e.Length), tag); err != nil {
		return nil, err
	}
	if err := r.value(e); err != nil {
		return nil, err
	}
	return e, nil
}

func (r *Reader) implicitFrame() bool {
	n := len(r.stack)
	return n > 0 && r.stack[n-1].implicit
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func isVRByte(c byte) bool { return c >= 'A' && c <= 'Z' }

// readHeader consumes tag, VR and length.
func (r *Reader) readHeader(e *Element, order binary.ByteOrder) error {
	if r.implicit() {
		if err := r.readFull(r.buf[:8]); err != nil {
			return err
		}
		e.Implicit = true
		e.VR = DictionaryVR(e.Tag)
		e.Length = order.Uint32(r.buf[4:8])
		return nil
	}
	b, _ := r.br.Peek(8)
	if len(b) < 8 {
		return r.fail("truncated element header")
	}
	vr := VR(b[4:6])
	switch {
	case vr.Known():
		if vr.HasLongLength() {
			if err := r.readFull(r.buf[:12]); err != nil {
				return err
			}
			e.Length = order.Uint32(r.buf[8:12])
		} else {
			if err := r.readFull(r.buf[:8]); err != nil {
				return err
			}
			e.Length = uint32(order.Uint16(r.buf[6:8]))
		}
		e.VR = vr
	default:
		// Not a VR of the standard: blank, binary (an implicit VR element
		// inside an explicit data set, as some writers emit) or letters of
		// a VR added later (PS3.5 §6.2 asks readers to assume the 32-bit
		// length form then). Take the first reading that lands on a
		// plausible next element.
		hdr, length, implicit := r.guessHeader(e.Tag, order, isVRByte(b[4]) && isVRByte(b[5]))
		if err := r.readFull(r.buf[:hdr]); err != nil {
			return err
		}
		e.Length = length
		e.Implicit = implicit
		e.VR = UN
		if implicit {
			e.VR = DictionaryVR(e.Tag)
		}
	}
	return nil
}

// guessHeader picks among the three header layouts for an element whose
// VR field is not a known VR.
func (r *Reader) guessHeader(t Tag, order binary.ByteOrder, letters bool) (hdr int, length uint32, implicit bool) {
	type layout struct {
		hdr      int
		implicit bool
	}
	cands := []layout{{8, true}, {8, false}, {12, false}}
	if letters {
		cands = []layout{{12, false}, {8, false}, {8, true}}
	}
	lengthOf := func(l layout, b []byte) uint32 {
		switch {
		case l.implicit:
			return order.Uint32(b[4:8])
		case l.hdr == 8:
			return uint32(order.Uint16(b[6:8]))
		}
		return order.Uint32(b[8:12])
	}
	b, _ := r.br.Peek(12)
	if len(b) < 12 {
		b = append(b, make([]byte, 12-len(b))...)
	}
	rem := r.remaining()
	for _, c := range cands {
		n := lengthOf(c, b)
		if n == UndefinedLength {
			if c.implicit || letters {
				return c.hdr, n, c.implicit
			}
			continue
		}
		next := int64(c.hdr) + int64(n)
		if rem >= 0 && next > rem {
			continue
		}
		if rem >= 0 && next == rem {
			return c.hdr, n, c.implicit
		}
		peek, _ := r.br.Peek(int(next) + 2)
		if len(peek) < int(next)+2 {
			if rem < 0 && len(peek) == int(next) {
				return c.hdr, n, c.implicit // the stream ends right there
			}
			if len(peek) < int(next) && next < int64(r.br.Size()) {
				continue // ends inside the value: implausible
			}
			return c.hdr, n, c.implicit
		}
		g := order.Uint16(peek[next:])
		if g >= t.Group() || g == 0xFFFE {
			return c.hdr, n, c.implicit
		}
	}
	l := cands[0]
	return l.hdr, lengthOf(l, b), l.implicit
}

func (r *Reader) push(f frame) error {
	if r.depthOf() >= r.opt.MaxDepth {
		return fmt.Errorf("%w: more than %d levels at offset %d", ErrTooDeep, r.opt.MaxDepth, r.pos)
	}
	r.stack = append(r.stack, f)
	return nil
}

func (r *Reader) openUndefined(e *Element) (*Element, error) {
	switch {
	case e.Tag == TagPixelData || e.VR == OB || e.VR == OW:
		if r.opt.StopAtPixelData && len(r.stack) == 0 && e.Tag == TagPixelData {
			r.done = true
			e.Kind = KindSequence
			e.Encapsulated = true
			return e, ErrStopped
		}
		e.Kind = KindSequence
		e.Encapsulated = true
		return e, r.push(frame{kind: frameEncap, tag: e.Tag, end: -1, implicit: r.implicitFrame()})
	case e.VR == SQ:
		e.Kind = KindSequence
		return e, r.push(frame{kind: frameSeq, tag: e.Tag, end: -1, implicit: r.implicitFrame()})
	case e.VR == UN:
		// CP-246: an undefined length UN is a sequence whose items are
		// encoded implicit VR little endian (PS3.5 §6.2.2).
		e.Kind = KindSequence
		return e, r.push(frame{kind: frameSeq, tag: e.Tag, end: -1, implicit: true})
	}
	return nil, r.fail("undefined length on %s with VR %s", e.Tag, e.VR)
}

// delimiter handles the (FFFE,xxxx) item and delimitation tags, which
// carry no VR in any transfer syntax (PS3.5 §7.5).
func (r *Reader) delimiter(tag Tag, start int64) (*Element, error) {
	if err := r.readFull(r.buf[:8]); err != nil {
		return nil, err
	}
	length := r.order().Uint32(r.buf[4:8])
	n := len(r.stack)
	var top *frame
	if n > 0 {
		top = &r.stack[n-1]
	}
	e := &Element{Tag: tag, Offset: start, ValueOffset: r.pos, Length: length, BigEndian: r.bigEndian()}
	switch tag {
	case TagItem:
		if top == nil || top.kind == frameItem {
			return nil, r.fail("item tag outside a sequence")
		}
		e.Depth = r.depthOf()
		if top.kind == frameEncap {
			if length == UndefinedLength {
				return nil, r.fail("pixel data fragment with undefined length")
			}
			if err := r.checkLength(int64(length), "fragment"); err != nil {
				return nil, err
			}
			e.Kind = KindFragment
			e.VR = OB
			return e, r.value(e)
		}
		e.Kind = KindItem
		end := int64(-1)
		if length != UndefinedLength {
			if err := r.checkLength(int64(length), "item"); err != nil {
				return nil, err
			}
			end = r.pos + int64(length)
		}
		return e, r.push(frame{kind: frameItem, tag: tag, end: end, implicit: top.implicit})
	case TagItemDelimitationItem:
		if top == nil || top.kind != frameItem || top.end >= 0 {
			return nil, r.fail("item delimiter without an open undefined-length item")
		}
		r.stack = r.stack[:n-1]
		e.Kind = KindItemEnd
		e.Depth = r.depthOf()
		return e, nil
	case TagSequenceDelimitationItem:
		if top == nil || top.kind == frameItem || top.end >= 0 {
			return nil, r.fail("sequence delimiter without an open undefined-length sequence")
		}
		r.stack = r.stack[:n-1]
		e.Kind = KindSequenceEnd
		e.Depth = r.depthOf()
		return e, nil
	}
	return nil, r.fail("unknown delimiter tag %s", tag)
}

// value reads or skips e's value. Reads grow with the bytes that actually
// arrive, so a lying length costs no more memory than the input.
func (r *Reader) value(e *Element) error {
	n := int64(e.Length)
	if n > r.opt.LoadLimit {
		got, err := io.CopyN(io.Discard, r.br, n)
		r.pos += got
		if err != nil {
			return r.fail("value of %s truncated: %d of %d bytes", e.Tag, got, n)
		}
		e.Skipped = true
		return nil
	}
	if n <= 64<<10 {
		e.Value = make([]byte, n)
		return r.readFull(e.Value)
	}
	var b bytes.Buffer
	got, err := io.CopyN(&b, r.br, n)
	r.pos += got
	if err != nil {
		return r.fail("value of %s truncated: %d of %d bytes", e.Tag, got, n)
	}
	e.Value = b.Bytes()
	return nil
}
