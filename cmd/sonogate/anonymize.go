package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/sonogate/sonogate/anonymize"
	"github.com/sonogate/sonogate/config"
)

// cmdAnonymize de-identifies a file or a folder tree with a profile of the
// configuration (PS3.15 Annex E). Quarantined instances are reported and
// not written; the exit code is 1 when any instance failed or was
// quarantined.
func cmdAnonymize(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("anonymize", "anonymize --profile NAME [--config FILE] IN OUT", stderr)
	profile := flags.String("profile", "", "de-identification profile name (profiles: in the configuration)")
	cfgPath := flags.String("config", "", "configuration file (default: embedded defaults, which define no profile)")
	pos, err := parseInterleaved(flags, args)
	if err != nil {
		return exitError{2}
	}
	if len(pos) != 2 || *profile == "" {
		return usageError(flags, "need --profile NAME, IN and OUT")
	}
	cfg := config.Default()
	if *cfgPath != "" {
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	}
	pc, ok := cfg.Profiles[*profile]
	if !ok {
		return fmt.Errorf("profile %q is not in the configuration", *profile)
	}
	prof, err := anonymize.NewProfile(*profile, pc)
	if err != nil {
		return err
	}
	in, out := pos[0], pos[1]
	st, err := os.Stat(in)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var done, quarantined, failed int
	var mu sync.Mutex // counters and stderr, shared by the workers
	one := func(src, dst string) {
		err := os.MkdirAll(filepath.Dir(dst), 0o755)
		if err == nil {
			_, err = prof.AnonymizeFile(ctx, src, dst)
		}
		mu.Lock()
		defer mu.Unlock()
		var q *anonymize.QuarantineError
		switch {
		case errors.As(err, &q):
			fmt.Fprintf(stderr, "%s: QUARANTINED: %s\n", src, q.Reason)
			quarantined++
		case err != nil:
			fmt.Fprintf(stderr, "%s: %v\n", src, err)
			failed++
		default:
			done++
		}
	}
	if !st.IsDir() {
		dst := out
		if ost, err := os.Stat(out); err == nil && ost.IsDir() {
			dst = filepath.Join(out, filepath.Base(in))
		}
		one(in, dst)
	} else {
		// Files are independent: one worker per CPU (a Profile is safe
		// for concurrent use).
		type task struct{ src, dst string }
		tasks := make(chan task)
		var wg sync.WaitGroup
		for range runtime.NumCPU() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for t := range tasks {
					one(t.src, t.dst)
				}
			}()
		}
		err = filepath.WalkDir(in, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			rel, err := filepath.Rel(in, path)
			if err != nil {
				return err
			}
			tasks <- task{path, filepath.Join(out, rel)}
			return nil
		})
		close(tasks)
		wg.Wait()
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "anonymized %d, quarantined %d, failed %d\n", done, quarantined, failed)
	if quarantined+failed > 0 {
		return exitError{1}
	}
	return nil
}
