package config

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole node configuration: one YAML file, plain data. Runtime
// state never lives here. Build one with Default, Load or Parse; a Config
// built by hand must be checked with Validate before use.
type Config struct {
	Node         Node               `yaml:"node"`
	Peers        []Peer             `yaml:"peers"`
	Destinations []Destination      `yaml:"destinations"`
	Rules        []Rule             `yaml:"rules"`
	Profiles     map[string]Profile `yaml:"profiles"`
	Auth         Auth               `yaml:"auth"`
	Routing      RoutingConfig      `yaml:"routing"`
	// Commitment configures the Storage Commitment Push Model SCP.
	Commitment Commitment `yaml:"commitment"`
}

// Node is the local device (PS3.15 Annex H): its application entity, its
// network connections (DIMSE and HTTP listeners) and its storage.
type Node struct {
	// AETitle is our own AE title, the Called AE peers must use.
	AETitle string `yaml:"ae_title"`
	// DIMSEListen is the TCP listen address of the DICOM upper layer (host:port).
	DIMSEListen string `yaml:"dimse_listen"`
	// HTTPListen is the TCP listen address of the HTTP API and DICOMweb (host:port).
	HTTPListen string `yaml:"http_listen"`
	// DataDir holds the instance store, the spool and the SQLite catalog.
	DataDir string `yaml:"data_dir"`
	// Catalog selects the index database.
	Catalog CatalogConfig `yaml:"catalog"`
	// MaxAssociations caps concurrently open inbound associations.
	MaxAssociations int `yaml:"max_associations"`
	// MaxPDULength is the Maximum Length we announce (PS3.8 §D.1), the
	// largest P-DATA-TF PDU we accept.
	MaxPDULength uint32 `yaml:"max_pdu_length"`
	// AllowedCallingAEs limits who may associate; empty means any calling AE.
	AllowedCallingAEs []string `yaml:"allowed_calling_aes"`
	// Timeouts are named after the protocol phase they bound.
	Timeouts Timeouts `yaml:"timeouts"`
	// ResearchAETitle, when set, is a second AE title of this node: C-FIND,
	// C-MOVE and C-GET called on it see the research namespace instead of
	// the clinical one.
	ResearchAETitle string `yaml:"research_ae_title"`
}

// CatalogConfig selects the catalog database.
type CatalogConfig struct {
	// Driver is "sqlite" (default) or "postgres".
	Driver string `yaml:"driver"`
	// DSN is the SQLite file path (default <data_dir>/catalog.db) or a
	// PostgreSQL connection string. It may hold a password: print the
	// Config, never the DSN alone.
	DSN string `yaml:"dsn"`
}

// Timeouts of the DICOM upper layer and DIMSE exchanges.
type Timeouts struct {
	// ARTIM is the Association Request/Reject/Release timer (PS3.8 §9.1.5).
	ARTIM Duration `yaml:"artim"`
	// Idle closes an association that exchanged no PDU for this long.
	Idle Duration `yaml:"idle"`
	// Connect bounds the TCP connect of an outbound association.
	Connect Duration `yaml:"connect"`
	// Response bounds the wait for a DIMSE response (e.g. C-STORE-RSP).
	Response Duration `yaml:"response"`
}

// Peer is a known remote application entity.
type Peer struct {
	AETitle string `yaml:"ae_title"`
	Host    string `yaml:"host"`
	Port    int    `yaml:"port"`
	// Services this peer may use as SCU: "find", "move", "get", "commit"
	// (C-STORE is governed by node.allowed_calling_aes). Empty permits none.
	Services []string `yaml:"services"`
}

// Destination is where routed instances go. Exactly one of DIMSE, Folder or
// STOW is set.
type Destination struct {
	Name   string      `yaml:"name"`
	DIMSE  *DIMSEDest  `yaml:"dimse"`
	Folder *FolderDest `yaml:"folder"`
	STOW   *STOWDest   `yaml:"stow"`
	// Profile names a de-identification profile applied before sending; empty
	// sends the instance unchanged.
	Profile string `yaml:"profile"`
	// MaxAttempts overrides routing.max_attempts when > 0.
	MaxAttempts int `yaml:"max_attempts"`
	// Concurrency is the number of parallel associations/requests to this
	// destination; 0 means DefaultDIMSEConcurrency for a DIMSE destination
	// and 1 for the others.
	Concurrency int `yaml:"concurrency"`
}

// Kind reports which of the destination kinds is set: "dimse", "folder",
// "stow", or "" when none is.
func (d *Destination) Kind() string {
	switch {
	case d.DIMSE != nil:
		return "dimse"
	case d.Folder != nil:
		return "folder"
	case d.STOW != nil:
		return "stow"
	}
	return ""
}

// DIMSEDest is a C-STORE SCP.
type DIMSEDest struct {
	AETitle string `yaml:"ae_title"`
	Host    string `yaml:"host"`
	Port    int    `yaml:"port"`
	// CallingAE is the AE title we present; Load fills it with node.ae_title
	// when empty.
	CallingAE string `yaml:"calling_ae"`
}

// Addr returns host:port.
func (d *DIMSEDest) Addr() string {
	return joinHostPort(d.Host, d.Port)
}

// FolderDest writes instances as Part 10 files below Path.
type FolderDest struct {
	Path string `yaml:"path"`
}

// STOWDest is a DICOMweb STOW-RS endpoint (PS3.18 §10.5).
type STOWDest struct {
	// URL is the studies endpoint, e.g. http://pacs/dicom-web/studies.
	URL string `yaml:"url"`
	// Token is sent as a bearer token when set.
	Token Secret `yaml:"token"`
}

// Rule sends every instance that matches to the named destinations.
type Rule struct {
	Name  string   `yaml:"name"`
	Match Match    `yaml:"match"`
	Send  []string `yaml:"send"`
}

// Match selects instances. Every non-empty criterion must hold (AND); within
// one criterion any listed value may match (OR). Values may use the wildcards
// * and ? (PS3.4 §C.2.2.2.4 style). An empty Match matches everything.
type Match struct {
	Modality    []string `yaml:"modality"`
	SOPClassUID []string `yaml:"sop_class_uid"`
	CallingAE   []string `yaml:"calling_ae"`
	// Tags keys are keywords ("StudyDescription") or "gggg,eeee".
	Tags map[string][]string `yaml:"tags"`
}

// Profile is a de-identification profile (PS3.15 Annex E).
type Profile struct {
	// KeyFile holds the secret used for keyed pseudonyms and UID remapping.
	KeyFile string `yaml:"key_file"`
	// Options are Annex E option names, e.g. "retain_long_modified_dates"
	// (package anonymize lists them; '-' and '_' are interchangeable).
	Options []string `yaml:"options"`
	// SafePrivate lists the private attributes the retain_safe_private
	// option keeps, identified by private creator and element offset
	// (PS3.15 E.3.10, PS3.5 §7.8.1).
	SafePrivate []SafePrivate `yaml:"safe_private"`
	// PseudonymTable is a CSV file (real_patient_id,pseudo_id,pseudo_name)
	// loaded by the research manager; patients not in it get keyed-hash
	// pseudonyms.
	PseudonymTable string `yaml:"pseudonym_table"`
	// DateShiftMaxDays bounds the per-patient date shift of the
	// retain_long_modified_dates option: dates move back by 1..N days
	// (0 means 3650).
	DateShiftMaxDays int `yaml:"date_shift_max_days"`
	// PixelMasks are rectangles to blank per device and image size
	// (clean_pixel option, PS3.15 E.3.1).
	PixelMasks []PixelMask `yaml:"pixel_masks"`
}

// SafePrivate identifies private data elements by block: Creator is the
// private creator value, Group the odd group ("0029"; empty matches any),
// Elements the element offsets within the block in hex ("10" for
// gggg,xx10); empty Elements keeps the whole block.
type SafePrivate struct {
	Group    string   `yaml:"group"`
	Creator  string   `yaml:"creator"`
	Elements []string `yaml:"elements"`
}

// PixelMask is a set of rectangles blanked in the images of one device.
// Manufacturer and Model match (0008,0070) and (0008,1090) exactly
// (empty matches any); Rows and Columns match the image size (0 matches
// any). When a mask matches, its rectangles are blanked instead of
// everything outside the ultrasound regions.
type PixelMask struct {
	Manufacturer string `yaml:"manufacturer"`
	Model        string `yaml:"model"`
	Rows         int    `yaml:"rows"`
	Columns      int    `yaml:"columns"`
	Rects        []Rect `yaml:"rects"`
}

// Rect is a pixel rectangle: X, Y of the top left corner (0-based column
// and row), Width and Height in pixels.
type Rect struct {
	X      int `yaml:"x"`
	Y      int `yaml:"y"`
	Width  int `yaml:"width"`
	Height int `yaml:"height"`
}

// Auth holds the HTTP API bearer tokens.
type Auth struct {
	Tokens []Token `yaml:"tokens"`
}

// Token is one API bearer token.
type Token struct {
	Name   string   `yaml:"name"`
	Token  Secret   `yaml:"token"`
	Scopes []string `yaml:"scopes"`
}

// RoutingConfig tunes the routing job queue.
type RoutingConfig struct {
	// Workers is the number of send workers.
	Workers int `yaml:"workers"`
	// BaseBackoff is the first retry delay; it doubles up to MaxBackoff.
	BaseBackoff Duration `yaml:"base_backoff"`
	MaxBackoff  Duration `yaml:"max_backoff"`
	// MaxAttempts moves a job to the dead letter queue after this many failures.
	MaxAttempts int `yaml:"max_attempts"`
}

// Duration is a time.Duration written in YAML as a Go duration string ("30s",
// "5m", "1h30m").
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML accepts a duration string such as "30s".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return posError(n, fmt.Sprintf("invalid duration %q: must be a string like \"30s\"", n.Value))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return posError(n, fmt.Sprintf("invalid duration %q: want a number with a unit, e.g. \"30s\" or \"5m\"", n.Value))
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Secret is a string that never prints: String, GoString, YAML, JSON and
// slog all render it as "***" (or "" when empty). Use Reveal to get the value.
type Secret string

const redacted = "***"

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return fmt.Sprintf("%q", s.String()) }

// MarshalYAML redacts the value.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON redacts the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(fmt.Sprintf("%q", s.String())), nil }

// MarshalText redacts the value (log/slog, encoding/xml and friends).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(fmt.Sprintf("%q", d.String())), nil }

// catalogPrint is CatalogConfig without its methods, for redacted output.
type catalogPrint CatalogConfig

// MarshalYAML redacts a password in the DSN.
func (c CatalogConfig) MarshalYAML() (any, error) {
	c.DSN = redactDSN(c.DSN)
	return catalogPrint(c), nil
}

// MarshalJSON redacts a password in the DSN.
func (c CatalogConfig) MarshalJSON() ([]byte, error) {
	c.DSN = redactDSN(c.DSN)
	return json.Marshal(catalogPrint(c))
}

// String renders the configuration as YAML with secrets shown as ***.
func (c Config) String() string {
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Sprintf("config: %v", err)
	}
	return string(b)
}

// redactDSN hides a password in a PostgreSQL URL or key=value DSN.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				return dsn[:i+3] + rest[:colon] + ":" + redacted + rest[at:]
			}
		}
		return dsn
	}
	fields := strings.Fields(dsn)
	for i, f := range fields {
		if strings.HasPrefix(strings.ToLower(f), "password=") {
			fields[i] = "password=" + redacted
		}
	}
	if len(fields) == 0 {
		return dsn
	}
	return strings.Join(fields, " ")
}

// DefaultDIMSEConcurrency is the number of associations a DIMSE
// destination gets when the configuration does not say: with one, each
// instance waits for the previous one's C-STORE-RSP, and a PACS that takes
// a few milliseconds per instance becomes the bottleneck of the relay
// (bench/RESULTS.md: delivered small files 0.76x direct with one
// association, 0.88x with two, and no backlog).
const DefaultDIMSEConcurrency = 2

// Default returns the embedded defaults, used when there is no config file
// and as the base that a file overlays.
func Default() Config {
	c := defaults()
	c.fillDerived()
	return c
}

func defaults() Config {
	return Config{
		Node: Node{
			AETitle:         "SONOGATE",
			DIMSEListen:     ":11112",
			HTTPListen:      ":8080",
			DataDir:         "./sonogate-data",
			Catalog:         CatalogConfig{Driver: "sqlite"},
			MaxAssociations: 64,
			MaxPDULength:    1 << 20,
			Timeouts: Timeouts{
				ARTIM:    Duration(30 * time.Second),
				Idle:     Duration(5 * time.Minute),
				Connect:  Duration(10 * time.Second),
				Response: Duration(5 * time.Minute),
			},
		},
		Routing: RoutingConfig{
			Workers:     4,
			BaseBackoff: Duration(time.Second),
			MaxBackoff:  Duration(5 * time.Minute),
			MaxAttempts: 20,
		},
	}
}

// fillDerived sets defaults that depend on other fields.
func (c *Config) fillDerived() {
	if c.Node.Catalog.Driver == "sqlite" && c.Node.Catalog.DSN == "" && c.Node.DataDir != "" {
		c.Node.Catalog.DSN = filepath.Join(c.Node.DataDir, "catalog.db")
	}
	for i := range c.Destinations {
		if d := c.Destinations[i].DIMSE; d != nil && d.CallingAE == "" {
			d.CallingAE = c.Node.AETitle
		}
		if c.Destinations[i].DIMSE != nil && c.Destinations[i].Concurrency == 0 {
			c.Destinations[i].Concurrency = DefaultDIMSEConcurrency
		}
	}
}
