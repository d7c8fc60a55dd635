package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds a configuration file; real ones are a few KiB.
const maxFileSize = 4 << 20

// Load reads the YAML file at path over the defaults and validates the
// result. An empty path returns the validated defaults.
func Load(path string) (Config, error) {
	if path == "" {
		c := Default()
		return c, c.Validate()
	}
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return Config{}, fmt.Errorf("config: read %s: %w", path, err)
	}
	if len(b) > maxFileSize {
		return Config{}, fmt.Errorf("config: %s: larger than %d bytes", path, maxFileSize)
	}
	c, err := Parse(b)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	// Files a profile names are relative to the configuration file.
	dir := filepath.Dir(path)
	for name, p := range c.Profiles {
		for _, f := range []*string{&p.KeyFile, &p.PseudonymTable} {
			if *f != "" && !filepath.IsAbs(*f) {
				*f = filepath.Join(dir, *f)
			}
		}
		c.Profiles[name] = p
	}
	return c, nil
}

// Parse overlays the YAML document b on the defaults, rejecting unknown
// fields, then validates. The returned Config is usable only when err is nil.
func Parse(b []byte) (Config, error) {
	c := defaults()
	if err := decode(b, &c); err != nil {
		return Config{}, err
	}
	c.fillDerived()
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

func decode(b []byte, c *Config) error {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return err // already "yaml: line N: ..."
	}
	if root.Kind == 0 { // empty file or only comments
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err := dec.Decode(c)
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			idx := newPathIndex(&root)
			var errs Errors
			for _, msg := range te.Errors {
				errs = append(errs, idx.fieldError(msg))
			}
			return errs
		}
		return err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("yaml: more than one document in the file")
	}
	return nil
}

// posError reports an error at a node from an UnmarshalYAML method, in a form
// decode maps back to a field path. Returning a *yaml.TypeError lets the
// decoder collect it with the others instead of stopping.
func posError(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d column %d: %s", n.Line, n.Column, msg)}}
}

// pathIndex maps source positions to field paths such as "rules[1].send[0]".
type pathIndex struct {
	entries []pathEntry
}

type pathEntry struct {
	line, col int
	path      string
	key       string // mapping key text, for "field X not found"
	value     string // scalar value text, for "cannot unmarshal `X`"
	isKey     bool
}

func newPathIndex(root *yaml.Node) *pathIndex {
	idx := &pathIndex{}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	idx.walk(n, "")
	return idx
}

func (idx *pathIndex) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			idx.entries = append(idx.entries, pathEntry{line: k.Line, col: k.Column, path: p, key: k.Value, isKey: true})
			idx.walk(v, p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			idx.walk(c, fmt.Sprintf("%s[%d]", path, i))
		}
	case yaml.ScalarNode:
		idx.entries = append(idx.entries, pathEntry{line: n.Line, col: n.Column, path: path, value: n.Value})
	case yaml.AliasNode:
		idx.entries = append(idx.entries, pathEntry{line: n.Line, col: n.Column, path: path, value: n.Value})
	}
}

var (
	reLineCol  = regexp.MustCompile(`^line (\d+) column (\d+): (.*)$`)
	reLine     = regexp.MustCompile(`^line (\d+): (.*)$`)
	reUnknown  = regexp.MustCompile(`^field (.*) not found in type \S+$`)
	reUnmarsh  = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
	reUnmarsh2 = regexp.MustCompile(`^cannot unmarshal !!(\w+) into (\S+)$`)
)

// fieldError turns one yaml.TypeError line into a FieldError with a path.
func (idx *pathIndex) fieldError(msg string) *FieldError {
	if m := reLineCol.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		for _, e := range idx.entries {
			if e.line == line && e.col == col && !e.isKey {
				return &FieldError{Path: e.path, Msg: m[3]}
			}
		}
		return &FieldError{Path: "line " + m[1], Msg: m[3]}
	}
	m := reLine.FindStringSubmatch(msg)
	if m == nil {
		return &FieldError{Path: "yaml", Msg: msg}
	}
	line, _ := strconv.Atoi(m[1])
	text := m[2]
	var onLine []pathEntry
	for _, e := range idx.entries {
		if e.line == line {
			onLine = append(onLine, e)
		}
	}
	if u := reUnknown.FindStringSubmatch(text); u != nil {
		for _, e := range onLine {
			if e.isKey && e.key == u[1] {
				return &FieldError{Path: e.path, Msg: "unknown field"}
			}
		}
		return &FieldError{Path: "line " + m[1] + ": " + u[1], Msg: "unknown field"}
	}
	if u := reUnmarsh.FindStringSubmatch(text); u != nil {
		for _, e := range onLine {
			if !e.isKey && e.value == u[2] {
				return &FieldError{Path: e.path, Msg: fmt.Sprintf("cannot use %q as %s", u[2], goTypeName(u[3]))}
			}
		}
		return &FieldError{Path: "line " + m[1], Msg: text}
	}
	if u := reUnmarsh2.FindStringSubmatch(text); u != nil {
		// A mapping or sequence where a scalar (or the other kind) belongs:
		// the node starts at the key's value; report the first key on the line.
		for _, e := range onLine {
			if e.isKey {
				return &FieldError{Path: e.path, Msg: fmt.Sprintf("cannot use a %s as %s", kindName(u[1]), goTypeName(u[2]))}
			}
		}
		if len(onLine) > 0 {
			return &FieldError{Path: onLine[0].path, Msg: fmt.Sprintf("cannot use a %s as %s", kindName(u[1]), goTypeName(u[2]))}
		}
	}
	return &FieldError{Path: "line " + m[1], Msg: text}
}

func kindName(tag string) string {
	switch tag {
	case "map":
		return "mapping"
	case "seq":
		return "list"
	}
	return tag
}

// goTypeName makes yaml's Go type names readable in a config error.
func goTypeName(t string) string {
	t = strings.TrimPrefix(t, "config.")
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case t == "int", t == "int64", t == "uint32", t == "uint64":
		return "an integer"
	case t == "string", t == "Secret":
		return "a string"
	case t == "bool":
		return "a boolean"
	}
	return "a " + t
}
