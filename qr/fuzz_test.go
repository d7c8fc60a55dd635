package qr

import (
	"testing"

	"github.com/sonogate/sonogate/catalog"
)

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"PatientName=Wang*", "0010,0020=X2", "StudyDate=20200101-20201231", "(0020,000D)", "=", "7FE0,0010=x", "ReferencedSOPSequence"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err != nil {
			return
		}
		b, err := EncodeQuery("1.2.840.10008.1.2.1", catalog.LevelStudy, []Key{k})
		if err != nil {
			return
		}
		id, err := ParseIdentifier(b, "1.2.840.10008.1.2.1", StudyRoot)
		if err != nil {
			t.Fatalf("identifier of key %q does not parse: %v", s, err)
		}
		if id.Level != catalog.LevelStudy || id.findKey(k.Tag) < 0 {
			t.Fatalf("key %q lost: %+v", s, id)
		}
	})
}

func FuzzParseIdentifier(f *testing.F) {
	for _, ks := range [][]Key{
		{{Tag: 0x00100010, VR: "PN", Value: "王*"}},
		{{Tag: 0x0020000D, VR: "UI", Value: `1.2\1.3`}, {Tag: 0x00080020, VR: "DA", Value: "20200101-"}},
	} {
		b, _ := EncodeQuery("1.2.840.10008.1.2.1", catalog.LevelSeries, ks)
		f.Add(b, true)
		b, _ = EncodeQuery("1.2.840.10008.1.2", catalog.LevelImage, ks)
		f.Add(b, false)
	}
	f.Fuzz(func(t *testing.T, b []byte, explicit bool) {
		ts := "1.2.840.10008.1.2"
		if explicit {
			ts = "1.2.840.10008.1.2.1"
		}
		id, err := ParseIdentifier(b, ts, PatientRoot)
		if err != nil {
			return
		}
		if rank(id.Level) < 0 {
			t.Fatalf("accepted level %q", id.Level)
		}
		matchKeys(id)
	})
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		in      string
		tag     uint32
		value   string
		wantErr bool
	}{
		{"PatientName=Wang*", 0x00100010, "Wang*", false},
		{"0020,000d=1.2.3", 0x0020000D, "1.2.3", false},
		{"StudyDate", 0x00080020, "", false},
		{"ReferencedSOPSequence", 0, "", true},
		{"NoSuchKeyword=1", 0, "", true},
		{"=x", 0, "", true},
	} {
		k, err := ParseKey(tc.in)
		if (err != nil) != tc.wantErr || err == nil && (uint32(k.Tag) != tc.tag || k.Value != tc.value) {
			t.Errorf("ParseKey(%q) = %+v, %v", tc.in, k, err)
		}
	}
}
