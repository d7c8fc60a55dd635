package routing

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/internal/testenv"
)

// TestOrthancInterop sends real files of several transfer syntaxes to a real
// Orthanc through the DIMSE destination and checks that Orthanc stored every
// one, in the transfer syntax it was sent in (no transcoding on our side).
func TestOrthancInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("interop test")
	}
	dir := testenv.SharedTestdata(t, "dicom/transfer_syntax")
	o := testenv.StartOrthanc(t, testenv.OrthancOptions{})
	wantTS := map[string]bool{
		"1.2.840.10008.1.2":      true, // implicit VR LE
		"1.2.840.10008.1.2.1":    true, // explicit VR LE
		"1.2.840.10008.1.2.5":    true, // RLE
		"1.2.840.10008.1.2.4.50": true, // JPEG baseline
		"1.2.840.10008.1.2.4.90": true, // JPEG 2000 lossless
		"1.2.840.10008.1.2.4.91": true, // JPEG 2000
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.dcm"))
	sort.Strings(files)
	type sent struct {
		inst *catalog.Instance
		data []byte
	}
	bySOP := map[string]sent{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, off, err := dcm.ReadFileMeta(bytes.NewReader(b))
		if err != nil || !wantTS[m.TransferSyntaxUID] || m.MediaStorageSOPClassUID == "" || m.MediaStorageSOPInstanceUID == "" {
			continue
		}
		if _, dup := bySOP[m.MediaStorageSOPInstanceUID]; dup {
			continue
		}
		bySOP[m.MediaStorageSOPInstanceUID] = sent{&catalog.Instance{
			SOPInstanceUID: m.MediaStorageSOPInstanceUID, SOPClassUID: m.MediaStorageSOPClassUID,
			TransferSyntaxUID: m.TransferSyntaxUID, DataOffset: off, RelPath: f,
		}, b[off:]}
	}
	if len(bySOP) < 3 {
		t.Fatalf("only %d usable files in %s", len(bySOP), dir)
	}
	d, err := NewDIMSE(DIMSEConfig{Name: "orthanc", Addr: o.DicomAddr(), CalledAE: o.AET(), CallingAE: "SONOGATE"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for uid, s := range bySOP {
		if err := d.Send(ctx, s.inst, s.inst.RelPath); err != nil {
			t.Errorf("send %s (%s): %v", uid, s.inst.TransferSyntaxUID, err)
		}
	}
	o.WaitInstances(t, len(bySOP), 30*time.Second)
	var ids []string
	o.GetJSON(t, "/instances", &ids) // Orthanc's own resource ids
	if len(ids) != len(bySOP) {
		t.Errorf("orthanc stores %d instances, sent %d", len(ids), len(bySOP))
	}
	for _, id := range ids {
		b := o.Get(t, "/instances/"+id+"/file")
		m, off, err := dcm.ReadFileMeta(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("orthanc file %s: %v", id, err)
		}
		s, ok := bySOP[m.MediaStorageSOPInstanceUID]
		if !ok {
			t.Errorf("orthanc has unexpected instance %s", m.MediaStorageSOPInstanceUID)
			continue
		}
		if m.TransferSyntaxUID != s.inst.TransferSyntaxUID {
			t.Errorf("%s stored in %s, sent in %s", m.MediaStorageSOPInstanceUID, m.TransferSyntaxUID, s.inst.TransferSyntaxUID)
		}
		// Orthanc re-serialises what it stores (group lengths, padding), so
		// byte identity of what we send is asserted against our own SCP in
		// TestDIMSEDestination; here the size must be close.
		if n := len(b) - int(off); n < len(s.data)*9/10 {
			t.Errorf("%s: %d data set bytes stored, %d sent", m.MediaStorageSOPInstanceUID, n, len(s.data))
		}
		if m.MediaStorageSOPClassUID != s.inst.SOPClassUID {
			t.Errorf("%s: SOP class %s, sent %s", m.MediaStorageSOPInstanceUID, m.MediaStorageSOPClassUID, s.inst.SOPClassUID)
		}
	}
}
