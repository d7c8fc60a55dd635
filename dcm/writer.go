package dcm

import (
	"encoding/binary"
	"io"
)

// Writer encodes elements in a transfer syntax (not deflated: wrap the
// destination in a flate writer for that). Values are padded to even
// length: UI with NUL, other strings with space, binary with NUL
// (PS3.5 §7.1.1). The first write error sticks and is returned by Err.
type Writer struct {
	w     io.Writer
	ts    TransferSyntax
	order binary.AppendByteOrder
	err   error
	n     int64
	buf   [12]byte
}

// NewWriter writes to w in ts's encoding.
func NewWriter(w io.Writer, ts TransferSyntax) *Writer {
	var o binary.AppendByteOrder = binary.LittleEndian
	if ts.BigEndian {
		o = binary.BigEndian
	}
	return &Writer{w: w, ts: ts, order: o}
}

// Err returns the first write error.
func (w *Writer) Err() error { return w.err }

// Written returns the number of bytes written.
func (w *Writer) Written() int64 { return w.n }

func (w *Writer) write(p []byte) {
	if w.err != nil {
		return
	}
	n, err := w.w.Write(p)
	w.n += int64(n)
	w.err = err
}

// WriteHeader writes a tag, VR (explicit syntaxes) and length.
func (w *Writer) WriteHeader(t Tag, vr VR, length uint32) {
	b := w.buf[:0]
	b = w.order.AppendUint16(b, t.Group())
	b = w.order.AppendUint16(b, t.Element())
	if t.Group() == 0xFFFE {
		b = w.order.AppendUint32(b, length)
		w.write(b)
		return
	}
	if !w.ts.Explicit {
		b = w.order.AppendUint32(b, length)
		w.write(b)
		return
	}
	b = append(b, vr[0], vr[1])
	if vr.HasLongLength() {
		b = append(b, 0, 0)
		b = w.order.AppendUint32(b, length)
	} else {
		if length > 0xFFFF {
			// Too long for this VR's 16-bit length: write it as UN.
			b = append(b[:4], 'U', 'N', 0, 0)
			b = w.order.AppendUint32(b, length)
			w.write(b)
			return
		}
		b = w.order.AppendUint16(b, uint16(length))
	}
	w.write(b)
}

// WriteValue writes an element with raw value bytes, padded to even length.
func (w *Writer) WriteValue(t Tag, vr VR, value []byte) {
	pad := len(value)%2 == 1
	n := len(value)
	if pad {
		n++
	}
	w.WriteHeader(t, vr, uint32(n))
	w.write(value)
	if pad {
		if vr.IsString() && vr != UI {
			w.write([]byte{' '})
		} else {
			w.write([]byte{0})
		}
	}
}

// WriteString writes a string element.
func (w *Writer) WriteString(t Tag, vr VR, s string) { w.WriteValue(t, vr, []byte(s)) }

// WriteDataset writes every element of d, sequences and items with
// undefined length, encapsulated pixel data as fragments. Skipped values
// cannot be written: the caller must supply their bytes (see WriteElement).
func (w *Writer) WriteDataset(d *Dataset) {
	for _, e := range d.Elements {
		w.WriteElement(e)
	}
}

// WriteElement writes one parsed element with its items or fragments.
func (w *Writer) WriteElement(e *Element) {
	switch {
	case e.Kind == KindSequence && e.Encapsulated:
		w.WriteHeader(e.Tag, e.VR, UndefinedLength)
		for _, f := range e.Fragments {
			w.WriteHeader(TagItem, "", uint32(len(f.Value)+len(f.Value)%2))
			w.write(f.Value)
			if len(f.Value)%2 == 1 {
				w.write([]byte{0})
			}
		}
		w.WriteHeader(TagSequenceDelimitationItem, "", 0)
	case e.Kind == KindSequence:
		vr := e.VR
		if vr == UN || vr == "" {
			vr = SQ
		}
		w.WriteHeader(e.Tag, vr, UndefinedLength)
		for _, it := range e.Items {
			w.WriteHeader(TagItem, "", UndefinedLength)
			w.WriteDataset(it)
			w.WriteHeader(TagItemDelimitationItem, "", 0)
		}
		w.WriteHeader(TagSequenceDelimitationItem, "", 0)
	default:
		v := e.Value
		if e.BigEndian != w.ts.BigEndian && e.VR.WordSize() > 1 {
			v = swapped(v, e.VR.WordSize())
		}
		w.WriteValue(e.Tag, e.VR, v)
	}
}

func swapped(v []byte, size int) []byte {
	out := make([]byte, len(v))
	copy(out, v)
	for i := 0; i+size <= len(out); i += size {
		for a, b := i, i+size-1; a < b; a, b = a+1, b-1 {
			out[a], out[b] = out[b], out[a]
		}
	}
	return out
}
