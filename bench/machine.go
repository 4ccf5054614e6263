package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
)

// machine describes where a run happened; the report prints it.
type machine struct {
	Cores      int               `json:"cores"`
	CPUModel   string            `json:"cpu_model"`
	MemTotal   string            `json:"mem_total"`
	Kernel     string            `json:"kernel"`
	FileSystem string            `json:"file_system"` // type, device, mount point, options of the scratch dir
	WriteCache string            `json:"write_cache,omitempty"`
	Go         string            `json:"go"`
	Commit     string            `json:"commit"`  // holdfast commit measured
	Modules    map[string]string `json:"modules"` // peer module versions
	Redis      string            `json:"redis,omitempty"`
	Etcd       string            `json:"etcd,omitempty"`
	LoadAvg    string            `json:"load_avg_start"`
	LoadAvgEnd string            `json:"load_avg_end"`
}

func readMachine(work, repo string) machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Modules: map[string]string{}, LoadAvg: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotal = strings.Join(strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:], " ")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.FileSystem, m.WriteCache = fileSystemOf(work)
	m.Commit = commandOutput(repo, "git", "describe", "--always", "--dirty", "--abbrev=12")
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "go.etcd.io/bbolt", "github.com/cockroachdb/pebble/v2", "github.com/dgraph-io/badger/v4",
				"github.com/mattn/go-sqlite3", "go.etcd.io/etcd/client/v3", "github.com/redis/go-redis/v9":
				m.Modules[d.Path] = d.Version
			}
		}
	}
	m.Modules["sqlite (C library)"] = sqliteVersion()
	m.Redis = firstLine(commandOutput("", "redis-server", "--version"))
	m.Etcd = firstLine(commandOutput("", "etcd", "--version"))
	return m
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func commandOutput(dir, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }

// fileSystemOf finds the mount holding dir in /proc/self/mountinfo and
// describes it, with the block device's write cache mode when known.
func fileSystemOf(dir string) (string, string) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", ""
	}
	if p, err := filepath.EvalSymlinks(abs); err == nil {
		abs = p
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", ""
	}
	defer f.Close()
	var best, desc, dev string
	s := bufio.NewScanner(f)
	for s.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source superopts
		pre, post, ok := strings.Cut(s.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 6 || len(b) < 2 {
			continue
		}
		mp := a[4]
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best = mp
			desc = b[0] + " on " + b[1] + " mounted at " + mp + " (" + a[5] + ")"
			dev = b[1]
		}
	}
	cache := ""
	if name := filepath.Base(dev); strings.HasPrefix(dev, "/dev/") {
		if b, err := os.ReadFile("/sys/block/" + name + "/queue/write_cache"); err == nil {
			cache = strings.TrimSpace(string(b))
		}
	}
	return desc, cache
}
