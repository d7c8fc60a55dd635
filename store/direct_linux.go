//go:build linux

package store

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// directAlign is the offset, length and memory alignment used for direct
// I/O (the page size; every Linux block size divides it).
const directAlign = 4096

// errDirectUnsupported is what a write returns when the file system does
// not accept a direct write after all.
var errDirectUnsupported = syscall.EINVAL

// setDirect switches O_DIRECT on or off for f and reports whether it is
// on. A file system without direct I/O (tmpfs, some network and overlay
// file systems) refuses it, and the file stays buffered.
func setDirect(f *os.File, on bool) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	rc.Control(func(fd uintptr) {
		flags, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		if e != 0 {
			return
		}
		if on {
			flags |= syscall.O_DIRECT
		} else {
			flags &^= syscall.O_DIRECT
		}
		if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETFL, flags); e != 0 {
			return
		}
		ok = on
	})
	return ok
}

// alignedBuffer returns n bytes whose address is a multiple of directAlign.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+directAlign)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (directAlign - 1))
	if off != 0 {
		off = directAlign - off
	}
	return b[off : off+n : off+n]
}

// Prefetch asks the kernel to start reading a stored file into the page
// cache (posix_fadvise WILLNEED) without waiting for it: files are written
// with direct I/O and so are not cached, and a file about to be forwarded
// is then read from memory by the sender.
func (s *Store) Prefetch(rel string) {
	f, err := os.Open(s.Path(rel))
	if err != nil {
		return
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		_ = unix.Fadvise(int(fd), 0, 0, unix.FADV_WILLNEED)
	})
}
