package main

import (
	"math/rand/v2"
)

const (
	keyBytes   = 16
	valueBytes = 100
	// putKeySpace is the space the durable-write workload draws its
	// uniform random keys from: large enough that practically every Put
	// inserts a new key.
	putKeySpace = 1 << 40
	// noiseBytes is the size of the random buffer values are cut from.
	noiseBytes = 1 << 16
)

// noise is random, incompressible bytes: values are cut from it, so no
// engine gains from compressing them.
var noise = func() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, noiseBytes)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// keyOf writes the 16-byte key of index i into dst: i in hexadecimal,
// zero-padded, so key order is index order and a bulk load in index order
// is a load in key order.
func keyOf(dst []byte, i uint64) []byte {
	const hexDigits = "0123456789abcdef"
	dst = dst[:keyBytes]
	for j := keyBytes - 1; j >= 0; j-- {
		dst[j] = hexDigits[i&0xf]
		i >>= 4
	}
	return dst
}

// valueOf returns the 100-byte value of index i, a slice of noise (not to
// be modified).
func valueOf(i uint64) []byte {
	off := (i * 7919) % (noiseBytes - valueBytes)
	return noise[off : off+valueBytes]
}
