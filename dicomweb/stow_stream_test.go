package dicomweb

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/sonogate/sonogate/config"
)

// largeInstance is a Part 10 US image whose pixel data (n bytes) makes it
// larger than memPartLimit, so that STOW-RS streams it into the store.
func largeInstance(t *testing.T, study, sop string, n int) (file []byte, dataOffset int) {
	t.Helper()
	px := make([]byte, n)
	for i := range px {
		px[i] = byte(i*31 + i>>9)
	}
	return usInstance(t, study, sop, "Stream^Large", px)
}

// TestSTOWStreamsLargeParts: parts larger than memPartLimit are streamed
// into the store; each is stored byte for byte, a well-delimited part cut
// inside its pixel data is refused as not understood (0xC000) while the
// others of the request are stored, a part of another study under
// /studies/{study} is refused (0xA900), and a body that ends without its
// close delimiter (B28) keeps its last part exactly, or refuses it when
// the body was cut inside the part.
func TestSTOWStreamsLargeParts(t *testing.T) {
	e := newEnv(t, config.Auth{})
	ctx := context.Background()
	const study = "1.2.826.0.1.3680043.10.1137.91"
	a, offA := largeInstance(t, study, study+".1.1", 3<<20+7)
	b, _ := largeInstance(t, study, study+".1.2", 1<<20)
	c, _ := largeInstance(t, study, study+".1.3", 2<<20)
	other, _ := largeInstance(t, "1.2.826.0.1.3680043.10.1137.99", "1.2.826.0.1.3680043.10.1137.99.1.1", 1<<20)
	if len(b) <= memPartLimit {
		t.Fatalf("test part of %d bytes is not large", len(b))
	}
	cut := c[:len(c)-5000]
	body := multipartBody("zz",
		[2]string{"application/dicom", string(a)},
		[2]string{"application/dicom", string(cut)},
		[2]string{"application/dicom", string(other)},
		[2]string{"application/dicom", string(b)},
	)
	resp, obj, raw := e.post("/dicom-web/studies/"+study, `multipart/related; type="application/dicom"; boundary=zz`, body)
	if resp.StatusCode != 202 {
		t.Fatalf("status %d %s", resp.StatusCode, raw)
	}
	var refs []string
	for _, r := range seqItems(obj["00081199"]) {
		refs = append(refs, r["00081155"].str(0))
	}
	if fmt.Sprint(refs) != fmt.Sprint([]string{study + ".1.1", study + ".1.2"}) {
		t.Errorf("referenced %v, want .1.1 and .1.2: %s", refs, raw)
	}
	var reasons []string
	for _, f := range seqItems(obj["00081198"]) {
		reasons = append(reasons, string(f["00081197"].Value[0])+" "+f["00081155"].str(0))
	}
	want := []string{"49152 " + study + ".1.3", "43264 1.2.826.0.1.3680043.10.1137.99.1.1"}
	if fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Errorf("failures %v, want %v", reasons, want)
	}
	// Byte for byte: the stored data set is the part's data set.
	ins, err := e.cat.InstancesBySOP(ctx, "clinical", study+".1.1")
	if err != nil || len(ins) != 1 {
		t.Fatalf("%d rows for .1.1 (%v)", len(ins), err)
	}
	stored, err := os.ReadFile(e.srv.cfg.Store.Path(ins[0].RelPath))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored[ins[0].DataOffset:], a[offA:]) {
		t.Errorf("stored data set differs from the part's (%d vs %d bytes)", len(stored)-int(ins[0].DataOffset), len(a)-offA)
	}
	if cutRows, _ := e.cat.InstancesBySOP(ctx, "clinical", study+".1.3"); len(cutRows) != 0 {
		t.Errorf("the cut part was indexed")
	}

	// B28: the body ends without a close delimiter after a large part.
	for _, eol := range []string{"\r\n", "\n", ""} {
		nb := []byte("--q\r\nContent-Type: application/dicom\r\n\r\n" + string(c) + eol)
		resp, obj, raw := e.post("/dicom-web/studies", `multipart/related; type="application/dicom"; boundary=q`, nb)
		if resp.StatusCode != 200 || len(seqItems(obj["00081199"])) != 1 {
			t.Fatalf("eol %q: status %d %s", eol, resp.StatusCode, raw)
		}
	}
	rows, err := e.cat.InstancesBySOP(ctx, "clinical", study+".1.3")
	if err != nil || len(rows) != 1 || rows[0].Version != 1 {
		t.Fatalf("rows for .1.3: %+v (%v); want one version: the trailing line break must not be kept", rows, err)
	}
	// The body cut inside the large part, no delimiter: refused, not stored.
	const study2 = "1.2.826.0.1.3680043.10.1137.92"
	d, _ := largeInstance(t, study2, study2+".1.1", 2<<20)
	nb := []byte("--q\r\nContent-Type: application/dicom\r\n\r\n" + string(d[:len(d)-777]))
	resp, obj, raw = e.post("/dicom-web/studies", `multipart/related; type="application/dicom"; boundary=q`, nb)
	if resp.StatusCode != 409 {
		t.Errorf("cut body: status %d %s, want 409", resp.StatusCode, raw)
	}
	if f := seqItems(obj["00081198"]); len(f) != 1 || string(f[0]["00081197"].Value[0]) != "49152" {
		t.Errorf("cut body: failures %s", raw)
	}
	if rows, _ := e.cat.InstancesBySOP(ctx, "clinical", study2+".1.1"); len(rows) != 0 {
		t.Errorf("the cut part was indexed")
	}
}
