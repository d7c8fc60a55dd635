//go:build unix

package store

import (
	"io/fs"
	"syscall"
)

// linked reports whether the file still has a name.
func linked(fi fs.FileInfo) bool {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Nlink > 0
	}
	return true
}
