package dcm

import (
	"bufio"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestCharsetsOfSharedFiles decodes the Patient Name of every character
// set test file to the UTF-8 text that the file's author documented.
func TestCharsetsOfSharedFiles(t *testing.T) {
	dir := sharedTestdata(t, "dicom/charset")
	cases := map[string]string{
		"GH1301_gb18030_bad_cs.dcm":     "Wang^XiaoDong=王^小东=",
		"MarekLatin2_basic_text_sr.dcm": "Testowy^Teste",
		"chrArab.dcm":                   "قباني^لنزار",
		"chrFren.dcm":                   "Buc^Jérôme",
		"chrGB2312.dcm":                 "Zhang^XiaoDong=张^小东=",
		"chrGerm.dcm":                   "Äneas^Rüdiger",
		"chrGreek.dcm":                  "Διονυσιος",
		"chrH31.dcm":                    "Yamada^Tarou=山田^太郎=やまだ^たろう",
		"chrH32.dcm":                    "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう",
		"chrHbrw.dcm":                   "שרון^דבורה",
		"chrI2.dcm":                     "Hong^Gildong=洪^吉洞=홍^길동",
		"chrJapMulti.dcm":               "やまだ^たろう",
		"chrKoreanMulti.dcm":            "김희중",
		"chrRuss.dcm":                   "Люкceмбypг",
		"chrX1.dcm":                     "Wang^XiaoDong=王^小東=",
		"chrX2.dcm":                     "Wang^XiaoDong=王^小东=",
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			br := bufio.NewReader(f)
			file, err := ReadFile(br)
			if err != nil {
				t.Fatal(err)
			}
			ds, err := ParseHeader(br, file.Syntax, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := ds.String(TagPatientName); got != want {
				t.Fatalf("PatientName = %q, want %q", got, want)
			}
		})
	}
}

func TestCharsetEdgeCases(t *testing.T) {
	cases := []struct {
		name, charset string
		vr            VR
		raw           []byte
		want          []string
	}{
		// ISO_IR 100 is ISO 8859-1, not windows-1252: 0x80-0x9F are C1 controls.
		{"latin1 not cp1252", "ISO_IR 100", LO, []byte{'M', 0xDC, 'L', 0x80}, []string{"MÜL\u0080"}},
		// A GB18030 trail byte 0x5C must not split values (B41 class).
		{"gbk 5C trail byte", "GB18030", LO, []byte{0x95, 0x5C, '\\', 'A'}, []string{"昞", "A"}},
		{"utf8 multi", "ISO_IR 192", LO, []byte("王\\李"), []string{"王", "李"}},
		{"text VR keeps backslash", "ISO_IR 192", LT, []byte(`C:\path\x`), []string{`C:\path\x`}},
		// Thai (B40): decoded, never a crash.
		{"thai", "ISO_IR 166", PN, []byte{0xB9, 0xD2, 0xC2, '^', 0xCA, 0xC1}, []string{"นาย^สม"}},
		{"misspelled utf8", "ISO IR 192", PN, []byte("王^小明"), []string{"王^小明"}},
		{"unknown term falls back", "X-UNKNOWN", LO, []byte("ABC"), []string{"ABC"}},
		// Escape to JIS X 0208, then back to ASCII at "^" in a PN.
		{"iso2022 escape and back", `\ISO 2022 IR 87`, PN, []byte("\x1b$B;3ED\x1b(B^X"), []string{"山田^X"}},
		// The G1 designation lapses at "^": a writer must escape again.
		{"iso2022 reset at caret", `\ISO 2022 IR 149`, PN, []byte("\x1b$)C\xc8\xab^\xc8\xab"), []string{"홍^\uFFFD\uFFFD"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ParseCharset(c.charset).DecodeValues(c.raw, c.vr)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
	if u := ParseCharset("X-UNKNOWN").Unknown; len(u) != 1 || u[0] != "X-UNKNOWN" {
		t.Fatalf("Unknown = %q", u)
	}
}
