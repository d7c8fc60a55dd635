// Package web is sonogate's operator dashboard: a few static files (plain
// HTML, CSS and JavaScript, no build step, no external resources) embedded
// in the binary and served at / and /ui/ by the node's HTTP mux.
//
// The page reads only the node's own JSON APIs: the routing queue
// (GET /api/queue, POST /api/queue/{id}/retry), the de-identification
// quarantine (GET /api/quarantine), studies through QIDO-RS
// (PS3.18 §10.6, DICOM JSON model of PS3.18 Annex F, person names as
// Alphabetic/Ideographic/Phonetic groups per PS3.5 §6.2.1) and the liver
// elastography reports (GET /api/elastography/reports, with CSV and FHIR
// forms). Staging bands drawn on the chart are the SRU 2020 consensus
// cut-offs for ARFI methods (Barr et al., Radiology 2020), shown as
// information, not clinical advice.
//
// All data is put into the page with textContent or SVG attributes, never
// parsed as HTML: patient names arrive from modalities and are untrusted.
// A Content-Security-Policy forbids inline and foreign scripts. When the
// node has auth tokens configured, the operator pastes a bearer token that
// is kept in sessionStorage (gone with the tab) and sent with every fetch.
package web
