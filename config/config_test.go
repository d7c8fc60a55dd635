package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	want := Node{
		AETitle:         "SONOGATE",
		DIMSEListen:     ":11112",
		HTTPListen:      ":8080",
		DataDir:         "./sonogate-data",
		Catalog:         CatalogConfig{Driver: "sqlite", DSN: filepath.Join("sonogate-data", "catalog.db")},
		MaxAssociations: 64,
		MaxPDULength:    1048576,
		Timeouts: Timeouts{
			ARTIM:    Duration(30 * time.Second),
			Idle:     Duration(5 * time.Minute),
			Connect:  Duration(10 * time.Second),
			Response: Duration(5 * time.Minute),
		},
	}
	if !reflect.DeepEqual(c.Node, want) {
		t.Errorf("Default().Node =\n%+v\nwant\n%+v", c.Node, want)
	}
	wantR := RoutingConfig{Workers: 4, BaseBackoff: Duration(time.Second), MaxBackoff: Duration(5 * time.Minute), MaxAttempts: 20}
	if c.Routing != wantR {
		t.Errorf("Default().Routing = %+v, want %+v", c.Routing, wantR)
	}
	l, err := Load("")
	if err != nil || !reflect.DeepEqual(l, c) {
		t.Errorf("Load(\"\") = %+v, %v; want defaults", l, err)
	}
}

func TestExample(t *testing.T) {
	c, err := Load("testdata/example.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Node.DIMSEListen != "127.0.0.1:11112" || c.Node.HTTPListen != "127.0.0.1:8080" {
		t.Errorf("listen = %q %q", c.Node.DIMSEListen, c.Node.HTTPListen)
	}
	if c.Node.Catalog.DSN != filepath.Join("sonogate-data", "catalog.db") {
		t.Errorf("catalog dsn = %q", c.Node.Catalog.DSN)
	}
	want := []Destination{{Name: "pacs", DIMSE: &DIMSEDest{AETitle: "ORTHANC", Host: "127.0.0.1", Port: 4242, CallingAE: "SONOGATE"}, Concurrency: DefaultDIMSEConcurrency}}
	if !reflect.DeepEqual(c.Destinations, want) {
		t.Errorf("destinations = %+v", c.Destinations)
	}
	if got := c.Destinations[0].DIMSE.Addr(); got != "127.0.0.1:4242" {
		t.Errorf("Addr() = %q", got)
	}
	if got := c.Destinations[0].Kind(); got != "dimse" {
		t.Errorf("Kind() = %q", got)
	}
	wantRules := []Rule{{Name: "everything-to-pacs", Send: []string{"pacs"}}}
	if !reflect.DeepEqual(c.Rules, wantRules) {
		t.Errorf("rules = %+v", c.Rules)
	}
	// Untouched sections keep their defaults.
	if c.Node.MaxAssociations != 64 || c.Routing.MaxAttempts != 20 || c.Node.Timeouts.Idle.Std() != 5*time.Minute {
		t.Errorf("defaults lost: %+v %+v", c.Node, c.Routing)
	}
}

func TestFull(t *testing.T) {
	c, err := Load("testdata/full.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Node.Timeouts; got.ARTIM.Std() != 10*time.Second || got.Idle.Std() != 90*time.Second ||
		got.Connect.Std() != 3*time.Second || got.Response.Std() != 2*time.Minute {
		t.Errorf("timeouts = %+v", got)
	}
	if !reflect.DeepEqual(c.Peers[0], Peer{AETitle: "SINK", Host: "127.0.0.1", Port: 24250}) {
		t.Errorf("peers[0] = %+v", c.Peers[0])
	}
	if p := c.Profiles["research"]; p.KeyFile != "/etc/sonogate/research.key" || !reflect.DeepEqual(p.Options, []string{"retain-long-full-dates", "clean-descriptors"}) {
		t.Errorf("profile research = %+v", p)
	}
	if d := c.Destinations[1]; d.Profile != "research" || d.DIMSE.CallingAE != "SONO_RES" {
		t.Errorf("destinations[1] = %+v %+v", d, d.DIMSE)
	}
	if got := c.Destinations[2].Kind() + "," + c.Destinations[3].Kind(); got != "folder,stow" {
		t.Errorf("kinds = %s", got)
	}
	if got := c.Destinations[3].STOW.Token.Reveal(); got != "s3cr3t-stow-token-value" {
		t.Errorf("stow token = %q", got)
	}
	if !reflect.DeepEqual(c.Rules[0].Match.Modality, []string{"US", "SR"}) {
		t.Errorf("rules[0].match = %+v", c.Rules[0].Match)
	}
	if !reflect.DeepEqual(c.Rules[1].Match.Tags["0008,1010"], []string{"US?"}) {
		t.Errorf("rules[1].match.tags = %+v", c.Rules[1].Match.Tags)
	}
	if c.Routing.BaseBackoff.Std() != 500*time.Millisecond || c.Routing.Workers != 8 {
		t.Errorf("routing = %+v", c.Routing)
	}
	if c.Node.MaxPDULength != 65536 || c.Node.Catalog.Driver != "postgres" {
		t.Errorf("node = %+v", c.Node)
	}
}

// TestSecretsRedacted checks that no printing path leaks a token or password.
func TestSecretsRedacted(t *testing.T) {
	c, err := Load("testdata/full.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outs := map[string]string{
		"String": c.String(),
		"%v":     fmt.Sprintf("%v", c.Auth.Tokens),
		"%+v":    fmt.Sprintf("%+v", *c.Destinations[3].STOW),
		"%#v":    fmt.Sprintf("%#v", c.Auth.Tokens[0]),
		"json":   string(js),
	}
	for name, out := range outs {
		for _, secret := range []string{"s3cr3t-stow-token-value", "0123456789abcdef0123", "hunter2hunter2"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s output leaks %q:\n%s", name, secret, out)
			}
		}
		if !strings.Contains(out, "***") {
			t.Errorf("%s output has no ***:\n%s", name, out)
		}
	}
	if !strings.Contains(c.String(), "postgres://sonogate:***@127.0.0.1:5432/sonogate") {
		t.Errorf("dsn not redacted as expected:\n%s", c.String())
	}
	if got := redactDSN("host=db user=x password=pw dbname=y"); got != "host=db user=x password=*** dbname=y" {
		t.Errorf("redactDSN = %q", got)
	}
	if Secret("").String() != "" {
		t.Error("empty secret should print empty")
	}
}

// TestTestdata loads every testdata/*.good.yaml (must be valid) and
// *.bad.yaml (must fail with each "# error: " line of the file as a line
// of the error text).
func TestTestdata(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) < 10 {
		t.Fatalf("testdata: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			_, err := Load(f)
			switch {
			case strings.HasSuffix(f, ".good.yaml"):
				if err != nil {
					t.Fatalf("want valid, got:\n%v", err)
				}
			case strings.HasSuffix(f, ".bad.yaml"):
				b, rerr := os.ReadFile(f)
				if rerr != nil {
					t.Fatal(rerr)
				}
				var want []string
				for _, line := range strings.Split(string(b), "\n") {
					if s, ok := strings.CutPrefix(line, "# error: "); ok {
						want = append(want, s)
					}
				}
				if len(want) == 0 {
					t.Fatal("bad file without a '# error: ' line")
				}
				if err == nil {
					t.Fatalf("want errors %q, got none", want)
				}
				msg := strings.TrimPrefix(err.Error(), f+": ")
				lines := strings.Split(msg, "\n")
				for _, w := range want {
					found := false
					for _, l := range lines {
						if l == w {
							found = true
						}
					}
					if !found {
						t.Errorf("missing error line\n  %s\ngot:\n  %s", w, strings.Join(lines, "\n  "))
					}
				}
			default:
				t.Fatalf("testdata file %s is neither .good.yaml nor .bad.yaml", f)
			}
		})
	}
}

func TestErrorsAs(t *testing.T) {
	_, err := Parse([]byte("destinations:\n  - name: pacs\n    dimse: {ae_title: X, host: h, port: 0}\n"))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "destinations[0].dimse.port" {
		t.Fatalf("errors.As FieldError: %v (%#v)", err, fe)
	}
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 {
		t.Fatalf("errors.As Errors: %v", err)
	}
}

func TestValidAETitle(t *testing.T) {
	for ae, ok := range map[string]bool{
		"A": true, "SONOGATE": true, "ABCDEFGHIJKLMNOP": true, "US 1": true, " PAD ": true,
		"": false, "ABCDEFGHIJKLMNOPQ": false, "A\\B": false, "A\x00": false, "A\nB": false, "Ü": false, "\x7f": false,
	} {
		if got := ValidAETitle(ae) == ""; got != ok {
			t.Errorf("ValidAETitle(%q) valid = %v, want %v (%s)", ae, got, ok, ValidAETitle(ae))
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(missing) = %v, want ErrNotExist", err)
	}
}

func TestDataDirDerivesCatalog(t *testing.T) {
	c, err := Parse([]byte("node: {data_dir: /data}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Node.Catalog.DSN != "/data/catalog.db" {
		t.Errorf("dsn = %q, want /data/catalog.db", c.Node.Catalog.DSN)
	}
}

// FuzzParse checks that Parse never panics and that accepted configs
// validate again after a round trip through String (secrets aside).
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error text")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted but Validate fails: %v", err)
		}
		_ = c.String()
	})
}

func TestLoadResolvesProfileFilesBesideTheConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sonogate.yaml")
	os.WriteFile(p, []byte("profiles:\n  research:\n    key_file: ./research.key\n    pseudonym_table: /abs/table.csv\n    options: [clean_desc]\n"), 0o644)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Profiles["research"].KeyFile; got != filepath.Join(dir, "research.key") {
		t.Fatalf("key_file = %q", got)
	}
	if got := c.Profiles["research"].PseudonymTable; got != "/abs/table.csv" {
		t.Fatalf("pseudonym_table = %q", got)
	}
}
