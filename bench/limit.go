package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The physical limit of the file system the engines run on, measured in
// the same run and directory:
//
//   - limit-fsync: the latency of one 4 KiB append followed by fdatasync,
//     in three variants: append-buffered (write(2) through the page cache,
//     the file grows), append-direct (O_DIRECT, the file grows) and
//     prealloc-direct (O_DIRECT into space fallocate(2) reserved, as a log
//     with preallocated segments writes) and zeroed-direct (O_DIRECT into
//     space already written with zeros and synced, as holdfast's log writes
//     every segment after its first: no extent conversion to journal). No
//     durable write can be acknowledged faster than the fastest of the four.
//   - limit-direct: sequential O_DIRECT write bandwidth, 1 MiB writes and
//     one fdatasync at the end.

const (
	pageBytes        = 4096
	directChunkBytes = 1 << 20
)

// alignedBuffer returns n bytes aligned to a page, as O_DIRECT requires.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+pageBytes)
	off := pageBytes - int(uintptr(unsafe.Pointer(&b[0]))%pageBytes)
	if off == pageBytes {
		off = 0
	}
	return b[off : off+n]
}

func workLimit(dir string, samples, directMiB int) ([]record, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var recs []record
	for _, variant := range limitVariants {
		rec, err := fsyncLatency(dir, variant, samples)
		if err != nil {
			return nil, fmt.Errorf("limit %s: %w", variant, err)
		}
		recs = append(recs, rec)
	}
	rec, err := directBandwidth(dir, directMiB)
	if err != nil {
		return nil, fmt.Errorf("limit direct bandwidth: %w", err)
	}
	return append(recs, rec), nil
}

// limitVariants are the ways of making a 4 KiB append durable that the
// physical limit measures.
var limitVariants = []string{"append-buffered", "append-direct", "prealloc-direct", "zeroed-direct"}

func fsyncLatency(dir, variant string, samples int) (record, error) {
	path := filepath.Join(dir, "fsync-"+variant)
	flags := unix.O_RDWR | unix.O_CREAT | unix.O_TRUNC
	if variant != "append-buffered" {
		flags |= unix.O_DIRECT
	}
	fd, err := unix.Open(path, flags, 0o600)
	if err != nil {
		return record{}, err
	}
	defer os.Remove(path)
	defer unix.Close(fd)
	buf := alignedBuffer(pageBytes)
	if variant == "prealloc-direct" || variant == "zeroed-direct" {
		if err := unix.Fallocate(fd, 0, 0, int64(samples)*pageBytes); err != nil {
			return record{}, err
		}
		if variant == "zeroed-direct" {
			for i := range samples {
				if _, err := unix.Pwrite(fd, buf, int64(i)*pageBytes); err != nil {
					return record{}, err
				}
			}
		}
		if err := unix.Fsync(fd); err != nil {
			return record{}, err
		}
	}
	copy(buf, noise)
	started := now()
	lat := make(latencies, 0, samples)
	t0 := time.Now()
	for i := range samples {
		s := time.Now()
		if _, err := unix.Pwrite(fd, buf, int64(i)*pageBytes); err != nil {
			return record{}, err
		}
		if err := unix.Fdatasync(fd); err != nil {
			return record{}, err
		}
		lat = append(lat, time.Since(s))
	}
	elapsed := time.Since(t0)
	rec := record{Kind: "limit-fsync", Engine: variant, Clients: 1, Ops: int64(samples),
		Seconds: elapsed.Seconds(), OpsPerS: float64(samples) / elapsed.Seconds(), Start: started}
	rec.P50us, rec.P99us, rec.P999us = percentiles([]latencies{lat})
	return rec, nil
}

func directBandwidth(dir string, mib int) (record, error) {
	path := filepath.Join(dir, "direct-bandwidth")
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC|unix.O_DIRECT, 0o600)
	if err != nil {
		return record{}, err
	}
	defer os.Remove(path)
	defer unix.Close(fd)
	buf := alignedBuffer(directChunkBytes)
	for i := 0; i < len(buf); i += len(noise) {
		copy(buf[i:], noise)
	}
	started := now()
	t0 := time.Now()
	total := int64(mib) * (1 << 20)
	for off := int64(0); off < total; off += directChunkBytes {
		if _, err := unix.Pwrite(fd, buf, off); err != nil {
			return record{}, err
		}
	}
	if err := unix.Fdatasync(fd); err != nil {
		return record{}, err
	}
	elapsed := time.Since(t0)
	return record{Kind: "limit-direct", Engine: "direct-1MiB", Clients: 1, Ops: total / directChunkBytes,
		Seconds: elapsed.Seconds(), MBperS: float64(total) / 1e6 / elapsed.Seconds(), Start: started}, nil
}
