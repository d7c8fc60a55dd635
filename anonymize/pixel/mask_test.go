package pixel

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// maskPerPixel is the definition MaskNative must agree with: every
// pixel for which Blanked is true gets blankSample for each sample.
func maskPerPixel(f Format, frame []byte, m Mask) {
	bps := f.BitsAllocated / 8
	put := func(off int, v uint16) {
		frame[off] = byte(v)
		if bps == 2 {
			frame[off+1] = byte(v >> 8)
		}
	}
	if f.Photometric == "YBR_FULL_422" && f.SamplesPerPixel == 3 {
		for y := 0; y < f.Rows; y++ {
			for x := 0; x < f.Columns; x += 2 {
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
		return
	}
	plane := f.Rows * f.Columns
	for y := 0; y < f.Rows; y++ {
		for x := 0; x < f.Columns; x++ {
			if !m.Blanked(x, y) {
				continue
			}
			p := y*f.Columns + x
			for s := 0; s < f.SamplesPerPixel; s++ {
				off := (p*f.SamplesPerPixel + s) * bps
				if f.PlanarConfiguration == 1 {
					off = (s*plane + p) * bps
				}
				put(off, f.blankSample(s))
			}
		}
	}
}

func randomRects(r *rand.Rand, f Format, n int) []Rect {
	var out []Rect
	for range n {
		// Some rectangles reach outside the image or are empty.
		x0, y0 := r.IntN(f.Columns+8)-4, r.IntN(f.Rows+8)-4
		out = append(out, Rect{X0: x0, Y0: y0, X1: x0 + r.IntN(f.Columns+4) - 2, Y1: y0 + r.IntN(f.Rows+4) - 2})
	}
	return out
}

func randomCase(r *rand.Rand) (Format, Mask) {
	photometrics := []string{"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR", " ybr_full "}
	f := Format{Rows: 1 + r.IntN(40), Columns: 1 + r.IntN(40), Frames: 1,
		BitsAllocated: []int{8, 16}[r.IntN(2)], PixelRepresentation: r.IntN(2), PlanarConfiguration: r.IntN(2),
		Photometric: photometrics[r.IntN(len(photometrics))]}
	if f.Photometric == "YBR_FULL_422" && f.Columns%2 == 1 {
		f.Columns++ // pairs of pixels share chroma
	}
	f.BitsStored = f.BitsAllocated - r.IntN(5)
	f.SamplesPerPixel = 1
	switch f.Photometric {
	case "RGB", "YBR_FULL", "YBR_FULL_422", " ybr_full ":
		f.SamplesPerPixel = 3
	}
	return f, Mask{Keep: randomRects(r, f, r.IntN(5)), Blank: randomRects(r, f, r.IntN(4))}
}

func TestMaskNativeMatchesPerPixel(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		f, m := randomCase(r)
		frame := make([]byte, f.FrameSize())
		for j := range frame {
			frame[j] = byte(r.IntN(256))
		}
		want := bytes.Clone(frame)
		maskPerPixel(f, want, m)
		if err := MaskNative(f, frame, m); err != nil {
			t.Fatalf("case %d %+v: %v", i, f, err)
		}
		if !bytes.Equal(frame, want) {
			t.Fatalf("case %d: format %+v mask %+v: MaskNative differs from the per-pixel definition", i, f, m)
		}
	}
}

func TestMaskNativeOddYBR422(t *testing.T) {
	f := Format{Rows: 2, Columns: 3, SamplesPerPixel: 3, BitsAllocated: 8, BitsStored: 8, Photometric: "YBR_FULL_422", Frames: 1}
	err := MaskNative(f, make([]byte, f.FrameSize()), Mask{Keep: []Rect{{0, 0, 1, 1}}})
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("odd-width YBR_FULL_422: err = %v, want ErrUnsupported", err)
	}
}

func TestMaskRLEMatchesPerPixel(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 1000 {
		f, m := randomCase(r)
		if f.Photometric == "YBR_FULL_422" {
			continue // not an RLE photometric interpretation
		}
		f.PlanarConfiguration = 1 // RLE segments are planes (PS3.5 G.2)
		bps := f.BitsAllocated / 8
		plane := f.Rows * f.Columns
		native := make([]byte, f.FrameSize())
		for j := range native {
			native[j] = byte(r.IntN(4)) // runs, so packBits replicates
		}
		segs := make([][]byte, f.SamplesPerPixel*bps)
		for s := 0; s < f.SamplesPerPixel; s++ {
			for b := 0; b < bps; b++ {
				seg := make([]byte, plane)
				for p := 0; p < plane; p++ {
					seg[p] = native[(s*plane+p)*bps+(bps-1-b)] // most significant byte first
				}
				segs[s*bps+b] = seg
			}
		}
		out, err := MaskRLE(f, EncodeRLE(segs), m)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		got, err := DecodeRLE(f, out)
		if err != nil {
			t.Fatalf("case %d: decode: %v", i, err)
		}
		maskPerPixel(f, native, m)
		for s := 0; s < f.SamplesPerPixel; s++ {
			for b := 0; b < bps; b++ {
				for p := 0; p < plane; p++ {
					if w := native[(s*plane+p)*bps+(bps-1-b)]; got[s*bps+b][p] != w {
						t.Fatalf("case %d: format %+v mask %+v: sample %d byte %d pixel %d = %d, want %d", i, f, m, s, b, p, got[s*bps+b][p], w)
					}
				}
			}
		}
	}
}

// BenchmarkMaskNative masks a small-corpus US frame outside one region,
// beside the per-pixel definition it replaced.
func BenchmarkMaskNative(b *testing.B) {
	f := Format{Rows: 288, Columns: 352, SamplesPerPixel: 3, BitsAllocated: 8, BitsStored: 8, Photometric: "RGB", Frames: 1}
	m := Mask{Keep: []Rect{{X0: 40, Y0: 30, X1: 312, Y1: 260}}}
	frame := make([]byte, f.FrameSize())
	for _, impl := range []struct {
		name string
		mask func(b *testing.B)
	}{
		{"runs", func(b *testing.B) {
			if err := MaskNative(f, frame, m); err != nil {
				b.Fatal(err)
			}
		}},
		{"per-pixel", func(*testing.B) { maskPerPixel(f, frame, m) }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				impl.mask(b)
			}
		})
	}
}
