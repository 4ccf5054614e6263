// Command faultfs mounts holdfast's fault model (vfs/faultfs) with FUSE, so
// that any program runs on a file system that loses unsynced data and
// fails fsync the way ext4, XFS and Btrfs do, and runs the ATC'20
// fsync-failure study on it. See docs/faultfs.md and docs/study.md.
//
//	faultfs mount --backing DIR --mountpoint MNT --profile P [--faults FILE] [--seed S] [--control FIFO]
//	faultfs ctl --control FIFO COMMAND...
//	faultfs study [--out docs/study.md] [--subjects sqlite-rollback,...]
//	faultfs bench [--dir DIR] [--seq-mib N] [--syncs N]
//
// Exit codes: 0 ok, 1 failure, 2 usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs/fusefs"
)

const usage = `usage:
  faultfs mount --backing DIR --mountpoint MNT [--profile P] [--dirs strict|lazy] [--faults FILE]... [--seed S]
                [--control FIFO] [--completed FIFO] [--on-unmount sync|discard] [--allow-other] [--log FILE] [--debug]
  faultfs ctl --control FIFO COMMAND...
  faultfs study [flags]   (see faultfs study -h)
  faultfs bench [--dir DIR] [--seq-mib N] [--syncs N] [--profile P]
`

type errUsage struct{ error }

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	var u errUsage
	switch {
	case err == nil:
	case errors.As(err, &u):
		fmt.Fprintln(os.Stderr, "faultfs:", err)
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "faultfs:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage{errors.New("no command")}
	}
	switch args[0] {
	case "mount":
		return mountCmd(args[1:], stderr)
	case "ctl":
		return ctlCmd(args[1:], stdout)
	case "study":
		return studyCmd(args[1:], stdout, stderr)
	case "bench":
		return benchCmd(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return errUsage{fmt.Errorf("unknown command %q", args[0])}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func mountCmd(args []string, stderr io.Writer) error {
	fl := flag.NewFlagSet("mount", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var o fusefs.Options
	var profile, dirs, logFile string
	var faults multiFlag
	fl.StringVar(&o.Backing, "backing", "", "directory that holds the durable state (the model's device)")
	fl.StringVar(&o.Mountpoint, "mountpoint", "", "where to mount")
	fl.StringVar(&profile, "profile", "ext4-ordered", "reaction to failed fsync: ext4-ordered, ext4-journal, xfs, btrfs, strict")
	fl.StringVar(&dirs, "dirs", "strict", "directory durability: strict (after a directory fsync) or lazy (at once, as LazyFS)")
	fl.Var(&faults, "faults", "fault file: LazyFS TOML, CuttleFS JSON, or faultfs injector lines (repeatable)")
	fl.Uint64Var(&o.Seed, "seed", 0, "seed for every random choice")
	fl.StringVar(&o.Control, "control", "", "control FIFO (LazyFS and faultfs commands); created if missing")
	fl.StringVar(&o.Completed, "completed", "", "completion FIFO (LazyFS's fifo_path_completed)")
	fl.StringVar(&o.OnUnmount, "on-unmount", fusefs.UnmountSync, "after the mount goes (fusermount3 -u, SIGINT, SIGTERM): sync (write all, as a real unmount) or discard (lose unsynced data)")
	fl.BoolVar(&o.AllowOther, "allow-other", false, "let other users use the mount")
	fl.StringVar(&logFile, "log", "", "log file (default standard error)")
	fl.BoolVar(&o.Debug, "debug", false, "log every FUSE request")
	if err := fl.Parse(args); err != nil {
		return errUsage{err}
	}
	if fl.NArg() > 0 {
		return errUsage{fmt.Errorf("unexpected arguments %q", fl.Args())}
	}
	if o.Backing == "" || o.Mountpoint == "" {
		return errUsage{errors.New("--backing and --mountpoint are required")}
	}
	p, err := faultfs.ParseProfile(profile)
	if err != nil {
		return errUsage{err}
	}
	o.Profile = p
	switch dirs {
	case "strict":
		o.Dirs = faultfs.DirStrict
	case "lazy":
		o.Dirs = faultfs.DirLazy
	default:
		return errUsage{fmt.Errorf("--dirs %q is neither strict nor lazy", dirs)}
	}
	for _, f := range faults {
		cfg, err := fusefs.ParseConfigFile(f)
		if err != nil {
			return errUsage{err}
		}
		o.Config.Injections = append(o.Config.Injections, cfg.Injections...)
		o.Config.FIFO = or(o.Config.FIFO, cfg.FIFO)
		o.Config.FIFOCompleted = or(o.Config.FIFOCompleted, cfg.FIFOCompleted)
		o.Config.LogFile = or(o.Config.LogFile, cfg.LogFile)
		o.Config.CacheLimitBytes = max(o.Config.CacheLimitBytes, cfg.CacheLimitBytes)
	}
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		o.Log = f
	}
	srv, err := fusefs.Mount(o)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		srv.Unmount()
	}()
	srv.Wait()
	return srv.Close()
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ctlCmd writes commands to a control FIFO, one per line, exactly as
// `echo CMD > FIFO` does.
func ctlCmd(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("ctl", flag.ContinueOnError)
	control := fl.String("control", "", "control FIFO")
	if err := fl.Parse(args); err != nil {
		return errUsage{err}
	}
	if *control == "" || fl.NArg() == 0 {
		return errUsage{errors.New("ctl needs --control and at least one command")}
	}
	for _, c := range fl.Args() {
		if _, err := fusefs.ParseCommand(c); err != nil {
			return errUsage{err}
		}
	}
	f, err := os.OpenFile(*control, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, c := range fl.Args() {
		if _, err := fmt.Fprintln(f, c); err != nil {
			return err
		}
	}
	return nil
}
