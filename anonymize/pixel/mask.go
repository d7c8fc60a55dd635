package pixel

import (
	"errors"
	"fmt"
	"strings"
)

// Format describes the pixel data of an image (PS3.3 C.7.6.3).
type Format struct {
	Rows, Columns       int
	SamplesPerPixel     int
	BitsAllocated       int
	BitsStored          int
	PixelRepresentation int
	PlanarConfiguration int
	Photometric         string
	Frames              int
}

// Rect is a pixel rectangle, half-open: columns X0..X1-1, rows Y0..Y1-1.
type Rect struct{ X0, Y0, X1, Y1 int }

// Mask says which pixels to blank: every pixel outside the union of Keep
// when Keep is not empty, and every pixel inside Blank.
type Mask struct {
	Keep  []Rect
	Blank []Rect
}

// Blanked reports whether pixel (x, y) is blanked.
func (m Mask) Blanked(x, y int) bool {
	for _, r := range m.Blank {
		if x >= r.X0 && x < r.X1 && y >= r.Y0 && y < r.Y1 {
			return true
		}
	}
	if len(m.Keep) == 0 {
		return false
	}
	for _, r := range m.Keep {
		if x >= r.X0 && x < r.X1 && y >= r.Y0 && y < r.Y1 {
			return false
		}
	}
	return true
}

// ErrUnsupported is wrapped by errors for pixel encodings this package
// cannot clean.
var ErrUnsupported = errors.New("unsupported pixel data")

// Validate checks the format for the native and RLE paths.
func (f Format) Validate() error {
	if f.Rows <= 0 || f.Columns <= 0 || f.Rows > 1<<15 || f.Columns > 1<<15 {
		return fmt.Errorf("%w: %dx%d", ErrUnsupported, f.Columns, f.Rows)
	}
	if f.BitsAllocated != 8 && f.BitsAllocated != 16 {
		return fmt.Errorf("%w: bits allocated %d", ErrUnsupported, f.BitsAllocated)
	}
	if f.SamplesPerPixel != 1 && f.SamplesPerPixel != 3 {
		return fmt.Errorf("%w: samples per pixel %d", ErrUnsupported, f.SamplesPerPixel)
	}
	if f.Frames <= 0 {
		return fmt.Errorf("%w: %d frames", ErrUnsupported, f.Frames)
	}
	return nil
}

// FrameSize is the size in bytes of one native frame.
func (f Format) FrameSize() int {
	if f.Photometric == "YBR_FULL_422" && f.SamplesPerPixel == 3 {
		return f.Rows * f.Columns * 2 * f.BitsAllocated / 8
	}
	return f.Rows * f.Columns * f.SamplesPerPixel * f.BitsAllocated / 8
}

// blankSample is the value written into blanked pixels for sample s:
// black for the photometric interpretation (PS3.3 C.7.6.3.1.2).
func (f Format) blankSample(s int) uint16 {
	pi := strings.ToUpper(strings.TrimSpace(f.Photometric))
	bits := f.BitsStored
	if bits <= 0 || bits > f.BitsAllocated {
		bits = f.BitsAllocated
	}
	switch {
	case pi == "MONOCHROME1":
		if f.PixelRepresentation == 1 {
			return uint16(1<<(bits-1) - 1)
		}
		return uint16(1<<bits - 1)
	case strings.HasPrefix(pi, "YBR") && s > 0:
		return uint16(1 << (bits - 1))
	case f.PixelRepresentation == 1 && pi == "MONOCHROME2":
		return uint16(int16(-(1 << (bits - 1)))) // most negative: black
	}
	return 0
}

// blankSamples returns blankSample for samples 0, 1 and 2, worked out
// once per frame rather than once per pixel.
func (f Format) blankSamples() [3]uint16 {
	return [3]uint16{f.blankSample(0), f.blankSample(1), f.blankSample(2)}
}

// span is a run [x0, x1) of pixels of one row.
type span struct{ x0, x1 int }

// rowSpans works out the runs of blanked pixels of a mask row by row from
// its rectangles: a few intervals per row instead of testing every
// rectangle for every pixel. It reuses its buffers from row to row.
type rowSpans struct {
	m        Mask
	width    int
	keep, bl []span
}

func newRowSpans(m Mask, width int) *rowSpans { return &rowSpans{m: m, width: width} }

// row returns the runs of pixels of row y for which Blanked is true, in
// order, disjoint and not adjacent; the slice is valid until the next call.
func (r *rowSpans) row(y int) []span {
	covering := func(dst []span, rects []Rect) []span {
		for _, rc := range rects {
			if y < rc.Y0 || y >= rc.Y1 {
				continue
			}
			if x0, x1 := max(rc.X0, 0), min(rc.X1, r.width); x0 < x1 {
				dst = append(dst, span{x0, x1})
			}
		}
		return merge(dst)
	}
	r.bl = r.bl[:0]
	if len(r.m.Keep) > 0 {
		// Everything outside the kept rectangles.
		r.keep = covering(r.keep[:0], r.m.Keep)
		x := 0
		for _, k := range r.keep {
			if k.x0 > x {
				r.bl = append(r.bl, span{x, k.x0})
			}
			x = k.x1
		}
		if x < r.width {
			r.bl = append(r.bl, span{x, r.width})
		}
	}
	r.bl = covering(r.bl, r.m.Blank) // Blank wins over Keep, as in Blanked
	return r.bl
}

// merge sorts spans by start and joins those that overlap or touch, in
// place (a row has a handful: insertion sort).
func merge(s []span) []span {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].x0 < s[j-1].x0; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	out := s[:0]
	for _, v := range s {
		if n := len(out); n > 0 && v.x0 <= out[n-1].x1 {
			out[n-1].x1 = max(out[n-1].x1, v.x1)
			continue
		}
		out = append(out, v)
	}
	return out
}

// MaskNative blanks the pixels of one native frame in place (little
// endian samples).
func MaskNative(f Format, frame []byte, m Mask) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if len(frame) < f.FrameSize() {
		return fmt.Errorf("%w: frame has %d bytes, want %d", ErrUnsupported, len(frame), f.FrameSize())
	}
	bps := f.BitsAllocated / 8
	blank := f.blankSamples()
	put := func(off int, v uint16) {
		frame[off] = byte(v)
		if bps == 2 {
			frame[off+1] = byte(v >> 8)
		}
	}
	// fill blanks n samples of value v, stride samples apart, from off.
	fill := func(off, n, stride int, v uint16) {
		if v == 0 && stride == 1 {
			clear(frame[off : off+n*bps])
			return
		}
		for i := 0; i < n; i++ {
			put(off+i*stride*bps, v)
		}
	}
	rs := newRowSpans(m, f.Columns)
	if f.Photometric == "YBR_FULL_422" && f.SamplesPerPixel == 3 {
		// Pairs of pixels share Cb and Cr: Y0 Y1 Cb Cr (PS3.3 C.7.6.3.1.2),
		// so a row has an even number of pixels.
		if f.Columns%2 == 1 {
			return fmt.Errorf("%w: YBR_FULL_422 with an odd number of columns (%d)", ErrUnsupported, f.Columns)
		}
		row := make([]bool, f.Columns)
		for y := 0; y < f.Rows; y++ {
			clear(row)
			for _, sp := range rs.row(y) {
				for x := sp.x0; x < sp.x1; x++ {
					row[x] = true
				}
			}
			for x := 0; x < f.Columns; x += 2 {
				off := (y*f.Columns + x) * 2 * bps
				b0 := row[x]
				b1 := x+1 < f.Columns && row[x+1]
				if b0 {
					put(off, blank[0])
				}
				if b1 {
					put(off+bps, blank[0])
				}
				if b0 && (b1 || x+1 >= f.Columns) {
					put(off+2*bps, blank[1])
					put(off+3*bps, blank[2])
				}
			}
		}
		return nil
	}
	spp := f.SamplesPerPixel
	plane := f.Rows * f.Columns
	allZero := blank[0] == 0 && (spp == 1 || blank[1] == 0 && blank[2] == 0)
	for y := 0; y < f.Rows; y++ {
		for _, sp := range rs.row(y) {
			p0, n := y*f.Columns+sp.x0, sp.x1-sp.x0
			switch {
			case f.PlanarConfiguration == 1:
				for s := 0; s < spp; s++ {
					fill((s*plane+p0)*bps, n, 1, blank[s])
				}
			case allZero:
				fill(p0*spp*bps, n*spp, 1, 0)
			default:
				for s := 0; s < spp; s++ {
					fill((p0*spp+s)*bps, n, spp, blank[s])
				}
			}
		}
	}
	return nil
}
