package main

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// processCounters are the cumulative counters of this process that a
// workload is charged by: CPU time (getrusage: user + system, all threads)
// and bytes sent to the storage layer (/proc/self/io write_bytes, which
// counts direct I/O, and buffered or mmap writes when the page is dirtied).
type processCounters struct {
	cpuSeconds float64
	writeBytes int64
}

func readCounters() processCounters {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return processCounters{cpuSeconds: cpu.Seconds(), writeBytes: procIOWriteBytes("self")}
}

func (c processCounters) sub(before processCounters) processCounters {
	return processCounters{cpuSeconds: c.cpuSeconds - before.cpuSeconds, writeBytes: c.writeBytes - before.writeBytes}
}

// procIOWriteBytes returns write_bytes of /proc/<pid>/io, or -1.
func procIOWriteBytes(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/io")
	if err != nil {
		return -1
	}
	return procField(b, "write_bytes:")
}

// procField returns the integer after prefix at the start of a line.
func procField(b []byte, prefix string) int64 {
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		line := s.Text()
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return -1
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// procCPUSeconds returns the user + system CPU seconds of another process
// (utime and stime of /proc/<pid>/stat), or -1.
func procCPUSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name, field 2, may hold spaces: fields are counted after
	// its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	const clockTicksPerSecond = 100 // USER_HZ on Linux
	return float64(ut+st) / clockTicksPerSecond
}

// memory is the resident memory of this process.
type memory struct {
	rssBytes, rssAnonBytes, rssFileBytes int64
}

// readMemory returns VmRSS, RssAnon and RssFile of this process after a
// full garbage collection that returns freed memory to the OS, the same
// for every engine (the Go ones and SQLite's C heap alike).
func readMemory() memory {
	runtime.GC()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return memory{-1, -1, -1}
	}
	const kib = 1024
	return memory{
		rssBytes:     procField(b, "VmRSS:") * kib,
		rssAnonBytes: procField(b, "RssAnon:") * kib,
		rssFileBytes: procField(b, "RssFile:") * kib,
	}
}

// diskUsageBytes returns the space allocated to the files under dir
// (st_blocks, as du counts it).
func diskUsageBytes(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	return total
}

// latencies collects operation latencies of one goroutine.
type latencies []time.Duration

// percentiles returns the p50, p99 and p99.9 of all samples in
// microseconds (nearest rank).
func percentiles(all []latencies) (p50, p99, p999 float64) {
	var merged []time.Duration
	for _, l := range all {
		merged = append(merged, l...)
	}
	if len(merged) == 0 {
		return 0, 0, 0
	}
	slices.Sort(merged)
	at := func(q float64) float64 {
		i := int(q*float64(len(merged))+0.5) - 1
		i = max(0, min(len(merged)-1, i))
		return float64(merged[i].Nanoseconds()) / 1e3
	}
	return at(0.50), at(0.99), at(0.999)
}
