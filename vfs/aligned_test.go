package vfs

import (
	"testing"
	"unsafe"
)

func TestAlignedBuffer(t *testing.T) {
	for _, size := range []int{0, 1, 511, 512, 4095, 4096, 4097, 8192, 1 << 20, 1<<20 + 3} {
		buf := AlignedBuffer(size)
		wantLen := (size + DirectIOAlignmentBytes - 1) / DirectIOAlignmentBytes * DirectIOAlignmentBytes
		if len(buf) != wantLen {
			t.Errorf("AlignedBuffer(%d): len %d, want %d", size, len(buf), wantLen)
		}
		if cap(buf) != len(buf) {
			t.Errorf("AlignedBuffer(%d): cap %d != len %d", size, cap(buf), len(buf))
		}
		if size > 0 {
			if addr := uintptr(unsafe.Pointer(&buf[0])); addr%DirectIOAlignmentBytes != 0 {
				t.Errorf("AlignedBuffer(%d): address %#x not aligned", size, addr)
			}
		}
		if !IsAligned(buf) {
			t.Errorf("IsAligned(AlignedBuffer(%d)) = false", size)
		}
		for i, b := range buf {
			if b != 0 {
				t.Fatalf("AlignedBuffer(%d)[%d] = %d, want 0", size, i, b)
			}
		}
	}
}

func TestIsAligned(t *testing.T) {
	buf := AlignedBuffer(3 * DirectIOAlignmentBytes)
	cases := []struct {
		name string
		p    []byte
		want bool
	}{
		{"nil", nil, true},
		{"empty", buf[:0], true},
		{"one block", buf[:DirectIOAlignmentBytes], true},
		{"two blocks from second", buf[DirectIOAlignmentBytes:], true},
		{"short length", buf[:DirectIOAlignmentBytes-1], false},
		{"sector length", buf[:SectorSizeBytes], false},
		{"unaligned start", buf[1 : 1+DirectIOAlignmentBytes], false},
		{"sector-aligned start", buf[SectorSizeBytes : SectorSizeBytes+DirectIOAlignmentBytes], false},
	}
	for _, c := range cases {
		if got := IsAligned(c.p); got != c.want {
			t.Errorf("IsAligned(%s) = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestAlignUpDown(t *testing.T) {
	cases := []struct{ n, up, down int64 }{
		{0, 0, 0},
		{1, 4096, 0},
		{4095, 4096, 0},
		{4096, 4096, 4096},
		{4097, 8192, 4096},
		{1<<40 + 1, 1<<40 + 4096, 1 << 40},
	}
	for _, c := range cases {
		if got := AlignUp(c.n); got != c.up {
			t.Errorf("AlignUp(%d) = %d, want %d", c.n, got, c.up)
		}
		if got := AlignDown(c.n); got != c.down {
			t.Errorf("AlignDown(%d) = %d, want %d", c.n, got, c.down)
		}
	}
}
