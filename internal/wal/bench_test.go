package wal

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
)

// BenchmarkAppendGroupSync measures one group per AppendGroup(sync=true) on
// the operating system's file system (O_DIRECT where accepted): the cost of
// an acknowledged write, which is one aligned write and one fdatasync.
func BenchmarkAppendGroupSync(b *testing.B) {
	for _, recsPerGroup := range []int{1, 64} {
		b.Run(fmt.Sprintf("records=%d/payload=100B", recsPerGroup), func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "wal")
			r, err := recoverLog(vfs.Default(), dir, quietOpts(DefaultSegmentSizeBytes), Position{})
			if err != nil {
				b.Fatal(err)
			}
			w := r.w
			defer w.Close()
			recs := make([]Record, recsPerGroup)
			for i := range recs {
				recs[i].Payload = payload(uint64(i), 100)
			}
			b.SetBytes(int64(recsPerGroup * 100))
			b.ReportAllocs()
			seq := uint64(1)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range recs {
					recs[j].Seq = seq + uint64(j)
				}
				if _, err := w.AppendGroup(recs, true); err != nil {
					b.Fatal(err)
				}
				seq += uint64(recsPerGroup)
			}
			b.StopTimer()
			st := w.Stats()
			b.ReportMetric(float64(st.BytesWritten)/float64(b.N), "device-bytes/group")
			if !st.DirectIO {
				b.Log("O_DIRECT refused: measured buffered writes")
			}
		})
	}
}
