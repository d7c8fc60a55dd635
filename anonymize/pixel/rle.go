package pixel

import (
	"encoding/binary"
	"fmt"
)

// DecodeRLE decodes one RLE Lossless frame (PS3.5 Annex G) into its
// segments: one per byte of each sample, most significant byte first
// (G.2), each Rows*Columns bytes.
func DecodeRLE(f Format, data []byte) ([][]byte, error) {
	if len(data) < 64 {
		return nil, fmt.Errorf("%w: RLE header truncated", ErrUnsupported)
	}
	n := int(binary.LittleEndian.Uint32(data))
	want := f.SamplesPerPixel * f.BitsAllocated / 8
	if n != want || n > 15 {
		return nil, fmt.Errorf("%w: RLE has %d segments, want %d", ErrUnsupported, n, want)
	}
	size := f.Rows * f.Columns
	segs := make([][]byte, n)
	for i := 0; i < n; i++ {
		start := int(binary.LittleEndian.Uint32(data[4+4*i:]))
		end := len(data)
		if i+1 < n {
			end = int(binary.LittleEndian.Uint32(data[8+4*i:]))
		}
		if start < 64 || start > end || end > len(data) {
			return nil, fmt.Errorf("%w: RLE segment %d offsets %d..%d", ErrUnsupported, i, start, end)
		}
		seg, err := unpackBits(data[start:end], size)
		if err != nil {
			return nil, fmt.Errorf("RLE segment %d: %w", i, err)
		}
		segs[i] = seg
	}
	return segs, nil
}

// unpackBits decodes a PackBits byte segment (G.3.2) to exactly size
// bytes (a short segment is padded with zeros, extra output ignored).
func unpackBits(in []byte, size int) ([]byte, error) {
	out := make([]byte, 0, size)
	for i := 0; i < len(in) && len(out) < size; {
		n := int(int8(in[i]))
		i++
		switch {
		case n >= 0:
			if i+n+1 > len(in) {
				return nil, fmt.Errorf("%w: literal run past end", ErrUnsupported)
			}
			out = append(out, in[i:i+n+1]...)
			i += n + 1
		case n >= -127:
			if i >= len(in) {
				return nil, fmt.Errorf("%w: replicate run past end", ErrUnsupported)
			}
			for k := 0; k < 1-n; k++ {
				out = append(out, in[i])
			}
			i++
		}
	}
	if len(out) > size {
		out = out[:size]
	}
	for len(out) < size {
		out = append(out, 0)
	}
	return out, nil
}

// packBits encodes one segment (G.3.1): runs of 3 or more equal bytes
// as replicate runs, the rest as literal runs, at most 128 bytes each.
func packBits(in []byte) []byte {
	out := make([]byte, 0, len(in)/2+16)
	i := 0
	for i < len(in) {
		run := 1
		for i+run < len(in) && run < 128 && in[i+run] == in[i] {
			run++
		}
		if run >= 3 {
			out = append(out, byte(int8(1-run)), in[i])
			i += run
			continue
		}
		start := i
		for i < len(in) && i-start < 128 {
			if i+2 < len(in) && in[i] == in[i+1] && in[i] == in[i+2] {
				break
			}
			i++
		}
		out = append(out, byte(i-start-1))
		out = append(out, in[start:i]...)
	}
	if len(out)%2 == 1 {
		out = append(out, 0x80) // no-op byte keeps segments even (G.3.1)
	}
	return out
}

// EncodeRLE encodes segments into one RLE Lossless frame.
func EncodeRLE(segs [][]byte) []byte {
	header := make([]byte, 64)
	binary.LittleEndian.PutUint32(header, uint32(len(segs)))
	body := []byte{}
	off := 64
	for i, s := range segs {
		binary.LittleEndian.PutUint32(header[4+4*i:], uint32(off))
		p := packBits(s)
		body = append(body, p...)
		off += len(p)
	}
	return append(header, body...)
}

// MaskRLE decodes an RLE frame, blanks the mask and encodes it again.
func MaskRLE(f Format, data []byte, m Mask) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	segs, err := DecodeRLE(f, data)
	if err != nil {
		return nil, err
	}
	bps := f.BitsAllocated / 8
	blank := f.blankSamples()
	rs := newRowSpans(m, f.Columns)
	for y := 0; y < f.Rows; y++ {
		for _, sp := range rs.row(y) {
			p0, p1 := y*f.Columns+sp.x0, y*f.Columns+sp.x1
			for s := 0; s < f.SamplesPerPixel; s++ {
				v := blank[s]
				if bps == 2 {
					fillBytes(segs[s*2][p0:p1], byte(v>>8))
					fillBytes(segs[s*2+1][p0:p1], byte(v))
				} else {
					fillBytes(segs[s][p0:p1], byte(v))
				}
			}
		}
	}
	return EncodeRLE(segs), nil
}

func fillBytes(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}
