package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/sonogate/sonogate/dcm"
)

// FieldError is one invalid field.
type FieldError struct {
	// Path is the YAML path of the field, e.g. "destinations[0].dimse.port".
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Errors is every problem Validate found, in document order.
type Errors []*FieldError

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap lets errors.As find each *FieldError.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

type validator struct{ errs Errors }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Limits enforced by Validate.
const (
	MinPDULength = 4096
	MaxPDULength = 128 << 20
)

// Validate checks every field and returns Errors (nil when valid). It does
// not fill defaults; Load and Parse do that first.
func (c *Config) Validate() error {
	v := &validator{}
	c.validateNode(v)
	c.validateQR(v)

	peerAEs := map[string]int{}
	for i, p := range c.Peers {
		path := fmt.Sprintf("peers[%d]", i)
		v.aeTitle(path+".ae_title", p.AETitle)
		if j, dup := peerAEs[p.AETitle]; dup && p.AETitle != "" {
			v.add(path+".ae_title", "duplicate peer %q (also peers[%d])", p.AETitle, j)
		} else {
			peerAEs[p.AETitle] = i
		}
		v.host(path+".host", p.Host)
		v.port(path+".port", p.Port)
		v.peerServices(path+".services", p.Services)
	}

	for _, name := range sortedKeys(c.Profiles) {
		path := "profiles." + name
		if !reName.MatchString(name) {
			v.add(path, "invalid profile name: use letters, digits, '.', '_' and '-'")
		}
		p := c.Profiles[name]
		for j, o := range p.Options {
			if strings.TrimSpace(o) == "" {
				v.add(fmt.Sprintf("%s.options[%d]", path, j), "must not be empty")
			}
		}
		if p.DateShiftMaxDays < 0 || p.DateShiftMaxDays > 36500 {
			v.add(path+".date_shift_max_days", "must be 0..36500")
		}
		for j, sp := range p.SafePrivate {
			sPath := fmt.Sprintf("%s.safe_private[%d]", path, j)
			if strings.TrimSpace(sp.Creator) == "" {
				v.add(sPath+".creator", "must not be empty")
			}
			if sp.Group != "" {
				g, err := strconv.ParseUint(sp.Group, 16, 16)
				if err != nil || g%2 == 0 || len(sp.Group) != 4 {
					v.add(sPath+".group", "must be an odd group as 4 hex digits, e.g. \"0029\"")
				}
			}
			for k, e := range sp.Elements {
				if _, err := strconv.ParseUint(e, 16, 8); err != nil || len(e) != 2 {
					v.add(fmt.Sprintf("%s.elements[%d]", sPath, k), "must be an element offset as 2 hex digits, e.g. \"10\"")
				}
			}
		}
		for j, m := range p.PixelMasks {
			mPath := fmt.Sprintf("%s.pixel_masks[%d]", path, j)
			if m.Rows < 0 || m.Columns < 0 {
				v.add(mPath, "rows and columns must not be negative")
			}
			if len(m.Rects) == 0 {
				v.add(mPath+".rects", "must not be empty")
			}
			for k, r := range m.Rects {
				if r.X < 0 || r.Y < 0 || r.Width <= 0 || r.Height <= 0 {
					v.add(fmt.Sprintf("%s.rects[%d]", mPath, k), "x, y must be >= 0 and width, height > 0")
				}
			}
		}
	}

	dests := map[string]int{}
	for i := range c.Destinations {
		d := &c.Destinations[i]
		path := fmt.Sprintf("destinations[%d]", i)
		switch {
		case d.Name == "":
			v.add(path+".name", "must not be empty")
		case !reName.MatchString(d.Name):
			v.add(path+".name", "invalid name %q: use letters, digits, '.', '_' and '-'", d.Name)
		default:
			if j, dup := dests[d.Name]; dup {
				v.add(path+".name", "duplicate destination %q (also destinations[%d])", d.Name, j)
			} else {
				dests[d.Name] = i
			}
		}
		n := 0
		if d.DIMSE != nil {
			n++
			p := path + ".dimse"
			v.aeTitle(p+".ae_title", d.DIMSE.AETitle)
			v.host(p+".host", d.DIMSE.Host)
			v.port(p+".port", d.DIMSE.Port)
			if d.DIMSE.CallingAE != "" {
				v.aeTitle(p+".calling_ae", d.DIMSE.CallingAE)
			}
		}
		if d.Folder != nil {
			n++
			if strings.TrimSpace(d.Folder.Path) == "" {
				v.add(path+".folder.path", "must not be empty")
			}
		}
		if d.STOW != nil {
			n++
			u, err := url.Parse(d.STOW.URL)
			switch {
			case d.STOW.URL == "":
				v.add(path+".stow.url", "must not be empty")
			case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
				v.add(path+".stow.url", "must be an absolute http or https URL")
			case u.User != nil:
				v.add(path+".stow.url", "must not hold credentials; use token")
			}
		}
		switch {
		case n == 0:
			v.add(path, "must set exactly one of dimse, folder or stow (none set)")
		case n > 1:
			v.add(path, "must set exactly one of dimse, folder or stow (%d set)", n)
		}
		if d.Profile != "" {
			if _, ok := c.Profiles[d.Profile]; !ok {
				v.add(path+".profile", "unknown profile %q", d.Profile)
			}
		}
		if d.MaxAttempts < 0 {
			v.add(path+".max_attempts", "must not be negative")
		}
		if d.Concurrency < 0 || d.Concurrency > 64 {
			v.add(path+".concurrency", "must be between 0 and 64")
		}
	}

	rules := map[string]int{}
	for i, r := range c.Rules {
		path := fmt.Sprintf("rules[%d]", i)
		switch {
		case r.Name == "":
			v.add(path+".name", "must not be empty")
		default:
			if j, dup := rules[r.Name]; dup {
				v.add(path+".name", "duplicate rule %q (also rules[%d])", r.Name, j)
			} else {
				rules[r.Name] = i
			}
		}
		v.patterns(path+".match.modality", r.Match.Modality)
		v.patterns(path+".match.sop_class_uid", r.Match.SOPClassUID)
		v.patterns(path+".match.calling_ae", r.Match.CallingAE)
		for _, k := range sortedKeys(r.Match.Tags) {
			p := path + ".match.tags." + k
			if _, err := dcm.ParseTag(k); err != nil {
				v.add(p, "unknown tag: use a DICOM keyword such as StudyDescription or \"gggg,eeee\"")
			}
			if len(r.Match.Tags[k]) == 0 {
				v.add(p, "must list at least one value")
			}
			v.patterns(p, r.Match.Tags[k])
		}
		if len(r.Send) == 0 {
			v.add(path+".send", "must name at least one destination")
		}
		seen := map[string]bool{}
		for j, s := range r.Send {
			p := fmt.Sprintf("%s.send[%d]", path, j)
			if _, ok := dests[s]; !ok {
				v.add(p, "unknown destination %q", s)
			} else if seen[s] {
				v.add(p, "destination %q listed twice", s)
			}
			seen[s] = true
		}
	}

	tokens := map[string]int{}
	values := map[Secret]int{}
	for i, t := range c.Auth.Tokens {
		path := fmt.Sprintf("auth.tokens[%d]", i)
		if t.Name == "" {
			v.add(path+".name", "must not be empty")
		} else if j, dup := tokens[t.Name]; dup {
			v.add(path+".name", "duplicate token name %q (also auth.tokens[%d])", t.Name, j)
		} else {
			tokens[t.Name] = i
		}
		switch {
		case len(t.Token) < 16:
			v.add(path+".token", "must be at least 16 characters")
		default:
			if j, dup := values[t.Token]; dup {
				v.add(path+".token", "same token as auth.tokens[%d]", j)
			} else {
				values[t.Token] = i
			}
		}
		for j, s := range t.Scopes {
			if !reName.MatchString(s) {
				v.add(fmt.Sprintf("%s.scopes[%d]", path, j), "invalid scope %q", s)
			}
		}
	}

	r := c.Routing
	if r.Workers < 1 || r.Workers > 1024 {
		v.add("routing.workers", "must be between 1 and 1024")
	}
	if r.BaseBackoff <= 0 {
		v.add("routing.base_backoff", "must be positive")
	}
	if r.MaxBackoff < r.BaseBackoff {
		v.add("routing.max_backoff", "must not be less than routing.base_backoff (%s)", r.BaseBackoff)
	}
	if r.MaxAttempts < 1 {
		v.add("routing.max_attempts", "must be at least 1")
	}

	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

func (c *Config) validateNode(v *validator) {
	n := c.Node
	v.aeTitle("node.ae_title", n.AETitle)
	v.listen("node.dimse_listen", n.DIMSEListen)
	v.listen("node.http_listen", n.HTTPListen)
	if strings.TrimSpace(n.DataDir) == "" {
		v.add("node.data_dir", "must not be empty")
	}
	switch n.Catalog.Driver {
	case "sqlite":
		if n.Catalog.DSN == "" {
			v.add("node.catalog.dsn", "must not be empty")
		}
	case "postgres":
		if n.Catalog.DSN == "" {
			v.add("node.catalog.dsn", "must not be empty for driver postgres")
		}
	default:
		v.add("node.catalog.driver", "must be \"sqlite\" or \"postgres\", not %q", n.Catalog.Driver)
	}
	if n.MaxAssociations < 1 || n.MaxAssociations > 4096 {
		v.add("node.max_associations", "must be between 1 and 4096")
	}
	if n.MaxPDULength < MinPDULength || n.MaxPDULength > MaxPDULength {
		v.add("node.max_pdu_length", "must be between %d and %d", MinPDULength, MaxPDULength)
	}
	for i, ae := range n.AllowedCallingAEs {
		v.aeTitle(fmt.Sprintf("node.allowed_calling_aes[%d]", i), ae)
	}
	t := n.Timeouts
	for _, d := range []struct {
		name string
		d    Duration
	}{{"artim", t.ARTIM}, {"idle", t.Idle}, {"connect", t.Connect}, {"response", t.Response}} {
		if d.d <= 0 {
			v.add("node.timeouts."+d.name, "must be positive")
		}
	}
}

var (
	reName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// ValidAETitle reports why ae is not a valid Application Entity title (PS3.5
// §6.2, VR AE): 1 to 16 characters of the default character repertoire, no
// backslash or control characters, not only spaces. It returns "" when valid.
func ValidAETitle(ae string) string {
	if strings.TrimSpace(ae) == "" {
		return "must not be empty"
	}
	if len(ae) > 16 {
		return fmt.Sprintf("%q is longer than 16 characters", ae)
	}
	for i := 0; i < len(ae); i++ {
		b := ae[i]
		switch {
		case b == '\\':
			return fmt.Sprintf("%q must not contain a backslash", ae)
		case b < 0x20 || b > 0x7e:
			return fmt.Sprintf("%q must use printable ASCII only (the default character repertoire)", ae)
		}
	}
	return ""
}

func (v *validator) aeTitle(path, ae string) {
	if msg := ValidAETitle(ae); msg != "" {
		v.add(path, "%s", msg)
	}
}

func (v *validator) port(path string, p int) {
	if p < 1 || p > 65535 {
		v.add(path, "must be between 1 and 65535")
	}
}

func (v *validator) host(path, h string) {
	if msg := checkHost(h); msg != "" {
		v.add(path, "%s", msg)
	}
}

var reHostname = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$`)

func checkHost(h string) string {
	if h == "" {
		return "must not be empty"
	}
	if net.ParseIP(h) != nil || reHostname.MatchString(h) {
		return ""
	}
	return fmt.Sprintf("%q is not an IP address or host name", h)
}

// listen checks a host:port listen address; the host may be empty (all
// interfaces) and the port may be 0 (any free port).
func (v *validator) listen(path, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(path, "invalid listen address %q: want host:port, e.g. \":11112\" or \"127.0.0.1:11112\"", addr)
		return
	}
	if host != "" {
		if msg := checkHost(host); msg != "" {
			v.add(path, "%s", msg)
		}
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		v.add(path, "port %q must be between 0 and 65535", port)
	}
}

func (v *validator) patterns(path string, ps []string) {
	for i, p := range ps {
		if strings.TrimSpace(p) == "" {
			v.add(fmt.Sprintf("%s[%d]", path, i), "must not be empty")
		}
	}
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
