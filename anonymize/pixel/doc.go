// Package pixel blanks rectangles of DICOM pixel data for the Clean Pixel
// Data Option (PS3.15 E.3.1): native frames of any photometric
// interpretation of PS3.3 C.7.6.3.1.2 (MONOCHROME1/2, RGB, YBR_FULL,
// YBR_FULL_422, PALETTE COLOR), RLE Lossless frames (decoded and encoded
// here per PS3.5 Annex G) and JPEG baseline frames (PS3.5 A.4.1, with
// image/jpeg). It depends on no other sonogate package.
package pixel
