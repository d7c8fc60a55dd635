package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/sonogate/sonogate/dcm"
)

const usImageStorage = "1.2.840.10008.5.1.4.1.1.6.1" // Ultrasound Image Storage

// newUID returns a UID under the 2.25 root (PS3.5 §B.2): the decimal value
// of 128 random bits.
func newUID(t testing.TB) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "2.25." + new(big.Int).SetBytes(b[:]).String()
}

// GenerateUS writes n small valid Ultrasound Image Storage instances
// (64×64 MONOCHROME2, 8 bits, noise pixels, Explicit VR Little Endian) to
// dir, spread over `studies` studies with one series each, and returns
// them. Every instance has a fresh SOP Instance UID.
func GenerateUS(t testing.TB, dir string, n, studies int) []Instance {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	type study struct{ study, series, patientID string }
	st := make([]study, studies)
	for i := range st {
		st[i] = study{newUID(t), newUID(t), fmt.Sprintf("E2E%04d", i+1)}
	}
	rng := mrand.New(mrand.NewPCG(uint64(n), uint64(studies)))
	out := make([]Instance, 0, n)
	for i := 0; i < n; i++ {
		s := st[i%studies]
		sop := newUID(t)
		pixels := make([]byte, 64*64)
		for j := range pixels {
			pixels[j] = byte(rng.UintN(256))
		}
		var ds bytes.Buffer
		w := dcm.NewWriter(&ds, dcm.ExplicitVRLittleEndian)
		us := func(tag dcm.Tag, v uint16) {
			var b [2]byte
			binary.LittleEndian.PutUint16(b[:], v)
			w.WriteValue(tag, dcm.US, b[:])
		}
		w.WriteString(dcm.TagSpecificCharacterSet, dcm.CS, "ISO_IR 100")
		w.WriteString(dcm.TagSOPClassUID, dcm.UI, usImageStorage)
		w.WriteString(dcm.TagSOPInstanceUID, dcm.UI, sop)
		w.WriteString(dcm.TagStudyDate, dcm.DA, "20260101")
		w.WriteString(dcm.TagStudyTime, dcm.TM, "120000")
		w.WriteString(dcm.TagAccessionNumber, dcm.SH, fmt.Sprintf("ACC%d", i%studies))
		w.WriteString(dcm.TagModality, dcm.CS, "US")
		w.WriteString(dcm.TagManufacturer, dcm.LO, "sonogate e2e")
		w.WriteString(dcm.TagReferringPhysicianName, dcm.PN, "")
		w.WriteString(dcm.TagPatientName, dcm.PN, "E2E^Patient"+s.patientID)
		w.WriteString(dcm.TagPatientID, dcm.LO, s.patientID)
		w.WriteString(dcm.TagPatientBirthDate, dcm.DA, "")
		w.WriteString(dcm.TagPatientSex, dcm.CS, "O")
		w.WriteString(dcm.TagStudyInstanceUID, dcm.UI, s.study)
		w.WriteString(dcm.TagSeriesInstanceUID, dcm.UI, s.series)
		w.WriteString(dcm.TagStudyID, dcm.SH, "1")
		w.WriteString(dcm.TagSeriesNumber, dcm.IS, "1")
		w.WriteString(dcm.TagInstanceNumber, dcm.IS, fmt.Sprint(i+1))
		w.WriteString(dcm.NewTag(0x0020, 0x0020), dcm.CS, "") // Patient Orientation (type 2)
		us(dcm.NewTag(0x0028, 0x0002), 1)                     // Samples per Pixel
		w.WriteString(dcm.NewTag(0x0028, 0x0004), dcm.CS, "MONOCHROME2")
		us(dcm.TagRows, 64)
		us(dcm.TagColumns, 64)
		us(dcm.NewTag(0x0028, 0x0100), 8) // Bits Allocated
		us(dcm.NewTag(0x0028, 0x0101), 8) // Bits Stored
		us(dcm.NewTag(0x0028, 0x0102), 7) // High Bit
		us(dcm.NewTag(0x0028, 0x0103), 0) // Pixel Representation
		w.WriteValue(dcm.TagPixelData, dcm.OB, pixels)
		if err := w.Err(); err != nil {
			t.Fatal(err)
		}
		meta := dcm.EncodeFileMeta(dcm.FileMeta{
			MediaStorageSOPClassUID:    usImageStorage,
			MediaStorageSOPInstanceUID: sop,
			TransferSyntaxUID:          dcm.ExplicitVRLittleEndian.UID,
		})
		path := filepath.Join(dir, fmt.Sprintf("us%04d.dcm", i+1))
		if err := os.WriteFile(path, append(meta, ds.Bytes()...), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, Instance{Path: path, SOPClass: usImageStorage, SOPInst: sop, TS: dcm.ExplicitVRLittleEndian.UID, HasMeta: true})
	}
	return out
}
