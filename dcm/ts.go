package dcm

//go:generate go run ./internal/gents -in ../../shared/standard/us_sop_and_ts.tsv -out ts_gen.go

// TransferSyntax describes how a data set is encoded (PS3.5 §10).
type TransferSyntax struct {
	UID          string
	Keyword      string
	Explicit     bool // explicit VR
	BigEndian    bool
	Deflated     bool // RFC 1951 over everything after the file meta (PS3.5 §A.5)
	Encapsulated bool // pixel data in fragments (PS3.5 §A.4)
	Lossy        bool
	Retired      bool
}

// Transfer syntaxes the codec itself must know.
var (
	ImplicitVRLittleEndian = TransferSyntax{UID: "1.2.840.10008.1.2", Keyword: "ImplicitVRLittleEndian"}
	ExplicitVRLittleEndian = TransferSyntax{UID: "1.2.840.10008.1.2.1", Keyword: "ExplicitVRLittleEndian", Explicit: true}
	ExplicitVRBigEndian    = TransferSyntax{UID: "1.2.840.10008.1.2.2", Keyword: "ExplicitVRBigEndian", Explicit: true, BigEndian: true, Retired: true}
)

// moreTransferSyntaxes are transfer syntaxes of PS3.6 that the shared
// ultrasound table leaves out but that instances from other modalities
// use. They are all explicit VR little endian (PS3.5 §10.1).
var moreTransferSyntaxes = []TransferSyntax{
	{UID: "1.2.840.10008.1.2.8.1", Keyword: "DeflatedImageFrameCompression", Explicit: true, Encapsulated: true},
	{UID: "1.2.840.10008.1.2.4.92", Keyword: "JPEG2000MCLossless", Explicit: true, Encapsulated: true},
	{UID: "1.2.840.10008.1.2.4.93", Keyword: "JPEG2000MC", Explicit: true, Encapsulated: true, Lossy: true},
	{UID: "1.2.840.10008.1.2.4.94", Keyword: "JPIPReferenced", Explicit: true},
	{UID: "1.2.840.10008.1.2.4.95", Keyword: "JPIPReferencedDeflate", Explicit: true, Deflated: true},
	{UID: "1.2.840.10008.1.2.4.204", Keyword: "JPIPHTJ2KReferenced", Explicit: true},
	{UID: "1.2.840.10008.1.2.4.205", Keyword: "JPIPHTJ2KReferencedDeflate", Explicit: true, Deflated: true},
	{UID: "1.2.840.10008.1.2.4.110", Keyword: "JPEGXLLossless", Explicit: true, Encapsulated: true},
	{UID: "1.2.840.10008.1.2.4.111", Keyword: "JPEGXLJPEGRecompression", Explicit: true, Encapsulated: true},
	{UID: "1.2.840.10008.1.2.4.112", Keyword: "JPEGXL", Explicit: true, Encapsulated: true, Lossy: true},
	{UID: "1.2.840.10008.1.2.6.1", Keyword: "RFC2557MIMEEncapsulation", Explicit: true, Retired: true},
	{UID: "1.2.840.10008.1.2.6.2", Keyword: "XMLEncoding", Explicit: true, Retired: true},
}

var tsByUID = func() map[string]TransferSyntax {
	m := make(map[string]TransferSyntax, len(transferSyntaxTable))
	for _, ts := range append(moreTransferSyntaxes, transferSyntaxTable...) {
		m[ts.UID] = ts
	}
	return m
}()

// LookupTransferSyntax returns the transfer syntax with that UID, if known.
func LookupTransferSyntax(uid string) (TransferSyntax, bool) {
	ts, ok := tsByUID[trimUID(uid)]
	return ts, ok
}

// TransferSyntaxes lists every transfer syntax the codec knows, in the
// order of the standard's table.
func TransferSyntaxes() []TransferSyntax {
	return append([]TransferSyntax(nil), transferSyntaxTable...)
}

// trimUID removes the NUL or space padding of a UI value.
func trimUID(s string) string {
	for len(s) > 0 && (s[len(s)-1] == 0 || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}
