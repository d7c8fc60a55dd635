// Package catalog is the index of stored instances and the durable routing
// job queue of sonogate.
//
// It sits above store (which holds the bytes) and below routing, dimse
// query/retrieve and dicomweb (which read it). One row per stored instance
// version carries the attributes of the Patient, Study, Series and
// Composite Object Instance IE modules (PS3.3 §C.7) that C-FIND (PS3.4
// Annex C) and QIDO-RS (PS3.18 §10.6) query on; the table is flat, with
// indexes on the query keys, because study and series level answers are
// aggregates over instances anyway.
//
// CommitInstance inserts an instance and its routing jobs in one
// transaction, which is what allows a C-STORE SCP to answer Success only once
// the gateway has taken responsibility for the instance (PS3.4 §B.2.3,
// DESIGN.md §1). The identity of an instance is (namespace, SOP Instance UID,
// SHA-256 of its file): an identical resend is a Duplicate; the same UID with
// different bytes is kept as a NewVersion, never overwritten (field failure
// B17).
//
// Jobs move pending → inflight (claimed with a lease) → done, or back to
// pending with a later due time, or to dead. An inflight job whose lease has
// expired is claimable again, so a crashed process never strands work.
//
// The default backend is SQLite (modernc.org/sqlite, driver "sqlite") in WAL
// mode with synchronous=FULL, one writer connection taking the write lock at
// BEGIN (BEGIN IMMEDIATE) and a small pool of read-only connections.
// PostgreSQL (driver "postgres", through pgx/stdlib) serves several replicas
// (DESIGN.md §8): jobs are claimed with FOR UPDATE SKIP LOCKED. The SQL is
// shared: times are integer microseconds, ids come back through RETURNING,
// and every dialect difference lives in dialect.go and migrations/<dialect>.
package catalog
