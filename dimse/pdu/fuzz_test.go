package pdu

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRead feeds arbitrary bytes to Read. Any PDU it accepts must re-encode
// and decode to the same value, and it must never panic or allocate past the limit.
func FuzzRead(f *testing.F) {
	seeds := []PDU{sampleRQ(), &AAssociateRJ{1, 1, 7}, &AAbort{2, 2}, &AReleaseRQ{}, &AReleaseRP{},
		&PDataTF{Items: []PDV{{1, 3, []byte{1, 2}}}},
		&AAssociateAC{ApplicationContext: "1.2.840.10008.3.1.1.1", PresentationContexts: []PresentationContextAC{{1, 0, "1.2.840.10008.1.2"}},
			UserInfo: UserInformation{MaxLength: 16384, ImplementationClassUID: "1.2.3", AsyncOperationsWindow: &AsyncOperationsWindow{1, 1}}}}
	for _, p := range seeds {
		b, err := Encode(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Real PDUs captured from DCMTK tools (testdata/*.bin).
	files, _ := filepath.Glob("testdata/*.bin")
	for _, fn := range files {
		b, err := os.ReadFile(fn)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxPDataLength: 1 << 16, MaxOtherLength: 1 << 16}
		p, err := Read(bytes.NewReader(data), lim)
		if err != nil {
			return
		}
		b, err := Encode(p)
		if err != nil {
			return // e.g. a P-DATA-TF PDV that cannot be re-encoded is still rejected on encode
		}
		if _, err := Read(bytes.NewReader(b), Limits{MaxPDataLength: 1 << 20, MaxOtherLength: 1 << 20}); err != nil {
			t.Fatalf("re-encoded %v does not decode: %v", p.Type(), err)
		}
	})
}
