package faultfs

import (
	"os"
	"testing"
)

// BenchmarkSequentialWriteSync: 64 MiB in 1 MiB writes, then one fsync,
// in the model alone (no FUSE, no Store): the model's share of the cost
// of a sequential write through the mount.
func BenchmarkSequentialWriteSync(b *testing.B) {
	buf := make([]byte, 1<<20)
	b.SetBytes(64 << 20)
	for i := 0; i < b.N; i++ {
		fsys := New(Options{})
		f, err := fsys.OpenFile("/f", os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < 64; j++ {
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}
