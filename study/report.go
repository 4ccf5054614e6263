package study

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

func version(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "not found"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// commit names the source the study ran: the commit, and "+changes" if
// the work tree differed from it.
func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/study.md", ":!docs/study").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += " +changes"
	}
	return c
}

func find(cells []cell, subj, workload string, p faultfs.Profile) (cell, bool) {
	for _, c := range cells {
		if c.subject == subj && c.workload == workload && c.profile == p {
			return c, true
		}
	}
	return cell{}, false
}

// has reports whether any read of the cell has one of the codes, at the
// given points (nil: any point).
func (c cell) has(codes []string, at []int) bool {
	if c.err != "" || !c.fired {
		return false
	}
	for i, code := range c.codes {
		if at != nil && !containsInt(at, i) {
			continue
		}
		for _, w := range codes {
			if code == w {
				return true
			}
		}
	}
	return false
}

func containsInt(list []int, n int) bool {
	for _, e := range list {
		if e == n {
			return true
		}
	}
	return false
}

// claim is one statement of the paper (as the research notes give it)
// that a row of the matrix can confirm or not.
type claim struct {
	text  string
	check func(cells []cell, subj string) (verdict string)
}

func profilesWhere(cells []cell, subj string, pred func(cell) bool) []string {
	var out []string
	for _, c := range cells {
		if c.subject == subj && c.workload != WorkloadStartup && pred(c) {
			out = append(out, fmt.Sprintf("%s/%s", c.workload, c.profile))
		}
	}
	return out
}

// startupWhere is profilesWhere for the startup workload only.
func startupWhere(cells []cell, subj string, pred func(cell) bool) []string {
	var out []string
	for _, c := range cells {
		if c.subject == subj && c.workload == WorkloadStartup && pred(c) {
			out = append(out, string(c.profile))
		}
	}
	return out
}

func listOrNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

func claimsFor(subj string) []claim {
	reportsError := claim{
		text: "reports the failed fsync to the caller",
		check: func(cells []cell, subj string) string {
			fired := profilesWhere(cells, subj, func(c cell) bool { return c.fired && c.err == "" })
			silent := profilesWhere(cells, subj, func(c cell) bool { return c.fired && c.err == "" && c.opOK })
			if len(fired) == 0 {
				return "not tested: the fault never fired"
			}
			if len(silent) == 0 {
				return fmt.Sprintf("reproduced: an error in every cell where the fault fired (%d cells)", len(fired))
			}
			return "partly: success reported in " + listOrNone(silent) + " (ext4-journal's failing fsync itself returns success; see the model)"
		},
	}
	falseFailure := claim{
		text: "recovery reads the page cache: a failed write comes back after a restart (FF)",
		check: func(cells []cell, subj string) string {
			ff := profilesWhere(cells, subj, func(c cell) bool { return c.has([]string{"FF"}, []int{1}) })
			if len(ff) == 0 {
				return "not reproduced: no FF after restart in any cell"
			}
			return "reproduced in " + listOrNone(ff)
		},
	}
	staleAfterEviction := claim{
		text: "the answer depends on where it is read: a wrong read (OV/KNF/FF/VC) at some of the four points but not all (§1: applications look correct while data is cached, then return stale data after eviction or a restart)",
		check: func(cells []cell, subj string) string {
			changed := profilesWhere(cells, subj, func(c cell) bool {
				if !c.has([]string{"OV", "KNF", "FF", "VC"}, nil) {
					return false
				}
				for _, code := range c.codes[1:] {
					if code != c.codes[0] {
						return true
					}
				}
				return false
			})
			if len(changed) == 0 {
				return "not seen: every cell reads the same at all four points"
			}
			return "seen in " + listOrNone(changed)
		},
	}
	btrfsBest := claim{
		text: "Btrfs does best (takeaway #2)",
		check: func(cells []cell, subj string) string {
			bad := map[faultfs.Profile]int{}
			for _, c := range cells {
				if c.subject == subj && c.workload != WorkloadStartup {
					for _, code := range c.codes {
						if code != "ok" && code != "U" && code != "" {
							bad[c.profile]++
						}
					}
				}
			}
			var parts []string
			for _, p := range faultfs.Profiles {
				parts = append(parts, fmt.Sprintf("%s %d", p, bad[p]))
			}
			return "wrong reads per profile: " + strings.Join(parts, ", ")
		},
	}
	journalLoss := claim{
		text: "ext4 data=journal: data loss (talk: \"all applications susceptible to data loss on ext4 data mode\")",
		check: func(cells []cell, subj string) string {
			loss := profilesWhere(cells, subj, func(c cell) bool {
				return c.profile == faultfs.ProfileExt4Journal && c.has([]string{"OV", "KNF"}, nil)
			})
			if len(loss) == 0 {
				return "not reproduced: no OV or KNF under ext4-journal"
			}
			return "reproduced in " + listOrNone(loss)
		},
	}
	startupStops := claim{
		text: "(not the paper's) a failed fsync while the program starts stops it, instead of being logged and ignored",
		check: func(cells []cell, subj string) string {
			served := startupWhere(cells, subj, func(c cell) bool { return c.fired && c.err == "" && c.codes[0] != "U" })
			stopped := startupWhere(cells, subj, func(c cell) bool { return c.fired && c.err == "" && c.codes[0] == "U" })
			notHit := startupWhere(cells, subj, func(c cell) bool { return c.err == "" && !c.fired })
			return fmt.Sprintf("served after the failure in: %s; stopped in: %s; the target was not fsynced at startup in: %s", listOrNone(served), listOrNone(stopped), listOrNone(notHit))
		},
	}
	noRetry := claim{
		text: "does not fsync the target again after the failure while the operation runs (takeaway #7: none of the applications retries; a server's automatic crash-restart, as PostgreSQL's, also counts here)",
		check: func(cells []cell, subj string) string {
			// Under ext4-journal the first failure is reported as success,
			// so a later sync of the target is the normal next step.
			retried := profilesWhere(cells, subj, func(c cell) bool {
				return c.fired && c.err == "" && c.profile != faultfs.ProfileExt4Journal && c.targetSyncs > 1
			})
			if len(retried) == 0 {
				return "reproduced: one fsync of the target per operation in every cell where it failed (ext4-journal aside)"
			}
			return "NOT reproduced: the target was fsynced again after the failure in " + listOrNone(retried) + " (see the raw logs)"
		},
	}
	correct := claim{
		text: "holdfast's expected row: no OV, KNF or VC in any cell, and no FF unless the error said the outcome is unknown (I1, I3)",
		check: func(cells []cell, subj string) string {
			// I3: a write whose error says the outcome is unknown may have
			// been applied, so a later read of it is allowed.
			unknown := func(c cell) bool { return !c.opOK && strings.Contains(c.detail, "outcome unknown") }
			wrong := profilesWhere(cells, subj, func(c cell) bool {
				return c.has([]string{"OV", "KNF", "VC"}, nil) || (c.has([]string{"FF"}, nil) && !unknown(c))
			})
			allowed := profilesWhere(cells, subj, func(c cell) bool { return c.has([]string{"FF"}, nil) && unknown(c) })
			notRun := profilesWhere(cells, subj, func(c cell) bool { return c.err != "" || !c.fired })
			v := "holds"
			if len(wrong) > 0 {
				v = "VIOLATED in " + listOrNone(wrong) + " (by the issue's rule, a defect to fix in the engine; the raw logs show each read)"
			}
			if len(notRun) > 0 {
				v += "; not tested (no fault or cell error) in " + listOrNone(notRun)
			}
			if len(allowed) > 0 {
				v += "; FF in " + listOrNone(allowed) + " follows an error that says \"outcome unknown\", which I3 allows"
			}
			return v
		},
	}
	switch subj {
	case "holdfast":
		return []claim{correct, noRetry, staleAfterEviction, startupStops}
	case "redis":
		return []claim{reportsError, noRetry, falseFailure, journalLoss, btrfsBest, startupStops}
	default:
		return []claim{reportsError, noRetry, falseFailure, staleAfterEviction, journalLoss, btrfsBest, startupStops}
	}
}

func writeReport(subjects []*subject, skipped []string, profiles []faultfs.Profile, cells []cell, started time.Time, buildLog string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# The fsync-failure study, again\n\n")
	p("Generated by `make study` (`go run ./cmd/faultfs study`) on %s in %s, at commit %s. Do not edit by hand: rerun it.\n", started.UTC().Format("2006-01-02 15:04 UTC"), time.Since(started).Round(time.Second), commit())
	p("Raw logs of every cell are in [study/](study/) (one file per subject, workload and profile).\n\n")
	p("It repeats the method of Rebello et al., *Can Applications Recover from fsync Failures?* (USENIX ATC 2020), as the research notes (§1.1, §1.3) give it, on holdfast's faultfs FUSE mount instead of CuttleFS:\n\n")
	p("1. a fresh mount under one profile (directory operations durable at once, as CuttleFS passes directories through);\n")
	p("2. the program creates its store with `k = old`, and everything is made durable (`lazyfs::cache-checkpoint`) and evicted;\n")
	p("3. the first fsync or fdatasync of the program's log or data file (the *target*) is made to fail with EIO (`faultfs::inject::sync,syncdata path=TARGET nth=1 err=EIO`);\n")
	p("4. the workload: **update** sets the existing `k` to `new` (the single-block update); **insert** adds `k2 = new` (the append to the log);\n")
	p("5. the key is read at the four points: **running** (the same process, after the failed operation), **restart** (the program started again), **evicted** (after `faultfs::evict-clean-pages`, a new process), **crashed** (after `faultfs::crash`: the mount keeps only durable data, a new process).\n\n")
	p("Each cell reads `S:` or `E:` — the operation reported success or an error — then the outcome at the four points, in order:\n\n")
	p("| code | meaning |\n|---|---|\n")
	p("| ok | what the reported result promises: the new value after success, the old one (or none, for insert) after an error |\n")
	p("| OV | old value after a reported success (the paper's *old value*: data loss) |\n")
	p("| KNF | key not found (after success, or the old key gone after an error) |\n")
	p("| FF | false failure: an error was reported, yet the new value is read |\n")
	p("| VC | corruption: a wrong value, or the program reports its data damaged (the paper's KC, key corruption, cannot be told apart through a get) |\n")
	p("| U | the program refuses to read (stopped, fail-stopped, cannot start): unavailable, not a wrong answer |\n")
	p("| no fault | the target was never fsynced during the operation, so nothing was injected |\n\n")
	p("The paper also tags each outcome with its source (BC buffer cache, A application state); this run does not tell them apart.\n\n")
	for _, w := range Workloads {
		p("## Workload: %s\n\n", w)
		if w == WorkloadStartup {
			p("Not one of the paper's workloads. After a crash of the program (not of the mount), the first fsync of the target fails while the program starts and recovers; nothing is written. `R:` marks a read-only run; the first code says whether the program served (ok) or refused (U) with a failed fsync behind it. Serving is trusting the page cache after a failed fsync (I5 in DESIGN.md for holdfast).\n\n")
		}
		p("| subject |")
		for _, pr := range profiles {
			p(" %s |", pr)
		}
		p("\n|---|")
		for range profiles {
			p("---|")
		}
		p("\n")
		for _, s := range subjects {
			p("| %s |", s.name)
			for _, pr := range profiles {
				c, ok := find(cells, s.name, w, pr)
				if !ok {
					p(" |")
					continue
				}
				p(" %s |", c.summary())
			}
			p("\n")
		}
		p("\n")
	}
	p("## Against the paper, subject by subject\n\n")
	p("The paper's per-cell table (its Table 2) could not be obtained (research notes, *Gap*); the comparison is with what it states in prose (§1.3). A verdict is computed from the cells above.\n\n")
	for _, s := range subjects {
		p("### %s\n\n%s. Target of the fsync failure: `%s`.\n\n**Paper:** %s\n\n", s.name, s.about, s.target, s.paper)
		p("| claim | this run |\n|---|---|\n")
		for _, cl := range claimsFor(s.name) {
			p("| %s | %s |\n", cl.text, cl.check(cells, s.name))
		}
		var notes []string
		for _, c := range cells {
			if c.subject == s.name && c.err != "" {
				notes = append(notes, fmt.Sprintf("%s/%s: %s", c.workload, c.profile, c.err))
			}
		}
		if len(notes) > 0 {
			p("\nCells that could not run: %s.\n", strings.Join(notes, "; "))
		}
		p("\n")
	}
	p("## Not run\n\n")
	if len(skipped) > 0 {
		p("Skipped because their programs are missing: %s.\n\n", strings.Join(skipped, ", "))
	}
	p("PostgreSQL with direct I/O, which the paper found handles fsync failures best, is not run (PostgreSQL 15 has no production direct-I/O mode for its WAL and data files).\n\n")
	if buildLog != "" {
		p("Helper build problems:\n\n```\n%s```\n\n", buildLog)
	}
	p("## What differs from the paper's setup\n\n")
	p("- The failure is armed after the program has started, right before the write, so that syncs a program makes while starting (holdfast and PostgreSQL sync their logs during recovery) are not taken for the operation's; the startup workload fails exactly those.\n")
	p("- The failure is injected on the whole fsync of the target file (every page of it fails), not on one block through dm-loki; the model's per-profile reaction is faultfs's (docs/faultfs.md), built from CuttleFS's code and the paper's prose.\n")
	p("- ext4-journal reports the failing fsync as a success and fails the next one, as the paper describes; a program that syncs its target only once per operation sees success (S:) and the loss shows later.\n")
	p("- `strict` is faultfs's own profile (a failed sync keeps the pages dirty, as FreeBSD does; takeaway #5), not one of the paper's file systems: a later successful sync, for instance during a program's recovery, writes the data the failed call was about, which shows as FF.\n")
	p("- \"crashed\" is a crash of the mount (the model keeps only durable data), not a reboot of a machine with a real file system.\n")
	p("- Versions: %s; %s; %s; libleveldb and liblmdb from Debian 12.\n", version("sqlite3", "--version"), version("redis-server", "--version"), version("uname", "-sr"))
	_ = filepath.Join
	return b.String()
}
