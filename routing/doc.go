// Package routing forwards stored instances to their destinations.
//
// It sits above catalog, store and dimse and below node (DESIGN.md §1 step 3,
// §2). A Matcher turns the configured rules into catalog.JobSpecs at ingest
// time, so that the instance row and its jobs are written in one catalog
// transaction before the C-STORE response (PS3.4 §B.2.3: Success transfers
// responsibility to us). A Queue of workers then claims due jobs from the
// catalog with a lease, calls Destination.Send, and records the outcome:
// done, retried later with exponential backoff and full jitter, or moved to
// the dead letter state. Errors are classified by Classify: network errors,
// timeouts, transient association rejections (PS3.8 §7.1.1.9), DIMSE
// "Refused: Out of Resources" (0xA7xx, PS3.4 Annex B.2.3) and HTTP 5xx are
// retried; 0xA9xx, 0xCxxx, 0x0122 and permanent rejections are not (field
// failures B15, B16). A job whose worker died is claimed again when its lease
// expires, so a restart resumes every unfinished delivery. Delivery is at
// least once; receivers de-duplicate by SOP Instance UID.
//
// Destinations send the stored bytes unchanged: the DIMSE destination is a
// C-STORE SCU (PS3.4 Annex B, PS3.7 §9.1.1) that proposes the instance's SOP
// class with exactly its stored transfer syntax and never transcodes (field
// failure B10), keeping one association open while jobs flow; the folder
// destination copies the file atomically.
package routing
