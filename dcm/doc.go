// Package dcm is sonogate's DICOM data set codec: a bounded, streaming
// element reader and writer for the encodings of PS3.5 §7 (implicit VR
// little endian, explicit VR little and big endian, deflated explicit VR
// little endian), the Part 10 file meta information of PS3.10 §7.1, and
// the character repertoires of PS3.5 §6.1 decoded to UTF-8.
//
// The reader never trusts a declared length: every value length is
// checked against the enclosing item or sequence, against what remains of
// the input when that is known, and against a configurable limit before
// any memory is allocated, and values are read in bounded chunks so that a
// lying length fails at end of input instead of allocating it. Values past
// a size threshold (pixel data, large private blobs) are skipped by offset
// rather than loaded.
//
// The data dictionary comes from github.com/suyashkumar/dicom/pkg/tag;
// instance bytes never pass through that library's parser or writer (see
// the notes on its defects that the project keeps beside its test data).
//
// dcm depends on no other sonogate package.
package dcm
