package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/node"
)

func cmdServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [--config FILE] [--log-level debug|info|warn|error] [--log-format json|text]", stderr)
	cfgPath := fs.String("config", "", "YAML configuration `file` (default: embedded defaults)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "json", "log format: json or text")
	aet := fs.String("ae-title", "", "override node.ae_title")
	dimseAddr := fs.String("dimse-listen", "", "override node.dimse_listen (host:port)")
	httpAddr := fs.String("http-listen", "", "override node.http_listen (host:port)")
	dataDir := fs.String("data-dir", "", "override node.data_dir")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitError{2}
	}
	if len(pos) > 0 {
		return usageError(fs, "unexpected argument %q", pos[0])
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return usageError(fs, "bad --log-level %q", *level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewJSONHandler(stderr, opts)
	if *format == "text" {
		h = slog.NewTextHandler(stderr, opts)
	} else if *format != "json" {
		return usageError(fs, "bad --log-format %q", *format)
	}
	log := slog.New(h)

	cfg := config.Default()
	if *cfgPath != "" {
		if cfg, err = config.Load(*cfgPath); err != nil {
			return fmt.Errorf("configuration %s:\n%w", *cfgPath, err)
		}
	} else {
		log.Info("no --config given: running with the embedded defaults", "ae_title", cfg.Node.AETitle,
			"dimse", cfg.Node.DIMSEListen, "http", cfg.Node.HTTPListen, "data_dir", cfg.Node.DataDir)
	}
	if *aet != "" || *dimseAddr != "" || *httpAddr != "" || *dataDir != "" {
		if *aet != "" {
			cfg.Node.AETitle = *aet
		}
		if *dimseAddr != "" {
			cfg.Node.DIMSEListen = *dimseAddr
		}
		if *httpAddr != "" {
			cfg.Node.HTTPListen = *httpAddr
		}
		if *dataDir != "" {
			if cfg.Node.Catalog.Driver == "sqlite" && cfg.Node.Catalog.DSN == filepath.Join(cfg.Node.DataDir, "catalog.db") {
				cfg.Node.Catalog.DSN = filepath.Join(*dataDir, "catalog.db")
			}
			cfg.Node.DataDir = *dataDir
		}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("configuration after command-line overrides:\n%w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := node.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down: draining associations and requests (30 s at most)")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return n.Shutdown(sctx)
}

func cmdConfigCheck(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: sonogate config check FILE")
		return exitError{2}
	}
	if _, err := config.Load(args[0]); err != nil {
		fmt.Fprintf(stderr, "%s: invalid\n%v\n", args[0], err)
		return exitError{1}
	}
	fmt.Fprintf(stdout, "%s: OK\n", args[0])
	return nil
}
