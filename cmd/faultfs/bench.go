package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs/fusefs"
)

// benchCmd measures throughput through a mount against the bare backing
// directory's file system: sequential writes and reads in MB/s, and small
// synced writes (4 KiB pwrite + fdatasync) per second. It prints a
// Markdown table.
func benchCmd(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("dir", os.TempDir(), "directory for the bare files and the mount's backing directory")
	seqMiB := fl.Int("seq-mib", 256, "size of the sequential file, MiB")
	syncs := fl.Int("syncs", 2000, "number of 4 KiB synced writes")
	profile := fl.String("profile", "ext4-ordered", "profile of the mount")
	if err := fl.Parse(args); err != nil {
		return errUsage{err}
	}
	p, err := faultfs.ParseProfile(*profile)
	if err != nil {
		return errUsage{err}
	}
	work, err := os.MkdirTemp(*dir, "faultfs-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bare := filepath.Join(work, "bare")
	backing := filepath.Join(work, "backing")
	mnt := filepath.Join(work, "mnt")
	for _, d := range []string{bare, backing, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	srv, err := fusefs.Mount(fusefs.Options{Backing: backing, Mountpoint: mnt, Profile: p, OnUnmount: fusefs.UnmountDiscard, Log: io.Discard})
	if err != nil {
		return err
	}
	defer func() {
		srv.Unmount()
		srv.Close()
	}()
	type result struct{ write, read, syncs float64 }
	measure := func(d string, evict func()) (result, error) {
		var r result
		var err error
		if r.write, err = seqWrite(filepath.Join(d, "seq"), *seqMiB); err != nil {
			return r, err
		}
		evict()
		if r.read, err = seqRead(filepath.Join(d, "seq")); err != nil {
			return r, err
		}
		r.syncs, err = syncedWrites(filepath.Join(d, "small"), *syncs)
		return r, err
	}
	dropCaches := func() {
		exec.Command("sync").Run()
		os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0)
	}
	b, err := measure(bare, dropCaches)
	if err != nil {
		return fmt.Errorf("bare: %w", err)
	}
	m, err := measure(mnt, func() { srv.Command("faultfs::evict-clean-pages") })
	if err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	fsType, _ := exec.Command("stat", "-f", "-c", "%T", bare).Output()
	fmt.Fprintf(stdout, "| measure (%s on %s, profile %s) | bare directory | faultfs mount | mount / bare |\n|---|---|---|---|\n", work, strings.TrimSpace(string(fsType)), p)
	row := func(name string, a, b float64, unit string) {
		fmt.Fprintf(stdout, "| %s | %.1f %s | %.1f %s | %.2f |\n", name, a, unit, b, unit, b/a)
	}
	row(fmt.Sprintf("sequential write, 1 MiB writes, %d MiB, one fsync", *seqMiB), b.write, m.write, "MB/s")
	row("sequential read after dropping clean pages", b.read, m.read, "MB/s")
	row(fmt.Sprintf("4 KiB pwrite + fdatasync, %d times", *syncs), b.syncs, m.syncs, "writes/s")
	return nil
}

// create creates name and makes its directory entry durable, so that a
// mount under DirStrict writes the file's data to its backing directory.
func create(name string) (*os.File, error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	d, err := os.Open(filepath.Dir(name))
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func seqWrite(name string, mib int) (float64, error) {
	f, err := create(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	start := time.Now()
	for i := 0; i < mib; i++ {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return float64(mib) * (1 << 20) / 1e6 / time.Since(start).Seconds(), nil
}

func seqRead(name string) (float64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	start := time.Now()
	for {
		k, err := f.Read(buf)
		n += int64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	return float64(n) / 1e6 / time.Since(start).Seconds(), nil
}

func syncedWrites(name string, count int) (float64, error) {
	f, err := create(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	start := time.Now()
	for i := 0; i < count; i++ {
		if _, err := f.WriteAt(buf, int64(i)*4096); err != nil {
			return 0, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return 0, err
		}
	}
	return float64(count) / time.Since(start).Seconds(), nil
}
