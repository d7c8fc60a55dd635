package elastography

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/sonogate/sonogate/dcm"
)

// ReadFile parses the header of the DICOM file at path (everything before
// the pixel data), which is all the extractor needs.
func ReadFile(path string) (*dcm.Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return ReadDataset(f, fi.Size())
}

// ReadDataset parses a Part 10 file (or a bare data set) of size bytes
// from r, up to the pixel data.
func ReadDataset(r io.ReadSeeker, size int64) (*dcm.Dataset, error) {
	file, err := dcm.ReadFile(bufio.NewReader(r))
	if err != nil {
		return nil, err
	}
	if _, err := r.Seek(file.DataOffset, io.SeekStart); err != nil {
		return nil, err
	}
	opt := dcm.Options{Size: size - file.DataOffset}
	if file.Syntax.Deflated {
		opt.Size = 0 // the inflated stream is longer than the file
	}
	ds, err := dcm.ParseHeader(bufio.NewReader(r), file.Syntax, opt)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	return ds, nil
}
