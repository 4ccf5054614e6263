package study

import "testing"

func TestClassify(t *testing.T) {
	newV := read{val: newValue, found: true}
	oldV := read{val: oldValue, found: true}
	for _, tc := range []struct {
		workload string
		opOK     bool
		r        read
		want     string
	}{
		{WorkloadUpdate, true, newV, "ok"},
		{WorkloadUpdate, true, oldV, "OV"},
		{WorkloadUpdate, true, read{}, "KNF"},
		{WorkloadUpdate, false, oldV, "ok"},
		{WorkloadUpdate, false, newV, "FF"},
		{WorkloadUpdate, false, read{}, "KNF"},
		{WorkloadUpdate, false, read{val: "ol\x00", found: true}, "VC"},
		{WorkloadInsert, true, newV, "ok"},
		{WorkloadInsert, true, read{}, "KNF"},
		{WorkloadInsert, false, read{}, "ok"},
		{WorkloadInsert, false, newV, "FF"},
		{WorkloadInsert, false, read{err: "Corruption: checksum mismatch"}, "VC"},
		{WorkloadInsert, false, read{err: "connection refused"}, "U"},
		{WorkloadUpdate, true, read{err: "redis-server did not start: Bad file format reading the append only file"}, "VC"},
	} {
		if got := classify(tc.workload, tc.opOK, tc.r); got != tc.want {
			t.Errorf("classify(%s, ok=%t, %s) = %s, want %s", tc.workload, tc.opOK, tc.r, got, tc.want)
		}
	}
}
