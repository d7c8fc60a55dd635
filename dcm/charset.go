package dcm

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Charset decodes character data per a Specific Character Set (0008,0005)
// value: single-byte and multi-byte repertoires without code extensions,
// and ISO 2022 code extensions with escape sequences (PS3.5 §6.1, PS3.3
// C.12.1.1.2), returning UTF-8.
type Charset struct {
	Terms   []string // the defined terms as given, normalised
	Unknown []string // terms not recognised; decoding falls back to the default repertoire for them

	iso2022 bool
	single  singleKind
	g0, g1  codeElement // initial (value 1) designations for ISO 2022
}

type singleKind uint8

const (
	singleDefault singleKind = iota // ISO-IR 6, ASCII
	singleByte                      // an 8-bit table: 0x80-0xFF through g1
	singleUTF8
	singleGB18030
	singleGBK
)

type codeElement uint8

const (
	ceNone codeElement = iota
	ceASCII
	ceJISRoman // ISO-IR 14 (G0 of ISO 2022 IR 13)
	ceJIS0208  // ISO-IR 87, two bytes in G0
	ceJIS0212  // ISO-IR 159, two bytes in G0
	ceKatakana // ISO-IR 13, G1
	ceKSX1001  // ISO-IR 149, two bytes in G1
	ceGB2312   // ISO-IR 58, two bytes in G1
	ceLatin1   // ISO-IR 100
	ceLatin2   // ISO-IR 101
	ceLatin3   // ISO-IR 109
	ceLatin4   // ISO-IR 110
	ceCyrillic // ISO-IR 144
	ceArabic   // ISO-IR 127
	ceGreek    // ISO-IR 126
	ceHebrew   // ISO-IR 138
	ceLatin5   // ISO-IR 148
	ceLatin9   // ISO-IR 203
	ceThai     // ISO-IR 166
)

var g1Tables = map[codeElement]*charmap.Charmap{
	ceLatin1: charmap.ISO8859_1, ceLatin2: charmap.ISO8859_2, ceLatin3: charmap.ISO8859_3,
	ceLatin4: charmap.ISO8859_4, ceCyrillic: charmap.ISO8859_5, ceArabic: charmap.ISO8859_6,
	ceGreek: charmap.ISO8859_7, ceHebrew: charmap.ISO8859_8, ceLatin5: charmap.ISO8859_9,
	ceLatin9: charmap.ISO8859_15, ceThai: charmap.Windows874,
}

// irNumbers maps the ISO-IR registration of a term to its code elements.
var irNumbers = map[string][2]codeElement{
	"6": {ceASCII, ceNone}, "100": {ceASCII, ceLatin1}, "101": {ceASCII, ceLatin2},
	"109": {ceASCII, ceLatin3}, "110": {ceASCII, ceLatin4}, "144": {ceASCII, ceCyrillic},
	"127": {ceASCII, ceArabic}, "126": {ceASCII, ceGreek}, "138": {ceASCII, ceHebrew},
	"148": {ceASCII, ceLatin5}, "203": {ceASCII, ceLatin9}, "166": {ceASCII, ceThai},
	"13": {ceJISRoman, ceKatakana}, "87": {ceJIS0208, ceNone}, "159": {ceJIS0212, ceNone},
	"149": {ceNone, ceKSX1001}, "58": {ceNone, ceGB2312},
}

var defaultCharset = ParseCharset("")

// normaliseTerm maps common misspellings to the defined term.
func normaliseTerm(t string) string {
	t = strings.ToUpper(strings.TrimSpace(strings.Trim(t, "\x00")))
	switch t {
	case "UTF-8", "UTF8", "ISO IR 192", "ISO-IR 192", "ISO_IR192":
		return "ISO_IR 192"
	case "GB2312", "EUC-CN":
		return "ISO 2022 IR 58"
	}
	if strings.HasPrefix(t, "ISO IR ") || strings.HasPrefix(t, "ISO-IR ") {
		return "ISO_IR " + t[7:]
	}
	return t
}

// ParseCharset interprets a raw (0008,0005) value. It never fails: unknown
// terms are recorded in Unknown and the default repertoire stands in.
func ParseCharset(value string) *Charset {
	raw := strings.Split(value, `\`)
	c := &Charset{g0: ceASCII}
	for i, t := range raw {
		t = normaliseTerm(t)
		c.Terms = append(c.Terms, t)
		if i == 0 {
			switch t {
			case "", "ISO_IR 6", "ISO 2022 IR 6":
				continue
			case "ISO_IR 192":
				c.single = singleUTF8
				continue
			case "GB18030":
				c.single = singleGB18030
				continue
			case "GBK":
				c.single = singleGBK
				continue
			}
		}
		var ir string
		switch {
		case strings.HasPrefix(t, "ISO 2022 IR "):
			ir = t[len("ISO 2022 IR "):]
			c.iso2022 = true
		case strings.HasPrefix(t, "ISO_IR "):
			ir = t[len("ISO_IR "):]
		}
		ce, ok := irNumbers[ir]
		if !ok || t == "" {
			if t != "" {
				c.Unknown = append(c.Unknown, t)
			}
			continue
		}
		if i == 0 {
			if ce[0] != ceNone {
				c.g0 = ce[0]
			}
			c.g1 = ce[1]
			if c.g1 != ceNone && !c.iso2022 {
				c.single = singleByte
			}
		}
	}
	if len(raw) > 1 {
		c.iso2022 = true
	}
	if c.iso2022 && c.single != singleDefault && c.single != singleByte {
		// A multi-byte repertoire without code extensions cannot be
		// combined with others; decode as that repertoire alone.
		c.iso2022 = false
	}
	return c
}

// Decode decodes a whole value (all of its values, backslashes kept).
func (c *Charset) Decode(raw []byte) string {
	return strings.Join(c.decode(raw, false, false), `\`)
}

// DecodeValues decodes raw as a value of vr and splits it into its values
// where the VR is multi-valued. Splitting happens on decoded characters, so
// a 0x5C trail byte of a multi-byte character is never taken for a
// delimiter.
func (c *Charset) DecodeValues(raw []byte, vr VR) []string {
	return c.decode(raw, vr.MultiValued(), vr == PN)
}

func (c *Charset) decode(raw []byte, split, pn bool) []string {
	if c == nil {
		c = defaultCharset
	}
	switch {
	case c.single == singleUTF8 && !c.iso2022:
		return splitDecoded(strings.ToValidUTF8(string(raw), "\uFFFD"), split)
	case (c.single == singleGB18030 || c.single == singleGBK) && !c.iso2022:
		return c.decodeChinese(raw, split)
	}
	return c.decode2022(raw, split, pn)
}

func splitDecoded(s string, split bool) []string {
	if split {
		return strings.Split(s, `\`)
	}
	return []string{s}
}

func (c *Charset) decodeChinese(raw []byte, split bool) []string {
	var enc encoding.Encoding = simplifiedchinese.GB18030
	if c.single == singleGBK {
		enc = simplifiedchinese.GBK
	}
	var out []string
	start := 0
	for i := 0; i < len(raw); {
		b := raw[i]
		if b < 0x80 {
			if split && b == '\\' {
				out = append(out, decodeWith(enc, raw[start:i]))
				start = i + 1
			}
			i++
			continue
		}
		// GB18030 four-byte form has a digit second byte; else two bytes.
		if i+1 < len(raw) && raw[i+1] >= 0x30 && raw[i+1] <= 0x39 {
			i += 4
		} else {
			i += 2
		}
	}
	return append(out, decodeWith(enc, raw[min(start, len(raw)):]))
}

func decodeWith(enc encoding.Encoding, b []byte) string {
	s, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(s)
}

// decode2022 runs the ISO 2022 state machine of PS3.5 §6.1.2.5: escape
// sequences designate G0/G1; the value-1 designations come back at each
// value delimiter, at CR, LF, FF and TAB, and in PN before ^ and =.
func (c *Charset) decode2022(raw []byte, split, pn bool) []string {
	var out []string
	var sb strings.Builder
	g0, g1 := c.g0, c.g1
	reset := func() { g0, g1 = c.g0, c.g1 }
	for i := 0; i < len(raw); {
		b := raw[i]
		if b == 0x1B {
			if n, ng0, ng1, ok := parseEscape(raw[i:]); ok {
				if ng0 != ceNone {
					g0 = ng0
				}
				if ng1 != ceNone {
					g1 = ng1
				}
				i += n
				continue
			}
			i++
			continue
		}
		if b < 0x80 {
			if (g0 == ceJIS0208 || g0 == ceJIS0212) && b > 0x20 && b < 0x7F && i+1 < len(raw) && raw[i+1] > 0x20 && raw[i+1] < 0x7F {
				euc := []byte{b | 0x80, raw[i+1] | 0x80}
				if g0 == ceJIS0212 {
					euc = append([]byte{0x8F}, euc...)
				}
				sb.WriteString(decodeWith(japanese.EUCJP, euc))
				i += 2
				continue
			}
			switch {
			case b == '\\' && split:
				out = append(out, sb.String())
				sb.Reset()
				reset()
				i++
				continue
			case b == '\r' || b == '\n' || b == '\f' || b == '\t' || (pn && (b == '^' || b == '=')) || b == '\\':
				reset()
			}
			if g0 == ceJISRoman && b == 0x5C {
				sb.WriteRune('¥')
			} else if g0 == ceJISRoman && b == 0x7E {
				sb.WriteRune('‾')
			} else {
				sb.WriteByte(b)
			}
			i++
			continue
		}
		switch g1 {
		case ceKatakana:
			if b >= 0xA1 && b <= 0xDF {
				sb.WriteRune(rune(0xFF61 + int(b) - 0xA1))
			} else {
				sb.WriteRune(utf8.RuneError)
			}
			i++
		case ceKSX1001, ceGB2312:
			if i+1 < len(raw) && raw[i+1] >= 0x80 {
				enc := encoding.Encoding(korean.EUCKR)
				if g1 == ceGB2312 {
					enc = simplifiedchinese.GBK
				}
				sb.WriteString(decodeWith(enc, raw[i:i+2]))
				i += 2
			} else {
				sb.WriteRune(utf8.RuneError)
				i++
			}
		default:
			if t, ok := g1Tables[g1]; ok {
				sb.WriteRune(t.DecodeByte(b))
			} else {
				sb.WriteRune(utf8.RuneError)
			}
			i++
		}
	}
	return append(out, sb.String())
}

// parseEscape recognises the escape sequences of PS3.3 Table C.12-3/-4.
func parseEscape(b []byte) (n int, g0, g1 codeElement, ok bool) {
	seqs := []struct {
		esc    string
		g0, g1 codeElement
	}{
		{"\x1b(B", ceASCII, ceNone}, {"\x1b(J", ceJISRoman, ceNone}, {"\x1b$B", ceJIS0208, ceNone},
		{"\x1b$@", ceJIS0208, ceNone}, {"\x1b$(D", ceJIS0212, ceNone}, {"\x1b)I", ceNone, ceKatakana},
		{"\x1b$)C", ceNone, ceKSX1001}, {"\x1b$)A", ceNone, ceGB2312},
		{"\x1b-A", ceNone, ceLatin1}, {"\x1b-B", ceNone, ceLatin2}, {"\x1b-C", ceNone, ceLatin3},
		{"\x1b-D", ceNone, ceLatin4}, {"\x1b-L", ceNone, ceCyrillic}, {"\x1b-G", ceNone, ceArabic},
		{"\x1b-F", ceNone, ceGreek}, {"\x1b-H", ceNone, ceHebrew}, {"\x1b-M", ceNone, ceLatin5},
		{"\x1b-b", ceNone, ceLatin9}, {"\x1b-T", ceNone, ceThai},
	}
	for _, s := range seqs {
		if len(b) >= len(s.esc) && string(b[:len(s.esc)]) == s.esc {
			return len(s.esc), s.g0, s.g1, true
		}
	}
	return 0, ceNone, ceNone, false
}
