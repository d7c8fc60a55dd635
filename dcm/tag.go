package dcm

import (
	"fmt"
	"strconv"
	"strings"

	dict "github.com/suyashkumar/dicom/pkg/tag"
)

// Tag is a data element tag, group in the high 16 bits (PS3.5 §7.1).
type Tag uint32

// NewTag builds a Tag from its group and element numbers.
func NewTag(group, element uint16) Tag { return Tag(uint32(group)<<16 | uint32(element)) }

// Group returns the group number.
func (t Tag) Group() uint16 { return uint16(t >> 16) }

// Element returns the element number.
func (t Tag) Element() uint16 { return uint16(t) }

// IsPrivate reports whether the tag lies in an odd (private) group.
func (t Tag) IsPrivate() bool { return t.Group()%2 == 1 }

// IsPrivateCreator reports whether the tag is a private creator element
// (gggg,0010-00FF) of an odd group (PS3.5 §7.8.1).
func (t Tag) IsPrivateCreator() bool {
	return t.IsPrivate() && t.Element() >= 0x0010 && t.Element() <= 0x00FF
}

// String formats the tag as (gggg,eeee) in upper-case hex.
func (t Tag) String() string { return fmt.Sprintf("(%04X,%04X)", t.Group(), t.Element()) }

// Keyword returns the dictionary keyword of the tag, or "" when unknown.
func (t Tag) Keyword() string {
	info, err := dict.Find(dict.Tag{Group: t.Group(), Element: t.Element()})
	if err != nil {
		return ""
	}
	return info.Name
}

// ParseTag accepts "gggg,eeee", "(gggg,eeee)", "ggggeeee" or a dictionary
// keyword such as "StudyDescription".
func ParseTag(s string) (Tag, error) {
	s = strings.TrimSpace(s)
	h := strings.NewReplacer("(", "", ")", "", ",", "", " ", "").Replace(s)
	if len(h) == 8 {
		if v, err := strconv.ParseUint(h, 16, 32); err == nil {
			return Tag(v), nil
		}
	}
	info, err := dict.FindByName(s)
	if err != nil {
		return 0, fmt.Errorf("%q: not a DICOM keyword or gggg,eeee tag", s)
	}
	return NewTag(info.Tag.Group, info.Tag.Element), nil
}

// Tags used by the codec and by callers that index instances.
const (
	TagFileMetaInformationGroupLength = Tag(0x00020000)
	TagFileMetaInformationVersion     = Tag(0x00020001)
	TagMediaStorageSOPClassUID        = Tag(0x00020002)
	TagMediaStorageSOPInstanceUID     = Tag(0x00020003)
	TagTransferSyntaxUID              = Tag(0x00020010)
	TagImplementationClassUID         = Tag(0x00020012)
	TagImplementationVersionName      = Tag(0x00020013)
	TagSourceApplicationEntityTitle   = Tag(0x00020016)

	TagSpecificCharacterSet   = Tag(0x00080005)
	TagSOPClassUID            = Tag(0x00080016)
	TagSOPInstanceUID         = Tag(0x00080018)
	TagStudyDate              = Tag(0x00080020)
	TagSeriesDate             = Tag(0x00080021)
	TagStudyTime              = Tag(0x00080030)
	TagAccessionNumber        = Tag(0x00080050)
	TagModality               = Tag(0x00080060)
	TagManufacturer           = Tag(0x00080070)
	TagInstitutionName        = Tag(0x00080080)
	TagReferringPhysicianName = Tag(0x00080090)
	TagStationName            = Tag(0x00081010)
	TagStudyDescription       = Tag(0x00081030)
	TagSeriesDescription      = Tag(0x0008103E)
	TagManufacturerModelName  = Tag(0x00081090)
	TagPatientName            = Tag(0x00100010)
	TagPatientID              = Tag(0x00100020)
	TagPatientBirthDate       = Tag(0x00100030)
	TagPatientSex             = Tag(0x00100040)
	TagStudyInstanceUID       = Tag(0x0020000D)
	TagSeriesInstanceUID      = Tag(0x0020000E)
	TagStudyID                = Tag(0x00200010)
	TagSeriesNumber           = Tag(0x00200011)
	TagInstanceNumber         = Tag(0x00200013)
	TagNumberOfFrames         = Tag(0x00280008)
	TagRows                   = Tag(0x00280010)
	TagColumns                = Tag(0x00280011)
	TagExtendedOffsetTable    = Tag(0x7FE00001)
	TagFloatPixelData         = Tag(0x7FE00008)
	TagDoubleFloatPixelData   = Tag(0x7FE00009)
	TagPixelData              = Tag(0x7FE00010)

	TagItem                     = Tag(0xFFFEE000)
	TagItemDelimitationItem     = Tag(0xFFFEE00D)
	TagSequenceDelimitationItem = Tag(0xFFFEE0DD)
)
