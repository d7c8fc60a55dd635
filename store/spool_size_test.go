package store

import (
	"os"
	"testing"
)

// TestSpoolExactSize: around the chunk boundaries of the write pipeline the
// file has exactly the spooled bytes.
func TestSpoolExactSize(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir())
	for _, n := range []int{1, 4095, 4096, 4097, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 17} {
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
