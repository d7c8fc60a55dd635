//go:build linux

package store

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStoreRootSpreadsSubdirs: on a file system with inode flags (ext2/3/4)
// the store root is marked as the top of a directory hierarchy.
func TestStoreRootSpreadsSubdirs(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		t.Skipf("the file system of %s has no inode flags (%v): nothing to check", s.Dir(), err)
	}
	if flags&fsTopdirFlag == 0 {
		// Only ext2/3/4 know the flag; others keep their flags unchanged.
		var st unix.Statfs_t
		if unix.Statfs(s.Dir(), &st) == nil && st.Type == unix.EXT4_SUPER_MAGIC {
			t.Errorf("store root on ext4 without FS_TOPDIR_FL (flags %#x)", flags)
		}
	}
}

// TestDirectWriteExactSize: with direct I/O the last block is written
// padded and cut back; the file has exactly the spooled bytes.
func TestDirectWriteExactSize(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir())
	for _, n := range []int{1, directAlign - 1, directAlign, directAlign + 1, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 17} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i%251 + 1)
		}
		sp, err := s.Spool(nil, &writerToReader{data: append([]byte(nil), data...)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(sp.TempPath)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n || string(got) != string(data) {
			t.Errorf("n=%d: file has %d bytes, content equal %v", n, len(got), string(got) == string(data))
		}
		s.Discard(sp)
	}
}
