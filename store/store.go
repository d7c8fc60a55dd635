package store

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Namespace is the top-level directory of a family of instances.
type Namespace string

// The namespaces used by sonogate.
const (
	NamespaceClinical Namespace = "clinical"
	NamespaceResearch Namespace = "research"
)

// tempDir is the directory, relative to the store root, that holds spool files.
const tempDir = "tmp"

// tempPattern names spool files; only files matching it are ever cleaned.
const (
	tempPrefix  = "spool-"
	tempSuffix  = ".tmp"
	tempPattern = tempPrefix + "*" + tempSuffix
)

// bufSize is the size of the buffered writer of Spool.
const bufSize = 1 << 20

// Spool's buffers are reused across instances: at hundreds of small
// instances a second, a fresh megabyte each is most of the allocation and
// garbage-collection work of a receive.
var (
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufSize) }}
	copyPool   = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}
)

// Options tune Open.
type Options struct {
	// StaleAfter is the minimum age (by modification time) of a temporary
	// file that Open removes. Zero removes every temporary file, which is
	// right when one process owns the data directory. When several replicas
	// share the directory (DESIGN.md §8) set it well above the longest
	// receive so that a replica never removes another's spool in progress.
	StaleAfter time.Duration
}

// Store is a directory of instance files. It is safe for concurrent use.
type Store struct {
	dir string
	tmp string
	// dirMu serialises directory creation so that the parent of a newly
	// created directory is fsynced exactly when needed.
	dirMu sync.Mutex
}

// Spooled is an instance written to a temporary file and not yet committed.
type Spooled struct {
	TempPath   string // absolute path of the temporary file
	SHA256     string // lowercase hex SHA-256 of the whole file (prefix included)
	Size       int64  // bytes in the file
	DataOffset int64  // offset of the data set: len(prefix)
}

// ErrNamespace is returned by Commit for a namespace that is not a single
// lowercase path element.
var ErrNamespace = errors.New("store: invalid namespace")

// Open opens (creating if needed) the store rooted at dir and removes every
// temporary file left by an earlier process.
func Open(dir string) (*Store, error) {
	return OpenOptions(dir, Options{})
}

// OpenOptions is Open with options.
func OpenOptions(dir string, opt Options) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{dir: abs, tmp: filepath.Join(abs, tempDir)}
	if err := os.MkdirAll(s.tmp, 0o750); err != nil {
		return nil, fmt.Errorf("store: create %s: %w", s.tmp, err)
	}
	if _, err := s.CleanTemp(opt.StaleAfter); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir returns the absolute root directory of the store.
func (s *Store) Dir() string { return s.dir }

// CleanTemp removes temporary spool files whose modification time is at
// least olderThan ago and returns how many it removed.
func (s *Store) CleanTemp(olderThan time.Duration) (int, error) {
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return 0, fmt.Errorf("store: read %s: %w", s.tmp, err)
	}
	cutoff := time.Now().Add(-olderThan)
	n := 0
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, tempPrefix) || !strings.HasSuffix(name, tempSuffix) {
			continue
		}
		if olderThan > 0 {
			info, err := e.Info()
			if err != nil || info.ModTime().After(cutoff) {
				continue
			}
		}
		if err := os.Remove(filepath.Join(s.tmp, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("store: remove stale temp: %w", err)
		}
		n++
	}
	return n, nil
}

// Spool writes prefix followed by everything read from r to a new temporary
// file, hashing as it writes, then fsyncs and closes the file. The data is
// streamed through a fixed 1 MiB buffer. On any error the temporary file is
// removed and no Spooled is returned.
func (s *Store) Spool(prefix []byte, r io.Reader) (sp *Spooled, err error) {
	f, err := os.CreateTemp(s.tmp, tempPattern)
	if err != nil {
		return nil, fmt.Errorf("store: create temp: %w", err)
	}
	name := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(name)
		}
	}()
	h := sha256.New()
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(f)
	defer func() { bw.Reset(nil); writerPool.Put(bw) }()
	w := io.MultiWriter(bw, h)
	if _, err := w.Write(prefix); err != nil {
		return nil, fmt.Errorf("store: write prefix: %w", err)
	}
	// bufio.Writer.ReadFrom would bypass the hash, so copy through the
	// MultiWriter with one reusable chunk.
	buf := copyPool.Get().(*[]byte)
	defer copyPool.Put(buf)
	n, err := io.CopyBuffer(w, onlyReader{r}, *buf)
	if err != nil {
		return nil, fmt.Errorf("store: write data: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("store: flush: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("store: fsync: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("store: close: %w", err)
	}
	return &Spooled{
		TempPath:   name,
		SHA256:     hex.EncodeToString(h.Sum(nil)),
		Size:       int64(len(prefix)) + n,
		DataOffset: int64(len(prefix)),
	}, nil
}

// onlyReader hides any WriterTo of the wrapped reader so io.CopyBuffer uses
// the given buffer.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// RelPath returns the content-addressed path, relative to the store root and
// with forward slashes, of a file with the given hash in namespace ns.
func RelPath(ns Namespace, sha string) (string, error) {
	if !validNamespace(ns) {
		return "", fmt.Errorf("%w: %q", ErrNamespace, ns)
	}
	if !validSHA(sha) {
		return "", fmt.Errorf("store: invalid sha256 %q", sha)
	}
	return path.Join(string(ns), sha[0:2], sha[2:4], sha+".dcm"), nil
}

// Commit moves a spooled file to its content-addressed path in namespace ns
// and returns that path relative to the store root. The rename is atomic and
// the receiving directory (and any directory Commit created) is fsynced
// before Commit returns. If a file with the same content already exists the
// temporary file is discarded and the existing path is returned.
func (s *Store) Commit(sp *Spooled, ns Namespace) (string, error) {
	if sp == nil {
		return "", errors.New("store: commit of nil spool")
	}
	rel, err := RelPath(ns, sp.SHA256)
	if err != nil {
		return "", err
	}
	final := s.Path(rel)
	leaf := filepath.Dir(final)
	if err := s.mkdirs(leaf); err != nil {
		return "", err
	}
	if info, err := os.Lstat(final); err == nil && info.Mode().IsRegular() && info.Size() == sp.Size {
		// Same content: keep the existing file, drop ours.
		if err := os.Remove(sp.TempPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("store: discard duplicate temp: %w", err)
		}
		return rel, nil
	}
	if err := os.Rename(sp.TempPath, final); err != nil {
		return "", fmt.Errorf("store: rename into place: %w", err)
	}
	if err := syncDir(leaf); err != nil {
		return "", err
	}
	return rel, nil
}

// mkdirs creates dir and its missing parents below the store root, fsyncing
// the parent of every directory it creates.
func (s *Store) mkdirs(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	rel, err := filepath.Rel(s.dir, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("store: %s is outside the store", dir)
	}
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	cur := s.dir
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		next := filepath.Join(cur, part)
		err := os.Mkdir(next, 0o750)
		switch {
		case err == nil:
			if err := syncDir(cur); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrExist):
		default:
			return fmt.Errorf("store: mkdir: %w", err)
		}
		cur = next
	}
	return nil
}

// Discard removes the temporary file of a spool that will not be committed.
// It is a no-op after a successful Commit, so it is safe to defer.
func (s *Store) Discard(sp *Spooled) error {
	if sp == nil {
		return nil
	}
	if err := os.Remove(sp.TempPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: discard: %w", err)
	}
	return nil
}

// Path returns the absolute path of a path relative to the store root, as
// returned by Commit. The relative path cannot escape the root.
func (s *Store) Path(relPath string) string {
	clean := path.Clean("/" + filepath.ToSlash(relPath))
	return filepath.Join(s.dir, filepath.FromSlash(clean))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: open dir for fsync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: fsync dir %s: %w", dir, err)
	}
	return nil
}

func validNamespace(ns Namespace) bool {
	if ns == "" || ns == tempDir || len(ns) > 64 {
		return false
	}
	for _, c := range ns {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validSHA(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
