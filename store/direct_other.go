//go:build !linux

package store

import (
	"errors"
	"os"
)

const directAlign = 4096

var errDirectUnsupported = errors.New("direct I/O unsupported")

func setDirect(*os.File, bool) bool { return false }

func alignedBuffer(n int) []byte { return make([]byte, n) }

// Prefetch is a no-op where files are written through the page cache.
func (s *Store) Prefetch(string) {}
