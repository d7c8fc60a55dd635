package pixel

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
)

// JPEGQuality is the quality of re-encoded JPEG baseline frames.
const JPEGQuality = 95

// MaskJPEG decodes a JPEG baseline frame, blanks the mask and encodes it
// again as baseline JPEG. It returns the new frame and the photometric
// interpretation that describes it (YBR_FULL_422 for colour, since
// image/jpeg writes subsampled YCbCr; MONOCHROME2 for grey).
func MaskJPEG(data []byte, m Mask) ([]byte, string, error) {
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, "", fmt.Errorf("%w: jpeg: %v", ErrUnsupported, err)
	}
	b := img.Bounds()
	var out image.Image
	pi := "YBR_FULL_422"
	switch src := img.(type) {
	case *image.Gray:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				if m.Blanked(x-b.Min.X, y-b.Min.Y) {
					src.SetGray(x, y, color.Gray{})
				}
			}
		}
		out, pi = src, "MONOCHROME2"
	default:
		rgba := image.NewRGBA(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				if m.Blanked(x-b.Min.X, y-b.Min.Y) {
					rgba.Set(x, y, color.RGBA{A: 0xFF})
				} else {
					rgba.Set(x, y, img.At(x, y))
				}
			}
		}
		out = rgba
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: JPEGQuality}); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), pi, nil
}
