// Package fusefs puts the faultfs model behind a FUSE mount, so that any
// program, not only Go code written against vfs.FS, runs on a file system
// that loses unsynced data and fails fsync the way ext4, XFS and Btrfs do.
//
// There is one model: the mount is a faultfs.FS loaded from the backing
// directory (faultfs.LoadDir), and the backing directory is that model's
// device. Reads and writes go to the model's page cache; only what the model
// makes durable (fsync, fdatasync, O_SYNC/O_DSYNC writes, directory syncs
// as the directory mode says) is written, and fsynced, to the backing
// directory. The kernel's page cache is kept out with FOPEN_DIRECT_IO on
// every open file, and attribute and entry caching is off, so that what a
// program sees is what the model says.
//
// The mount is controlled through a FIFO that accepts LazyFS's commands
// verbatim plus faultfs's own (see control.go and docs/faultfs.md).
package fusefs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// Unmount policies: what a clean unmount does with data the model holds
// only in its cache.
const (
	// UnmountSync syncs every file and directory first, as unmounting a
	// real file system does (and CuttleFS, which checkpoints on unmount).
	UnmountSync = "sync"
	// UnmountDiscard leaves the backing directory as it is: unsynced data
	// is lost, as in a crash.
	UnmountDiscard = "discard"
)

// Options configure a mount.
type Options struct {
	Backing, Mountpoint string
	Profile             faultfs.Profile
	Dirs                faultfs.DirMode
	Seed                uint64
	// Config holds faults and control settings from --faults files.
	Config Config
	// Control is the FIFO for commands ("" for none); Completed, if set,
	// receives "finished::clear-cache" and faultfs's command results.
	Control, Completed string
	// OnUnmount is UnmountSync (default) or UnmountDiscard.
	OnUnmount string
	// AllowOther lets users other than the mounting one use the mount
	// (needed for PostgreSQL, which refuses to run as root).
	AllowOther bool
	// Log receives one line per control command and fault (LazyFS's log
	// lines where there is one). nil: standard error.
	Log io.Writer
	// Debug logs every FUSE request.
	Debug bool
}

// meta is what the model does not keep: permission bits and owners. It is
// kept by path, in memory only.
type meta struct {
	perm     uint32
	uid, gid uint32
}

// Server is a mounted faultfs.
type Server struct {
	opts    Options
	fsys    *faultfs.FS
	fuse    *fuse.Server
	log     *log.Logger
	started time.Time

	mu         sync.Mutex
	metas      map[string]meta
	injectors  []namedInjector
	torn       tornState
	cacheLimit int64 // apply_eviction: evict clean pages past this many cached bytes
	control    *controlLoop
	unmounted  bool
	root       *node
}

type namedInjector struct {
	name string
	inj  faultfs.Injector
}

// Mount loads the backing directory into a model and mounts it.
func Mount(opts Options) (*Server, error) {
	if opts.Backing == "" || opts.Mountpoint == "" {
		return nil, errors.New("fusefs: --backing and --mountpoint are required")
	}
	if opts.Profile == "" {
		opts.Profile = faultfs.ProfileExt4Ordered
	}
	if _, err := faultfs.ParseProfile(string(opts.Profile)); err != nil {
		return nil, err
	}
	switch opts.OnUnmount {
	case "":
		opts.OnUnmount = UnmountSync
	case UnmountSync, UnmountDiscard:
	default:
		return nil, fmt.Errorf("fusefs: unknown unmount policy %q (want %s or %s)", opts.OnUnmount, UnmountSync, UnmountDiscard)
	}
	backing, err := filepath.Abs(opts.Backing)
	if err != nil {
		return nil, err
	}
	mnt, err := filepath.Abs(opts.Mountpoint)
	if err != nil {
		return nil, err
	}
	opts.Backing, opts.Mountpoint = backing, mnt
	if opts.Control == "" {
		opts.Control = opts.Config.FIFO
	}
	if opts.Completed == "" {
		opts.Completed = opts.Config.FIFOCompleted
	}
	w := opts.Log
	if w == nil && opts.Config.LogFile != "" {
		f, err := os.OpenFile(opts.Config.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		w = f
	}
	if w == nil {
		w = os.Stderr
	}
	fsys, err := faultfs.LoadDir(faultfs.Options{Profile: opts.Profile, Dirs: opts.Dirs, Seed: opts.Seed}, backing)
	if err != nil {
		return nil, fmt.Errorf("fusefs: loading %s: %w", backing, err)
	}
	s := &Server{
		opts:       opts,
		fsys:       fsys,
		log:        log.New(w, "", log.LstdFlags|log.Lmicroseconds),
		started:    time.Now(),
		metas:      make(map[string]meta),
		cacheLimit: opts.Config.CacheLimitBytes,
	}
	s.torn.init()
	for _, inj := range opts.Config.Injections {
		if err := s.addInjection(inj); err != nil {
			return nil, err
		}
	}
	zero := time.Duration(0)
	root := &node{srv: s}
	s.root = root
	fopts := &gofs.Options{
		MountOptions: fuse.MountOptions{
			// The source in /proc/self/mountinfo names the profile the
			// mount starts with, so a program on it can tell what it
			// models (holdfast syncs twice under ext4-journal; see
			// vfs.LateSyncErrors).
			FsName:            "faultfs:" + string(fsys.Profile()) + ":" + backing,
			Name:              "faultfs",
			AllowOther:        opts.AllowOther,
			Debug:             opts.Debug,
			MaxWrite:          1 << 19, // above 1 MiB minus headers go-fuse cannot splice
			ExtraCapabilities: fuse.CAP_DIRECT_IO_ALLOW_MMAP,
			DisableXAttrs:     true,
		},
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
	}
	srv, err := gofs.Mount(mnt, root, fopts)
	if err != nil {
		return nil, fmt.Errorf("fusefs: mounting %s: %w", mnt, err)
	}
	s.fuse = srv
	if opts.Control != "" {
		c, err := startControl(s, opts.Control, opts.Completed)
		if err != nil {
			srv.Unmount()
			return nil, err
		}
		s.control = c
	}
	// LazyFS's harness scripts wait for this line in the log.
	s.log.Printf("running LazyFS... (faultfs mount of %s on %s, profile %s, seed %d, control %q)", backing, mnt, opts.Profile, opts.Seed, opts.Control)
	return s, nil
}

// Mountpoint returns the absolute mount point.
func (s *Server) Mountpoint() string { return s.opts.Mountpoint }

// FS returns the model behind the mount, for tests and in-process control.
func (s *Server) FS() *faultfs.FS { return s.fsys }

// Wait blocks until the mount is gone (unmounted by Unmount or by
// fusermount3 -u).
func (s *Server) Wait() { s.fuse.Wait() }

// Unmount detaches the mount (retrying while a program still has a file
// open, for up to five seconds). It does not touch the model; Close does.
func (s *Server) Unmount() error {
	s.mu.Lock()
	gone := s.unmounted
	s.mu.Unlock()
	if gone {
		return nil
	}
	var err error
	for i := 0; i < 50; i++ {
		if err = s.fuse.Unmount(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Close waits for the mount to be gone (after Unmount, or fusermount3 -u
// from outside), then applies the unmount policy to the model and stops
// the control FIFO. Under UnmountSync every file and directory is synced
// to the backing directory, faults switched off, as a real unmount writes
// everything back; under UnmountDiscard the backing directory keeps only
// what was durable. It is safe to call more than once.
func (s *Server) Close() error {
	s.fuse.Wait()
	s.mu.Lock()
	if s.unmounted {
		s.mu.Unlock()
		return nil
	}
	s.unmounted = true
	s.mu.Unlock()
	var err error
	if s.opts.OnUnmount == UnmountSync && !s.fsys.Down() {
		s.fsys.SetInjector(nil)
		err = s.fsys.SyncFS("/")
	}
	if s.control != nil {
		s.control.stop()
	}
	return err
}

func (s *Server) open(p string, flag int, perm fs.FileMode) (*handle, error) {
	f, err := s.fsys.OpenFile(p, flag, perm)
	if err != nil {
		return nil, err
	}
	return &handle{f: f, append: flag&os.O_APPEND != 0, direct: flag&syscall.O_DIRECT != 0}, nil
}

// afterWrite applies LazyFS's apply_eviction: past the cache limit,
// clean pages are evicted (dirty pages never are: that is data loss the
// model reserves for crashes).
func (s *Server) afterWrite() {
	s.mu.Lock()
	limit := s.cacheLimit
	s.mu.Unlock()
	if limit <= 0 {
		return
	}
	if cached, _ := s.fsys.CacheUsage(); cached > limit {
		s.fsys.EvictCleanPages("")
	}
}

func (s *Server) meta(p string, dir bool) meta {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.metas[p]; ok {
		return m
	}
	if dir {
		return meta{perm: 0o755}
	}
	return meta{perm: 0o644}
}

func (s *Server) setMeta(p string, change func(*meta)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.metas[p]
	if !ok {
		m = meta{perm: 0o644}
		if fi, err := s.fsys.Stat(p); err == nil && fi.IsDir() {
			m.perm = 0o755
		}
	}
	change(&m)
	s.metas[p] = m
}

func (s *Server) dropMeta(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.metas, p)
}

// moveMeta follows a rename: the entry and everything below it.
func (s *Server) moveMeta(from, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, m := range s.metas {
		if p == from || strings.HasPrefix(p, from+"/") {
			delete(s.metas, p)
			s.metas[to+strings.TrimPrefix(p, from)] = m
		}
	}
}

// modelPath turns a path given in a command or config into a model path:
// a path under the backing directory or the mount point is taken relative
// to it; any other absolute or relative path is relative to the root.
func (s *Server) modelPath(p string) string {
	for _, base := range []string{s.opts.Backing, s.opts.Mountpoint} {
		if p == base {
			return "/"
		}
		if strings.HasPrefix(p, base+"/") {
			return path.Clean(strings.TrimPrefix(p, base))
		}
	}
	return path.Clean("/" + p)
}

// setInjectors installs the current list as one injector.
func (s *Server) setInjectorsLocked() {
	injs := make([]faultfs.Injector, 0, len(s.injectors))
	for _, n := range s.injectors {
		if n.inj != nil { // torn faults act in the write path, not as injectors
			injs = append(injs, n.inj)
		}
	}
	switch len(injs) {
	case 0:
		s.fsys.SetInjector(nil)
	case 1:
		s.fsys.SetInjector(injs[0])
	default:
		s.fsys.SetInjector(faultfs.Any(injs...))
	}
}

// AddInjector adds an injector to the mount's list, beside those from
// fault files and commands (a program embedding the mount can observe
// operations this way, with an injector that returns nil).
func (s *Server) AddInjector(name string, inj faultfs.Injector) { s.addInjector(name, inj) }

func (s *Server) addInjector(name string, inj faultfs.Injector) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.injectors = append(s.injectors, namedInjector{name: name, inj: inj})
	s.setInjectorsLocked()
}

func (s *Server) clearInjectors() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.injectors = nil
	s.torn.init()
	s.setInjectorsLocked()
}

// invalidateKernelCache drops whatever the kernel cached of every file the
// mount has shown it (pages of shared mappings, which FOPEN_DIRECT_IO
// leaves to the kernel): after a crash or an eviction in the model, the
// next read must reach the model.
func (s *Server) invalidateKernelCache() {
	var walk func(in *gofs.Inode)
	walk = func(in *gofs.Inode) {
		for _, c := range in.Children() {
			if c.IsDir() {
				walk(c)
			} else {
				c.NotifyContent(0, 0)
			}
		}
	}
	walk(&s.root.Inode)
}
