package routing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sonogate/sonogate/catalog"
)

// Destination delivers one stored instance. path is the absolute path of
// the stored Part 10 file; inst.DataOffset is where its data set starts.
// Send must be safe for concurrent use and must honour ctx. A nil error
// means the destination has taken the instance (for DIMSE: Success or
// Warning status).
type Destination interface {
	Name() string
	Send(ctx context.Context, inst *catalog.Instance, path string) error
}

// Folder copies instances into <Path>/<StudyInstanceUID>/<SOPInstanceUID>.dcm,
// writing a temporary file in the same directory, fsyncing it and renaming
// it into place, then fsyncing the directory. A later version of an instance
// replaces the earlier file.
type Folder struct {
	name string
	root string
}

// NewFolder returns a folder destination rooted at root.
func NewFolder(name, root string) (*Folder, error) {
	if root == "" {
		return nil, errors.New("routing: folder destination needs a path")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("routing: folder %s: %w", name, err)
	}
	return &Folder{name: name, root: abs}, nil
}

// Name implements Destination.
func (f *Folder) Name() string { return f.name }

// safeElem makes a UID usable as one path element: UIDs are digits and dots
// (PS3.5 §9.1); anything else, or a name that could climb, is replaced.
func safeElem(s string) string {
	s = strings.TrimSpace(strings.TrimRight(s, "\x00"))
	if s == "" || s == "." || s == ".." {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// Send implements Destination.
func (f *Folder) Send(ctx context.Context, inst *catalog.Instance, path string) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Join(f.root, safeElem(inst.StudyInstanceUID))
	final := filepath.Join(dir, safeElem(inst.SOPInstanceUID)+".dcm")
	src, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("routing: folder %s: %w", f.name, err)
	}
	defer src.Close()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("routing: folder %s: %w", f.name, err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, ".tmp-"+hex.EncodeToString(rnd[:]))
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("routing: folder %s: %w", f.name, err)
	}
	defer func() {
		if err != nil {
			_ = dst.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err := io.Copy(dst, ctxReader{ctx, src}); err != nil {
		return fmt.Errorf("routing: folder %s: copy: %w", f.name, err)
	}
	if err := dst.Sync(); err != nil {
		return fmt.Errorf("routing: folder %s: fsync: %w", f.name, err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("routing: folder %s: close: %w", f.name, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("routing: folder %s: rename: %w", f.name, err)
	}
	if d, err := os.Open(dir); err == nil {
		serr := d.Sync()
		d.Close()
		if serr != nil {
			return fmt.Errorf("routing: folder %s: fsync dir: %w", f.name, serr)
		}
	}
	return nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
