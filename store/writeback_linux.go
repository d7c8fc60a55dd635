//go:build linux

package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing a range of f to the disk
// now (sync_file_range SYNC_FILE_RANGE_WRITE, which does not wait), so that
// the fsync at the end of a spool has little left to write. The bytes stay
// in the page cache for those who read the instance soon after (routing,
// WADO-RS).
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
