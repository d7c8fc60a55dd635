package store

import (
	"crypto/sha256"
	"hash"
	"os"
	"sync"
)

// headSize is how many leading bytes of each spooled file are kept in
// memory for header parsing: enough for the attributes in front of the
// pixel data of an image and for most structured reports.
const headSize = 128 << 10

// chunkSize is the unit in which spooled bytes are hashed and written; up
// to maxChunks of them are in flight per spool.
const (
	chunkSize = 256 << 10
	maxChunks = 4
)

var (
	headPool  = sync.Pool{New: func() any { b := make([]byte, 0, headSize); return &b }}
	hashPool  = sync.Pool{New: func() any { return sha256.New() }}
	chunkPool = sync.Pool{New: func() any { return newChunk() }}
)

// chunk is one buffer of a spool's pipeline.
type chunk struct{ b []byte }

func newChunk() *chunk { return &chunk{b: make([]byte, chunkSize)} }

type chunkJob struct {
	c   *chunk
	n   int
	off int64
}

// spoolWriter fills chunks with the spooled bytes. A full chunk goes to a
// second goroutine that hashes it, writes it and starts its writeback at
// once (sync_file_range), so that receiving, hashing, writing and the
// disk's work overlap and the fsync at the end has little left to do. An
// instance smaller than a chunk is hashed and written once, at flush,
// without a goroutine. The first headSize bytes are also kept in memory.
type spoolWriter struct {
	f    *os.File
	h    hash.Hash
	head *[]byte

	cur *chunk
	n   int   // bytes in cur
	off int64 // file offset of cur.b[0]

	work  chan chunkJob // nil until the first full chunk
	free  chan *chunk
	done  chan struct{}
	werr  error // set by the write goroutine, read after done or via failed
	fail  chan struct{}
	owned int // chunks taken from chunkPool
}

func newSpoolWriter(f *os.File) *spoolWriter {
	h := hashPool.Get().(hash.Hash)
	h.Reset()
	head := headPool.Get().(*[]byte)
	*head = (*head)[:0]
	w := &spoolWriter{f: f, h: h, head: head}
	w.cur = w.getChunk()
	return w
}

func (w *spoolWriter) getChunk() *chunk {
	if w.owned < maxChunks {
		w.owned++
		return chunkPool.Get().(*chunk)
	}
	select {
	case c := <-w.free:
		return c
	case <-w.fail:
		return nil
	}
}

func (w *spoolWriter) Write(p []byte) (int, error) {
	if w.head != nil {
		if room := headSize - len(*w.head); room > 0 {
			*w.head = append(*w.head, p[:min(room, len(p))]...)
		}
	}
	written := 0
	for len(p) > 0 {
		k := copy(w.cur.b[w.n:chunkSize], p)
		w.n += k
		p = p[k:]
		written += k
		if w.n == chunkSize {
			if err := w.submit(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// submit hands the full current chunk to the write goroutine.
func (w *spoolWriter) submit() error {
	if w.work == nil {
		w.work = make(chan chunkJob, maxChunks)
		w.free = make(chan *chunk, maxChunks)
		w.done = make(chan struct{})
		w.fail = make(chan struct{})
		go w.writeLoop()
	}
	select {
	case <-w.fail:
		return w.werr
	default:
	}
	w.work <- chunkJob{w.cur, w.n, w.off}
	w.off += int64(w.n)
	w.cur, w.n = nil, 0
	if w.cur = w.getChunk(); w.cur == nil {
		return w.werr
	}
	return nil
}

func (w *spoolWriter) writeLoop() {
	defer close(w.done)
	for j := range w.work {
		if w.werr == nil {
			w.h.Write(j.c.b[:j.n])
			if err := w.writeAt(j.c, j.n, j.off); err != nil {
				w.werr = err
				close(w.fail)
			}
		}
		w.free <- j.c
	}
}

// writeAt writes the first n bytes of c at off and starts their writeback.
func (w *spoolWriter) writeAt(c *chunk, n int, off int64) error {
	if _, err := w.f.WriteAt(c.b[:n], off); err != nil {
		return err
	}
	startWriteback(w.f, off, int64(n))
	return nil
}

// flush writes what is left and waits for the write goroutine. The hash
// is complete afterwards.
func (w *spoolWriter) flush() error {
	if w.work != nil {
		if w.n > 0 {
			if err := w.submit(); err != nil {
				w.stop()
				return err
			}
		}
		w.stop()
		return w.werr
	}
	if w.n > 0 {
		w.h.Write(w.cur.b[:w.n])
		if err := w.writeAt(w.cur, w.n, w.off); err != nil {
			return err
		}
		w.off += int64(w.n)
		w.n = 0
	}
	return nil
}

// stop ends the write goroutine and collects its chunks.
func (w *spoolWriter) stop() {
	if w.work == nil {
		return
	}
	close(w.work)
	<-w.done
	w.work = nil
}

// release returns the buffers (and the head, unless it was handed to a
// Spooled) to their pools. It stops the write goroutine if running.
func (w *spoolWriter) release() {
	w.stop()
	if w.cur != nil {
		chunkPool.Put(w.cur)
		w.cur = nil
	}
	for w.free != nil && len(w.free) > 0 {
		chunkPool.Put(<-w.free)
	}
	if w.h != nil {
		hashPool.Put(w.h)
		w.h = nil
	}
	if w.head != nil {
		headPool.Put(w.head)
		w.head = nil
	}
}

// spoolPool keeps up to n empty temporary files created ahead of need,
// from the first spool on.
type spoolPool struct {
	dir   string
	files chan *os.File
	want  chan struct{}
	stop  chan struct{}
	done  chan struct{}
	start sync.Once // the filler starts with the first take
	once  sync.Once
}

func newSpoolPool(dir string, n int) *spoolPool {
	p := &spoolPool{dir: dir, files: make(chan *os.File, n), want: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	return p
}

// take returns a pooled file, or nil when the pool is empty, and asks for
// a refill.
func (p *spoolPool) take() *os.File {
	p.start.Do(func() { go p.fill() })
	var f *os.File
	select {
	case f = <-p.files:
	default:
	}
	select {
	case p.want <- struct{}{}:
	default:
	}
	if f == nil {
		return nil
	}
	// A replica's CleanTemp (Options.StaleAfter) may have removed a file
	// that sat in the pool for long: never write to an unlinked inode.
	if fi, err := f.Stat(); err != nil || !linked(fi) {
		name := f.Name()
		f.Close()
		os.Remove(name)
		return nil
	}
	return f
}

// fill tops the pool up whenever asked, until close.
func (p *spoolPool) fill() {
	defer close(p.done)
	for {
		for len(p.files) < cap(p.files) {
			select {
			case <-p.stop:
				return
			default:
			}
			f, err := os.CreateTemp(p.dir, tempPattern)
			if err != nil {
				break // the receive path creates its own and reports errors
			}
			p.files <- f
		}
		select {
		case <-p.want:
		case <-p.stop:
			return
		}
	}
}

func (p *spoolPool) close() {
	p.once.Do(func() {
		close(p.stop)
		p.start.Do(func() { close(p.done) }) // never started
		<-p.done
		for {
			select {
			case f := <-p.files:
				name := f.Name()
				f.Close()
				os.Remove(name)
			default:
				return
			}
		}
	})
}
