package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/holdfast-db/holdfast/study"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// studyCmd runs the fsync-failure study and writes docs/study.md.
func studyCmd(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("study", flag.ContinueOnError)
	fl.SetOutput(stderr)
	out := fl.String("out", "docs/study.md", "report to write; raw logs go beside it, in a directory of the same name")
	subjects := fl.String("subjects", "", "comma-separated subjects (default all): sqlite-rollback, sqlite-wal, holdfast, redis, leveldb, lmdb")
	profiles := fl.String("profiles", "", "comma-separated profiles (default all)")
	if err := fl.Parse(args); err != nil {
		return errUsage{err}
	}
	cfg := study.Config{Out: *out, Progress: stdout}
	if *subjects != "" {
		cfg.Subjects = strings.Split(*subjects, ",")
	}
	if *profiles != "" {
		for _, p := range strings.Split(*profiles, ",") {
			pr, err := faultfs.ParseProfile(p)
			if err != nil {
				return errUsage{err}
			}
			cfg.Profiles = append(cfg.Profiles, pr)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		study.Abort()
		fmt.Fprintln(stderr, "faultfs study: interrupted; the running cell's mount is unmounted")
		os.Exit(1)
	}()
	if err := study.Run(cfg); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}
