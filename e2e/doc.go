// Package e2e holds sonogate's end-to-end interoperability tests: the
// sonogate binary, built once per test run, is started as a subprocess on
// free loopback ports and exercised by real peers — DCMTK (echoscu,
// storescu, dcmsend, storescp) and Orthanc — with the shared test corpus
// and generated ultrasound instances. No mocks: every status, UID set and
// byte comparison is made against what a real peer sent or received.
//
// What the tests prove (PS3.4 Annex B storage service class, PS3.7 §9.1.1
// C-STORE, PS3.8 association handling):
//
//   - the embedded defaults serve C-ECHO, /healthz, /readyz and /metrics;
//   - every corpus file is stored byte-identical to what the sender put on
//     the wire (compared with DCMTK storescp --bit-preserving), or refused
//     for a reason the test names;
//   - forwarding to Orthanc delivers exactly the accepted instances, and
//     refusals go to the dead letter and can be retried;
//   - a destination outage and a SIGKILL of the gateway lose nothing
//     (field failures B14-B17 in shared/field-failures.md);
//   - the sonogate echo and store commands interoperate with storescp and
//     Orthanc;
//   - malformed input never crashes the gateway or leaves a half-indexed
//     instance.
//
// The package has no non-test code apart from this comment; the tests need
// DCMTK, Orthanc and ../shared/testdata and follow internal/testenv's policy
// when one is missing (fail under CI=true, skip loudly otherwise). Set
// SONOGATE_E2E_BIN to test a prebuilt binary instead of building one.
package e2e
