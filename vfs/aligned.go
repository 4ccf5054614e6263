package vfs

import "unsafe"

// Direct I/O moves data between the device and the caller's memory with no
// copy through the page cache, so the kernel insists that the buffer's
// address, the file offset and the length are all multiples of the device's
// logical block size. We use DirectIOAlignmentBytes (one page) everywhere,
// which satisfies every current device and lets faultfs enforce the same rule.

// AlignedBuffer returns a zeroed slice whose first byte is aligned to
// DirectIOAlignmentBytes and whose length is sizeBytes rounded up to a
// multiple of DirectIOAlignmentBytes. The capacity equals the length, so an
// append reallocates instead of silently losing the alignment guarantee of
// later bytes. AlignedBuffer(0) returns an empty slice. Like make, it panics
// if sizeBytes is negative.
func AlignedBuffer(sizeBytes int) []byte {
	if sizeBytes < 0 {
		panic("vfs: AlignedBuffer: negative size")
	}
	lengthBytes := int(AlignUp(int64(sizeBytes)))
	if lengthBytes == 0 {
		return []byte{}
	}
	// Over-allocate by one alignment unit and slice from the first aligned
	// address. The Go allocator does not promise page alignment, even
	// though large allocations often happen to have it.
	raw := make([]byte, lengthBytes+DirectIOAlignmentBytes)
	misalignBytes := int(uintptr(unsafe.Pointer(unsafe.SliceData(raw))) & (DirectIOAlignmentBytes - 1))
	start := 0
	if misalignBytes != 0 {
		start = DirectIOAlignmentBytes - misalignBytes
	}
	return raw[start : start+lengthBytes : start+lengthBytes]
}

// IsAligned reports whether p can be used for direct I/O: its first byte is
// aligned to DirectIOAlignmentBytes and its length is a multiple of
// DirectIOAlignmentBytes. An empty slice is aligned (no I/O happens).
func IsAligned(p []byte) bool {
	if len(p) == 0 {
		return true
	}
	return isAlignedAddr(p) && len(p)%DirectIOAlignmentBytes == 0
}

// isAlignedAddr reports whether p's first byte is aligned; p must not be
// empty.
func isAlignedAddr(p []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(p)))&(DirectIOAlignmentBytes-1) == 0
}

// AlignUp rounds n up to a multiple of DirectIOAlignmentBytes. n must be
// non-negative and at most math.MaxInt64-DirectIOAlignmentBytes+1.
func AlignUp(n int64) int64 {
	return (n + DirectIOAlignmentBytes - 1) &^ (DirectIOAlignmentBytes - 1)
}

// AlignDown rounds n down to a multiple of DirectIOAlignmentBytes. n must be
// non-negative.
func AlignDown(n int64) int64 {
	return n &^ (DirectIOAlignmentBytes - 1)
}
