// Package testenv holds the helpers every sonogate test uses to reach the
// world outside the package: the shared test corpus (../shared/testdata
// beside the repository), external tools (DCMTK, Orthanc, PostgreSQL), free
// loopback ports, and real peer servers — Orthanc (C-STORE SCP, REST and
// DICOMweb), DCMTK storescp and a throw-away PostgreSQL cluster — started
// on private ports and directories and stopped by t.Cleanup.
//
// Missing prerequisites follow one policy: under CI (CI=true) the test
// fails, because a green CI run must have exercised everything; elsewhere
// the test is skipped with a loud SKIP message naming what is missing and
// how to install it (bash scripts/install-deps.sh).
//
// The package is imported only from _test.go files.
package testenv
