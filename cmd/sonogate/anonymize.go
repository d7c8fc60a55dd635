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
	flags := newFlagSet("anonymize", "anonymize --profile NAME [--config FILE] [--workers N] IN OUT", stderr)
	profile := flags.String("profile", "", "de-identification profile name (profiles: in the configuration)")
	cfgPath := flags.String("config", "", "configuration file (default: embedded defaults, which define no profile)")
	workers := flags.Int("workers", 2*runtime.GOMAXPROCS(0), "files de-identified at once over a folder; two per CPU by default, so that a read that misses the page cache does not leave a CPU idle")
	pos, err := parseInterleaved(flags, args)
	if err != nil {
		return exitError{2}
	}
	if len(pos) != 2 || *profile == "" {
		return usageError(flags, "need --profile NAME, IN and OUT")
	}
	if *workers < 1 {
		return usageError(flags, "--workers must be at least 1")
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
	report := func(src string, err error) {
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
		err := os.MkdirAll(filepath.Dir(dst), 0o755)
		if err == nil {
			_, err = prof.AnonymizeFile(ctx, in, dst)
		}
		report(in, err)
	} else if err := anonymizeTree(ctx, prof, in, out, *workers, report); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "anonymized %d, quarantined %d, failed %d\n", done, quarantined, failed)
	if quarantined+failed > 0 {
		return exitError{1}
	}
	return nil
}

// anonymizeBatch is the most files of one directory handed to a worker at
// once. Files of one directory go to one worker where possible, so that
// the workers do not queue on the same directory's lock to create their
// outputs, and a batch is small enough to keep the workers evenly busy.
const anonymizeBatch = 16

// anonymizeTree de-identifies every file under the folder in into the
// same relative path under out, with the given number of workers (the
// Profile is safe for concurrent use), calling report once per file. The
// walk runs ahead of the workers and makes each output folder once.
func anonymizeTree(ctx context.Context, prof *anonymize.Profile, in, out string, workers int, report func(src string, err error)) error {
	type batch struct {
		srcDir, dstDir string
		names          []string
		err            error // the output folder could not be made
	}
	batches := make(chan *batch, 2*workers)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				for _, name := range b.names {
					src := filepath.Join(b.srcDir, name)
					err := b.err
					if err == nil {
						_, err = prof.AnonymizeFile(ctx, src, filepath.Join(b.dstDir, name))
					}
					report(src, err)
				}
			}
		}()
	}
	made := map[string]error{} // output folders made (or failed), by source folder
	var cur *batch
	flush := func() {
		if cur != nil && len(cur.names) > 0 {
			batches <- cur
		}
		cur = nil
	}
	err := filepath.WalkDir(in, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		dir, name := filepath.Split(path)
		dir = filepath.Clean(dir)
		if cur == nil || cur.srcDir != dir || len(cur.names) == anonymizeBatch {
			flush()
			rel, err := filepath.Rel(in, dir)
			if err != nil {
				return err
			}
			dst := filepath.Join(out, rel)
			merr, ok := made[dir]
			if !ok {
				merr = mkdirOut(dst)
				made[dir] = merr
			}
			cur = &batch{srcDir: dir, dstDir: dst, err: merr, names: make([]string, 0, anonymizeBatch)}
		}
		cur.names = append(cur.names, name)
		return nil
	})
	flush()
	close(batches)
	wg.Wait()
	return err
}

// mkdirOut makes an output folder: one mkdir when its parent exists, as it
// does when the walk comes down the tree (MkdirAll would stat the folder
// and its parent first), else MkdirAll.
func mkdirOut(dir string) error {
	err := os.Mkdir(dir, 0o755)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrExist):
		if st, serr := os.Stat(dir); serr == nil && st.IsDir() {
			return nil
		}
		return err
	}
	return os.MkdirAll(dir, 0o755)
}
