package store

import (
	"bufio"
	"bytes"
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

// copyPool holds the copy buffers of Spool for readers that cannot hand
// their bytes over themselves (io.WriterTo).
var copyPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// Options tune Open.
type Options struct {
	// StaleAfter is the minimum age (by modification time) of a temporary
	// file that Open removes. Zero removes every temporary file, which is
	// right when one process owns the data directory. When several replicas
	// share the directory (DESIGN.md §8) set it well above the longest
	// receive so that a replica never removes another's spool in progress.
	StaleAfter time.Duration
	// Prealloc is how many empty spool files a background goroutine keeps
	// created ahead of need (0: none). Creating a file is an inode
	// allocation, which on a busy or journal-less file system can cost
	// more than writing a small instance; with a pool it happens while the
	// receiver waits for the network instead of between the last byte and
	// the response. Close removes the pooled files. With a pool, the
	// fan-out directories of a namespace are also created in the background
	// from its first commit on (without, each is made when first needed).
	Prealloc int
}

// Store is a directory of instance files. It is safe for concurrent use.
type Store struct {
	dir string
	tmp string
	// dirMu serialises directory creation so that the parent of a newly
	// created directory is fsynced exactly when needed; fanned records the
	// namespaces whose fan-out directories are being or have been made.
	dirMu  sync.Mutex
	fanned map[Namespace]bool
	fanWG  sync.WaitGroup

	pool *spoolPool // nil without Options.Prealloc
}

// Spooled is an instance written to a temporary file and not yet committed.
type Spooled struct {
	TempPath   string // absolute path of the temporary file
	SHA256     string // lowercase hex SHA-256 of the whole file (prefix included)
	Size       int64  // bytes in the file
	DataOffset int64  // offset of the data set: len(prefix)

	// f is the spool file, written but not yet fsynced: Commit fsyncs and
	// closes it, Discard closes it.
	f *os.File

	// head holds the first bytes of the file (at most headSize), captured
	// while spooling so that the header can be parsed without reading the
	// file again. It returns to headPool on Commit or Discard.
	head *[]byte
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
	s := &Store{dir: abs, tmp: filepath.Join(abs, tempDir), fanned: map[Namespace]bool{}}
	if err := os.MkdirAll(s.tmp, 0o750); err != nil {
		return nil, fmt.Errorf("store: create %s: %w", s.tmp, err)
	}
	if _, err := s.CleanTemp(opt.StaleAfter); err != nil {
		return nil, err
	}
	if opt.Prealloc > 0 {
		s.pool = newSpoolPool(s.tmp, opt.Prealloc)
	}
	return s, nil
}

// Close stops the spool pool and removes its unused files. The store must
// not be used for writing afterwards; reading paths stays valid.
func (s *Store) Close() error {
	if s.pool != nil {
		s.pool.close()
	}
	s.fanWG.Wait()
	return nil
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
// file, hashing as it writes. The data is streamed through fixed buffers
// (or handed over slice by slice when r is an io.WriterTo). The file is
// not fsynced yet: Commit makes it durable before it gets its
// name. On any error the temporary file is removed and no Spooled is
// returned.
func (s *Store) Spool(prefix []byte, r io.Reader) (sp *Spooled, err error) {
	f, err := s.createTemp()
	if err != nil {
		return nil, fmt.Errorf("store: create temp: %w", err)
	}
	name := f.Name()
	sw := newSpoolWriter(f)
	defer func() {
		if err != nil {
			sw.release()
			_ = f.Close()
			_ = os.Remove(name)
		}
	}()
	if _, err := sw.Write(prefix); err != nil {
		return nil, fmt.Errorf("store: write prefix: %w", err)
	}
	var n int64
	if wt, ok := r.(io.WriterTo); ok {
		n, err = wt.WriteTo(sw)
	} else {
		buf := copyPool.Get().(*[]byte)
		n, err = io.CopyBuffer(sw, onlyReader{r}, *buf)
		copyPool.Put(buf)
	}
	if err != nil {
		return nil, fmt.Errorf("store: write data: %w", err)
	}
	if err := sw.flush(); err != nil {
		return nil, fmt.Errorf("store: flush: %w", err)
	}
	sp = &Spooled{
		f:          f,
		TempPath:   name,
		SHA256:     hex.EncodeToString(sw.h.Sum(nil)),
		Size:       int64(len(prefix)) + n,
		DataOffset: int64(len(prefix)),
		head:       sw.head,
	}
	sw.head = nil
	sw.release()
	return sp, nil
}

// createTemp returns an empty temporary file: one from the pool when there
// is one, otherwise a new one.
func (s *Store) createTemp() (*os.File, error) {
	if s.pool != nil {
		if f := s.pool.take(); f != nil {
			return f, nil
		}
	}
	return os.CreateTemp(s.tmp, tempPattern)
}

// HeaderReader returns the data set (the bytes after the prefix) for
// parsing its header: from the bytes captured while spooling, continued
// from the file only if the parser reads past them. It is valid until
// Commit or Discard; the caller closes it.
func (sp *Spooled) HeaderReader() io.ReadCloser {
	var head []byte
	if sp.head != nil {
		head = *sp.head
	}
	if int64(len(head)) >= sp.Size {
		return io.NopCloser(bytes.NewReader(head[min(sp.DataOffset, int64(len(head))):]))
	}
	off := max(sp.DataOffset, int64(len(head)))
	rest := &lazyFile{path: sp.TempPath, off: off}
	if int64(len(head)) <= sp.DataOffset {
		return rest
	}
	return &multiCloser{Reader: io.MultiReader(bytes.NewReader(head[sp.DataOffset:]), rest), c: rest}
}

// releaseHead returns the captured head to its pool.
func (sp *Spooled) releaseHead() {
	if sp.head != nil {
		headPool.Put(sp.head)
		sp.head = nil
	}
}

// lazyFile reads a file from an offset, opening it on the first Read.
type lazyFile struct {
	path string
	off  int64
	f    *os.File
	br   *bufio.Reader
	err  error
}

func (l *lazyFile) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if l.f == nil {
		f, err := os.Open(l.path)
		if err != nil {
			l.err = err
			return 0, err
		}
		if _, err := f.Seek(l.off, io.SeekStart); err != nil {
			f.Close()
			l.err = err
			return 0, err
		}
		l.f, l.br = f, bufio.NewReaderSize(f, 64<<10)
	}
	return l.br.Read(p)
}

func (l *lazyFile) Close() error {
	if l.f != nil {
		return l.f.Close()
	}
	return nil
}

type multiCloser struct {
	io.Reader
	c io.Closer
}

func (m *multiCloser) Close() error { return m.c.Close() }

// onlyReader hides any WriterTo of the wrapped reader so io.CopyBuffer uses
// the given buffer.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// fanout is the number of directories, named by the first two hex digits
// of the hash, that hold a namespace's files. They are all created the
// first time a namespace is written, so that no instance pays for a mkdir.
const fanout = 256

// RelPath returns the content-addressed path, relative to the store root and
// with forward slashes, of a file with the given hash in namespace ns.
func RelPath(ns Namespace, sha string) (string, error) {
	if !validNamespace(ns) {
		return "", fmt.Errorf("%w: %q", ErrNamespace, ns)
	}
	if !validSHA(sha) {
		return "", fmt.Errorf("store: invalid sha256 %q", sha)
	}
	return path.Join(string(ns), sha[0:2], sha+".dcm"), nil
}

// legacyRelPath is where stores written before the one-level fan-out keep
// a file (ns/ab/cd/<sha>.dcm); the catalog records each file's own path,
// so both layouts stay readable, and Commit finds identical content there.
func legacyRelPath(ns Namespace, sha string) string {
	return path.Join(string(ns), sha[0:2], sha[2:4], sha+".dcm")
}

// Commit moves a spooled file to its content-addressed path in namespace ns
// and returns that path relative to the store root: plan, then place.
func (s *Store) Commit(sp *Spooled, ns Namespace) (string, error) {
	rel, existing, err := s.plan(sp, ns)
	if err != nil {
		return "", err
	}
	if err := s.place(sp, ns, rel, existing); err != nil {
		return "", err
	}
	return rel, nil
}

// plan returns where a spooled file will be: its content-addressed path in
// namespace ns, or the path of a file with the same content that is
// already stored (existing). Nothing is changed on disk; place does it.
func (s *Store) plan(sp *Spooled, ns Namespace) (rel string, existing bool, err error) {
	if sp == nil {
		return "", false, errors.New("store: commit of nil spool")
	}
	rel, err = RelPath(ns, sp.SHA256)
	if err != nil {
		return "", false, err
	}
	s.startFanOut(ns)
	for _, r := range []string{rel, legacyRelPath(ns, sp.SHA256)} {
		if info, err := os.Lstat(s.Path(r)); err == nil && info.Mode().IsRegular() && info.Size() == sp.Size {
			return r, true, nil
		}
	}
	return rel, false, nil
}

// place puts a spooled file where plan said: it fsyncs the file, renames
// it to rel and fsyncs the receiving directory (creating the directory if
// needed), or, when a file with the same content exists, discards the
// spool. Once place returns nil the instance bytes are durable at rel.
func (s *Store) place(sp *Spooled, ns Namespace, rel string, existing bool) error {
	sp.releaseHead()
	if existing {
		// Same content: keep the existing file, drop ours.
		if err := s.Discard(sp); err != nil {
			return fmt.Errorf("store: discard duplicate temp: %w", err)
		}
		return nil
	}
	if sp.f != nil {
		err := sp.f.Sync()
		if cerr := sp.f.Close(); err == nil {
			err = cerr
		}
		sp.f = nil
		if err != nil {
			return fmt.Errorf("store: fsync: %w", err)
		}
	}
	final := s.Path(rel)
	leaf := filepath.Dir(final)
	err := os.Rename(sp.TempPath, final)
	if errors.Is(err, fs.ErrNotExist) {
		// The fan-out directory does not exist yet (the background
		// creation has not reached it, or it was lost): make it here.
		if _, statErr := os.Stat(sp.TempPath); statErr == nil {
			if err = s.mkLeaf(ns, leaf); err == nil {
				err = os.Rename(sp.TempPath, final)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("store: rename into place: %w", err)
	}
	return syncDir(leaf)
}

// startFanOut starts, once per namespace and process, the creation of the
// namespace's fan-out directories in the background, so that instances do
// not pay for a mkdir (an inode allocation, slow on a file system with
// many recent deletions) and a parent fsync each; Commit creates a
// missing leaf itself.
func (s *Store) startFanOut(ns Namespace) {
	if s.pool == nil {
		return // without Options.Prealloc, Commit makes each leaf when first needed
	}
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	if s.fanned[ns] {
		return
	}
	s.fanned[ns] = true
	s.fanWG.Add(1)
	go func() {
		defer s.fanWG.Done()
		if err := s.fanOut(ns); err != nil {
			// Commit creates what is missing; nothing is lost.
			return
		}
	}()
}

// fanOut creates the namespace directory and its fan-out directories,
// fsyncing each parent that gained an entry.
func (s *Store) fanOut(ns Namespace) error {
	nsDir := filepath.Join(s.dir, string(ns))
	if _, err := mkdirSynced(s.dir, nsDir); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(nsDir, "ff")); err == nil {
		return nil // an earlier process completed the set ("ff" comes last)
	}
	created := false
	for i := range fanout {
		err := os.Mkdir(filepath.Join(nsDir, fmt.Sprintf("%02x", i)), 0o750)
		switch {
		case err == nil:
			created = true
		case errors.Is(err, fs.ErrExist):
		default:
			return fmt.Errorf("store: mkdir: %w", err)
		}
	}
	if created {
		return syncDir(nsDir)
	}
	return nil
}

// mkLeaf creates the namespace directory and one fan-out directory, each
// with its parent fsynced.
func (s *Store) mkLeaf(ns Namespace, leaf string) error {
	nsDir := filepath.Join(s.dir, string(ns))
	if _, err := mkdirSynced(s.dir, nsDir); err != nil {
		return err
	}
	_, err := mkdirSynced(nsDir, leaf)
	return err
}

// mkdirSynced creates dir (whose parent must exist) and fsyncs the parent
// if it was created.
func mkdirSynced(parent, dir string) (bool, error) {
	err := os.Mkdir(dir, 0o750)
	switch {
	case err == nil:
		return true, syncDir(parent)
	case errors.Is(err, fs.ErrExist):
		return false, nil
	}
	return false, fmt.Errorf("store: mkdir: %w", err)
}

// Discard removes the temporary file of a spool that will not be committed.
// It is a no-op after a successful Commit, so it is safe to defer.
func (s *Store) Discard(sp *Spooled) error {
	if sp == nil {
		return nil
	}
	sp.releaseHead()
	if sp.f != nil {
		sp.f.Close()
		sp.f = nil
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
