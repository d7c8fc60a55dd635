package dcm

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// ImplementationClassUID and ImplementationVersionName identify sonogate
// in file meta information and association negotiation (PS3.7 D.3.3.2).
const (
	ImplementationClassUID    = "2.25.159285450267753744784232278597816087671"
	ImplementationVersionName = "SONOGATE_1"
)

// FileMeta is the File Meta Information of a Part 10 file (PS3.10 §7.1).
type FileMeta struct {
	MediaStorageSOPClassUID      string
	MediaStorageSOPInstanceUID   string
	TransferSyntaxUID            string
	ImplementationClassUID       string
	ImplementationVersionName    string
	SourceApplicationEntityTitle string
}

// ErrNoPreamble means the input does not start with a 128-byte preamble
// followed by "DICM".
var ErrNoPreamble = errors.New("not a DICOM Part 10 file: no DICM prefix")

// maxMetaLength bounds the file meta group: it holds a few UIDs.
const maxMetaLength = 1 << 16

// ReadFileMeta reads the preamble, "DICM" and the group 0002 elements and
// returns the meta information and the offset of the data set. Group 0002
// is read up to its group length when present, else while tags are in
// group 0002. It returns ErrNoPreamble when there is no DICM prefix.
func ReadFileMeta(r io.Reader) (FileMeta, int64, error) {
	var m FileMeta
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	pre, err := br.Peek(132)
	if err != nil || string(pre[128:132]) != "DICM" {
		return m, 0, ErrNoPreamble
	}
	br.Discard(132)
	return readMetaGroup(br, 132)
}

// readMetaGroup reads group 0002 elements starting at offset pos.
func readMetaGroup(br *bufio.Reader, pos int64) (FileMeta, int64, error) {
	var m FileMeta
	var end int64 = -1
	for {
		if end >= 0 && pos >= end {
			break
		}
		h, err := br.Peek(8)
		if len(h) < 8 {
			if end < 0 && (err == io.EOF) && len(h) == 0 {
				break
			}
			return m, pos, fmt.Errorf("%w: truncated file meta information", ErrMalformed)
		}
		tag := NewTag(binary.LittleEndian.Uint16(h[0:]), binary.LittleEndian.Uint16(h[2:]))
		if tag.Group() != 0x0002 {
			break
		}
		var vl int
		var hdr int
		vr := VR(h[4:6])
		switch {
		case vr.Known() && vr.HasLongLength():
			h12, err := br.Peek(12)
			if err != nil {
				return m, pos, fmt.Errorf("%w: truncated file meta information", ErrMalformed)
			}
			vl, hdr = int(binary.LittleEndian.Uint32(h12[8:])), 12
		case vr.Known():
			vl, hdr = int(binary.LittleEndian.Uint16(h[6:])), 8
		default: // implicit VR meta, as some writers produce
			vl, hdr = int(binary.LittleEndian.Uint32(h[4:])), 8
		}
		if vl < 0 || vl > maxMetaLength {
			return m, pos, fmt.Errorf("%w: file meta element %s length %d", ErrMalformed, tag, vl)
		}
		br.Discard(hdr)
		val := make([]byte, vl)
		if _, err := io.ReadFull(br, val); err != nil {
			return m, pos, fmt.Errorf("%w: truncated file meta element %s", ErrMalformed, tag)
		}
		pos += int64(hdr + vl)
		s := trimUID(string(bytes.TrimRight(val, " ")))
		switch tag {
		case TagFileMetaInformationGroupLength:
			if vl == 4 {
				end = pos + int64(binary.LittleEndian.Uint32(val))
			}
		case TagMediaStorageSOPClassUID:
			m.MediaStorageSOPClassUID = s
		case TagMediaStorageSOPInstanceUID:
			m.MediaStorageSOPInstanceUID = s
		case TagTransferSyntaxUID:
			m.TransferSyntaxUID = s
		case TagImplementationClassUID:
			m.ImplementationClassUID = s
		case TagImplementationVersionName:
			m.ImplementationVersionName = s
		case TagSourceApplicationEntityTitle:
			m.SourceApplicationEntityTitle = s
		}
	}
	return m, pos, nil
}

// EncodeFileMeta returns a preamble of zeros, "DICM" and the group 0002
// elements in explicit VR little endian with a correct group length.
// Implementation class UID and version default to sonogate's.
func EncodeFileMeta(m FileMeta) []byte {
	if m.ImplementationClassUID == "" {
		m.ImplementationClassUID = ImplementationClassUID
	}
	if m.ImplementationVersionName == "" {
		m.ImplementationVersionName = ImplementationVersionName
	}
	var g bytes.Buffer
	w := NewWriter(&g, ExplicitVRLittleEndian)
	w.WriteValue(TagFileMetaInformationVersion, OB, []byte{0, 1})
	w.WriteString(TagMediaStorageSOPClassUID, UI, m.MediaStorageSOPClassUID)
	w.WriteString(TagMediaStorageSOPInstanceUID, UI, m.MediaStorageSOPInstanceUID)
	w.WriteString(TagTransferSyntaxUID, UI, m.TransferSyntaxUID)
	w.WriteString(TagImplementationClassUID, UI, m.ImplementationClassUID)
	w.WriteString(TagImplementationVersionName, SH, m.ImplementationVersionName)
	if m.SourceApplicationEntityTitle != "" {
		w.WriteString(TagSourceApplicationEntityTitle, AE, m.SourceApplicationEntityTitle)
	}
	out := make([]byte, 128, 128+4+12+g.Len())
	out = append(out, "DICM"...)
	var gl bytes.Buffer
	NewWriter(&gl, ExplicitVRLittleEndian).WriteValue(TagFileMetaInformationGroupLength, UL, binary.LittleEndian.AppendUint32(nil, uint32(g.Len())))
	out = append(out, gl.Bytes()...)
	return append(out, g.Bytes()...)
}

// DetectTransferSyntax guesses the encoding of a data set that has no file
// meta information from its first element: the group number's byte order
// and whether two VR letters follow the tag.
func DetectTransferSyntax(head []byte) (TransferSyntax, bool) {
	if len(head) < 8 {
		return TransferSyntax{}, false
	}
	le := binary.LittleEndian.Uint16(head[0:])
	be := binary.BigEndian.Uint16(head[0:])
	explicit := VR(head[4:6]).Known()
	switch {
	case le <= 0x0008 || (le < 0x7FE0 && le%2 == 0 && be > 0x7FE0):
		if explicit {
			return ExplicitVRLittleEndian, true
		}
		return ImplicitVRLittleEndian, true
	case be <= 0x0008 && explicit:
		return ExplicitVRBigEndian, true
	}
	return TransferSyntax{}, false
}

// File is an opened DICOM file: its meta information (possibly empty when
// the file has none), the transfer syntax of its data set and where the
// data set starts.
type File struct {
	Meta       FileMeta
	Syntax     TransferSyntax
	DataOffset int64
	HasMeta    bool
}

// OpenFile reads the meta information of the file at path, or detects the
// encoding of a bare data set. The file is closed again.
func OpenFile(path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	return ReadFile(bufio.NewReader(f))
}

// ReadFile is OpenFile on a reader positioned at the start of the file.
func ReadFile(br *bufio.Reader) (File, error) {
	m, off, err := ReadFileMeta(br)
	switch {
	case errors.Is(err, ErrNoPreamble):
		head, _ := br.Peek(8)
		if len(head) == 8 && binary.LittleEndian.Uint16(head) == 0x0002 && VR(head[4:6]).Known() {
			// File meta elements without preamble, as some writers emit.
			m, off, err = readMetaGroup(br, 0)
			if err != nil {
				return File{}, err
			}
			break
		}
		ts, ok := DetectTransferSyntax(head)
		if !ok {
			return File{}, fmt.Errorf("%w: no DICM prefix and no recognisable data set", ErrMalformed)
		}
		return File{Syntax: ts}, nil
	case err != nil:
		return File{}, err
	}
	f := File{Meta: m, DataOffset: off, HasMeta: true}
	if m.TransferSyntaxUID == "" {
		head, _ := br.Peek(8)
		ts, ok := DetectTransferSyntax(head)
		if !ok {
			return f, fmt.Errorf("%w: file meta has no transfer syntax", ErrMalformed)
		}
		f.Syntax = ts
		return f, nil
	}
	ts, ok := LookupTransferSyntax(m.TransferSyntaxUID)
	if !ok {
		return f, fmt.Errorf("unknown transfer syntax %q", m.TransferSyntaxUID)
	}
	f.Syntax = ts
	return f, nil
}
