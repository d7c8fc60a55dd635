package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/node"
)

// cmdPseudonyms serves `sonogate pseudonyms export`: the pseudonyms the
// de-identification profiles chose, with the real identities, read from
// the catalog of the configuration (for authorised re-identification).
func cmdPseudonyms(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "export" {
		fmt.Fprintln(stderr, "usage: sonogate pseudonyms export [--config FILE] [--profile NAME]")
		return exitError{2}
	}
	fs := newFlagSet("pseudonyms export", "pseudonyms export [--config FILE] [--profile NAME]", stderr)
	cfgPath := fs.String("config", "", "configuration `file` (default: embedded defaults)")
	profile := fs.String("profile", "", "only this profile's pseudonyms")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return exitError{2}
	}
	if len(pos) > 0 {
		return usageError(fs, "unexpected argument %q", pos[0])
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	ctx := context.Background()
	cat, err := catalog.Open(ctx, catalog.Config{Driver: cfg.Node.Catalog.Driver, DSN: cfg.Node.Catalog.DSN})
	if err != nil {
		return err
	}
	defer cat.Close()
	ps, err := cat.Pseudonyms(ctx, *profile)
	if err != nil {
		return err
	}
	return node.WritePseudonymsCSV(stdout, ps)
}
