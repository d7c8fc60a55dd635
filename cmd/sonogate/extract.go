package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/sonogate/sonogate/elastography"
)

// cmdExtract implements `sonogate extract [--format json|csv] [--config
// FILE]... FILE|DIR...`: elastography reports of SR files (directories
// recursively, Part 10 files only, in lexical order), plus image_only records for studies
// whose elastography images carry no SR.
func cmdExtract(args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("extract", "extract [--format json|csv] [--config FILE] FILE|DIR...", stderr)
	format := fset.String("format", "json", "output format: json or csv")
	var configs multiFlag
	fset.Var(&configs, "config", "YAML file extending the embedded mapping and rule tables (repeatable)")
	pos, err := parseInterleaved(fset, args)
	if err != nil {
		return exitError{2}
	}
	if len(pos) == 0 {
		return usageError(fset, "no FILE or DIR given")
	}
	if *format != "json" && *format != "csv" {
		return usageError(fset, "--format must be json or csv, not %q", *format)
	}
	cfg, err := elastography.LoadConfig(configs...)
	if err != nil {
		fmt.Fprintln(stderr, "sonogate extract:", err)
		return exitError{1}
	}
	var files []string
	for _, p := range pos {
		st, err := os.Stat(p)
		if err != nil {
			fmt.Fprintln(stderr, "sonogate extract:", err)
			return exitError{1}
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() && hasDICMPrefix(path) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			fmt.Fprintln(stderr, "sonogate extract:", err)
			return exitError{1}
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	reports, xerr := elastography.ExtractFiles(files, cfg)
	if reports == nil {
		reports = []elastography.Report{}
	}
	switch *format {
	case "csv":
		err = elastography.WriteCSV(stdout, reports)
	default:
		var b []byte
		if b, err = json.MarshalIndent(reports, "", "  "); err == nil {
			_, err = stdout.Write(append(b, '\n'))
		}
	}
	if err != nil {
		return err
	}
	if xerr != nil {
		fmt.Fprintln(stderr, "sonogate extract:", xerr)
		return exitError{1}
	}
	return nil
}

// hasDICMPrefix tells Part 10 files from the other files of a directory
// (explicitly named files are always read).
func hasDICMPrefix(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [132]byte
	_, err = io.ReadFull(f, b[:])
	return err == nil && string(b[128:]) == "DICM"
}

type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }
