// Package node wires one sonogate process together from its configuration:
// the store and catalog, the routing rules and queue, the ingest path, the
// DIMSE server (PS3.7/PS3.8) and the HTTP server (health, metrics, API).
// It owns their lifecycle: Start binds the listeners and starts the
// workers; Shutdown stops accepting, drains associations and requests to a
// deadline, stops the workers and closes the catalog.
package node
