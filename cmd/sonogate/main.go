// Command sonogate is the sonogate DICOM gateway and its command-line
// tools: serve runs the gateway; echo and store are C-ECHO and C-STORE
// SCUs with DCMTK-like arguments; config check validates a configuration
// file; version prints the build.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries a process exit code.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "sonogate:", err)
		os.Exit(1)
	}
}

const usage = `usage: sonogate <command> [arguments]

commands:
  serve [--config FILE]                 run the gateway (embedded defaults without --config)
  echo  [--aet AE] [--aec AE] HOST:PORT  send a C-ECHO (verification)
  store [--aet AE] [--aec AE] HOST:PORT FILE|DIR...
                                        send DICOM files with C-STORE (directories recursively)
  find  [-P|-S] [--level L] [-k TAG[=VALUE]]... [--format json|text] HOST:PORT
                                        C-FIND; one JSON line (or text block) per match
  move  [-P|-S] --dest AE [--level L] [-k TAG=VALUE]... HOST:PORT
                                        C-MOVE to the AE title --dest
  get   [-P|-S] [--level L] [-k TAG=VALUE]... [--out DIR] HOST:PORT
                                        C-GET into DIR (Ctrl-C sends C-CANCEL to find/move/get)
  config check FILE                     validate a configuration file
  extract [--format json|csv] FILE|DIR... elastography reports from SR files (JSON default)
  anonymize --profile NAME [--config FILE] IN OUT
                                        de-identify a file or folder (PS3.15 Annex E)
  pseudonyms export [--config FILE] [--profile NAME]
                                        print the re-identification table as CSV (handle with care)
  version                               print the version
`

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{2}
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "echo":
		return cmdEcho(args[1:], stdout, stderr)
	case "store":
		return cmdStore(args[1:], stdout, stderr)
	case "find":
		return cmdFind(args[1:], stdout, stderr)
	case "move":
		return cmdMove(args[1:], stdout, stderr)
	case "get":
		return cmdGet(args[1:], stdout, stderr)
	case "extract":
		return cmdExtract(args[1:], stdout, stderr)
	case "pseudonyms":
		return cmdPseudonyms(args[1:], stdout, stderr)
	case "anonymize":
		return cmdAnonymize(args[1:], stdout, stderr)
	case "config":
		if len(args) < 2 || args[1] != "check" {
			fmt.Fprintln(stderr, "usage: sonogate config check FILE")
			return exitError{2}
		}
		return cmdConfigCheck(args[2:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "sonogate", versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "sonogate: unknown command %q\n\n%s", args[0], usage)
	return exitError{2}
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}

// parseInterleaved parses flags that may stand before, between or after
// the positional arguments, as DCMTK's tools allow.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sonogate %s\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func usageError(fs *flag.FlagSet, format string, a ...any) error {
	fmt.Fprintf(fs.Output(), "sonogate %s: %s\n", fs.Name(), fmt.Sprintf(format, a...))
	fs.Usage()
	return exitError{2}
}

func hostPort(s string) (string, error) {
	if !strings.Contains(s, ":") {
		return "", fmt.Errorf("%q is not HOST:PORT", s)
	}
	return s, nil
}
