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

// fsTopdirFlag is ext2/3/4's FS_TOPDIR_FL ("top of directory hierarchy").
const fsTopdirFlag = 0x00020000

// spreadSubdirs marks dir as the top of a directory hierarchy for the
// ext2/3/4 block allocator (chattr +T), so that the directories made in
// it (the namespaces, tmp) go to block groups with many free inodes
// instead of the group of dir. The files of a directory get their inodes
// from its group, and in a group with many recently deleted inodes (a
// store that was emptied, or a busy shared file system) ext4 scans past
// each of them for every new file: creating one can then cost more than
// writing a whole small instance. Other file systems refuse or ignore the
// flag; the error is not interesting.
func spreadSubdirs(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		flags, err := unix.IoctlGetUint32(int(fd), unix.FS_IOC_GETFLAGS)
		if err != nil || flags&fsTopdirFlag != 0 {
			return
		}
		_ = unix.IoctlSetPointerInt(int(fd), unix.FS_IOC_SETFLAGS, int(flags|fsTopdirFlag))
	})
}
