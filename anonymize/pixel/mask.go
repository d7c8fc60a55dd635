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
	put := func(off int, v uint16) {
		frame[off] = byte(v)
		if bps == 2 {
			frame[off+1] = byte(v >> 8)
		}
	}
	if f.Photometric == "YBR_FULL_422" && f.SamplesPerPixel == 3 {
		// Pairs of pixels share Cb and Cr: Y0 Y1 Cb Cr (PS3.3 C.7.6.3.1.2).
		for y := 0; y < f.Rows; y++ {
			for x := 0; x+1 < f.Columns+1; x += 2 {
				off := (y*f.Columns + x) * 2 * bps
				b0 := m.Blanked(x, y)
				b1 := x+1 < f.Columns && m.Blanked(x+1, y)
				if b0 {
					put(off, f.blankSample(0))
				}
				if b1 {
					put(off+bps, f.blankSample(0))
				}
				if b0 && (b1 || x+1 >= f.Columns) {
					put(off+2*bps, f.blankSample(1))
					put(off+3*bps, f.blankSample(2))
				}
			}
		}
		return nil
	}
	spp := f.SamplesPerPixel
	plane := f.Rows * f.Columns
	for y := 0; y < f.Rows; y++ {
		for x := 0; x < f.Columns; x++ {
			if !m.Blanked(x, y) {
				continue
			}
			p := y*f.Columns + x
			for s := 0; s < spp; s++ {
				var off int
				if f.PlanarConfiguration == 1 {
					off = (s*plane + p) * bps
				} else {
					off = (p*spp + s) * bps
				}
				put(off, f.blankSample(s))
			}
		}
	}
	return nil
}
