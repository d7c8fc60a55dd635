package dicomweb

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dcm"
)

// tinyInstance is a Part 10 file of a small US image with the given UIDs.
func tinyInstance(t *testing.T, study, sop string) []byte {
	t.Helper()
	b, _ := usInstance(t, study, sop, "Par^Allel", nil)
	return b
}

// usInstance is a Part 10 US image with the given UIDs and name, and pixel
// data when pixels is not nil; dataOffset is where the data set starts.
func usInstance(t *testing.T, study, sop, name string, pixels []byte) (file []byte, dataOffset int) {
	t.Helper()
	var b bytes.Buffer
	const usImage = "1.2.840.10008.5.1.4.1.1.6.1"
	b.Write(dcm.EncodeFileMeta(dcm.FileMeta{MediaStorageSOPClassUID: usImage, MediaStorageSOPInstanceUID: sop,
		TransferSyntaxUID: dcm.ExplicitVRLittleEndian.UID, ImplementationClassUID: "1.2.3.4"}))
	dataOffset = b.Len()
	w := dcm.NewWriter(&b, dcm.ExplicitVRLittleEndian)
	tg := dcm.NewTag
	w.WriteString(tg(0x0008, 0x0016), dcm.UI, usImage)
	w.WriteString(tg(0x0008, 0x0018), dcm.UI, sop)
	w.WriteString(tg(0x0008, 0x0060), dcm.CS, "US")
	w.WriteString(tg(0x0010, 0x0010), dcm.PN, name)
	w.WriteString(tg(0x0020, 0x000D), dcm.UI, study)
	w.WriteString(tg(0x0020, 0x000E), dcm.UI, study+".1")
	if pixels != nil {
		w.WriteValue(dcm.TagPixelData, dcm.OW, pixels)
	}
	if w.Err() != nil {
		t.Fatal(w.Err())
	}
	return b.Bytes(), dataOffset
}

// TestSTOWParallelParts stores a request of many parts (ingested several at
// once): the response lists every part in request order, a part repeated
// in the request is stored once, a broken part in the middle fails alone,
// and every stored instance is in the catalog when the response arrives.
func TestSTOWParallelParts(t *testing.T) {
	e := newEnv(t, config.Auth{})
	const study = "1.2.826.0.1.3680043.10.1137.77"
	var parts [][2]string
	var want []string
	for i := range 60 {
		sop := fmt.Sprintf("%s.1.%d", study, i+1)
		switch {
		case i == 30:
			parts = append(parts, [2]string{"application/dicom", "not DICOM"})
			continue
		case i == 45:
			sop = fmt.Sprintf("%s.1.%d", study, 1) // a resend of part 0
		}
		parts = append(parts, [2]string{"application/dicom", string(tinyInstance(t, study, sop))})
		want = append(want, sop)
	}
	resp, obj, raw := e.post("/dicom-web/studies", `multipart/related; type="application/dicom"; boundary=xyz`, multipartBody("xyz", parts...))
	if resp.StatusCode != 202 {
		t.Fatalf("status %d %s", resp.StatusCode, raw)
	}
	refs := seqItems(obj["00081199"])
	var got []string
	for _, r := range refs {
		got = append(got, r["00081155"].str(0))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("referenced SOP instances in this order:\n%v\nwant\n%v", got, want)
	}
	if fails := seqItems(obj["00081198"]); len(fails) != 1 || string(fails[0]["00081197"].Value[0]) != "49152" {
		t.Errorf("failed parts: %s", raw)
	}
	ins, err := e.cat.InstancesOf(context.Background(), "clinical", study, "", "")
	if err != nil || len(ins) != 58 {
		t.Errorf("%d instances in the catalog (%v), want 58", len(ins), err)
	}
}

// TestSTOWSmallPartsNoCloseDelimiter: parts held in memory (small) and a
// body that ends without its close delimiter (B28): the last part is
// stored without the line break that preceded the missing delimiter.
func TestSTOWSmallPartsNoCloseDelimiter(t *testing.T) {
	e := newEnv(t, config.Auth{})
	const study = "1.2.826.0.1.3680043.10.1137.78"
	a, b := tinyInstance(t, study, study+".1.1"), tinyInstance(t, study, study+".1.2")
	if len(b) > memPartLimit {
		t.Fatalf("test part of %d bytes is not small", len(b))
	}
	for _, eol := range []string{"\r\n", "\n", ""} {
		body := []byte("--q\r\nContent-Type: application/dicom\r\n\r\n" + string(a) + "\r\n--q\r\nContent-Type: application/dicom\r\n\r\n" + string(b) + eol)
		resp, obj, raw := e.post("/dicom-web/studies", `multipart/related; type="application/dicom"; boundary=q`, body)
		if resp.StatusCode != 200 || len(seqItems(obj["00081199"])) != 2 {
			t.Fatalf("eol %q: status %d %s", eol, resp.StatusCode, raw)
		}
	}
	ins, err := e.cat.InstancesOf(context.Background(), "clinical", study, "", "")
	if err != nil || len(ins) != 2 {
		t.Fatalf("%d instances (%v), want 2", len(ins), err)
	}
	// Stored byte for byte: the same data set, so every resend was a Duplicate.
	for _, in := range ins {
		if in.Version != 1 {
			t.Errorf("%s stored as version %d: the trailing line break was kept", in.SOPInstanceUID, in.Version)
		}
	}
}
