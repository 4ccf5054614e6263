package fusefs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// MaxCommandBytes bounds one control command line.
const MaxCommandBytes = 64 << 10

// Command is one parsed control command.
type Command struct {
	// Verb is the command's name with its prefix: "lazyfs::clear-cache",
	// "faultfs::fail-sync", ...
	Verb string
	// Injection, for commands that add a fault.
	Injection *Injection
	// Path, for evict-clean-pages and writeback ("" is every file).
	Path string
	// Crash, for faultfs::crash.
	Crash faultfs.CrashOptions
	// Profile, for faultfs::profile.
	Profile faultfs.Profile
	// failSync: the sync failure to install (path, nth or seq, errno).
	failPath, failSeq string
	failNth           int
	failErr           error
	failKinds         []faultfs.OpKind
}

// commandArgs splits "k=v::k=v" into a map, refusing repeated keys and
// keys other than allowed.
func commandArgs(verb string, parts []string, allowed ...string) (map[string]string, error) {
	args := make(map[string]string, len(parts))
	for _, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: argument %q is not key=value", verb, p)
		}
		if !contains(allowed, k) {
			return nil, fmt.Errorf("%s: unknown argument %q (want %s)", verb, k, strings.Join(allowed, ", "))
		}
		if _, dup := args[k]; dup {
			return nil, fmt.Errorf("%s: argument %q given twice", verb, k)
		}
		args[k] = v
	}
	return args, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// ParseCommand parses one control line: LazyFS's commands, verbatim, and
// faultfs's own. A trailing newline is allowed; errors say what is wrong.
//
//	lazyfs::clear-cache
//	lazyfs::cache-checkpoint
//	lazyfs::display-cache-usage
//	lazyfs::unsynced-data-report
//	lazyfs::crash::timing=before|after::op=OP::from_rgx=RE[::to_rgx=RE]
//	lazyfs::torn-op::file=F::persist=1,3::parts=3|parts_bytes=4096,3600::occurrence=N
//	lazyfs::torn-seq::op=write::file=F::persist=1,4::occurrence=N
//	faultfs::fail-sync::path=P::nth=N|seq=xW[::err=EIO][::op=fsync|fdatasync]
//	faultfs::inject::SPEC            (faultfs.ParseInjector's text form)
//	faultfs::clear-faults
//	faultfs::evict-clean-pages[::path=P]
//	faultfs::writeback[::path=P]
//	faultfs::crash[::keep=PCT][::unit=512|4096][::tear=true][::dirops=drop|keep|random]
//	faultfs::restart
//	faultfs::profile::name=ext4-ordered|ext4-journal|xfs|btrfs|strict
//	faultfs::status
func ParseCommand(line string) (Command, error) {
	line = strings.TrimRight(line, "\r\n")
	if len(line) > MaxCommandBytes {
		return Command{}, fmt.Errorf("command is %d bytes, more than %d", len(line), MaxCommandBytes)
	}
	if strings.TrimSpace(line) == "" {
		return Command{}, errors.New("empty command")
	}
	prefix, rest, ok := strings.Cut(line, "::")
	if !ok || (prefix != "lazyfs" && prefix != "faultfs") {
		return Command{}, fmt.Errorf("command %q: want lazyfs::... or faultfs::...", clip(line))
	}
	if prefix == "faultfs" && strings.HasPrefix(rest, "inject::") {
		spec := strings.TrimPrefix(rest, "inject::")
		if _, err := faultfs.ParseInjector(spec); err != nil {
			return Command{}, fmt.Errorf("faultfs::inject: %w", err)
		}
		return Command{Verb: "faultfs::inject", Injection: &Injection{Type: "spec", Spec: spec}}, nil
	}
	parts := strings.Split(rest, "::")
	name, parts := parts[0], parts[1:]
	verb := prefix + "::" + name
	cmd := Command{Verb: verb}
	noArgs := func() error {
		_, err := commandArgs(verb, parts)
		return err
	}
	switch verb {
	case "lazyfs::clear-cache", "lazyfs::cache-checkpoint", "lazyfs::display-cache-usage", "lazyfs::unsynced-data-report",
		"faultfs::clear-faults", "faultfs::restart", "faultfs::status":
		return cmd, noArgs()
	case "lazyfs::crash":
		args, err := commandArgs(verb, parts, "timing", "op", "from_rgx", "to_rgx")
		if err != nil {
			return Command{}, err
		}
		inj := &Injection{}
		if err := inj.setCrash(args, false); err != nil {
			return Command{}, fmt.Errorf("%s: %w", verb, err)
		}
		cmd.Injection = inj
	case "lazyfs::torn-op":
		args, err := commandArgs(verb, parts, "file", "persist", "parts", "parts_bytes", "occurrence")
		if err != nil {
			return Command{}, err
		}
		inj := &Injection{}
		if err := inj.setTornOp(args); err != nil {
			return Command{}, fmt.Errorf("%s: %w", verb, err)
		}
		cmd.Injection = inj
	case "lazyfs::torn-seq":
		args, err := commandArgs(verb, parts, "op", "file", "persist", "occurrence")
		if err != nil {
			return Command{}, err
		}
		inj := &Injection{}
		if err := inj.setTornSeq(args); err != nil {
			return Command{}, fmt.Errorf("%s: %w", verb, err)
		}
		cmd.Injection = inj
	case "faultfs::fail-sync":
		args, err := commandArgs(verb, parts, "path", "nth", "seq", "err", "op")
		if err != nil {
			return Command{}, err
		}
		if args["path"] == "" {
			return Command{}, fmt.Errorf("%s: path is required", verb)
		}
		cmd.failPath = args["path"]
		_, hasNth := args["nth"]
		_, hasSeq := args["seq"]
		switch {
		case hasNth == hasSeq:
			return Command{}, fmt.Errorf("%s: give exactly one of nth and seq", verb)
		case hasNth:
			if cmd.failNth, err = parseOccurrence(args["nth"], true); err != nil {
				return Command{}, fmt.Errorf("%s: nth: %w", verb, err)
			}
		default:
			if _, err := faultfs.ParseSeq(args["seq"]); err != nil {
				return Command{}, fmt.Errorf("%s: %w", verb, err)
			}
			cmd.failSeq = args["seq"]
		}
		cmd.failErr = syscall.EIO
		if e, ok := args["err"]; ok {
			errv, bad := faultfs.Errno(e)
			if bad != nil {
				return Command{}, fmt.Errorf("%s: %w", verb, bad)
			}
			cmd.failErr = errv
		}
		switch args["op"] {
		case "":
			cmd.failKinds = []faultfs.OpKind{faultfs.OpSync, faultfs.OpSyncData}
		case "fsync":
			cmd.failKinds = []faultfs.OpKind{faultfs.OpSync}
		case "fdatasync":
			cmd.failKinds = []faultfs.OpKind{faultfs.OpSyncData}
		default:
			return Command{}, fmt.Errorf("%s: op %q is neither fsync nor fdatasync", verb, args["op"])
		}
	case "faultfs::evict-clean-pages", "faultfs::writeback":
		args, err := commandArgs(verb, parts, "path")
		if err != nil {
			return Command{}, err
		}
		cmd.Path = args["path"]
	case "faultfs::crash":
		args, err := commandArgs(verb, parts, "keep", "unit", "tear", "dirops")
		if err != nil {
			return Command{}, err
		}
		if v, ok := args["keep"]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 100 {
				return Command{}, fmt.Errorf("%s: keep %q is not a percentage 0..100", verb, v)
			}
			cmd.Crash.KeepUnsyncedPercent = n
		}
		switch args["unit"] {
		case "", "4096":
		case "512":
			cmd.Crash.UnitBytes = faultfs.SectorSizeBytes
		default:
			return Command{}, fmt.Errorf("%s: unit %q is neither 512 nor 4096", verb, args["unit"])
		}
		switch args["tear"] {
		case "", "false":
		case "true":
			cmd.Crash.TearOne = true
		default:
			return Command{}, fmt.Errorf("%s: tear %q is neither true nor false", verb, args["tear"])
		}
		switch args["dirops"] {
		case "", "drop":
		case "keep":
			cmd.Crash.DirOps = faultfs.KeepDirOps
		case "random":
			cmd.Crash.DirOps = faultfs.RandomDirOps
		default:
			return Command{}, fmt.Errorf("%s: dirops %q is not drop, keep or random", verb, args["dirops"])
		}
	case "faultfs::profile":
		args, err := commandArgs(verb, parts, "name")
		if err != nil {
			return Command{}, err
		}
		p, err := faultfs.ParseProfile(args["name"])
		if err != nil {
			return Command{}, fmt.Errorf("%s: %w", verb, err)
		}
		cmd.Profile = p
	default:
		return Command{}, fmt.Errorf("unknown command %q", clip(verb))
	}
	return cmd, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Exec runs a parsed command on the mount and returns what it reports.
func (s *Server) Exec(cmd Command) (string, error) {
	switch cmd.Verb {
	case "lazyfs::clear-cache":
		if err := s.fsys.Crash(faultfs.CrashOptions{}); err != nil {
			return "", err
		}
		return "cache is cleared", nil
	case "lazyfs::cache-checkpoint":
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fsys.SetInjector(nil)
		err := s.fsys.SyncFS("/")
		s.setInjectorsLocked()
		if err != nil {
			return "", err
		}
		return "cache checkpointed: every file and directory is durable", nil
	case "lazyfs::display-cache-usage":
		cached, dirty := s.fsys.CacheUsage()
		msg := fmt.Sprintf("cache usage: %d bytes in %d pages, %d bytes dirty", cached, cached/faultfs.PageSizeBytes, dirty)
		if s.cacheLimit > 0 {
			msg += fmt.Sprintf(", %.2f%% of %d bytes", 100*float64(cached)/float64(s.cacheLimit), s.cacheLimit)
		}
		return msg, nil
	case "lazyfs::unsynced-data-report":
		rep := s.fsys.UnsyncedReport()
		var b strings.Builder
		var total int64
		for _, f := range rep {
			fmt.Fprintf(&b, "unsynced: %s %d bytes\n", f.Path, f.Bytes)
			total += f.Bytes
		}
		fmt.Fprintf(&b, "unsynced data report: %d files, %d bytes", len(rep), total)
		return b.String(), nil
	case "lazyfs::crash", "lazyfs::torn-op", "lazyfs::torn-seq", "faultfs::inject":
		inj := *cmd.Injection
		if inj.File != "" {
			inj.File = s.modelPath(inj.File)
		}
		if err := s.addInjection(inj); err != nil {
			return "", err
		}
		return "VALID " + strings.TrimPrefix(cmd.Verb, "lazyfs::") + " fault", nil
	case "faultfs::fail-sync":
		p := s.modelPath(cmd.failPath)
		m := faultfs.All(faultfs.Kinds(cmd.failKinds...), func(op faultfs.Op) bool { return op.Path == p })
		var inj faultfs.Injector
		name := fmt.Sprintf("fail-sync path=%s", p)
		if cmd.failSeq != "" {
			var err error
			if inj, err = faultfs.Sequence(m, cmd.failSeq, cmd.failErr); err != nil {
				return "", err
			}
			name += " seq=" + cmd.failSeq
		} else {
			inj = faultfs.OnIndex(m, cmd.failNth, cmd.failErr)
			name += fmt.Sprintf(" nth=%d", cmd.failNth)
		}
		s.addInjector(name, inj)
		return "VALID " + name, nil
	case "faultfs::clear-faults":
		s.clearInjectors()
		return "faults cleared", nil
	case "faultfs::evict-clean-pages":
		p := ""
		if cmd.Path != "" {
			p = s.modelPath(cmd.Path)
		}
		if err := s.fsys.EvictCleanPages(p); err != nil {
			return "", err
		}
		return "clean pages evicted", nil
	case "faultfs::writeback":
		p := ""
		if cmd.Path != "" {
			p = s.modelPath(cmd.Path)
		}
		if err := s.fsys.Writeback(p); err != nil {
			return "", err
		}
		return "written back", nil
	case "faultfs::crash":
		if err := s.fsys.Crash(cmd.Crash); err != nil {
			return "", err
		}
		return "crashed: the model holds its durable state", nil
	case "faultfs::restart":
		s.fsys.Restart()
		return "restarted", nil
	case "faultfs::profile":
		if err := s.fsys.SetProfile(cmd.Profile); err != nil {
			return "", err
		}
		return "profile " + string(cmd.Profile), nil
	case "faultfs::status":
		return s.status(), nil
	}
	return "", fmt.Errorf("unknown command %q", cmd.Verb)
}

func (s *Server) status() string {
	st := s.fsys.Stats()
	cached, dirty := s.fsys.CacheUsage()
	var unsynced int64
	for _, f := range s.fsys.UnsyncedReport() {
		unsynced += f.Bytes
	}
	s.mu.Lock()
	names := make([]string, 0, len(s.injectors))
	for _, n := range s.injectors {
		names = append(names, n.name)
	}
	s.mu.Unlock()
	return fmt.Sprintf("status: profile=%s down=%t syncs=%d failed_syncs=%d crashes=%d cached_bytes=%d dirty_bytes=%d unsynced_bytes=%d faults=[%s]",
		s.fsys.Profile(), s.fsys.Down(), st.Syncs, st.FailedSyncs, st.Crashes, cached, dirty, unsynced, strings.Join(names, "; "))
}

// Command parses and runs one control line, logging it as LazyFS does.
func (s *Server) Command(line string) (string, error) {
	cmd, err := ParseCommand(line)
	if err != nil {
		s.log.Printf("received: INVALID %q: %v", clip(strings.TrimSpace(line)), err)
		return "", err
	}
	out, err := s.Exec(cmd)
	switch cmd.Verb {
	case "lazyfs::clear-cache", "faultfs::crash", "faultfs::evict-clean-pages", "faultfs::restart":
		s.invalidateKernelCache()
	}
	if err != nil {
		s.log.Printf("received: %s failed: %v", cmd.Verb, err)
		return "", err
	}
	s.log.Printf("received: %s: %s", cmd.Verb, out)
	return out, nil
}

// controlLoop reads the FIFO.
type controlLoop struct {
	fifo *os.File
	done chan struct{}
}

func ensureFIFO(p string) error {
	fi, err := os.Stat(p)
	if err == nil {
		if fi.Mode()&os.ModeNamedPipe == 0 {
			return fmt.Errorf("fusefs: %s exists and is not a FIFO", p)
		}
		return nil
	}
	if !os.IsNotExist(err) {
		return err
	}
	if err := os.MkdirAll(path.Dir(p), 0o755); err != nil {
		return err
	}
	return syscall.Mkfifo(p, 0o600)
}

func startControl(s *Server, fifoPath, completed string) (*controlLoop, error) {
	if err := ensureFIFO(fifoPath); err != nil {
		return nil, err
	}
	if completed != "" {
		if err := ensureFIFO(completed); err != nil {
			return nil, err
		}
	}
	// Open for reading and writing: the FIFO stays open when writers
	// come and go, so there is no end of file between commands.
	f, err := os.OpenFile(fifoPath, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	c := &controlLoop{fifo: f, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 4096), MaxCommandBytes+2)
		for sc.Scan() {
			line := sc.Text()
			if strings.TrimSpace(line) == "" {
				continue
			}
			out, err := s.Command(line)
			if completed == "" {
				continue
			}
			var msg string
			switch {
			case strings.HasPrefix(line, "lazyfs::clear-cache") && err == nil:
				msg = "finished::clear-cache"
			case strings.HasPrefix(line, "faultfs::") && err == nil:
				msg = "finished::" + strings.ReplaceAll(out, "\n", " | ")
			case strings.HasPrefix(line, "faultfs::"):
				msg = "error::" + err.Error()
			default:
				continue
			}
			// LazyFS blocks until someone reads "finished::clear-cache";
			// faultfs's own results are written only if a reader waits.
			flag := os.O_WRONLY
			if msg != "finished::clear-cache" {
				flag |= syscall.O_NONBLOCK
			}
			if w, err := os.OpenFile(completed, flag, 0); err == nil {
				fmt.Fprintln(w, msg)
				w.Close()
			}
		}
		if err := sc.Err(); err != nil && !errors.Is(err, os.ErrClosed) {
			s.log.Printf("control FIFO %s: %v", fifoPath, err)
		}
	}()
	return c, nil
}

func (c *controlLoop) stop() {
	c.fifo.Close()
	<-c.done
}
