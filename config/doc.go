// Package config is the sonogate node configuration: plain data types, the
// embedded defaults, YAML loading and validation (DESIGN.md §7).
//
// The model follows the DICOM configuration management profile (PS3.15
// Annex H): a node (device) with its network connections and application
// entity, known peer AEs, destinations, de-identification profiles (PS3.15
// Annex E), routing rules and API tokens.
//
// Load applies Default, overlays the file (unknown fields are errors) and
// calls Validate. Every error names the field path, as in
//
//	destinations[0].dimse.port: must be between 1 and 65535
//
// Secrets (API and STOW tokens, DSN passwords) print as ***.
//
// The package sits at the bottom of the import graph: it imports no other
// sonogate package, and it holds no runtime state.
package config
